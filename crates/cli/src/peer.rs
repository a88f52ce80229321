//! `ferromq peer`: one socket driven by a line protocol on stdin/stdout,
//! for tests in other languages.
//!
//! Every command line gets exactly one reply line (flushed at once);
//! blank lines and lines starting with `#` are ignored. Message parts are
//! hex, `-` for an empty part.
//!
//! | command | reply |
//! |---|---|
//! | `send <part> <part>...` | `ok` |
//! | `sendseq COUNT [FIRST [SIZE]]`: COUNT one-part messages whose bodies are the decimal numbers FIRST (default 0), FIRST+1, ..., each padded with `.` to SIZE bytes if shorter | `ok` once all were sent |
//! | `recv [timeout_ms]` (none or negative: wait forever) | `msg <part> <part>...` |
//! | `recvprops [timeout_ms]`: like `recv`, with the first frame's metadata | `msg <part>... props <Name>=<hex>...` (`props` alone when there are none; an empty value is `-`), e.g. `props Socket-Type=524551 User-Id=61646d696e` |
//! | `event [timeout_ms]`: the next monitor event (the peer must run with `--monitor`) | `event <NAME> <value> <endpoint>` (`-` for no endpoint) |
//! | `endpoint` | `endpoint <last_endpoint>` (`-` if none) |
//! | `events` | `events <n>`: ZMQ_EVENTS, POLLIN 1 + POLLOUT 2; like any socket call it also lets the socket take in new connections (an idle socket does not, as in libzmq) |
//! | `stats` | `stats sent=<n> received=<n> dropped=<n> hwm=<n> unroutable=<n> peer_gone=<n> conflated=<n> unexpected=<n>`: the socket's message counts |
//! | `sub [<hex>]` / `unsub [<hex>]` (no argument: the empty prefix) | `ok` |
//! | `bind EP` / `connect EP` / `unbind EP` / `disconnect EP` | `ok` |
//! | `ping` | `pong` |
//! | `help` | `help <the command list>` |
//! | `quit` (or end of input) | `bye`, after the socket is closed (it lingers per `--linger`) |
//!
//! A failure replies `err <KIND> <message>`: KIND is the libzmq errno
//! name (`EAGAIN` for a timeout, `EFSM`, `EHOSTUNREACH`, ...), or `EUSAGE`
//! for a line that is not a valid command (or `event` without `--monitor`).

use crate::hex::{decode_part, encode_part};
use crate::SocketArgs;
use ferromq::monitor::event;
use ferromq::{Error, ErrorKind, Monitor, Socket};
use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

/// Options of `ferromq peer`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Watch the socket's monitor events from before its first bind or
    /// connect; the `event` command reads them one by one.
    #[arg(long)]
    monitor: bool,
    #[command(flatten)]
    socket: SocketArgs,
}

/// One parsed command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Send(Vec<Vec<u8>>),
    /// Count, first number, size to pad each body to.
    SendSeq(u64, u64, usize),
    Stats,
    /// Timeout in ms; negative waits forever.
    Recv(i32),
    /// Like `Recv`, also printing the message's properties.
    RecvProps(i32),
    /// The next monitor event; timeout in ms, negative waits forever.
    Event(i32),
    Endpoint,
    Events,
    Sub(Vec<u8>),
    Unsub(Vec<u8>),
    Bind(String),
    Connect(String),
    Unbind(String),
    Disconnect(String),
    Ping,
    Help,
    Quit,
}

const HELP: &str =
    "send <hexpart>... | sendseq COUNT [FIRST [SIZE]] | recv [timeout_ms] | recvprops [timeout_ms] \
| endpoint | events | event [timeout_ms] | stats \
| sub [hex] | unsub [hex] \
| bind EP | connect EP | unbind EP | disconnect EP | ping | help | quit (empty part: -)";

/// Parses one line; `Ok(None)` for a blank line or a `#` comment.
pub fn parse(line: &str) -> Result<Option<Command>, String> {
    let mut words = line.split_ascii_whitespace();
    let Some(verb) = words.next() else {
        return Ok(None);
    };
    if verb.starts_with('#') {
        return Ok(None);
    }
    let args: Vec<&str> = words.collect();
    let no_args = |cmd: Command| {
        if args.is_empty() {
            Ok(Some(cmd))
        } else {
            Err(format!("{verb} takes no arguments"))
        }
    };
    let one_endpoint = |make: fn(String) -> Command| match args.as_slice() {
        [ep] => Ok(Some(make((*ep).to_owned()))),
        _ => Err(format!("usage: {verb} ENDPOINT")),
    };
    let timeout = |make: fn(i32) -> Command| match args.as_slice() {
        [] => Ok(Some(make(-1))),
        [ms] => ms
            .parse::<i32>()
            .map(|ms| Some(make(ms)))
            .map_err(|_| format!("{verb}: timeout {ms:?} is not a number of milliseconds")),
        _ => Err(format!("usage: {verb} [TIMEOUT_MS]")),
    };
    let prefix = || match args.as_slice() {
        [] => Ok(Vec::new()),
        [hex] => decode_part(hex),
        _ => Err(format!("usage: {verb} [HEXPREFIX]")),
    };
    match verb {
        "send" => {
            if args.is_empty() {
                return Err(
                    "usage: send HEXPART... (a message needs at least one part; empty part: -)"
                        .into(),
                );
            }
            let parts = args
                .iter()
                .map(|a| decode_part(a))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(Command::Send(parts)))
        }
        "recv" => timeout(Command::Recv),
        "recvprops" => timeout(Command::RecvProps),
        "event" => timeout(Command::Event),
        "sendseq" => {
            let number = |s: &str| {
                s.parse::<u64>()
                    .map_err(|_| format!("sendseq: {s:?} is not a number"))
            };
            let (count, first, size) = match args.as_slice() {
                [count] => (number(count)?, 0, 0),
                [count, first] => (number(count)?, number(first)?, 0),
                [count, first, size] => (number(count)?, number(first)?, number(size)?),
                _ => return Err("usage: sendseq COUNT [FIRST [SIZE]]".into()),
            };
            let size = usize::try_from(size).map_err(|_| "sendseq: SIZE is too big")?;
            Ok(Some(Command::SendSeq(count, first, size)))
        }
        "stats" => no_args(Command::Stats),
        "endpoint" => no_args(Command::Endpoint),
        "events" => no_args(Command::Events),
        "sub" => Ok(Some(Command::Sub(prefix()?))),
        "unsub" => Ok(Some(Command::Unsub(prefix()?))),
        "bind" => one_endpoint(Command::Bind),
        "connect" => one_endpoint(Command::Connect),
        "unbind" => one_endpoint(Command::Unbind),
        "disconnect" => one_endpoint(Command::Disconnect),
        "ping" => no_args(Command::Ping),
        "help" => no_args(Command::Help),
        "quit" | "exit" => no_args(Command::Quit),
        other => Err(format!("unknown command {other:?} (try help)")),
    }
}

/// The KIND token of an `err` reply.
pub fn kind_name(kind: ErrorKind) -> String {
    match kind {
        ErrorKind::Os(errno) => format!("OS{errno}"),
        other => format!("{other:?}"),
    }
}

fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

fn err_reply(e: &Error) -> String {
    format!("err {} {}", kind_name(e.kind()), one_line(e.message()))
}

fn ok_or_err(r: ferromq::Result<()>) -> String {
    match r {
        Ok(()) => "ok".to_owned(),
        Err(e) => err_reply(&e),
    }
}

fn msg_line(parts: &[impl AsRef<[u8]>]) -> String {
    let mut line = String::from("msg");
    for p in parts {
        line.push(' ');
        line.push_str(&encode_part(p.as_ref()));
    }
    line
}

/// A message and the properties of its first frame (User-Id, Socket-Type,
/// Peer-Address, ...).
fn recv_with_props(socket: &Socket) -> ferromq::Result<String> {
    let (first, props) = socket.recv_with_properties(0)?;
    let mut more = first.more();
    let mut parts = vec![first];
    while more {
        let part = socket.recv(0)?;
        more = part.more();
        parts.push(part);
    }
    let mut line = msg_line(&parts);
    line.push_str(" props");
    for (name, value) in props.iter().flat_map(|p| p.iter()) {
        line.push_str(&format!(" {name}={}", encode_part(value)));
    }
    Ok(line)
}

/// The next monitor event, as `event NAME value endpoint`.
fn next_event(monitor: Option<&Monitor>, timeout: i32) -> String {
    let Some(monitor) = monitor else {
        return "err EUSAGE no monitor: start the peer with --monitor".to_owned();
    };
    // Negative: wait forever (in long steps, since a Duration is finite).
    let ev = if timeout < 0 {
        loop {
            if let Some(ev) = monitor.recv_timeout(Duration::from_secs(3600)) {
                break Some(ev);
            }
        }
    } else {
        monitor.recv_timeout(Duration::from_millis(timeout.unsigned_abs().into()))
    };
    match ev {
        Some(ev) => {
            let ep = if ev.endpoint.is_empty() {
                "-"
            } else {
                &ev.endpoint
            };
            let name = event::name(ev.event)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("0x{:04x}", ev.event));
            format!("event {name} {} {ep}", ev.value)
        }
        None => "err EAGAIN no monitor event in time".to_owned(),
    }
}

/// Runs one command (not `quit`) and returns its reply line; `monitor`
/// is the socket's monitor (with `--monitor`).
pub fn execute(socket: &Socket, monitor: Option<&Monitor>, cmd: Command) -> String {
    match cmd {
        Command::Send(parts) => ok_or_err(socket.send_multipart(parts, 0)),
        Command::SendSeq(count, first, size) => {
            ok_or_err((first..first.saturating_add(count)).try_for_each(|n| {
                let mut body = n.to_string().into_bytes();
                if body.len() < size {
                    body.resize(size, b'.');
                }
                socket.send(body, 0)
            }))
        }
        Command::Stats => match socket.stats() {
            Ok(s) => {
                let d = s.dropped;
                format!(
                    "stats sent={} received={} dropped={} hwm={} unroutable={} peer_gone={} \
                     conflated={} unexpected={}",
                    s.messages_sent,
                    s.messages_received,
                    d.total(),
                    d.hwm,
                    d.unroutable,
                    d.peer_gone,
                    d.conflated,
                    d.unexpected
                )
            }
            Err(e) => err_reply(&e),
        },
        Command::Recv(timeout) => {
            let r = socket
                .set_rcvtimeo(timeout.max(-1))
                .and_then(|()| socket.recv_multipart(0));
            match r {
                Ok(parts) => msg_line(&parts),
                Err(e) => err_reply(&e),
            }
        }
        Command::RecvProps(timeout) => {
            let r = socket
                .set_rcvtimeo(timeout.max(-1))
                .and_then(|()| recv_with_props(socket));
            r.unwrap_or_else(|e| err_reply(&e))
        }
        Command::Event(timeout) => next_event(monitor, timeout),
        Command::Endpoint => match socket.last_endpoint() {
            Ok(ep) if ep.is_empty() => "endpoint -".to_owned(),
            Ok(ep) => format!("endpoint {ep}"),
            Err(e) => err_reply(&e),
        },
        Command::Events => match socket.events() {
            Ok(events) => format!("events {events}"),
            Err(e) => err_reply(&e),
        },
        Command::Sub(prefix) => ok_or_err(socket.set_subscribe(&prefix)),
        Command::Unsub(prefix) => ok_or_err(socket.set_unsubscribe(&prefix)),
        Command::Bind(ep) => ok_or_err(socket.bind(&ep)),
        Command::Connect(ep) => ok_or_err(socket.connect(&ep)),
        Command::Unbind(ep) => ok_or_err(socket.unbind(&ep)),
        Command::Disconnect(ep) => ok_or_err(socket.disconnect(&ep)),
        Command::Ping => "pong".to_owned(),
        Command::Help => format!("help {HELP}"),
        Command::Quit => "bye".to_owned(),
    }
}

fn write_line(out: &mut impl Write, line: &str) -> io::Result<()> {
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// The peer's socket, with its authenticator (`--auth-*`) and monitor
/// (`--monitor`).
type Opened = (
    Option<ferromq::auth::Authenticator>,
    Socket,
    Option<Monitor>,
);

/// The socket (its authenticator first, its monitor before any endpoint).
fn open(ctx: &ferromq::Context, args: &Args) -> Result<Opened, String> {
    let auth = args.socket.start_authenticator(ctx)?;
    let socket = args.socket.create(ctx)?;
    let monitor = if args.monitor {
        let m = socket
            .monitor(event::ALL)
            .map_err(|e| format!("cannot monitor the socket: {e}"))?;
        Some(m)
    } else {
        None
    };
    args.socket.attach(&socket)?;
    Ok((auth, socket, monitor))
}

/// The `peer` subcommand.
pub fn run(args: &Args) -> ExitCode {
    let ctx = ferromq::Context::new();
    let (auth, socket, monitor) = match open(&ctx, args) {
        Ok(opened) => opened,
        Err(msg) => {
            eprintln!("ferromq peer: {msg}");
            return ExitCode::FAILURE;
        }
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let ready = match socket.last_endpoint() {
        Ok(ep) if !ep.is_empty() => format!("ready {ep}"),
        _ => "ready -".to_owned(),
    };
    if write_line(&mut out, &ready).is_err() {
        return ExitCode::FAILURE;
    }
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut raw = Vec::new();
    loop {
        raw.clear();
        match input.read_until(b'\n', &mut raw) {
            Ok(0) => break, // end of input: same as quit
            Ok(_) => {}
            Err(e) => {
                eprintln!("ferromq peer: reading stdin: {e}");
                break;
            }
        }
        let reply = match std::str::from_utf8(&raw) {
            Err(_) => Some("err EUSAGE the line is not UTF-8 text".to_owned()),
            Ok(line) => match parse(line) {
                Ok(None) => None,
                Ok(Some(Command::Quit)) => break,
                Ok(Some(cmd)) => Some(execute(&socket, monitor.as_ref(), cmd)),
                Err(msg) => Some(format!("err EUSAGE {}", one_line(&msg))),
            },
        };
        if let Some(reply) = reply {
            if write_line(&mut out, &reply).is_err() {
                // Nobody is listening any more.
                return ExitCode::FAILURE;
            }
        }
    }
    // Close (lingering per --linger), let the I/O thread finish, then say so.
    drop(socket);
    drop(monitor);
    drop(auth);
    drop(ctx);
    let _ = write_line(&mut out, "bye");
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command() {
        assert_eq!(
            parse("send 61 - 0102\n").unwrap(),
            Some(Command::Send(vec![b"a".to_vec(), vec![], vec![1, 2]]))
        );
        assert_eq!(parse("recv").unwrap(), Some(Command::Recv(-1)));
        assert_eq!(parse("recv 250").unwrap(), Some(Command::Recv(250)));
        assert_eq!(parse("recvprops").unwrap(), Some(Command::RecvProps(-1)));
        assert_eq!(
            parse("recvprops 100").unwrap(),
            Some(Command::RecvProps(100))
        );
        assert_eq!(parse("event 5").unwrap(), Some(Command::Event(5)));
        assert_eq!(parse("events").unwrap(), Some(Command::Events));
        assert_eq!(parse("stats").unwrap(), Some(Command::Stats));
        assert_eq!(parse("sendseq 5").unwrap(), Some(Command::SendSeq(5, 0, 0)));
        assert_eq!(
            parse("sendseq 5 10 64").unwrap(),
            Some(Command::SendSeq(5, 10, 64))
        );
        assert_eq!(parse("sub").unwrap(), Some(Command::Sub(vec![])));
        assert_eq!(
            parse("unsub 41").unwrap(),
            Some(Command::Unsub(b"A".to_vec()))
        );
        assert_eq!(
            parse("  connect tcp://127.0.0.1:5 ").unwrap(),
            Some(Command::Connect("tcp://127.0.0.1:5".into()))
        );
        assert_eq!(parse("quit").unwrap(), Some(Command::Quit));
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("   \r\n").unwrap(), None);
        assert_eq!(parse("# note").unwrap(), None);
    }

    #[test]
    fn bad_lines_are_errors_not_panics() {
        for line in [
            "send",
            "send 6",
            "send zz",
            "recv soon",
            "recv 1 2",
            "recvprops x",
            "event 1 2",
            "bind",
            "bind a b",
            "endpoint x",
            "sub 1 2",
            "sendseq",
            "sendseq -1",
            "sendseq 1 x",
            "sendseq 1 2 3 4",
            "stats now",
            "frobnicate",
            "\u{0}",
        ] {
            assert!(parse(line).is_err(), "{line:?} parsed");
        }
    }

    #[test]
    fn error_kinds_are_single_tokens() {
        assert_eq!(kind_name(ErrorKind::EAGAIN), "EAGAIN");
        assert_eq!(kind_name(ErrorKind::Os(5)), "OS5");
    }

    #[test]
    fn push_pull_through_execute() {
        let ctx = ferromq::Context::new();
        let pull = ctx.socket(ferromq::SocketType::Pull).unwrap();
        assert_eq!(execute(&pull, None, Command::Endpoint), "endpoint -");
        assert_eq!(
            execute(&pull, None, Command::Bind("tcp://127.0.0.1:*".into())),
            "ok"
        );
        let ep = pull.last_endpoint().unwrap();
        let push = ctx.socket(ferromq::SocketType::Push).unwrap();
        assert_eq!(execute(&push, None, Command::Connect(ep)), "ok");
        let cmd = parse("send 68656c6c6f - 00ff").unwrap().unwrap();
        assert_eq!(execute(&push, None, cmd), "ok");
        assert_eq!(
            execute(&pull, None, Command::Recv(5000)),
            "msg 68656c6c6f - 00ff"
        );
        assert_eq!(execute(&pull, None, Command::Events), "events 0");
        assert!(execute(&pull, None, Command::Recv(10)).starts_with("err EAGAIN "));
        assert!(
            execute(&pull, None, Command::Bind("tcp://nowhere".into())).starts_with("err EINVAL ")
        );
    }

    #[test]
    fn sendseq_and_stats_through_execute() {
        let ctx = ferromq::Context::new();
        let pull = ctx.socket(ferromq::SocketType::Pull).unwrap();
        pull.bind("inproc://peer-sendseq").unwrap();
        let push = ctx.socket(ferromq::SocketType::Push).unwrap();
        push.connect("inproc://peer-sendseq").unwrap();
        assert_eq!(execute(&push, None, Command::SendSeq(2, 9, 0)), "ok");
        assert_eq!(execute(&push, None, Command::SendSeq(1, 11, 4)), "ok");
        for body in ["9", "10", "11.."] {
            let hex = encode_part(body.as_bytes());
            assert_eq!(
                execute(&pull, None, Command::Recv(5000)),
                format!("msg {hex}")
            );
        }
        assert_eq!(
            execute(&push, None, Command::Stats),
            "stats sent=3 received=0 dropped=0 hwm=0 unroutable=0 peer_gone=0 conflated=0 \
             unexpected=0"
        );
        assert!(execute(&pull, None, Command::Stats).starts_with("stats sent=0 received=3 "));
    }

    #[test]
    fn recvprops_shows_the_user_id_and_event_reads_the_monitor() {
        use ferromq::option;
        let ctx = ferromq::Context::new();
        let auth = ferromq::auth::Authenticator::start(&ctx).unwrap();
        auth.configure_plain("*", [("admin".to_owned(), "secret".to_owned())].into());
        let pull = ctx.socket(ferromq::SocketType::Pull).unwrap();
        pull.set_option_raw(option::PLAIN_SERVER, &1i32.to_ne_bytes())
            .unwrap();
        let monitor = pull.monitor(event::ALL).unwrap();
        pull.bind("tcp://127.0.0.1:*").unwrap();
        assert!(
            execute(&pull, Some(&monitor), Command::Event(5000)).starts_with("event LISTENING ")
        );
        let push = ctx.socket(ferromq::SocketType::Push).unwrap();
        push.set_option_raw(option::PLAIN_USERNAME, b"admin")
            .unwrap();
        push.set_option_raw(option::PLAIN_PASSWORD, b"secret")
            .unwrap();
        push.connect(&pull.last_endpoint().unwrap()).unwrap();
        push.send_multipart([&b"hi"[..], b""], 0).unwrap();
        let line = execute(&pull, Some(&monitor), Command::RecvProps(5000));
        let (msg, props) = line.split_once(" props").unwrap();
        assert_eq!(msg, "msg 6869 -");
        let props: Vec<&str> = props.split_whitespace().collect();
        assert!(props.contains(&"User-Id=61646d696e"), "{line}");
        assert!(props.contains(&"Socket-Type=50555348"), "{line}");
        assert_eq!(
            execute(&push, None, Command::Event(0)),
            "err EUSAGE no monitor: start the peer with --monitor"
        );
        assert!(execute(&pull, None, Command::RecvProps(10)).starts_with("err EAGAIN "));
    }
}
