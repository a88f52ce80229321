//! A scripted ZMTP peer over one TCP connection, driven by hand through a
//! `Connection`: no engine, no threads. It speaks NULL, PLAIN or CURVE in
//! either role, so a real libzmq (pyzmq) peer can check the security
//! mechanisms byte for byte (tests/interop/test_security_wire.py).
//!
//! ```text
//! security_peer (--connect HOST:PORT | --bind HOST:PORT) --type TYPE
//!     [--mechanism null|plain|curve] [--server]
//!     [--username U] [--password P]             PLAIN client
//!     [--secret-key Z85] [--server-key Z85]     CURVE (server: --secret-key)
//!     [--zap allow|deny:CODE|absent|none] [--user-id ID] [--zap-prop NAME=VALUE]
//!     [--subscribe HEX] [--send PARTS]... [--recv N] [--echo N] [--hold-ms MS]
//! ```
//!
//! PARTS is a message: hex parts joined by '.', '-' for an empty part, or
//! `big:N` for a part of N octets (byte i is i % 251). After the handshake
//! the peer subscribes, sends each --send message, receives --recv
//! messages, receives and sends back --echo messages, then keeps serving
//! (answering PINGs) for --hold-ms. Every step is bounded by a 10 s
//! timeout. Output, one line each:
//!
//! ```text
//! listening PORT                      (with --bind)
//! zap MECHANISM CRED-HEX...           (server: the ZAP request it answered)
//! ready TYPE                          (handshake done)
//! prop NAME HEX                       (each peer property)
//! msg PARTS                           (a received message)
//! sub HEX | cancel HEX                (a received subscription)
//! failed auth STATUS | failed protocol CODE TEXT | failed io TEXT
//! done
//! ```
//!
//! `--zap` (server): answer ZAP requests with a 200 (`allow`, with
//! `--user-id` and `--zap-prop`), a refusal (`deny:CODE`), or as when no
//! handler is bound (`absent`); `none` builds the mechanism without ZAP.
//!
//! Exit status: 0 after `done`, 2 after `failed`, 1 on bad arguments.

use ferromq_proto::{
    z85, Connection, ConnectionOptions, CurveClient, CurveKeyPair, CurveServer, Event,
    LocalProperties, Mechanism, NullMechanism, PlainClient, PlainServer, ProtocolError, SocketType,
    ZapContext, ZapReply,
};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::exit;
use std::time::{Duration, Instant};

const STEP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Args {
    connect: Option<String>,
    bind: Option<String>,
    socket_type: Option<SocketType>,
    mechanism: String,
    server: bool,
    username: String,
    password: String,
    secret_key: Option<String>,
    server_key: Option<String>,
    zap: String,
    user_id: String,
    zap_props: Vec<(String, String)>,
    subscribe: Vec<Vec<u8>>,
    send: Vec<Vec<Vec<u8>>>,
    recv: usize,
    echo: usize,
    hold_ms: u64,
}

fn usage(why: &str) -> ! {
    eprintln!("security_peer: {why}");
    exit(1)
}

fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".into();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    if text == "-" {
        return Vec::new();
    }
    if let Some(n) = text.strip_prefix("big:") {
        let n: usize = n.parse().unwrap_or_else(|_| usage("bad big:N"));
        return (0..n).map(|i| (i % 251) as u8).collect();
    }
    if text.len() % 2 != 0 {
        usage("odd hex length");
    }
    (0..text.len() / 2)
        .map(|i| {
            u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap_or_else(|_| usage("bad hex"))
        })
        .collect()
}

fn parse_args() -> Args {
    let mut args = Args {
        mechanism: "null".into(),
        zap: "allow".into(),
        ..Args::default()
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--server" {
            args.server = true;
            continue;
        }
        let value = it
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--connect" => args.connect = Some(value),
            "--bind" => args.bind = Some(value),
            "--type" => {
                args.socket_type = Some(
                    SocketType::from_name(value.as_bytes())
                        .unwrap_or_else(|| usage("unknown socket type")),
                )
            }
            "--mechanism" => args.mechanism = value,
            "--username" => args.username = value,
            "--password" => args.password = value,
            "--secret-key" => args.secret_key = Some(value),
            "--server-key" => args.server_key = Some(value),
            "--zap" => args.zap = value,
            "--user-id" => args.user_id = value,
            "--zap-prop" => {
                let (name, v) = value.split_once('=').unwrap_or_else(|| usage("NAME=VALUE"));
                args.zap_props.push((name.into(), v.into()));
            }
            "--subscribe" => args.subscribe.push(unhex(&value)),
            "--send" => args.send.push(value.split('.').map(unhex).collect()),
            "--recv" => args.recv = value.parse().unwrap_or_else(|_| usage("bad --recv")),
            "--echo" => args.echo = value.parse().unwrap_or_else(|_| usage("bad --echo")),
            "--hold-ms" => args.hold_ms = value.parse().unwrap_or_else(|_| usage("bad --hold-ms")),
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    args
}

fn key(text: &Option<String>, what: &str) -> [u8; 32] {
    let text = text
        .as_deref()
        .unwrap_or_else(|| usage(&format!("{what} is required")));
    z85::decode_key(text).unwrap_or_else(|e| usage(&format!("{what}: {e}")))
}

fn mechanism(args: &Args, address: &str) -> Box<dyn Mechanism> {
    let local = LocalProperties::new(args.socket_type.unwrap_or_else(|| usage("--type")));
    let zap = (args.zap != "none").then(|| ZapContext::new("global", address.to_owned()));
    match (args.mechanism.as_str(), args.server) {
        ("null", _) => Box::new(NullMechanism::new(local)),
        ("plain", false) => Box::new(
            PlainClient::new(local, args.username.clone(), args.password.clone())
                .unwrap_or_else(|e| usage(&e.to_string())),
        ),
        ("plain", true) => {
            let server = PlainServer::new(local);
            Box::new(match zap {
                Some(ctx) => server.with_zap(ctx),
                None => server,
            })
        }
        ("curve", false) => Box::new(CurveClient::new(
            local,
            CurveKeyPair::from_secret(key(&args.secret_key, "--secret-key")),
            key(&args.server_key, "--server-key"),
        )),
        ("curve", true) => {
            let keys = CurveKeyPair::from_secret(key(&args.secret_key, "--secret-key"));
            let server = CurveServer::new(local, keys);
            Box::new(match zap {
                Some(ctx) => server.with_zap(ctx),
                None => server,
            })
        }
        _ => usage("unknown mechanism"),
    }
}

fn zap_verdict(args: &Args) -> ZapReply {
    if args.zap == "absent" {
        return ZapReply::no_handler();
    }
    if let Some(code) = args.zap.strip_prefix("deny:") {
        return ZapReply::deny(
            code.parse().unwrap_or_else(|_| usage("deny:CODE")),
            "denied",
        );
    }
    let mut reply = ZapReply::allow(args.user_id.clone());
    for (name, value) in &args.zap_props {
        reply
            .metadata
            .insert(name, value.clone().into_bytes())
            .unwrap_or_else(|e| usage(&e.to_string()));
    }
    reply
}

/// The peer, its connection and what it has received but not yet used.
struct Peer {
    stream: TcpStream,
    conn: Connection,
    zap: ZapReply,
    messages: Vec<Vec<Vec<u8>>>,
    partial: Vec<Vec<u8>>,
    ready: bool,
}

enum Failure {
    Protocol(ProtocolError),
    Io(io::Error),
}

impl From<ProtocolError> for Failure {
    fn from(e: ProtocolError) -> Failure {
        Failure::Protocol(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure::Io(e)
    }
}

impl Peer {
    fn flush(&mut self) -> io::Result<()> {
        let out = self.conn.output().take_all();
        self.stream.write_all(&out)
    }

    /// Handles every event buffered input yields (and the ZAP hook).
    fn drain(&mut self) -> Result<(), Failure> {
        loop {
            let event = match self.conn.poll_event() {
                Ok(event) => event,
                Err(e) => {
                    // The output may hold an ERROR for the peer.
                    let _ = self.flush();
                    return Err(e.into());
                }
            };
            let Some(event) = event else {
                if let Some(request) = self.conn.zap_request() {
                    let creds: Vec<String> = request.credentials.iter().map(|c| hex(c)).collect();
                    println!("zap {} {}", request.mechanism, creds.join(" "));
                    let verdict = self.zap.clone();
                    if let Err(e) = self.conn.zap_reply(verdict) {
                        let _ = self.flush();
                        return Err(e.into());
                    }
                    continue;
                }
                self.flush()?;
                return Ok(());
            };
            match event {
                Event::HandshakeComplete(info) => {
                    println!("ready {}", info.socket_type);
                    for (name, value) in info.metadata.iter() {
                        println!("prop {name} {}", hex(value));
                    }
                    self.ready = true;
                }
                Event::Message(frame) => {
                    self.partial.push(frame.body.to_vec());
                    if !frame.kind.more() {
                        let msg = std::mem::take(&mut self.partial);
                        let parts: Vec<String> = msg.iter().map(|p| hex(p)).collect();
                        println!("msg {}", parts.join("."));
                        self.messages.push(msg);
                    }
                }
                Event::Subscribe(topic) => println!("sub {}", hex(&topic)),
                Event::Cancel(topic) => println!("cancel {}", hex(&topic)),
                _ => {}
            }
        }
    }

    /// Reads once (up to `deadline`), then drains.
    fn read_some(&mut self, deadline: Instant) -> Result<bool, Failure> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut buf = vec![0u8; 64 * 1024];
        match self.stream.read(&mut buf) {
            Ok(0) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed").into()),
            Ok(n) => {
                self.conn.recv_buf().extend_from_slice(&buf[..n]);
                self.drain()?;
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn until(&mut self, mut done: impl FnMut(&Peer) -> bool, what: &str) -> Result<(), Failure> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        while !done(self) {
            if !self.read_some(deadline)? && Instant::now() >= deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, what.to_owned()).into());
            }
        }
        Ok(())
    }

    fn send(&mut self, msg: &[Vec<u8>]) -> Result<(), Failure> {
        for (i, part) in msg.iter().enumerate() {
            self.conn.send_message(part, i + 1 < msg.len())?;
        }
        self.flush()?;
        Ok(())
    }
}

fn run(args: &Args) -> Result<(), Failure> {
    let stream = match (&args.connect, &args.bind) {
        (Some(addr), None) => TcpStream::connect(addr)?,
        (None, Some(addr)) => {
            let listener = TcpListener::bind(addr)?;
            println!("listening {}", listener.local_addr()?.port());
            listener.set_nonblocking(true)?;
            let deadline = Instant::now() + STEP_TIMEOUT;
            loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if Instant::now() >= deadline {
                            return Err(io::Error::new(io::ErrorKind::TimedOut, "accept").into());
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        _ => usage("give exactly one of --connect and --bind"),
    };
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    let address = stream.peer_addr()?.ip().to_string();
    let conn = Connection::new(mechanism(args, &address), ConnectionOptions::default());
    let mut peer = Peer {
        stream,
        conn,
        zap: zap_verdict(args),
        messages: Vec::new(),
        partial: Vec::new(),
        ready: false,
    };
    peer.flush()?;
    peer.until(|p| p.ready, "handshake")?;
    for topic in &args.subscribe {
        peer.conn.send_subscription(topic, true)?;
        peer.flush()?;
    }
    for msg in &args.send {
        peer.send(msg)?;
    }
    peer.until(|p| p.messages.len() >= args.recv, "recv")?;
    let mut echoed = 0;
    while echoed < args.echo {
        peer.until(|p| p.messages.len() > args.recv + echoed, "echo")?;
        let msg = peer.messages[args.recv + echoed].clone();
        peer.send(&msg)?;
        echoed += 1;
    }
    let hold_until = Instant::now() + Duration::from_millis(args.hold_ms);
    while Instant::now() < hold_until {
        peer.read_some(hold_until)?;
    }
    Ok(())
}

fn main() {
    let args = parse_args();
    match run(&args) {
        Ok(()) => println!("done"),
        Err(Failure::Protocol(e)) => {
            match e.auth_status() {
                Some(status) => println!("failed auth {status}"),
                None => println!("failed protocol {:#x} {e}", e.zmtp_code()),
            }
            exit(2)
        }
        Err(Failure::Io(e)) => {
            println!("failed io {e}");
            exit(2)
        }
    }
}
