//! One small interface over the three ZeroMQ implementations, so every
//! workload is written once and monomorphised per implementation (no
//! dynamic dispatch on the per-message path).

mod ferro;
mod libzmq;
mod zmqrs;

pub use ferro::{err as ferro_error, Ferro, FerroSocket};
pub use libzmq::{has_curve as libzmq_has_curve, Libzmq};
pub use zmqrs::Zmqrs;

use crate::report::Workload;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which implementation a process (or one side of a pair) runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Impl {
    /// This project.
    Ferromq,
    /// The C++ reference implementation (4.3.5 with CURVE), through the
    /// bench's own binding crate.
    Libzmq,
    /// zmq.rs (crate `zeromq`), async on tokio.
    Zmqrs,
    /// This project's `AsyncSocket`, awaited in a tokio current-thread
    /// runtime: throughput and latency rows only.
    #[serde(rename = "ferromq-async")]
    #[value(name = "ferromq-async")]
    FerromqAsync,
}

impl Impl {
    /// The name used in tables and JSON.
    pub fn label(self) -> &'static str {
        match self {
            Impl::Ferromq => Ferro::NAME,
            Impl::Libzmq => Libzmq::NAME,
            Impl::Zmqrs => Zmqrs::NAME,
            Impl::FerromqAsync => "ferromq-async",
        }
    }

    /// Whether this implementation has `workload` (async ferromq only runs
    /// the throughput and latency rows; every other one runs everything).
    pub fn runs(self, workload: Workload) -> bool {
        self != Impl::FerromqAsync || matches!(workload, Workload::Thr | Workload::Lat)
    }
}

/// A transport under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// tcp over 127.0.0.1.
    Tcp,
    /// Unix domain sockets in a temporary directory.
    Ipc,
    /// In-process: both sides are threads of one process sharing a context.
    Inproc,
}

impl Transport {
    /// The URL scheme.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Ipc => "ipc",
            Transport::Inproc => "inproc",
        }
    }
}

/// The security mechanism of a row's sockets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mechanism {
    /// No security (ZMTP NULL): what every row used before CURVE rows.
    #[default]
    Null,
    /// CURVE (RFC 26): the binding side is the server, the connecting side
    /// the client; every message is encrypted and authenticated.
    Curve,
}

impl Mechanism {
    /// How rows, tables and plots name it ("" for NULL: unmarked rows).
    pub fn label(self) -> &'static str {
        match self {
            Mechanism::Null => "",
            Mechanism::Curve => "CURVE",
        }
    }

    /// Whether `transport` can carry it: inproc has no handshake, so no
    /// mechanism other than NULL (in libzmq as in ferromq).
    pub fn supports(self, transport: Transport) -> bool {
        self == Mechanism::Null || transport != Transport::Inproc
    }

    /// The settings of the binding (server) and connecting (client) sides.
    pub fn sides(self, keys: &CurveKeys) -> (Security, Security) {
        match self {
            Mechanism::Null => (Security::Null, Security::Null),
            Mechanism::Curve => (keys.server(), keys.client()),
        }
    }
}

/// The CURVE keys of one bench run, as Z85 text: generated once by the
/// parent and handed to both sides of every CURVE run in their role specs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurveKeys {
    server_public: String,
    server_secret: String,
    client_public: String,
    client_secret: String,
}

impl CurveKeys {
    /// Two fresh key pairs (server and client).
    pub fn generate() -> CurveKeys {
        let (server_public, server_secret) = ferromq::curve_keypair_z85();
        let (client_public, client_secret) = ferromq::curve_keypair_z85();
        CurveKeys {
            server_public,
            server_secret,
            client_public,
            client_secret,
        }
    }

    /// What the binding side sets: its own key pair.
    pub fn server(&self) -> Security {
        Security::CurveServer {
            public: self.server_public.clone(),
            secret: self.server_secret.clone(),
        }
    }

    /// What the connecting side sets: the server's public key and its own
    /// key pair.
    pub fn client(&self) -> Security {
        Security::CurveClient {
            server_key: self.server_public.clone(),
            public: self.client_public.clone(),
            secret: self.client_secret.clone(),
        }
    }
}

/// The security settings of one socket, applied before it binds or
/// connects. Keys are 40-character Z85 text, as they travel in role specs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mechanism", rename_all = "snake_case")]
pub enum Security {
    /// NULL: nothing to set.
    #[default]
    Null,
    /// CURVE server with its long-term key pair.
    CurveServer {
        /// The server's public key.
        public: String,
        /// The server's secret key.
        secret: String,
    },
    /// CURVE client: the server's public key and the client's key pair.
    CurveClient {
        /// The server's public key.
        server_key: String,
        /// The client's public key.
        public: String,
        /// The client's secret key.
        secret: String,
    },
}

/// A Z85 key as 32 bytes.
fn key(z85: &str) -> BResult<[u8; 32]> {
    ferromq::z85_decode_key(z85)
        .map_err(|e| BenchError::failed(format!("bad CURVE key in the role spec: {e}")))
}

impl Security {
    /// Whether there is nothing to set.
    pub fn is_null(&self) -> bool {
        *self == Security::Null
    }

    /// Sets the options on `s` (before bind/connect).
    pub fn apply<S: Sock>(&self, s: &mut S) -> BResult<()> {
        match self {
            Security::Null => Ok(()),
            Security::CurveServer { public, secret } => s
                .set_curve_server(&key(public)?, &key(secret)?)
                .map_err(|e| e.context("CURVE server options")),
            Security::CurveClient {
                server_key,
                public,
                secret,
            } => s
                .set_curve_client(&key(server_key)?, &key(public)?, &key(secret)?)
                .map_err(|e| e.context("CURVE client options")),
        }
    }
}

/// The socket types the workloads use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// PUSH.
    Push,
    /// PULL.
    Pull,
    /// REQ.
    Req,
    /// REP.
    Rep,
    /// PUB.
    Pub,
    /// SUB.
    Sub,
    /// DEALER.
    Dealer,
    /// ROUTER.
    Router,
}

/// Why an operation failed, as far as the harness cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorClass {
    /// The implementation does not offer this (transport, option): the row
    /// is reported as "n/a", not as a failure.
    Unsupported,
    /// A receive timed out (the workload decides whether that is fatal).
    Timeout,
    /// Anything else.
    Failed,
}

/// An error from an implementation, classified.
#[derive(Clone, Debug)]
pub struct BenchError {
    /// What kind of failure.
    pub class: ErrorClass,
    /// Human-readable reason, including the implementation's own message.
    pub message: String,
}

impl BenchError {
    /// A plain failure.
    pub fn failed(message: impl Into<String>) -> BenchError {
        BenchError {
            class: ErrorClass::Failed,
            message: message.into(),
        }
    }

    /// Not supported by this implementation.
    pub fn unsupported(message: impl Into<String>) -> BenchError {
        BenchError {
            class: ErrorClass::Unsupported,
            message: message.into(),
        }
    }

    /// A receive timed out.
    pub fn timeout(message: impl Into<String>) -> BenchError {
        BenchError {
            class: ErrorClass::Timeout,
            message: message.into(),
        }
    }

    /// Prefixes the message with what was being done.
    pub fn context(mut self, what: &str) -> BenchError {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Result with a [`BenchError`].
pub type BResult<T> = Result<T, BenchError>;

/// An implementation: how to make a context and sockets.
pub trait Backend: 'static {
    /// Name in reports.
    const NAME: &'static str;
    /// A context, shared by sockets of one process (and by both threads of
    /// an inproc run).
    type Ctx: Clone + Send + Sync + 'static;
    /// A socket.
    type Socket: Sock;

    /// A new context with the implementation's defaults (one I/O thread).
    fn context() -> BResult<Self::Ctx>;
    /// A new socket of `kind` in `ctx`.
    fn socket(ctx: &Self::Ctx, kind: Kind) -> BResult<Self::Socket>;
    /// Runs the implementation's built-in proxy (zmq_proxy) between a bound
    /// ROUTER `frontend` and a bound DEALER `backend` in the calling thread;
    /// returns only on error.
    fn proxy(frontend: Self::Socket, backend: Self::Socket) -> BResult<()>;
}

/// A socket, with only what the workloads need. Every method maps onto the
/// cheapest call the implementation offers for that job.
pub trait Sock: Send + 'static {
    /// A prepared outgoing single-frame message, sent many times
    /// (each implementation keeps it in the form it sends cheapest).
    type Out: Send + 'static;
    /// A reusable holder for one received (possibly multipart) message.
    type In: Send + 'static;

    /// Prepares `data` for repeated sending.
    fn prepare(data: Bytes) -> Self::Out;
    /// An empty receive holder.
    fn new_in() -> Self::In;
    /// Number of frames in the last message received into `msg`.
    fn frame_count(msg: &Self::In) -> usize;
    /// Frame `i` of the last message received into `msg`.
    fn frame(msg: &Self::In, i: usize) -> &[u8];

    /// Binds; returns the resolved endpoint a peer can connect to.
    fn bind(&mut self, endpoint: &str) -> BResult<String>;
    /// Connects (for zmq.rs this waits for the handshake).
    fn connect(&mut self, endpoint: &str) -> BResult<()>;
    /// Bounds every later receive to `ms` milliseconds.
    fn set_recv_timeout(&mut self, ms: i32) -> BResult<()>;
    /// Listen backlog for later binds (ignored where there is no such option).
    fn set_backlog(&mut self, backlog: i32) -> BResult<()>;
    /// LINGER for the close: how long unsent messages may delay it
    /// (ignored where there is no such option).
    fn set_linger(&mut self, ms: i32) -> BResult<()>;
    /// SUB: subscribe to everything.
    fn subscribe_all(&mut self) -> BResult<()>;
    /// Makes this socket a CURVE server with the given long-term key pair
    /// (unsupported where the implementation has no CURVE).
    fn set_curve_server(&mut self, public: &[u8; 32], secret: &[u8; 32]) -> BResult<()>;
    /// Makes this socket a CURVE client of the server whose public key is
    /// `server`, with its own key pair.
    fn set_curve_client(
        &mut self,
        server: &[u8; 32],
        public: &[u8; 32],
        secret: &[u8; 32],
    ) -> BResult<()>;

    /// Sends a prepared single-frame message.
    fn send(&mut self, out: &Self::Out) -> BResult<()>;
    /// Sends `data` as a single-frame message (a fresh copy each time).
    fn send_copy(&mut self, data: &[u8]) -> BResult<()>;
    /// Receives one whole message into `msg`.
    fn recv(&mut self, msg: &mut Self::In) -> BResult<()>;
    /// Sends the message last received into `msg` back unchanged (REP
    /// reply, or ROUTER reply with its routing frame), without copying
    /// where the implementation allows; `msg`'s contents are consumed.
    fn echo(&mut self, msg: &mut Self::In) -> BResult<()>;
}

/// A job generic over the implementation: lets a role pick its backend
/// at run time and then run fully monomorphised code.
pub trait Job {
    /// What the job returns.
    type Output;
    /// Runs with backend `B`.
    fn run<B: Backend>(self) -> Self::Output;
}

/// Runs `job` with the backend of `imp`; None for async ferromq, which has
/// no sync backend (its roles are in `work::asyncio`).
pub fn dispatch<J: Job>(imp: Impl, job: J) -> Option<J::Output> {
    match imp {
        Impl::Ferromq => Some(job.run::<Ferro>()),
        Impl::Libzmq => Some(job.run::<Libzmq>()),
        Impl::Zmqrs => Some(job.run::<Zmqrs>()),
        Impl::FerromqAsync => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_sides_pair_up() {
        let keys = CurveKeys::generate();
        let (server, client) = Mechanism::Curve.sides(&keys);
        let (
            Security::CurveServer { public, secret },
            Security::CurveClient {
                server_key,
                public: client_public,
                secret: client_secret,
            },
        ) = (&server, &client)
        else {
            panic!("CURVE sides are {server:?} / {client:?}");
        };
        // The client trusts exactly the server's public key, and each side
        // has a pair of its own.
        assert_eq!(server_key, public);
        assert_ne!(client_public, public);
        assert_ne!(client_secret, secret);
        for k in [public, secret, client_public, client_secret] {
            assert_eq!(key(k).map(|b| b.len()).ok(), Some(32), "{k}");
        }
        // The server's public key is the one of its secret key.
        assert_eq!(
            ferromq::curve_public(&key(secret).unwrap()),
            key(public).unwrap()
        );
        assert_eq!(
            Mechanism::Null.sides(&keys),
            (Security::Null, Security::Null)
        );
    }

    #[test]
    fn async_ferromq_runs_only_thr_and_lat() {
        use Workload::*;
        for w in [Thr, Lat, Fanout, Scale, CrossThr, CrossLat, Proxy] {
            let expected = matches!(w, Thr | Lat);
            assert_eq!(Impl::FerromqAsync.runs(w), expected, "{w:?}");
            for imp in [Impl::Ferromq, Impl::Libzmq, Impl::Zmqrs] {
                assert!(imp.runs(w), "{imp:?} {w:?}");
            }
        }
        // Its name in specs, on the command line and in tables is one word.
        assert_eq!(
            serde_json::to_string(&Impl::FerromqAsync).unwrap(),
            r#""ferromq-async""#
        );
        assert_eq!(Impl::FerromqAsync.label(), "ferromq-async");
        use clap::ValueEnum;
        assert_eq!(
            Impl::from_str("ferromq-async", false),
            Ok(Impl::FerromqAsync)
        );
    }

    #[test]
    fn keys_are_fresh_per_run() {
        assert_ne!(CurveKeys::generate(), CurveKeys::generate());
    }

    #[test]
    fn security_travels_in_json() {
        let keys = CurveKeys::generate();
        for sec in [Security::Null, keys.server(), keys.client()] {
            let text = serde_json::to_string(&sec).unwrap();
            assert_eq!(serde_json::from_str::<Security>(&text).unwrap(), sec);
        }
        assert!(serde_json::to_string(&keys.client())
            .unwrap()
            .contains(r#""mechanism":"curve_client""#));
    }

    #[test]
    fn bad_keys_are_errors() {
        assert!(key("short").is_err());
        assert!(key(&"~".repeat(40)).is_err());
        assert!(key(&CurveKeys::generate().server_public).is_ok());
    }

    #[test]
    fn curve_needs_a_handshake() {
        assert!(Mechanism::Curve.supports(Transport::Tcp));
        assert!(Mechanism::Curve.supports(Transport::Ipc));
        assert!(!Mechanism::Curve.supports(Transport::Inproc));
        assert!(Mechanism::Null.supports(Transport::Inproc));
        assert_eq!(Mechanism::default(), Mechanism::Null);
        assert_eq!(
            serde_json::to_string(&Mechanism::Curve).unwrap(),
            r#""curve""#
        );
    }
}
