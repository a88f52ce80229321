//! Connection lifecycle: monitor events, HANDSHAKE_IVL, heartbeats,
//! reconnect back-off and RECONNECT_STOP, IMMEDIATE. Peers that misbehave
//! on purpose are raw TCP streams speaking just enough ZMTP.

mod common;

use common::*;
use ferromq::monitor::{event, Monitor};
use ferromq::{option, reconnect_stop, Context, ErrorKind, Socket, SocketType, POLLOUT};
use ferromq_proto::{Command, Frame, FrameDecoder, FrameKind, Greeting, MechanismName, Metadata};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// A hand-driven ZMTP peer over a plain TCP stream.
struct RawPeer {
    stream: TcpStream,
    decoder: FrameDecoder,
    buf: bytes::BytesMut,
}

impl RawPeer {
    fn new(stream: TcpStream) -> RawPeer {
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        RawPeer {
            stream,
            decoder: FrameDecoder::new(None),
            buf: bytes::BytesMut::new(),
        }
    }

    /// Sends our greeting and READY as `socket_type`, and reads the peer's
    /// greeting (its READY arrives as the first frame).
    fn handshake(&mut self, socket_type: &str, as_server: bool) {
        let mut md = Metadata::new();
        md.insert("Socket-Type", socket_type.as_bytes().to_vec())
            .unwrap();
        let mut out = Greeting::new(MechanismName::NULL, as_server)
            .encode()
            .to_vec();
        Command::Ready(md).encode_frame(&mut out);
        self.stream.write_all(&out).unwrap();
        let mut greeting = [0u8; 64];
        self.stream.read_exact(&mut greeting).unwrap();
    }

    fn send_command(&mut self, command: &Command) {
        let mut out = Vec::new();
        command.encode_frame(&mut out);
        self.stream.write_all(&out).unwrap();
    }

    /// The next frame, or `None` once the other side closed.
    fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf).unwrap() {
                return Some(frame);
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("raw peer read failed: {e}"),
            }
        }
    }

    /// The next command, skipping message frames; `None` once closed.
    fn next_command(&mut self) -> Option<Command> {
        loop {
            let frame = self.next_frame()?;
            if frame.kind == FrameKind::Command {
                return Some(Command::parse(frame.body).unwrap());
            }
        }
    }

    /// Reads (and ignores) bytes until the other side closes.
    fn wait_closed(&mut self) {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
                Err(e) => panic!("raw peer read failed: {e}"),
            }
        }
    }
}

fn set_int(s: &Socket, opt: i32, v: i32) {
    s.set_option_raw(opt, &v.to_ne_bytes()).unwrap();
}

fn next_event(m: &Monitor) -> ferromq::MonitorEvent {
    m.recv_timeout(DEADLINE).expect("a monitor event in time")
}

/// A port nothing listens on (briefly bound, then released).
fn dead_endpoint() -> String {
    unused_endpoint()
}

#[test]
fn monitor_reports_the_lifecycle_of_a_connection() {
    let ctx = Context::new();
    let server = ctx.socket(SocketType::Rep).unwrap();
    let server_events = server.monitor(event::ALL).unwrap();
    server.bind("tcp://127.0.0.1:*").unwrap();
    let ep = server.last_endpoint().unwrap();
    let listening = next_event(&server_events);
    assert_eq!(
        (listening.event, listening.endpoint.as_str()),
        (event::LISTENING, ep.as_str())
    );

    let client = with_timeout(ctx.socket(SocketType::Req).unwrap());
    let client_events = client.monitor(event::ALL).unwrap();
    client.connect(&ep).unwrap();
    let seen: Vec<u16> = (0..3).map(|_| next_event(&client_events).event).collect();
    assert_eq!(
        seen,
        [
            event::CONNECT_DELAYED,
            event::CONNECTED,
            event::HANDSHAKE_SUCCEEDED
        ]
    );
    let accepted = next_event(&server_events);
    assert_eq!(accepted.event, event::ACCEPTED);
    assert_eq!(accepted.endpoint, ep);
    let client_addr = accepted.peer_address.clone().expect("a peer address");
    assert!(client_addr.starts_with("tcp://127.0.0.1:"), "{client_addr}");
    let done = next_event(&server_events);
    assert_eq!(
        (done.event, done.peer_address.as_deref()),
        (event::HANDSHAKE_SUCCEEDED, Some(client_addr.as_str()))
    );

    // The server goes away: the client sees the disconnect and a retry.
    drop(server);
    assert_eq!(
        server_events.recv_timeout(DEADLINE).map(|e| e.event),
        Some(event::MONITOR_STOPPED)
    );
    let gone = next_event(&client_events);
    assert_eq!(
        (gone.event, gone.endpoint.as_str()),
        (event::DISCONNECTED, ep.as_str())
    );
    assert_eq!(next_event(&client_events).event, event::CONNECT_RETRIED);
    client.monitor_stop();
    assert_eq!(
        client_events
            .wait_for(event::MONITOR_STOPPED, DEADLINE)
            .map(|e| e.value),
        Some(0)
    );
    assert!(client_events.recv_timeout(Duration::ZERO).is_none());
}

#[test]
fn monitor_mask_selects_events_and_bind_failures_are_reported() {
    let ctx = Context::new();
    let (first, ep) = bound(&ctx, SocketType::Pull);
    let second = ctx.socket(SocketType::Pull).unwrap();
    let events = second.monitor(event::BIND_FAILED).unwrap();
    let err = second.bind(&ep).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::EADDRINUSE);
    let failed = next_event(&events);
    assert_eq!(failed.event, event::BIND_FAILED);
    assert_eq!(failed.value, err.kind().errno() as u32);
    assert_eq!(failed.endpoint, ep);
    // LISTENING is not in the mask.
    second.bind("tcp://127.0.0.1:*").unwrap();
    second.monitor_stop();
    assert!(
        events.recv_timeout(Duration::ZERO).is_none(),
        "only BIND_FAILED was asked for"
    );
    drop(first);
}

#[test]
fn monitor_to_inproc_pair_uses_libzmqs_two_frame_format() {
    let ctx = Context::new();
    let server = ctx.socket(SocketType::Pull).unwrap();
    server
        .monitor_to(
            "inproc://monitor-pull",
            event::LISTENING | event::MONITOR_STOPPED,
        )
        .unwrap();
    let reader = with_timeout(ctx.socket(SocketType::Pair).unwrap());
    reader.connect("inproc://monitor-pull").unwrap();
    server.bind("tcp://127.0.0.1:*").unwrap();
    let ep = server.last_endpoint().unwrap();
    let frames = reader.recv_multipart(0).unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].len(), 6, "16-bit event and 32-bit value");
    let ev = u16::from_ne_bytes(frames[0][..2].try_into().unwrap());
    let fd = u32::from_ne_bytes(frames[0][2..].try_into().unwrap());
    assert_eq!(ev, event::LISTENING);
    assert!(fd > 2, "the listening fd, got {fd}");
    assert_eq!(frames[1], ep.as_bytes());
    assert_eq!(
        server
            .monitor_to("tcp://127.0.0.1:*", event::ALL)
            .unwrap_err()
            .kind(),
        ErrorKind::EPROTONOSUPPORT
    );
    drop(server);
    let stopped = reader.recv_multipart(0).unwrap();
    assert_eq!(
        u16::from_ne_bytes(stopped[0][..2].try_into().unwrap()),
        event::MONITOR_STOPPED
    );
}

#[test]
fn a_peer_that_never_finishes_the_handshake_is_dropped_after_handshake_ivl() {
    let ctx = Context::new();
    let server = ctx.socket(SocketType::Router).unwrap();
    set_int(&server, option::HANDSHAKE_IVL, 200);
    let events = server
        .monitor(event::HANDSHAKE_FAILED_NO_DETAIL | event::DISCONNECTED)
        .unwrap();
    server.bind("tcp://127.0.0.1:*").unwrap();
    let ep = server.last_endpoint().unwrap();
    // Connects and says nothing at all.
    let mut mute = RawPeer::new(TcpStream::connect(&ep["tcp://".len()..]).unwrap());
    mute.wait_closed();
    let failed = next_event(&events);
    assert_eq!(failed.event, event::HANDSHAKE_FAILED_NO_DETAIL);
    assert_eq!(failed.value, 110, "ETIMEDOUT");
    assert_eq!(next_event(&events).event, event::DISCONNECTED);
}

#[test]
fn heartbeats_ping_the_peer_and_drop_it_when_it_goes_quiet_then_reconnect() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());
    let ctx = Context::new();
    let dealer = ctx.socket(SocketType::Dealer).unwrap();
    set_int(&dealer, option::HEARTBEAT_IVL, 50);
    set_int(&dealer, option::HEARTBEAT_TIMEOUT, 300);
    set_int(&dealer, option::HEARTBEAT_TTL, 1000);
    let events = dealer
        .monitor(event::DISCONNECTED | event::HANDSHAKE_SUCCEEDED)
        .unwrap();
    dealer.connect(&ep).unwrap();

    let mut quiet = RawPeer::new(listener.accept().unwrap().0);
    quiet.handshake("ROUTER", true);
    assert_eq!(next_event(&events).event, event::HANDSHAKE_SUCCEEDED);
    // Answer a few PINGs: the connection stays up while we do.
    let mut answered = 0;
    while answered < 5 {
        match quiet
            .next_command()
            .expect("the dealer keeps the connection")
        {
            Command::Ping { ttl, context } => {
                assert_eq!(ttl, 10, "HEARTBEAT_TTL goes out in deciseconds");
                quiet.send_command(&Command::Pong { context });
                answered += 1;
            }
            Command::Ready(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        events.try_recv().is_none(),
        "no disconnect while PONGs come"
    );
    // Now stop answering (but keep reading): the dealer must give up on us.
    quiet.wait_closed();
    assert_eq!(next_event(&events).event, event::DISCONNECTED);
    // ... and come back.
    let mut again = RawPeer::new(listener.accept().unwrap().0);
    again.handshake("ROUTER", true);
    assert_eq!(next_event(&events).event, event::HANDSHAKE_SUCCEEDED);
    wait_until("the reconnect is counted", || {
        dealer.stats().unwrap().reconnects == 1
    });
}

#[test]
fn a_ping_ttl_makes_the_receiver_drop_a_peer_that_goes_quiet() {
    let ctx = Context::new();
    let router = ctx.socket(SocketType::Router).unwrap();
    let events = router.monitor(event::DISCONNECTED).unwrap();
    router.bind("tcp://127.0.0.1:*").unwrap();
    let ep = router.last_endpoint().unwrap();
    let mut peer = RawPeer::new(TcpStream::connect(&ep["tcp://".len()..]).unwrap());
    peer.handshake("DEALER", false);
    peer.send_command(&Command::Ping {
        ttl: 3,
        context: "ttl".into(),
    });
    // The PONG comes back, then nothing more from us: after 300 ms the
    // router drops the connection although it has no heartbeat of its own.
    loop {
        match peer.next_command().expect("a PONG before the drop") {
            Command::Pong { context } => {
                assert_eq!(&context[..], b"ttl");
                break;
            }
            Command::Ready(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    peer.wait_closed();
    assert_eq!(next_event(&events).event, event::DISCONNECTED);
}

#[test]
fn reconnect_backs_off_with_jitter_up_to_the_maximum() {
    let ctx = Context::new();
    let dealer = ctx.socket(SocketType::Dealer).unwrap();
    dealer.set_reconnect_ivl(100).unwrap();
    dealer.set_reconnect_ivl_max(400).unwrap();
    let events = dealer.monitor(event::CONNECT_RETRIED).unwrap();
    dealer.connect(&dead_endpoint()).unwrap();
    // Each wait is the current interval plus up to RECONNECT_IVL of
    // jitter; the interval doubles up to RECONNECT_IVL_MAX.
    for base in [100, 200, 400, 400] {
        let wait = next_event(&events).value;
        assert!(
            (base..base + 100).contains(&wait),
            "wait {wait} ms, expected {base}..{}",
            base + 100
        );
    }
}

/// Waits until the socket has no pipe left to queue on: the connect was
/// given up.
fn wait_given_up(s: &Socket) {
    wait_until("the connect to be given up", || {
        s.events().unwrap() & POLLOUT == 0
    });
}

#[test]
fn reconnect_stop_conn_refused_gives_up_on_a_refused_connect() {
    let ctx = Context::new();
    let dealer = ctx.socket(SocketType::Dealer).unwrap();
    set_int(
        &dealer,
        option::RECONNECT_STOP,
        reconnect_stop::CONN_REFUSED,
    );
    dealer.connect(&dead_endpoint()).unwrap();
    wait_given_up(&dealer);
    // Without the flag the socket keeps its pipe and keeps trying.
    let patient = ctx.socket(SocketType::Dealer).unwrap();
    let events = patient.monitor(event::CONNECT_RETRIED).unwrap();
    patient.connect(&dead_endpoint()).unwrap();
    next_event(&events);
    next_event(&events);
    assert_ne!(patient.events().unwrap() & POLLOUT, 0);
}

#[test]
fn reconnect_stop_handshake_failed_gives_up_on_a_peer_that_hangs_up() {
    for stop in [true, false] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let ep = format!("tcp://{}", listener.local_addr().unwrap());
        let ctx = Context::new();
        let dealer = ctx.socket(SocketType::Dealer).unwrap();
        dealer.set_reconnect_ivl(10).unwrap();
        if stop {
            set_int(
                &dealer,
                option::RECONNECT_STOP,
                reconnect_stop::HANDSHAKE_FAILED,
            );
        }
        let events = dealer.monitor(event::HANDSHAKE_FAILED_NO_DETAIL).unwrap();
        dealer.connect(&ep).unwrap();
        // Accept and hang up before any greeting.
        drop(listener.accept().unwrap());
        next_event(&events);
        if stop {
            wait_given_up(&dealer);
        } else {
            drop(listener.accept().expect("the dealer tries again"));
        }
    }
}

#[test]
fn a_protocol_error_stops_reconnecting_like_libzmq() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());
    let ctx = Context::new();
    let dealer = ctx.socket(SocketType::Dealer).unwrap();
    let events = dealer.monitor(event::HANDSHAKE_FAILED_PROTOCOL).unwrap();
    dealer.connect(&ep).unwrap();
    // A PUB cannot talk to a DEALER: the handshake fails on metadata.
    let mut publisher = RawPeer::new(listener.accept().unwrap().0);
    publisher.handshake("PUB", true);
    let failed = next_event(&events);
    assert_eq!(failed.value, ferromq_proto::zmtp_code::INVALID_METADATA);
    wait_given_up(&dealer);
}

#[test]
fn immediate_queues_only_to_completed_connections() {
    let ctx = Context::new();
    let (pull, live) = bound(&ctx, SocketType::Pull);
    let pull = with_timeout(pull);
    let push = ctx.socket(SocketType::Push).unwrap();
    set_int(&push, option::IMMEDIATE, 1);
    push.set_sndtimeo(DEADLINE.as_millis() as i32).unwrap();
    // Nothing connected yet: nothing to queue on.
    push.connect(&dead_endpoint()).unwrap();
    assert_eq!(
        push.send("early", ferromq::DONTWAIT).unwrap_err().kind(),
        ErrorKind::EAGAIN
    );
    // With a dead and a live peer, everything goes to the live one (round
    // robin without IMMEDIATE would strand half on the dead one's queue).
    push.connect(&live).unwrap();
    for i in 0..10 {
        push.send(format!("m{i}").as_str(), 0).unwrap();
    }
    for i in 0..10 {
        assert_eq!(pull.recv(0).unwrap().to_vec(), format!("m{i}").as_bytes());
    }
}

#[test]
fn context_termination_fails_every_blocked_call_with_eterm() {
    let ctx = Context::new();
    let (pull, _) = bound(&ctx, SocketType::Pull);
    let (rep, _) = bound(&ctx, SocketType::Rep);
    // A PUSH with no peer blocks in send; a REQ with no peer too.
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_sndhwm(1).unwrap();
    // What it queued for the absent peer must not hold up term().
    push.set_linger(0).unwrap();
    push.connect(&dead_endpoint()).unwrap();
    let req = ctx.socket(SocketType::Req).unwrap();
    let mut blocked = Vec::new();
    blocked.push(std::thread::spawn(move || pull.recv(0).map(drop)));
    blocked.push(std::thread::spawn(move || rep.recv(0).map(drop)));
    blocked.push(std::thread::spawn(move || req.send("q", 0)));
    blocked.push(std::thread::spawn(move || loop {
        push.send("fill", 0)?;
    }));
    ctx.term();
    for b in blocked {
        assert_eq!(b.join().unwrap().unwrap_err().kind(), ErrorKind::ETERM);
    }
}

#[test]
fn messages_queued_while_the_peer_is_down_are_delivered_after_it_returns() {
    let ctx = Context::new();
    let (router, ep) = bound(&ctx, SocketType::Router);
    let router = with_timeout(router);
    let dealer = ctx.socket(SocketType::Dealer).unwrap();
    dealer.set_routing_id(b"me").unwrap();
    let events = dealer
        .monitor(event::DISCONNECTED | event::HANDSHAKE_SUCCEEDED)
        .unwrap();
    dealer.connect(&ep).unwrap();
    assert_eq!(next_event(&events).event, event::HANDSHAKE_SUCCEEDED);
    drop(router);
    assert_eq!(next_event(&events).event, event::DISCONNECTED);
    // Sent after the connection died: they wait in the socket's queue.
    for i in 0..100u32 {
        dealer.send(&i.to_be_bytes()[..], 0).unwrap();
    }
    let router = with_timeout(ctx.socket(SocketType::Router).unwrap());
    wait_until("rebinding the same port", || router.bind(&ep).is_ok());
    for i in 0..100u32 {
        let parts = router.recv_multipart(0).unwrap();
        // The routing id is announced again on the new connection.
        assert_eq!(parts, vec![b"me".to_vec(), i.to_be_bytes().to_vec()]);
    }
    assert_eq!(dealer.stats().unwrap().reconnects, 1);
}

#[test]
fn stats_show_each_peer_and_where_messages_wait() {
    let ctx = Context::new();
    let router = with_timeout(ctx.socket(SocketType::Router).unwrap());
    router.bind("tcp://127.0.0.1:*").unwrap();
    let ep = router.last_endpoint().unwrap();
    router.bind("inproc://stats-peers").unwrap();
    let mut dealers = Vec::new();
    for (name, endpoint) in [("a", ep.as_str()), ("b", "inproc://stats-peers")] {
        let d = with_timeout(ctx.socket(SocketType::Dealer).unwrap());
        d.set_routing_id(name.as_bytes()).unwrap();
        d.connect(endpoint).unwrap();
        d.send_multipart(["hello", "there"], 0).unwrap();
        dealers.push(d);
    }
    for _ in 0..2 {
        let parts = router.recv_multipart(0).unwrap();
        router
            .send_multipart([parts[0].clone(), b"back".to_vec()], 0)
            .unwrap();
    }
    for d in &dealers {
        d.recv(0).unwrap();
    }
    let stats = router.stats().unwrap();
    assert_eq!((stats.messages_received, stats.messages_sent), (2, 2));
    assert_eq!(stats.bytes_received, 2 * (1 + 5 + 5));
    let mut by_id: Vec<_> = stats
        .peers
        .iter()
        .map(|p| (p.routing_id.clone(), p))
        .collect();
    by_id.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(by_id.len(), 2, "{:?}", stats.peers);
    let (tcp, inproc) = (by_id[0].1, by_id[1].1);
    assert_eq!(tcp.routing_id, b"a");
    assert_eq!(tcp.endpoint, ep);
    assert!(tcp.connected && inproc.connected);
    assert!(tcp
        .peer_address
        .as_deref()
        .is_some_and(|a| a.starts_with("tcp://127.0.0.1:")));
    assert_eq!(
        (
            tcp.messages_in,
            tcp.messages_out,
            tcp.queued_out,
            tcp.queued_in
        ),
        (1, 1, 0, 0)
    );
    assert!(tcp.bytes_in > 0, "wire bytes are counted");
    // (The I/O thread counts a write just after making it: the reply may
    // be read before that.)
    wait_until("bytes out counted", || {
        let peers = router.stats().unwrap().peers;
        peers
            .iter()
            .any(|p| p.routing_id == b"a" && p.bytes_out > 0)
    });
    assert_eq!(inproc.endpoint, "inproc://stats-peers");
    assert_eq!((inproc.messages_in, inproc.messages_out), (1, 1));
    assert_eq!(
        (inproc.bytes_in, inproc.bytes_out),
        (0, 0),
        "inproc moves no bytes"
    );

    // A connect whose peer is not there: the messages wait, and say so.
    let waiting = ctx.socket(SocketType::Dealer).unwrap();
    waiting.set_linger(0).unwrap();
    let nowhere = dead_endpoint();
    waiting.connect(&nowhere).unwrap();
    for _ in 0..5 {
        waiting.send("pending", 0).unwrap();
    }
    let peers = waiting.stats().unwrap().peers;
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].endpoint, nowhere);
    assert_eq!(peers[0].queued_in, 0);
    assert!(!peers[0].connected);
    assert_eq!((peers[0].messages_out, peers[0].queued_out), (5, 5));
}

#[test]
fn a_finite_linger_bounds_how_long_term_waits_for_an_absent_peer() {
    let ctx = Context::new();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_linger(100).unwrap();
    push.connect(&dead_endpoint()).unwrap();
    push.send("never delivered", 0).unwrap();
    drop(push);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        ctx.term();
        done_tx.send(()).unwrap();
    });
    // With LINGER -1 this would wait forever (see runtime.rs).
    done_rx
        .recv_timeout(DEADLINE)
        .expect("term() returned once LINGER expired");
}

#[test]
fn stats_show_messages_waiting_to_be_received() {
    let ctx = Context::new();
    for ep in ["tcp://127.0.0.1:*", "inproc://stats-waiting"] {
        let pull = ctx.socket(SocketType::Pull).unwrap();
        pull.bind(ep).unwrap();
        let push = connected(&ctx, SocketType::Push, &pull.last_endpoint().unwrap());
        for _ in 0..7 {
            push.send("unread", 0).unwrap();
        }
        wait_until("seven messages waiting", || {
            pull.stats()
                .unwrap()
                .peers
                .iter()
                .map(|p| p.queued_in)
                .sum::<u64>()
                == 7
        });
        pull.recv(0).unwrap();
        let peers = pull.stats().unwrap().peers;
        assert_eq!((peers[0].queued_in, peers[0].messages_in), (6, 1), "{ep}");
    }
}
