//! One small interface over the three ZeroMQ implementations, so every
//! workload is written once and monomorphised per implementation (no
//! dynamic dispatch on the per-message path).

mod ferro;
mod libzmq;
mod zmqrs;

pub use ferro::Ferro;
pub use libzmq::Libzmq;
pub use zmqrs::Zmqrs;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which implementation a process (or one side of a pair) runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Impl {
    /// This project.
    Ferromq,
    /// The C++ reference implementation, through the `zmq` crate.
    Libzmq,
    /// zmq.rs (crate `zeromq`), async on tokio.
    Zmqrs,
}

impl Impl {
    /// The name used in tables and JSON.
    pub fn label(self) -> &'static str {
        match self {
            Impl::Ferromq => Ferro::NAME,
            Impl::Libzmq => Libzmq::NAME,
            Impl::Zmqrs => Zmqrs::NAME,
        }
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

/// Runs `job` with the backend of `imp`.
pub fn dispatch<J: Job>(imp: Impl, job: J) -> J::Output {
    match imp {
        Impl::Ferromq => job.run::<Ferro>(),
        Impl::Libzmq => job.run::<Libzmq>(),
        Impl::Zmqrs => job.run::<Zmqrs>(),
    }
}
