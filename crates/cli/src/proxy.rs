//! `ferromq proxy`: the built-in proxy (zmq_proxy_steerable) between a
//! frontend and a backend socket made from the command line, with optional
//! capture and control sockets.
//!
//! Once every socket is bound and connected it prints one line,
//! `ready frontend=EP backend=EP [capture=EP] [control=EP]` (each socket's
//! last endpoint, with the real port of a `:*` bind), then runs until a
//! TERMINATE command (exit 0, after printing `terminated`) or an error
//! (exit 1).

use ferromq::{Context, Socket, SocketType};
use std::io::Write;
use std::process::ExitCode;

/// Options of `ferromq proxy`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Frontend socket type (ROUTER for a queue, XSUB or SUB for a
    /// forwarder, PULL for a streamer).
    #[arg(long, value_name = "TYPE", value_parser = crate::parse_type)]
    frontend_type: SocketType,
    /// Bind the frontend to an endpoint (repeatable).
    #[arg(long, value_name = "EP")]
    frontend_bind: Vec<String>,
    /// Connect the frontend to an endpoint (repeatable).
    #[arg(long, value_name = "EP")]
    frontend_connect: Vec<String>,
    /// SUB frontend: subscribe to a topic prefix (text; "" for everything).
    #[arg(long, value_name = "TOPIC")]
    frontend_subscribe: Vec<String>,
    /// Backend socket type (DEALER, XPUB or PUB, PUSH).
    #[arg(long, value_name = "TYPE", value_parser = crate::parse_type)]
    backend_type: SocketType,
    /// Bind the backend to an endpoint (repeatable).
    #[arg(long, value_name = "EP")]
    backend_bind: Vec<String>,
    /// Connect the backend to an endpoint (repeatable).
    #[arg(long, value_name = "EP")]
    backend_connect: Vec<String>,
    /// Capture socket type (PUB, PUSH, DEALER or PAIR): gets a copy of
    /// every frame proxied, both ways.
    #[arg(long, value_name = "TYPE", value_parser = crate::parse_type)]
    capture_type: Option<SocketType>,
    /// Bind the capture socket to an endpoint.
    #[arg(long, value_name = "EP")]
    capture_bind: Vec<String>,
    /// Connect the capture socket to an endpoint.
    #[arg(long, value_name = "EP")]
    capture_connect: Vec<String>,
    /// Control socket type (REP or PAIR): takes PAUSE, RESUME, TERMINATE
    /// and STATISTICS.
    #[arg(long, value_name = "TYPE", value_parser = crate::parse_type)]
    control_type: Option<SocketType>,
    /// Bind the control socket to an endpoint.
    #[arg(long, value_name = "EP")]
    control_bind: Vec<String>,
    /// Connect the control socket to an endpoint.
    #[arg(long, value_name = "EP")]
    control_connect: Vec<String>,
    /// SNDHWM and RCVHWM of the frontend and backend (0: no limit).
    #[arg(long, value_name = "N")]
    hwm: Option<i32>,
    /// SNDBUF (kernel send buffer, bytes) of the frontend and backend.
    #[arg(long, value_name = "BYTES")]
    sndbuf: Option<i32>,
    /// RCVBUF (kernel receive buffer, bytes) of the frontend and backend.
    #[arg(long, value_name = "BYTES")]
    rcvbuf: Option<i32>,
    /// LINGER in ms of every socket when the proxy ends.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 1000,
        allow_hyphen_values = true
    )]
    linger: i32,
}

/// Makes one of the proxy's sockets.
fn open(
    ctx: &Context,
    role: &str,
    t: SocketType,
    bind: &[String],
    connect: &[String],
    set: impl FnOnce(&Socket) -> ferromq::Result<()>,
) -> Result<Socket, String> {
    let s = ctx
        .socket(t)
        .map_err(|e| format!("cannot create the {role} ({t}): {e}"))?;
    set(&s).map_err(|e| format!("cannot set the {role}'s options: {e}"))?;
    for ep in bind {
        s.bind(ep)
            .map_err(|e| format!("cannot bind the {role} to {ep}: {e}"))?;
    }
    for ep in connect {
        s.connect(ep)
            .map_err(|e| format!("cannot connect the {role} to {ep}: {e}"))?;
    }
    if bind.is_empty() && connect.is_empty() {
        return Err(format!(
            "the {role} needs --{role}-bind or --{role}-connect"
        ));
    }
    Ok(s)
}

fn start(args: &Args, ctx: &Context) -> Result<[Option<Socket>; 4], String> {
    let linger = args.linger;
    let side = |s: &Socket, subscribe: &[String]| {
        s.set_linger(linger)?;
        if let Some(hwm) = args.hwm {
            s.set_sndhwm(hwm)?;
            s.set_rcvhwm(hwm)?;
        }
        if let Some(bytes) = args.sndbuf {
            s.set_sndbuf(bytes)?;
        }
        if let Some(bytes) = args.rcvbuf {
            s.set_rcvbuf(bytes)?;
        }
        subscribe
            .iter()
            .try_for_each(|topic| s.set_subscribe(topic.as_bytes()))
    };
    let frontend = open(
        ctx,
        "frontend",
        args.frontend_type,
        &args.frontend_bind,
        &args.frontend_connect,
        |s| side(s, &args.frontend_subscribe),
    )?;
    let backend = open(
        ctx,
        "backend",
        args.backend_type,
        &args.backend_bind,
        &args.backend_connect,
        |s| side(s, &[]),
    )?;
    let extra = |role, t: Option<SocketType>, bind: &[String], connect: &[String]| {
        t.map(|t| open(ctx, role, t, bind, connect, |s| s.set_linger(linger)))
            .transpose()
    };
    let capture = extra(
        "capture",
        args.capture_type,
        &args.capture_bind,
        &args.capture_connect,
    )?;
    let control = extra(
        "control",
        args.control_type,
        &args.control_bind,
        &args.control_connect,
    )?;
    Ok([Some(frontend), Some(backend), capture, control])
}

/// Runs `ferromq proxy`.
pub fn run(args: &Args) -> ExitCode {
    let ctx = Context::new();
    let sockets = match start(args, &ctx) {
        Ok(sockets) => sockets,
        Err(msg) => {
            eprintln!("ferromq proxy: {msg}");
            return ExitCode::FAILURE;
        }
    };
    let mut ready = String::from("ready");
    for (name, socket) in ["frontend", "backend", "capture", "control"]
        .iter()
        .zip(&sockets)
    {
        if let Some(s) = socket {
            let ep = s.last_endpoint().unwrap_or_default();
            ready.push_str(&format!(" {name}={ep}"));
        }
    }
    println!("{ready}");
    let _ = std::io::stdout().flush();
    let [Some(frontend), Some(backend), capture, control] = &sockets else {
        unreachable!("frontend and backend are always made");
    };
    match ferromq::proxy_steerable(frontend, backend, capture.as_ref(), control.as_ref()) {
        Ok(()) => {
            println!("terminated");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ferromq proxy: {e}");
            ExitCode::FAILURE
        }
    }
}
