//! `ferromq`: send and receive ZeroMQ messages from the command line, and
//! `ferromq peer`, a socket driven line by line from stdin (for tests).

mod hex;
mod peer;
mod proxy;
mod security;
mod seq;

use clap::{Args, Parser, Subcommand};
use ferromq::{Context, Socket, SocketType};
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "ferromq",
    version,
    about = "ZeroMQ messaging from the command line (ferromq)"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// One socket driven by commands on stdin, one reply line per command
    /// on stdout (`send <hex>...`, `recv [ms]`, `recvprops [ms]`, `endpoint`,
    /// `events`, `event [ms]`, `sub <hex>`, `unsub <hex>`, `bind EP`,
    /// `connect EP`, `quit`; `help` lists them).
    Peer(peer::Args),
    /// Send one message (each PART is a frame), then exit. A REQ socket
    /// waits for the reply and prints it.
    Send(SendArgs),
    /// Print received messages, one line each. A REP socket sends each
    /// request back as its reply (an echo server).
    Recv(RecvArgs),
    // Fault-test helpers (seq.rs): killable numbered streams.
    /// Send numbered messages at a steady pace, one `sent N` line each
    /// (for fault tests; exits when stdin closes).
    SeqSend(seq::SendArgs),
    /// Print each message as it arrives, one `recv TEXT` line each (for
    /// fault tests; exits when stdin closes).
    SeqRecv(seq::RecvArgs),
    /// Run the built-in proxy (zmq_proxy_steerable) between a frontend and
    /// a backend socket, with optional capture and control sockets; prints
    /// `ready frontend=EP backend=EP ...` once listening.
    Proxy(proxy::Args),
    /// Print a new CURVE key pair in Z85: a `public KEY` and a `secret KEY`
    /// line (with --public-of SECRET: the public key of that secret).
    Keygen(security::KeygenArgs),
}

/// How to make the socket: the options common to every subcommand.
#[derive(Args, Debug, Clone)]
pub struct SocketArgs {
    /// Socket type: PAIR, PUB, SUB, REQ, REP, DEALER, ROUTER, PULL, PUSH,
    /// XPUB or XSUB (any case).
    #[arg(long = "type", short = 't', value_name = "TYPE", value_parser = parse_type)]
    socket_type: SocketType,
    /// Bind to an endpoint (`tcp://127.0.0.1:*` picks a free port).
    #[arg(long, value_name = "EP")]
    bind: Vec<String>,
    /// Connect to an endpoint.
    #[arg(long, value_name = "EP")]
    connect: Vec<String>,
    /// SUB/XSUB: subscribe to a topic prefix (text; "" for everything).
    #[arg(long, value_name = "TOPIC")]
    subscribe: Vec<String>,
    /// Routing id (ZMQ_ROUTING_ID) announced to peers (text).
    #[arg(long, value_name = "ID")]
    identity: Option<String>,
    /// LINGER in ms when closing (-1: wait until every queued message left).
    #[arg(long, value_name = "MS", allow_hyphen_values = true)]
    linger: Option<i32>,
    /// SNDTIMEO in ms: how long a send may block (-1: forever).
    #[arg(long, value_name = "MS", allow_hyphen_values = true)]
    sndtimeo: Option<i32>,
    /// ROUTER: fail sends to unknown peers with EHOSTUNREACH.
    #[arg(long)]
    router_mandatory: bool,
    /// XPUB: pass every subscription up, not only new ones.
    #[arg(long)]
    xpub_verbose: bool,
    /// CONFLATE: keep only the latest message in each queue (PUB, SUB,
    /// PUSH, PULL, DEALER).
    #[arg(long)]
    conflate: bool,
    /// SNDHWM: most messages queued per peer for sending (0: no limit).
    #[arg(long, value_name = "N")]
    sndhwm: Option<i32>,
    /// RCVHWM: most messages queued per peer on receipt (0: no limit).
    #[arg(long, value_name = "N")]
    rcvhwm: Option<i32>,
    #[command(flatten)]
    security: security::SecurityArgs,
}

#[derive(Args)]
struct SendArgs {
    #[command(flatten)]
    socket: SocketArgs,
    /// Parts are hex (`-` for an empty part) instead of text.
    #[arg(long)]
    hex: bool,
    /// Wait this long (ms) after connecting before sending, so that the
    /// connection (and, for PUB, the peer's subscriptions) can arrive.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    delay: u64,
    /// The frames of the message.
    #[arg(required = true, value_name = "PART", allow_hyphen_values = true)]
    parts: Vec<String>,
}

#[derive(Args)]
struct RecvArgs {
    #[command(flatten)]
    socket: SocketArgs,
    /// Print parts as hex (`-` for an empty part) instead of quoted text.
    #[arg(long)]
    hex: bool,
    /// Stop after this many messages (0: never).
    #[arg(long, short = 'n', value_name = "N", default_value_t = 0)]
    count: u64,
    /// Give up (exit 1) when no message came for this long (ms; -1: never).
    #[arg(long, value_name = "MS", default_value_t = -1, allow_hyphen_values = true)]
    timeout: i32,
}

fn parse_type(s: &str) -> Result<SocketType, String> {
    let upper = s.to_ascii_uppercase();
    match SocketType::from_name(upper.as_bytes()) {
        Some(t) => Ok(t),
        None => Err(format!(
            "unknown socket type {s:?} (one of PAIR PUB SUB REQ REP DEALER ROUTER PULL PUSH XPUB XSUB)"
        )),
    }
}

impl SocketArgs {
    /// Creates the socket, sets its options, then binds and connects.
    pub fn open(&self, ctx: &Context) -> Result<Socket, String> {
        let socket = self.create(ctx)?;
        self.attach(&socket)?;
        Ok(socket)
    }

    /// Starts the authenticator the `--auth-*` flags ask for, if any: call
    /// it before `open`, and keep the result until the socket is closed.
    pub fn start_authenticator(
        &self,
        ctx: &Context,
    ) -> Result<Option<ferromq::auth::Authenticator>, String> {
        self.security.start_authenticator(ctx)
    }

    /// Creates the socket and sets its options (no bind or connect yet).
    pub fn create(&self, ctx: &Context) -> Result<Socket, String> {
        let t = self.socket_type;
        let socket = ctx
            .socket(t)
            .map_err(|e| format!("cannot create a {t} socket: {e}"))?;
        let set = |what: &str, r: ferromq::Result<()>| {
            r.map_err(|e| format!("cannot set {what} on the {t} socket: {e}"))
        };
        if let Some(id) = &self.identity {
            set("--identity", socket.set_routing_id(id.as_bytes()))?;
        }
        if let Some(ms) = self.linger {
            set("--linger", socket.set_linger(ms))?;
        }
        if let Some(ms) = self.sndtimeo {
            set("--sndtimeo", socket.set_sndtimeo(ms))?;
        }
        if self.router_mandatory {
            set("--router-mandatory", socket.set_router_mandatory(true))?;
        }
        if self.xpub_verbose {
            set("--xpub-verbose", socket.set_xpub_verbose(true))?;
        }
        if self.conflate {
            set("--conflate", socket.set_conflate(true))?;
        }
        if let Some(n) = self.sndhwm {
            set("--sndhwm", socket.set_sndhwm(n))?;
        }
        if let Some(n) = self.rcvhwm {
            set("--rcvhwm", socket.set_rcvhwm(n))?;
        }
        for topic in &self.subscribe {
            set("--subscribe", socket.set_subscribe(topic.as_bytes()))?;
        }
        self.security
            .apply(&socket)
            .map_err(|e| format!("{e} on the {t} socket"))?;
        Ok(socket)
    }

    /// Binds and connects the socket to the endpoints given.
    pub fn attach(&self, socket: &Socket) -> Result<(), String> {
        for ep in &self.bind {
            socket
                .bind(ep)
                .map_err(|e| format!("cannot bind to {ep}: {e}"))?;
        }
        for ep in &self.connect {
            socket
                .connect(ep)
                .map_err(|e| format!("cannot connect to {ep}: {e}"))?;
        }
        Ok(())
    }
}

/// A part as text for people: quoted, non-printable bytes escaped.
fn quoted(part: &[u8]) -> String {
    format!("\"{}\"", part.escape_ascii())
}

fn format_message(parts: &[Vec<u8>], hex: bool) -> String {
    parts
        .iter()
        .map(|p| if hex { hex::encode_part(p) } else { quoted(p) })
        .collect::<Vec<_>>()
        .join(" ")
}

fn run_send(args: &SendArgs) -> Result<(), String> {
    let parts = if args.hex {
        args.parts
            .iter()
            .map(|p| hex::decode_part(p))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        args.parts.iter().map(|p| p.as_bytes().to_vec()).collect()
    };
    let ctx = Context::new();
    let _auth = args.socket.start_authenticator(&ctx)?;
    let socket = args.socket.open(&ctx)?;
    if args.socket.linger.is_none() {
        // Do not hang forever at exit when nobody takes the message.
        socket
            .set_linger(5000)
            .map_err(|e| format!("cannot set linger: {e}"))?;
    }
    std::thread::sleep(Duration::from_millis(args.delay));
    socket
        .send_multipart(parts, 0)
        .map_err(|e| format!("send failed: {e}"))?;
    if args.socket.socket_type == SocketType::Req {
        let reply = socket
            .recv_multipart(0)
            .map_err(|e| format!("receiving the reply failed: {e}"))?;
        println!("{}", format_message(&reply, args.hex));
    }
    Ok(())
}

fn run_recv(args: &RecvArgs) -> Result<(), String> {
    let ctx = Context::new();
    let _auth = args.socket.start_authenticator(&ctx)?;
    let socket = args.socket.open(&ctx)?;
    socket
        .set_rcvtimeo(args.timeout.max(-1))
        .map_err(|e| format!("cannot set the timeout: {e}"))?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut got = 0u64;
    while args.count == 0 || got < args.count {
        let parts = socket
            .recv_multipart(0)
            .map_err(|e| format!("receive failed: {e}"))?;
        got += 1;
        let printed =
            writeln!(out, "{}", format_message(&parts, args.hex)).and_then(|()| out.flush());
        if args.socket.socket_type == SocketType::Rep {
            socket
                .send_multipart(parts, 0)
                .map_err(|e| format!("sending the echo reply failed: {e}"))?;
        }
        if printed.is_err() {
            break;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (name, result) = match &cli.command {
        Cmd::Peer(args) => return peer::run(args),
        Cmd::SeqSend(args) => return seq::run_send(args),
        Cmd::SeqRecv(args) => return seq::run_recv(args),
        Cmd::Proxy(args) => return proxy::run(args),
        Cmd::Send(args) => ("send", run_send(args)),
        Cmd::Recv(args) => ("recv", run_recv(args)),
        Cmd::Keygen(args) => (
            "keygen",
            security::keygen(args).and_then(|text| {
                // Not println!: it panics when stdout is closed (`| head -1`).
                let mut out = io::stdout().lock();
                writeln!(out, "{text}")
                    .and_then(|()| out.flush())
                    .map_err(|e| format!("writing to stdout: {e}"))
            }),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("ferromq {name}: {msg}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn socket_types_parse_in_any_case() {
        assert_eq!(parse_type("req").unwrap(), SocketType::Req);
        assert_eq!(parse_type("XPub").unwrap(), SocketType::Xpub);
        assert!(parse_type("teapot")
            .unwrap_err()
            .contains("unknown socket type"));
    }

    #[test]
    fn messages_print_quoted_or_hex() {
        let parts = vec![b"a b".to_vec(), vec![], vec![0, b'"']];
        assert_eq!(format_message(&parts, false), r#""a b" "" "\x00\"""#);
        assert_eq!(format_message(&parts, true), "612062 - 0022");
    }
}
