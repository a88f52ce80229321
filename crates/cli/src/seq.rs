//! `ferromq seq-send` and `ferromq seq-recv`: a numbered stream and its
//! printer, as killable processes for fault tests (kill -9, SIGSTOP, a
//! restarted listener, a network partition).
//!
//! Both print one line per thing that happens, flushed at once, so a test
//! reading their stdout sees each message the moment it is handed over
//! (and, after a SIGKILL, everything that was printed before it):
//!
//! | line | meaning |
//! |---|---|
//! | `ready <endpoint>` | bound and connected (`-` if nothing was bound) |
//! | `sent <n>` | `seq-send`: message number `n` was accepted by the socket |
//! | `recv <text>` | `seq-recv`: a message arrived; its last frame as text |
//! | `event <NAME> <value> <endpoint>` | a monitor event (with `--events`) |
//! | `stats sent=.. received=.. dropped_hwm=.. dropped_peer_gone=..` | the socket's counters, at a normal exit |
//!
//! Message `n` of `seq-send` is `<prefix><n>`, the prefix taken in turn
//! from the comma-separated `--prefix` list (`--prefix keep.,skip.` sends
//! `keep.0 skip.1 keep.2 ...`), so a SUB can subscribe to a share of them.
//!
//! Both exit when their standard input reaches its end: a test that dies
//! (and with it the write end of the pipe) leaves no process behind.

use crate::SocketArgs;
use clap::Args;
use ferromq::monitor::event;
use ferromq::{Context, Socket};
use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

/// Socket options for lifecycle and fault tests, set before any bind or
/// connect (libzmq takes them when a connection is made). The HWMs are
/// among the common socket options.
#[derive(Args, Debug)]
pub struct Tuning {
    /// HEARTBEAT_IVL in ms: send a PING this often (0: off).
    #[arg(long, value_name = "MS")]
    heartbeat_ivl: Option<i32>,
    /// HEARTBEAT_TIMEOUT in ms: drop a connection silent this long after a PING.
    #[arg(long, value_name = "MS")]
    heartbeat_timeout: Option<i32>,
    /// HEARTBEAT_TTL in ms, announced to the peer in each PING.
    #[arg(long, value_name = "MS")]
    heartbeat_ttl: Option<i32>,
    /// HANDSHAKE_IVL in ms: give up a handshake not done by then (0: never).
    #[arg(long, value_name = "MS")]
    handshake_ivl: Option<i32>,
    /// RECONNECT_IVL in ms.
    #[arg(long, value_name = "MS")]
    reconnect_ivl: Option<i32>,
    /// Print the socket's monitor events as `event NAME value endpoint`.
    #[arg(long)]
    events: bool,
}

/// Options of `seq-send`.
#[derive(Args)]
pub struct SendArgs {
    #[command(flatten)]
    socket: SocketArgs,
    #[command(flatten)]
    tuning: Tuning,
    /// Comma-separated prefixes, used in turn: message n is
    /// `<prefix[n % count]><n>`.
    #[arg(long, default_value = "")]
    prefix: String,
    /// The first number.
    #[arg(long, value_name = "N", default_value_t = 0)]
    start: u64,
    /// Send this many, then print the stats and exit (0: never stop).
    #[arg(long, short = 'n', value_name = "N", default_value_t = 0)]
    count: u64,
    /// Pause between two messages, in microseconds.
    #[arg(long, value_name = "US", default_value_t = 1000)]
    interval_us: u64,
}

/// Options of `seq-recv`.
#[derive(Args)]
pub struct RecvArgs {
    #[command(flatten)]
    socket: SocketArgs,
    #[command(flatten)]
    tuning: Tuning,
    /// Stop after this many messages, print the stats and exit (0: never).
    #[arg(long, short = 'n', value_name = "N", default_value_t = 0)]
    count: u64,
}

/// Writes one line and flushes it; stdout is locked per line so the
/// monitor thread's lines never split the main thread's.
fn say(line: &str) -> io::Result<()> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Ends the process when stdin closes (see the module documentation).
fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let mut sink = [0u8; 256];
        let stdin = io::stdin();
        let mut input = stdin.lock();
        while matches!(input.read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
}

/// Creates the socket with the tuning applied before its endpoints.
fn open(ctx: &Context, args: &SocketArgs, tuning: &Tuning) -> Result<Socket, String> {
    let bare = SocketArgs {
        bind: Vec::new(),
        connect: Vec::new(),
        ..args.clone()
    };
    let socket = bare.open(ctx)?;
    let t = &tuning;
    for (name, option, value) in [
        (
            "--heartbeat-ivl",
            ferromq::option::HEARTBEAT_IVL,
            t.heartbeat_ivl,
        ),
        (
            "--heartbeat-timeout",
            ferromq::option::HEARTBEAT_TIMEOUT,
            t.heartbeat_timeout,
        ),
        (
            "--heartbeat-ttl",
            ferromq::option::HEARTBEAT_TTL,
            t.heartbeat_ttl,
        ),
        (
            "--handshake-ivl",
            ferromq::option::HANDSHAKE_IVL,
            t.handshake_ivl,
        ),
        (
            "--reconnect-ivl",
            ferromq::option::RECONNECT_IVL,
            t.reconnect_ivl,
        ),
    ] {
        if let Some(v) = value {
            socket
                .set_option_raw(option, &v.to_ne_bytes())
                .map_err(|e| format!("cannot set {name}: {e}"))?;
        }
    }
    if t.events {
        let monitor = socket
            .monitor(event::ALL)
            .map_err(|e| format!("cannot monitor the socket: {e}"))?;
        std::thread::spawn(move || loop {
            let Some(ev) = monitor.recv_timeout(Duration::from_secs(1)) else {
                continue;
            };
            if ev.event == event::MONITOR_STOPPED {
                return;
            }
            let line = format!("event {} {} {}", ev.name(), ev.value, ev.endpoint);
            if say(&line).is_err() {
                return;
            }
        });
    }
    for ep in &args.bind {
        socket
            .bind(ep)
            .map_err(|e| format!("cannot bind to {ep}: {e}"))?;
    }
    for ep in &args.connect {
        socket
            .connect(ep)
            .map_err(|e| format!("cannot connect to {ep}: {e}"))?;
    }
    let ep = socket.last_endpoint().unwrap_or_default();
    let ep = if ep.is_empty() { "-".to_owned() } else { ep };
    say(&format!("ready {ep}")).map_err(|e| format!("stdout: {e}"))?;
    Ok(socket)
}

fn stats_line(socket: &Socket) -> String {
    match socket.stats() {
        Ok(s) => format!(
            "stats sent={} received={} dropped_hwm={} dropped_peer_gone={}",
            s.messages_sent, s.messages_received, s.dropped.hwm, s.dropped.peer_gone
        ),
        Err(e) => format!("stats unavailable: {e}"),
    }
}

fn send(args: &SendArgs) -> Result<(), String> {
    exit_when_stdin_closes();
    let ctx = Context::new();
    let _auth = args.socket.start_authenticator(&ctx)?;
    let socket = open(&ctx, &args.socket, &args.tuning)?;
    let prefixes: Vec<&str> = args.prefix.split(',').collect();
    let pause = Duration::from_micros(args.interval_us);
    let mut n = args.start;
    while args.count == 0 || n - args.start < args.count {
        let prefix = prefixes[(n % prefixes.len() as u64) as usize];
        socket
            .send(format!("{prefix}{n}"), 0)
            .map_err(|e| format!("sending {n} failed: {e}"))?;
        say(&format!("sent {n}")).map_err(|e| format!("stdout: {e}"))?;
        n += 1;
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
    say(&stats_line(&socket)).map_err(|e| format!("stdout: {e}"))?;
    // Closing lingers per --linger (default: until everything is delivered).
    Ok(())
}

fn recv(args: &RecvArgs) -> Result<(), String> {
    exit_when_stdin_closes();
    let ctx = Context::new();
    let _auth = args.socket.start_authenticator(&ctx)?;
    let socket = open(&ctx, &args.socket, &args.tuning)?;
    let mut got = 0u64;
    while args.count == 0 || got < args.count {
        let mut parts = socket
            .recv_multipart(0)
            .map_err(|e| format!("receive failed: {e}"))?;
        got += 1;
        let last = parts.pop().unwrap_or_default();
        say(&format!("recv {}", last.escape_ascii())).map_err(|e| format!("stdout: {e}"))?;
    }
    say(&stats_line(&socket)).map_err(|e| format!("stdout: {e}"))?;
    Ok(())
}

/// Runs `seq-send`.
pub fn run_send(args: &SendArgs) -> ExitCode {
    finish("seq-send", send(args))
}

/// Runs `seq-recv`.
pub fn run_recv(args: &RecvArgs) -> ExitCode {
    finish("seq-recv", recv(args))
}

fn finish(name: &str, result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("ferromq {name}: {msg}");
            ExitCode::FAILURE
        }
    }
}
