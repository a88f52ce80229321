//! What every socket shares, over real tcp on 127.0.0.1: HWM, timeouts,
//! linger, termination, connect-before-bind, restarts, bad endpoints.

mod common;

use common::*;
use ferromq::{Context, ErrorKind, SocketType, DONTWAIT};
use std::time::{Duration, Instant};

per_transport!(
    [Tcp, Ipc, Inproc],
    push_blocks_at_hwm_and_resumes_when_peer_drains,
    linger_delivers_queued_messages_after_close,
    term_interrupts_blocked_recv_with_eterm,
);

#[test]
fn connect_before_bind_queues_messages() {
    let ctx = Context::new();
    // Find a free port, then release it for the late binder.
    let port = unused_port();
    let ep = format!("tcp://127.0.0.1:{port}");
    let push = ctx.socket(SocketType::Push).unwrap();
    push.connect(&ep).unwrap();
    for i in 0..10u8 {
        push.send(vec![i], DONTWAIT).unwrap();
    }
    let pull = with_timeout(ctx.socket(SocketType::Pull).unwrap());
    pull.bind(&ep).unwrap();
    for i in 0..10u8 {
        assert_eq!(&pull.recv(0).unwrap()[..], &[i]);
    }
}

fn push_blocks_at_hwm_and_resumes_when_peer_drains(tr: Transport) {
    let ctx = Context::new();
    // Small kernel buffers and 16 KiB messages so the whole chain (send
    // pipe, kernel buffers, receive pipe) fills in a few hundred messages.
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_rcvhwm(5).unwrap();
    pull.set_rcvbuf(64 * 1024).unwrap();
    pull.bind(&tr.any_endpoint()).unwrap();
    let ep = pull.last_endpoint().unwrap();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_sndhwm(5).unwrap();
    push.set_sndbuf(64 * 1024).unwrap();
    push.connect(&ep).unwrap();
    let body = |n: u32| {
        let mut v = vec![0u8; 16 * 1024];
        v[..4].copy_from_slice(&n.to_be_bytes());
        v
    };
    // Fill every queue on the way (send pipe, kernel buffers, receive pipe)
    // until a non-blocking send reports EAGAIN.
    let mut sent = 0u32;
    let start = Instant::now();
    loop {
        match push.send(body(sent), DONTWAIT) {
            Ok(()) => sent += 1,
            Err(e) if e.kind() == ErrorKind::EAGAIN => {
                // The pipeline may still be moving; EAGAIN must persist.
                std::thread::sleep(Duration::from_millis(50));
                if push.send(body(sent), DONTWAIT).is_ok() {
                    sent += 1;
                    continue;
                }
                break;
            }
            Err(e) => panic!("unexpected {e}"),
        }
        assert!(start.elapsed() < DEADLINE, "PUSH never reached its HWM");
    }
    assert!(sent >= 5, "sent only {sent}");
    // SNDTIMEO turns the block into EAGAIN after the timeout.
    push.set_sndtimeo(50).unwrap();
    let err = push.send("x", 0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::EAGAIN);
    // Draining the receiver lets a blocking send through again; nothing is lost.
    let pull = with_timeout(pull);
    let receiver = std::thread::spawn(move || {
        let mut got = Vec::new();
        for _ in 0..=sent {
            got.push(u32::from_be_bytes(
                pull.recv(0).unwrap()[..4].try_into().unwrap(),
            ));
        }
        got
    });
    push.set_sndtimeo(-1).unwrap();
    push.send(body(sent), 0).unwrap();
    let got = receiver.join().unwrap();
    assert_eq!(got, (0..=sent).collect::<Vec<_>>());
}

#[test]
fn recv_timeout_and_dontwait() {
    let ctx = Context::new();
    let (pull, _ep) = bound(&ctx, SocketType::Pull);
    assert_eq!(pull.recv(DONTWAIT).unwrap_err().kind(), ErrorKind::EAGAIN);
    pull.set_rcvtimeo(100).unwrap();
    let start = Instant::now();
    assert_eq!(pull.recv(0).unwrap_err().kind(), ErrorKind::EAGAIN);
    assert!(start.elapsed() >= Duration::from_millis(100));
}

fn linger_delivers_queued_messages_after_close(tr: Transport) {
    let ctx = Context::new();
    let (pull, ep) = bound_on(&ctx, tr, SocketType::Pull);
    let pull = with_timeout(pull);
    let push = connected(&ctx, SocketType::Push, &ep);
    push.set_linger(10_000).unwrap();
    for i in 0..1000u32 {
        push.send(i.to_be_bytes().to_vec(), 0).unwrap();
    }
    drop(push);
    for i in 0..1000u32 {
        assert_eq!(&pull.recv(0).unwrap()[..], &i.to_be_bytes());
    }
}

#[test]
fn linger_zero_discards_and_close_returns_at_once() {
    let ctx = Context::new();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_linger(0).unwrap();
    push.connect("tcp://127.0.0.1:1").unwrap();
    push.send("never delivered", DONTWAIT).unwrap();
    drop(push);
    // With linger 0 termination does not wait for the unreachable peer.
    let start = Instant::now();
    ctx.term();
    drop(ctx);
    assert!(start.elapsed() < DEADLINE);
}

fn term_interrupts_blocked_recv_with_eterm(tr: Transport) {
    let ctx = Context::new();
    let (pull, _ep) = bound_on(&ctx, tr, SocketType::Pull);
    let blocked = std::thread::spawn(move || {
        let err = pull.recv(0).unwrap_err();
        // The socket is dropped here, which lets term() return.
        err.kind()
    });
    // Give the thread a chance to block (not required for correctness:
    // a recv started after term also fails with ETERM).
    std::thread::sleep(Duration::from_millis(20));
    ctx.term();
    assert_eq!(blocked.join().unwrap(), ErrorKind::ETERM);
    assert!(ctx.is_terminated());
    assert_eq!(
        ctx.socket(SocketType::Pull).err().map(|e| e.kind()),
        Some(ErrorKind::ETERM)
    );
}

#[test]
fn reconnects_to_a_restarted_peer_on_the_same_port() {
    let ctx = Context::new();
    let (pull, ep) = bound(&ctx, SocketType::Pull);
    let pull = with_timeout(pull);
    let push = connected(&ctx, SocketType::Push, &ep);
    push.send("before", 0).unwrap();
    assert_eq!(&pull.recv(0).unwrap()[..], b"before");
    drop(pull);

    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_rcvtimeo(50).unwrap();
    // Binding may briefly race the old listener's teardown.
    wait_until("rebinding the same port", || pull.bind(&ep).is_ok());
    // A message in flight when the peer died may be lost (as with libzmq);
    // keep sending until the new peer hears us, then check ordering.
    let mut n = 0u32;
    let first = loop {
        push.send(n.to_be_bytes().to_vec(), 0).unwrap();
        n += 1;
        if let Ok(m) = pull.recv(0) {
            break u32::from_be_bytes(m[..].try_into().unwrap());
        }
        assert!(n < 400, "never reconnected");
    };
    push.send("after", 0).unwrap();
    let mut expected = first + 1;
    loop {
        let m = pull.recv(0).unwrap();
        if &m[..] == b"after" {
            break;
        }
        assert_eq!(u32::from_be_bytes(m[..].try_into().unwrap()), expected);
        expected += 1;
    }
}

#[test]
fn big_messages_64_mib() {
    let ctx = Context::new();
    let (pull, ep) = bound(&ctx, SocketType::Pull);
    let pull = with_timeout(pull);
    let push = connected(&ctx, SocketType::Push, &ep);
    let body: Vec<u8> = (0..64usize << 20).map(|i| (i * 7 % 256) as u8).collect();
    push.send(body.clone(), 0).unwrap();
    let got = pull.recv(0).unwrap();
    assert_eq!(got.len(), body.len());
    assert!(got[..] == body[..]);
}

#[test]
fn bad_endpoints_are_clear_errors() {
    let ctx = Context::new();
    let s = ctx.socket(SocketType::Pair).unwrap();
    for (ep, kind) in [
        ("tcp://127.0.0.1", ErrorKind::EINVAL),
        ("tcp://127.0.0.1:notaport", ErrorKind::EINVAL),
        ("tcp://[::1:5555", ErrorKind::EINVAL),
        ("nonsense", ErrorKind::EINVAL),
        ("bogus://x:1", ErrorKind::EPROTONOSUPPORT),
    ] {
        let err = s.bind(ep).unwrap_err();
        assert_eq!(err.kind(), kind, "bind {ep}: {err}");
        assert!(!err.message().is_empty());
        assert_eq!(s.connect(ep).unwrap_err().kind(), kind, "connect {ep}");
    }
    assert_eq!(
        s.connect("tcp://127.0.0.1:*").unwrap_err().kind(),
        ErrorKind::EINVAL
    );
    let (_a, ep) = bound(&ctx, SocketType::Pair);
    let b = ctx.socket(SocketType::Pair).unwrap();
    assert_eq!(b.bind(&ep).unwrap_err().kind(), ErrorKind::EADDRINUSE);
    assert_eq!(b.unbind(&ep).unwrap_err().kind(), ErrorKind::ENOENT);
    assert_eq!(b.disconnect(&ep).unwrap_err().kind(), ErrorKind::ENOENT);
}

#[test]
fn unbind_closes_the_endpoint() {
    let ctx = Context::new();
    let (pull, ep) = bound(&ctx, SocketType::Pull);
    pull.unbind(&ep).unwrap();
    // The port is free again.
    wait_until("the port to be released", || {
        std::net::TcpListener::bind(&ep["tcp://".len()..]).is_ok()
    });
}

#[test]
fn options_follow_libzmq_defaults_and_reject_bad_values() {
    let ctx = Context::new();
    let s = ctx.socket(SocketType::Dealer).unwrap();
    assert_eq!(s.sndhwm().unwrap(), 1000);
    assert_eq!(s.rcvhwm().unwrap(), 1000);
    assert_eq!(s.linger().unwrap(), -1);
    for t in [SocketType::Sub, SocketType::Xsub] {
        assert_eq!(ctx.socket(t).unwrap().linger().unwrap(), 0, "{t}");
    }
    assert_eq!(s.rcvtimeo().unwrap(), -1);
    assert_eq!(s.sndtimeo().unwrap(), -1);
    assert_eq!(
        s.get_option_raw(ferromq::option::TYPE).unwrap(),
        5i32.to_ne_bytes()
    );
    assert_eq!(s.set_sndhwm(-1).unwrap_err().kind(), ErrorKind::EINVAL);
    assert_eq!(
        s.set_option_raw(ferromq::option::SNDHWM, &[1, 2])
            .unwrap_err()
            .kind(),
        ErrorKind::EINVAL
    );
    assert_eq!(
        s.set_routing_id(b"\0abc").unwrap_err().kind(),
        ErrorKind::EINVAL
    );
    assert_eq!(s.set_routing_id(b"").unwrap_err().kind(), ErrorKind::EINVAL);
    s.set_routing_id(b"me").unwrap();
    assert_eq!(s.routing_id().unwrap(), b"me");
    assert_eq!(
        s.set_option_raw(9999, &[0; 4]).unwrap_err().kind(),
        ErrorKind::EINVAL
    );
    // Lifecycle options: libzmq's defaults, ranges and rounding.
    let get = |o: i32| i32::from_ne_bytes(s.get_option_raw(o).unwrap().try_into().unwrap());
    assert_eq!(get(ferromq::option::HANDSHAKE_IVL), 30_000);
    assert_eq!(get(ferromq::option::HEARTBEAT_IVL), 0);
    assert_eq!(get(ferromq::option::HEARTBEAT_TIMEOUT), -1);
    assert_eq!(get(ferromq::option::HEARTBEAT_TTL), 0);
    assert_eq!(get(ferromq::option::IMMEDIATE), 0);
    s.set_option_raw(ferromq::option::HEARTBEAT_TTL, &1234i32.to_ne_bytes())
        .unwrap();
    assert_eq!(
        get(ferromq::option::HEARTBEAT_TTL),
        1200,
        "whole deciseconds"
    );
    for (option, bad) in [
        (ferromq::option::HEARTBEAT_TTL, 6_553_600i32),
        (ferromq::option::HEARTBEAT_IVL, -1),
        (ferromq::option::HANDSHAKE_IVL, -1),
        (ferromq::option::IMMEDIATE, 2),
    ] {
        let err = s.set_option_raw(option, &bad.to_ne_bytes()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::EINVAL, "option {option} = {bad}");
    }
}

#[test]
fn ipv6_literal_and_localhost_names() {
    let ctx = Context::new();
    let pull = with_timeout(ctx.socket(SocketType::Pull).unwrap());
    pull.set_ipv6(true).unwrap();
    pull.bind("tcp://[::1]:*").unwrap();
    let ep6 = pull.last_endpoint().unwrap();
    assert!(ep6.starts_with("tcp://[::1]:"), "{ep6}");
    let push6 = ctx.socket(SocketType::Push).unwrap();
    push6.set_ipv6(true).unwrap();
    push6.connect(&ep6).unwrap();
    push6.send("over ipv6", 0).unwrap();
    assert_eq!(pull.recv(0).unwrap().as_str(), Some("over ipv6"));

    let (pull4, ep4) = bound(&ctx, SocketType::Pull);
    let pull4 = with_timeout(pull4);
    let by_name = connected(
        &ctx,
        SocketType::Push,
        &format!("tcp://localhost:{}", port_of(&ep4)),
    );
    by_name.send("by name", 0).unwrap();
    assert_eq!(pull4.recv(0).unwrap().as_str(), Some("by name"));
}

#[test]
fn term_waits_for_lingering_messages_like_zmq_ctx_term() {
    // The receiver lives in another context, so terminating the sender's
    // context does not touch it.
    let receiver_ctx = Context::new();
    let port = unused_port();
    let ep = format!("tcp://127.0.0.1:{port}");
    let ctx = Context::new();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_linger(-1).unwrap();
    push.connect(&ep).unwrap();
    for i in 0..10u8 {
        push.send(vec![i], DONTWAIT).unwrap();
    }
    drop(push);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let terminator = std::thread::spawn(move || {
        ctx.term();
        done_tx.send(()).unwrap();
    });
    // Nothing can be delivered yet, so term() must still be waiting (it
    // returns at once when it does not honour LINGER).
    assert!(
        done_rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "term() returned with undelivered messages and LINGER -1"
    );
    let pull = with_timeout(receiver_ctx.socket(SocketType::Pull).unwrap());
    pull.bind(&ep).unwrap();
    for i in 0..10u8 {
        assert_eq!(&pull.recv(0).unwrap()[..], &[i]);
    }
    done_rx
        .recv_timeout(DEADLINE)
        .expect("term() returned once the messages were delivered");
    terminator.join().unwrap();
}

#[test]
fn close_with_an_unseen_peer_does_not_hang_term() {
    use ferromq_proto::{Command, FrameDecoder, FrameKind, Greeting, MechanismName, Metadata};
    use std::io::{Read, Write};

    let ctx = Context::new();
    let (push, ep) = bound(&ctx, SocketType::Push);
    push.set_linger(-1).unwrap();
    // A raw ZMTP peer: greeting, READY, then a PING. The PONG proves the
    // server's engine read our READY, so the new pipe already waits in the
    // socket's mailbox, which the socket never looks at again.
    let mut peer = std::net::TcpStream::connect(&ep["tcp://".len()..]).unwrap();
    peer.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut md = Metadata::new();
    md.insert("Socket-Type", b"PULL".to_vec()).unwrap();
    let mut out = Greeting::new(MechanismName::NULL, false).encode().to_vec();
    Command::Ready(md).encode_frame(&mut out);
    Command::Ping {
        ttl: 0,
        context: "probe".into(),
    }
    .encode_frame(&mut out);
    peer.write_all(&out).unwrap();
    let mut greeting = [0u8; 64];
    peer.read_exact(&mut greeting).unwrap();
    let mut decoder = FrameDecoder::new(None);
    let mut buf = bytes::BytesMut::new();
    let mut pong = false;
    while !pong {
        let mut chunk = [0u8; 256];
        let n = peer.read(&mut chunk).unwrap();
        assert!(n > 0, "the server closed before answering the PING");
        buf.extend_from_slice(&chunk[..n]);
        while let Some(frame) = decoder.decode(&mut buf).unwrap() {
            if frame.kind == FrameKind::Command {
                pong |= matches!(Command::parse(frame.body), Ok(Command::Pong { .. }));
            }
        }
    }
    drop(push);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let terminator = std::thread::spawn(move || {
        ctx.term();
        done_tx.send(()).unwrap();
    });
    done_rx
        .recv_timeout(DEADLINE)
        .expect("term() returned: nothing was queued for the unseen peer");
    terminator.join().unwrap();
}

#[test]
fn several_io_threads_share_the_connections() {
    assert_eq!(
        Context::with_io_threads(0).err().map(|e| e.kind()),
        Some(ErrorKind::EINVAL)
    );
    let ctx = Context::with_io_threads(3).unwrap();
    assert_eq!(ctx.io_threads(), 3);
    // Binds and connects go round-robin over the threads, so these six
    // connections land on all three; every one must carry its traffic.
    let (pull, ep) = bound(&ctx, SocketType::Pull);
    let pull = with_timeout(pull);
    let pushes: Vec<_> = (0..6)
        .map(|_| connected(&ctx, SocketType::Push, &ep))
        .collect();
    for (i, push) in pushes.iter().enumerate() {
        push.send(vec![i as u8], 0).unwrap();
    }
    let mut got: Vec<u8> = (0..6).map(|_| pull.recv(0).unwrap()[0]).collect();
    got.sort();
    assert_eq!(got, [0, 1, 2, 3, 4, 5]);
    drop(pushes);
    drop(pull);
    ctx.term();
}

/// What a socket type does when its peer's queue is full, per libzmq's
/// zmq_socket(3) "action in mute state".
#[derive(Debug, Clone, Copy, PartialEq)]
enum AtHwm {
    Block,
    Drop,
}

/// Over inproc the queue between two sockets holds exactly SNDHWM +
/// RCVHWM messages (no kernel buffers), so what blocks, what drops and
/// what is counted can be checked exactly, for each socket type.
#[test]
fn each_socket_type_blocks_or_drops_at_the_hwm_as_libzmq_documents() {
    use ferromq::option;
    let on = 1i32.to_ne_bytes();
    let cases: &[(SocketType, SocketType, AtHwm, Option<i32>)] = &[
        (SocketType::Push, SocketType::Pull, AtHwm::Block, None),
        (SocketType::Dealer, SocketType::Router, AtHwm::Block, None),
        (SocketType::Pair, SocketType::Pair, AtHwm::Block, None),
        (SocketType::Pub, SocketType::Sub, AtHwm::Drop, None),
        (SocketType::Xpub, SocketType::Sub, AtHwm::Drop, None),
        (
            SocketType::Xpub,
            SocketType::Sub,
            AtHwm::Block,
            Some(option::XPUB_NODROP),
        ),
        (SocketType::Router, SocketType::Dealer, AtHwm::Drop, None),
        (
            SocketType::Router,
            SocketType::Dealer,
            AtHwm::Block,
            Some(option::ROUTER_MANDATORY),
        ),
    ];
    let (sndhwm, rcvhwm, attempts) = (3, 4, 20u32);
    for (n, &(sender_type, receiver_type, expected, flag)) in cases.iter().enumerate() {
        let what = format!("{sender_type} -> {receiver_type} with option {flag:?}");
        let ctx = Context::new();
        let sender = ctx.socket(sender_type).unwrap();
        sender.set_sndhwm(sndhwm).unwrap();
        if let Some(flag) = flag {
            sender.set_option_raw(flag, &on).unwrap();
        }
        sender.bind(&format!("inproc://hwm-{n}")).unwrap();
        let receiver = ctx.socket(receiver_type).unwrap();
        receiver.set_rcvhwm(rcvhwm).unwrap();
        receiver.set_routing_id(b"peer").unwrap();
        if receiver_type == SocketType::Sub {
            receiver.set_subscribe(b"").unwrap();
        }
        receiver.connect(&format!("inproc://hwm-{n}")).unwrap();
        let mut accepted = 0u32;
        for i in 0..attempts {
            let body = i.to_be_bytes();
            let sent = if sender_type == SocketType::Router {
                sender
                    .send("peer", ferromq::SNDMORE | DONTWAIT)
                    .and_then(|()| sender.send(&body[..], DONTWAIT))
            } else {
                sender.send(&body[..], DONTWAIT)
            };
            match sent {
                Ok(()) => accepted += 1,
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::EAGAIN, "{what}");
                    break;
                }
            }
        }
        let capacity = (sndhwm + rcvhwm) as u32;
        let mut received = Vec::new();
        while let Ok(m) = receiver.recv(DONTWAIT) {
            // (A ROUTER receiver gives the routing id frame first.)
            if !m.more() {
                received.push(u32::from_be_bytes(m[..4].try_into().unwrap()));
            }
        }
        // Whatever the action, what arrives is the first `capacity`
        // messages, in order.
        assert_eq!(received, (0..capacity).collect::<Vec<_>>(), "{what}");
        let dropped = sender.stats().unwrap().dropped.hwm;
        match expected {
            AtHwm::Block => {
                assert_eq!(accepted, capacity, "{what}: blocks once full");
                assert_eq!(dropped, 0, "{what}");
            }
            AtHwm::Drop => {
                assert_eq!(accepted, attempts, "{what}: never blocks");
                assert_eq!(dropped, u64::from(attempts - capacity), "{what}: counted");
            }
        }
    }
}
