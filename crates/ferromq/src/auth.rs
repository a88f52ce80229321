//! A ZAP handler (RFC 27) for PLAIN, CURVE and NULL peers: allow or deny
//! by IP address, check PLAIN passwords, accept CURVE client keys. The
//! same policy as pyzmq's `zmq.auth` authenticators.
//!
//! While an [`Authenticator`] runs, every PLAIN and CURVE handshake of the
//! context's server sockets (and NULL ones with a ZAP domain) asks it; its
//! verdict's user id reaches received messages as the `User-Id` property.
//!
//! ```
//! use ferromq::auth::{Authenticator, CurveClients};
//! use ferromq::{curve_keypair, option, Context, SocketType};
//! let ctx = Context::new();
//! let auth = Authenticator::start(&ctx)?;
//! let (server_public, server_secret) = curve_keypair();
//! let (client_public, client_secret) = curve_keypair();
//! auth.configure_curve("*", CurveClients::Only(vec![client_public]));
//!
//! let server = ctx.socket(SocketType::Rep)?;
//! server.set_option_raw(option::CURVE_SERVER, &1i32.to_ne_bytes())?;
//! server.set_option_raw(option::CURVE_SECRETKEY, &server_secret)?;
//! server.bind("tcp://127.0.0.1:*")?;
//!
//! let client = ctx.socket(SocketType::Req)?;
//! client.set_option_raw(option::CURVE_SERVERKEY, &server_public)?;
//! client.set_option_raw(option::CURVE_PUBLICKEY, &client_public)?;
//! client.set_option_raw(option::CURVE_SECRETKEY, &client_secret)?;
//! client.connect(&server.last_endpoint()?)?;
//! client.send("hello", 0)?;
//! let (msg, props) = server.recv_with_properties(0)?;
//! assert_eq!(&msg[..], b"hello");
//! // CURVE clients are known by their public key, in Z85.
//! let user = props.unwrap().get("User-Id").unwrap().to_vec();
//! assert_eq!(user, ferromq::z85_encode_key(&client_public).into_bytes());
//! # Ok::<(), ferromq::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::{Context, Msg, PollItem, Socket, SocketType, POLLIN};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// Which CURVE clients a domain lets in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CurveClients {
    /// Any client that completes the handshake (it knows the server's key).
    Any,
    /// Only clients with one of these long-term public keys.
    Only(Vec<[u8; 32]>),
}

#[derive(Default)]
struct Policy {
    allowed: HashSet<String>,
    denied: HashSet<String>,
    /// Domain ("*" for any) -> username -> password.
    passwords: HashMap<String, HashMap<String, String>>,
    /// Domain ("*" for any) -> accepted client keys.
    curve: HashMap<String, CurveClients>,
}

/// A verdict: status code, status text, user id.
type Verdict = (&'static str, &'static str, Vec<u8>);

impl Policy {
    fn for_domain<'a, T>(map: &'a HashMap<String, T>, domain: &str) -> Option<&'a T> {
        map.get(domain).or_else(|| map.get("*"))
    }

    fn decide(&self, address: &str, domain: &str, mechanism: &[u8], creds: &[Msg]) -> Verdict {
        // An allow list admits only its addresses; otherwise a deny list
        // refuses its own. Admitted NULL peers need nothing more; PLAIN and
        // CURVE peers must still prove who they are.
        if !self.allowed.is_empty() && !self.allowed.contains(address) {
            return ("400", "Address not allowed", Vec::new());
        }
        if self.denied.contains(address) {
            return ("400", "Address denied", Vec::new());
        }
        match mechanism {
            b"NULL" => ("200", "OK", b"anonymous".to_vec()),
            b"PLAIN" => {
                let [user, password] = creds else {
                    return ("400", "Invalid credentials", Vec::new());
                };
                let known = Self::for_domain(&self.passwords, domain)
                    .and_then(|users| users.get(String::from_utf8_lossy(user).as_ref()));
                match known {
                    Some(p) if p.as_bytes() == password.as_slice() => ("200", "OK", user.to_vec()),
                    Some(_) => ("400", "Invalid password", Vec::new()),
                    None if Self::for_domain(&self.passwords, domain).is_none() => {
                        ("400", "No passwords defined", Vec::new())
                    }
                    None => ("400", "Invalid username", Vec::new()),
                }
            }
            b"CURVE" => {
                let Some(key) = creds
                    .first()
                    .and_then(|k| <[u8; 32]>::try_from(&k[..]).ok())
                else {
                    return ("400", "Invalid credentials", Vec::new());
                };
                let user = crate::z85_encode_key(&key).into_bytes();
                match Self::for_domain(&self.curve, domain) {
                    Some(CurveClients::Any) => ("200", "OK", user),
                    Some(CurveClients::Only(keys)) if keys.contains(&key) => ("200", "OK", user),
                    Some(CurveClients::Only(_)) => ("400", "Unknown key", Vec::new()),
                    None => ("400", "No CURVE keys defined", Vec::new()),
                }
            }
            _ => ("400", "Security mechanism not supported", Vec::new()),
        }
    }
}

/// A running ZAP handler bound at `inproc://zeromq.zap.01` in one context
/// (see the [module docs](self)). Stopped by [`stop`](Authenticator::stop)
/// or when dropped.
pub struct Authenticator {
    policy: Arc<Mutex<Policy>>,
    stop: Option<Socket>,
    thread: Option<JoinHandle<()>>,
}

const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";

impl Authenticator {
    /// Binds the handler in `ctx` and starts answering. Fails with
    /// `EADDRINUSE` if the context has one already.
    pub fn start(ctx: &Context) -> Result<Authenticator> {
        let handler = ctx.socket(SocketType::Rep)?;
        handler.set_linger(0)?;
        handler.bind(ZAP_ENDPOINT)?;
        let stop_name = format!("inproc://ferromq.auth.stop.{}", crate::io::next_id());
        let stop_rx = ctx.socket(SocketType::Pair)?;
        stop_rx.bind(&stop_name)?;
        let stop_tx = ctx.socket(SocketType::Pair)?;
        stop_tx.set_linger(0)?;
        stop_tx.connect(&stop_name)?;
        let policy = Arc::new(Mutex::new(Policy::default()));
        let shared = policy.clone();
        let thread = std::thread::Builder::new()
            .name("ferromq-zap".into())
            .spawn(move || serve(handler, stop_rx, shared))
            .map_err(|e| Error::from_io(&e, "cannot start the authenticator thread"))?;
        Ok(Authenticator {
            policy,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    fn policy(&self) -> MutexGuard<'_, Policy> {
        self.policy.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits only these IP addresses (all mechanisms; PLAIN and CURVE
    /// peers must still authenticate). Cannot be mixed with
    /// [`deny`](Authenticator::deny): `EINVAL`.
    pub fn allow<S: AsRef<str>>(&self, addresses: &[S]) -> Result<()> {
        let mut policy = self.policy();
        if !policy.denied.is_empty() {
            return Err(Error::inval(
                "an authenticator either allows or denies addresses",
            ));
        }
        policy
            .allowed
            .extend(addresses.iter().map(|a| a.as_ref().to_owned()));
        Ok(())
    }

    /// Refuses these IP addresses. Cannot be mixed with
    /// [`allow`](Authenticator::allow): `EINVAL`.
    pub fn deny<S: AsRef<str>>(&self, addresses: &[S]) -> Result<()> {
        let mut policy = self.policy();
        if !policy.allowed.is_empty() {
            return Err(Error::inval(
                "an authenticator either allows or denies addresses",
            ));
        }
        policy
            .denied
            .extend(addresses.iter().map(|a| a.as_ref().to_owned()));
        Ok(())
    }

    /// The PLAIN users of ZAP domain `domain` ("*": any domain without its
    /// own table), as username -> password.
    pub fn configure_plain(&self, domain: &str, passwords: HashMap<String, String>) {
        self.policy().passwords.insert(domain.to_owned(), passwords);
    }

    /// The CURVE clients of ZAP domain `domain` ("*": any domain without
    /// its own setting).
    pub fn configure_curve(&self, domain: &str, clients: CurveClients) {
        self.policy().curve.insert(domain.to_owned(), clients);
    }

    /// Stops answering and unbinds (later handshakes see no handler).
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send("STOP", 0);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Authenticator {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// The handler thread: one request, one reply, until told to stop or the
/// context ends.
fn serve(handler: Socket, stop: Socket, policy: Arc<Mutex<Policy>>) {
    loop {
        let mut items = [
            PollItem::new(&handler, POLLIN),
            PollItem::new(&stop, POLLIN),
        ];
        if crate::poll(&mut items, -1).is_err() || items[1].is_readable() {
            return;
        }
        let Ok(request) = handler.recv_multipart_msgs(0) else {
            return;
        };
        let reply = answer(&request, &policy);
        if handler.send_multipart(reply, 0).is_err() {
            return;
        }
    }
}

/// The reply frames (after REP's envelope) to one request.
fn answer(request: &[Msg], policy: &Mutex<Policy>) -> Vec<Vec<u8>> {
    let reply = |id: &[u8], (code, text, user): Verdict| {
        vec![
            b"1.0".to_vec(),
            id.to_vec(),
            code.as_bytes().to_vec(),
            text.as_bytes().to_vec(),
            user,
            Vec::new(),
        ]
    };
    //= rfc27#message-format
    //# The request message SHALL consist of the following message frames:
    let [version, id, domain, address, _identity, mechanism, creds @ ..] = request else {
        let id = request.get(1).map_or(&b""[..], |m| &m[..]);
        return reply(id, ("400", "Not enough frames", Vec::new()));
    };
    if &version[..] != b"1.0" {
        return reply(id, ("400", "Invalid version", Vec::new()));
    }
    let policy = policy.lock().unwrap_or_else(|e| e.into_inner());
    let verdict = policy.decide(
        &String::from_utf8_lossy(address),
        &String::from_utf8_lossy(domain),
        mechanism,
        creds,
    );
    reply(id, verdict)
}
