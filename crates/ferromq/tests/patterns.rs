//! Socket-type semantics between ferromq sockets, each test run over tcp
//! (127.0.0.1), ipc and inproc.

mod common;

use common::*;
use ferromq::{Context, ErrorKind, SocketType, DONTWAIT, SNDMORE};

per_transport!(
    [Tcp, Ipc, Inproc],
    req_rep_round_trips_and_enforces_alternation,
    req_rep_carry_messages_larger_than_the_kernel_buffers,
    rep_serves_on_after_clients_vanish_unanswered,
    rep_answers_a_pipelining_dealer_through_a_small_hwm,
    push_pull_deliver_frames_of_changing_sizes_whole,
    dealer_router_identities_and_mandatory,
    pub_sub_filters_by_prefix_with_counted_subscriptions,
    pub_drops_for_a_full_subscriber_while_others_receive,
    xpub_sees_subscriptions_and_xsub_sends_them,
    pair_talks_both_ways,
    push_round_robins_and_pull_fair_queues
);

// inproc has no reconnect: a closed binder's connections are gone, as in
// libzmq. So this one runs over tcp and ipc only.
#[test]
fn tcp_sub_resubscribes_to_a_restarted_publisher() {
    sub_resubscribes_to_a_restarted_publisher(Transport::Tcp);
}

#[test]
fn ipc_sub_resubscribes_to_a_restarted_publisher() {
    sub_resubscribes_to_a_restarted_publisher(Transport::Ipc);
}

fn req_rep_round_trips_and_enforces_alternation(tr: Transport) {
    let ctx = Context::new();
    let (rep, ep) = bound_on(&ctx, tr, SocketType::Rep);
    let rep = with_timeout(rep);
    let req = with_timeout(connected(&ctx, SocketType::Req, &ep));
    assert_eq!(req.recv(0).unwrap_err().kind(), ErrorKind::EFSM);
    for i in 0..5 {
        req.send_multipart([format!("hello {i}"), String::new()], 0)
            .unwrap();
        assert_eq!(req.send("again", 0).unwrap_err().kind(), ErrorKind::EFSM);
        assert_eq!(
            rep.recv_multipart(0).unwrap(),
            vec![format!("hello {i}").into_bytes(), Vec::new()]
        );
        assert_eq!(rep.recv(DONTWAIT).unwrap_err().kind(), ErrorKind::EFSM);
        rep.send("world", 0).unwrap();
        assert_eq!(req.recv(0).unwrap().as_str(), Some("world"));
    }
    assert_eq!(rep.send("unasked", 0).unwrap_err().kind(), ErrorKind::EFSM);
}

/// Requests and replies many times larger than the kernel's socket
/// buffers. Over tcp and ipc a REQ or REP writes its message from its own
/// thread when its connection is idle; what the kernel does not take then
/// must follow from the I/O thread, whole and in order.
fn req_rep_carry_messages_larger_than_the_kernel_buffers(tr: Transport) {
    const SIZE: u32 = 4 << 20;
    let ctx = Context::new();
    let small_buffers = |t| {
        let s = ctx.socket(t).unwrap();
        s.set_sndbuf(64 * 1024).unwrap();
        s.set_rcvbuf(64 * 1024).unwrap();
        with_timeout(s)
    };
    let rep = small_buffers(SocketType::Rep);
    rep.bind(&tr.any_endpoint()).unwrap();
    let req = small_buffers(SocketType::Req);
    req.connect(&rep.last_endpoint().unwrap()).unwrap();
    for round in 0..3u8 {
        let request: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8 ^ round).collect();
        req.send_multipart([request.clone(), vec![round]], 0)
            .unwrap();
        let got = rep.recv_multipart(0).unwrap();
        assert_eq!(got.len(), 2, "round {round}: request frames");
        assert!(got[0] == request, "round {round}: request changed");
        assert_eq!(got[1], [round]);
        let reply: Vec<u8> = request.iter().rev().copied().collect();
        rep.send(reply.clone(), 0).unwrap();
        let answer = req.recv(0).unwrap();
        assert!(*answer == reply[..], "round {round}: reply changed");
    }
}

/// Clients that send a request and close at once: the REP's replies to
/// them go nowhere (sent before or after it sees the connection go), and
/// it serves the next client as before.
fn rep_serves_on_after_clients_vanish_unanswered(tr: Transport) {
    let ctx = Context::new();
    let (rep, ep) = bound_on(&ctx, tr, SocketType::Rep);
    let rep = with_timeout(rep);
    for i in 0..10 {
        let gone = connected(&ctx, SocketType::Req, &ep);
        gone.set_linger(0).unwrap();
        gone.send(format!("request {i}"), 0).unwrap();
        assert_eq!(
            rep.recv(0).unwrap().as_str(),
            Some(&*format!("request {i}"))
        );
        drop(gone);
        rep.send(format!("reply {i}"), 0).unwrap();
    }
    let stays = with_timeout(connected(&ctx, SocketType::Req, &ep));
    for i in 0..3 {
        stays.send(format!("again {i}"), 0).unwrap();
        assert_eq!(rep.recv(0).unwrap().as_str(), Some(&*format!("again {i}")));
        rep.send(format!("answer {i}"), 0).unwrap();
        assert_eq!(
            stays.recv(0).unwrap().as_str(),
            Some(&*format!("answer {i}"))
        );
    }
}

/// A DEALER with many requests in flight to a REP whose inbound pipe holds
/// two: the REP's connection stops reading at the HWM and must resume each
/// time the REP reads, while the REP's replies go out (over tcp and ipc,
/// from the REP's own thread when its connection is idle). The DEALER
/// keeps at most `WINDOW` requests unanswered, so no reply meets the REP's
/// send HWM (REP drops a reply there, as libzmq's).
fn rep_answers_a_pipelining_dealer_through_a_small_hwm(tr: Transport) {
    const REQUESTS: u32 = 2000;
    const WINDOW: u32 = 100;
    let ctx = Context::new();
    let rep = ctx.socket(SocketType::Rep).unwrap();
    rep.set_rcvhwm(2).unwrap();
    rep.bind(&tr.any_endpoint()).unwrap();
    let rep = with_timeout(rep);
    let dealer = with_timeout(connected(
        &ctx,
        SocketType::Dealer,
        &rep.last_endpoint().unwrap(),
    ));
    let server = std::thread::spawn(move || {
        for _ in 0..REQUESTS {
            let request = rep.recv(0).unwrap();
            rep.send(request, 0).unwrap();
        }
    });
    let (mut sent, mut answered) = (0, 0);
    while answered < REQUESTS {
        if sent < REQUESTS && sent - answered < WINDOW {
            dealer
                .send_multipart([Vec::new(), sent.to_be_bytes().to_vec()], 0)
                .unwrap();
            sent += 1;
            continue;
        }
        let reply = dealer.recv_multipart(0).unwrap();
        let expected = vec![Vec::new(), answered.to_be_bytes().to_vec()];
        assert_eq!(reply, expected, "reply {answered}");
        answered += 1;
    }
    server.join().unwrap();
}

/// Frames whose sizes jump between a few octets and megabytes, around the
/// sizes where a connection starts and stops reading large frames straight
/// into its own buffer (32 KiB), where a read is capped (1 MiB) and past
/// the most room made ahead for a frame (4 MiB), as single frames and
/// within multipart messages.
fn push_pull_deliver_frames_of_changing_sizes_whole(tr: Transport) {
    const SIZES: [usize; 13] = [
        10,
        (32 << 10) - 1,
        32 << 10,
        64 << 10,
        3,
        1 << 20,
        (1 << 20) + 17,
        0,
        (2 << 20) + 5,
        (4 << 20) + 3,
        40 << 10,
        255,
        64 << 10,
    ];
    let body = |round: usize, size: usize| -> Vec<u8> {
        (0..size).map(|i| (i * 7 + round * 13) as u8).collect()
    };
    let ctx = Context::new();
    let (pull, ep) = bound_on(&ctx, tr, SocketType::Pull);
    let pull = with_timeout(pull);
    let push = connected(&ctx, SocketType::Push, &ep);
    for round in 0..2 {
        for (i, &size) in SIZES.iter().enumerate() {
            push.send(body(round + i, size), 0).unwrap();
        }
        let parts: Vec<Vec<u8>> = SIZES.iter().map(|&size| body(round, size)).collect();
        push.send_multipart(parts.clone(), 0).unwrap();
        for (i, &size) in SIZES.iter().enumerate() {
            let got = pull.recv(0).unwrap();
            assert_eq!(got.len(), size, "round {round}, frame {i}: size");
            assert!(
                *got == body(round + i, size)[..],
                "round {round}, frame {i}"
            );
            assert!(!got.more());
        }
        let got = pull.recv_multipart(0).unwrap();
        assert_eq!(got.len(), parts.len(), "round {round}: parts");
        for (i, (got, sent)) in got.iter().zip(&parts).enumerate() {
            assert!(got == sent, "round {round}, part {i} changed");
        }
    }
}

fn dealer_router_identities_and_mandatory(tr: Transport) {
    let ctx = Context::new();
    let (router, ep) = bound_on(&ctx, tr, SocketType::Router);
    let router = with_timeout(router);
    let named = ctx.socket(SocketType::Dealer).unwrap();
    named.set_routing_id(b"alice").unwrap();
    named.connect(&ep).unwrap();
    let anon = with_timeout(connected(&ctx, SocketType::Dealer, &ep));
    let named = with_timeout(named);
    named.send_multipart(["", "from alice"], 0).unwrap();
    let msg = router.recv_multipart(0).unwrap();
    assert_eq!(
        msg,
        vec![b"alice".to_vec(), Vec::new(), b"from alice".to_vec()]
    );
    anon.send("from anon", 0).unwrap();
    let msg = router.recv_multipart(0).unwrap();
    assert_eq!(msg.len(), 2);
    assert_eq!(msg[0].len(), 5, "generated ids are 5 bytes");
    assert_eq!(msg[0][0], 0, "generated ids start with a zero byte");
    router
        .send_multipart([msg[0].clone(), b"reply".to_vec()], 0)
        .unwrap();
    assert_eq!(anon.recv(0).unwrap().as_str(), Some("reply"));
    router
        .send_multipart([&b"alice"[..], b"", b"hi"], 0)
        .unwrap();
    assert_eq!(
        named.recv_multipart(0).unwrap(),
        vec![Vec::new(), b"hi".to_vec()]
    );
    // Unroutable: dropped silently, or EHOSTUNREACH when mandatory.
    router.send_multipart([&b"nobody"[..], b"lost"], 0).unwrap();
    router.set_router_mandatory(true).unwrap();
    let err = router.send(&b"nobody"[..], SNDMORE).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::EHOSTUNREACH);
}

fn pub_sub_filters_by_prefix_with_counted_subscriptions(tr: Transport) {
    let ctx = Context::new();
    let (publisher, ep) = bound_on(&ctx, tr, SocketType::Pub);
    let sub = ctx.socket(SocketType::Sub).unwrap();
    sub.set_subscribe(b"weather").unwrap();
    sub.set_subscribe(b"weather").unwrap();
    sub.connect(&ep).unwrap();
    sub.set_rcvtimeo(20).unwrap();
    // Slow joiner: publish until the subscription has reached the publisher.
    wait_until("the subscription to arrive", || {
        publisher.send("weather probe", 0).unwrap();
        sub.recv(0).is_ok()
    });
    while sub.recv(0).is_ok() {}
    sub.set_rcvtimeo(DEADLINE.as_millis() as i32).unwrap();
    publisher.send("sports 1", 0).unwrap();
    publisher.send_multipart(["weather 2", "part"], 0).unwrap();
    assert_eq!(
        sub.recv_multipart(0).unwrap(),
        vec![b"weather 2".to_vec(), b"part".to_vec()]
    );
    // One cancel leaves one subscription: still receiving.
    sub.set_unsubscribe(b"weather").unwrap();
    publisher.send("weather 3", 0).unwrap();
    assert_eq!(sub.recv(0).unwrap().as_str(), Some("weather 3"));
}

fn pub_drops_for_a_full_subscriber_while_others_receive(tr: Transport) {
    let ctx = Context::new();
    // Small kernel buffers, or loopback autotuning absorbs megabytes.
    let publisher = ctx.socket(SocketType::Pub).unwrap();
    publisher.set_sndbuf(16 * 1024).unwrap();
    publisher.bind(&tr.any_endpoint()).unwrap();
    let ep = publisher.last_endpoint().unwrap();
    let slow = ctx.socket(SocketType::Sub).unwrap();
    slow.set_rcvhwm(10).unwrap();
    slow.set_rcvbuf(16 * 1024).unwrap();
    slow.set_subscribe(b"").unwrap();
    slow.connect(&ep).unwrap();
    let fast = ctx.socket(SocketType::Sub).unwrap();
    fast.set_subscribe(b"").unwrap();
    fast.connect(&ep).unwrap();
    fast.set_rcvtimeo(20).unwrap();
    slow.set_rcvtimeo(20).unwrap();
    wait_until("both subscriptions", || {
        publisher.send("probe", 0).unwrap();
        fast.recv(0).is_ok() && slow.recv(0).is_ok()
    });
    while fast.recv(0).is_ok() {}
    // The slow subscriber never reads. The publisher goes at the fast
    // subscriber's pace (batches well under its HWM, acknowledged), so the
    // fast one must get every message while the slow one overflows.
    fast.set_rcvtimeo(DEADLINE.as_millis() as i32).unwrap();
    let (batches, rounds) = (50u32, 100u32);
    let (ack_tx, ack_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut expected = 0u32;
        for _ in 0..batches {
            for _ in 0..rounds {
                let m = fast.recv(0).unwrap();
                if m.len() != 1024 {
                    continue; // a late probe
                }
                assert_eq!(u32::from_be_bytes(m[..4].try_into().unwrap()), expected);
                expected += 1;
            }
            ack_tx.send(()).unwrap();
        }
        expected
    });
    for b in 0..batches {
        for r in 0..rounds {
            let mut body = vec![0u8; 1024];
            body[..4].copy_from_slice(&(b * rounds + r).to_be_bytes());
            // A PUB never blocks: a full subscriber just misses messages.
            publisher.send(body, DONTWAIT).unwrap();
        }
        ack_rx
            .recv_timeout(DEADLINE)
            .expect("fast subscriber fell behind");
    }
    assert_eq!(reader.join().unwrap(), batches * rounds);
    let mut slow_got = 0;
    while slow.recv(0).is_ok() {
        slow_got += 1;
    }
    assert!(
        slow_got < batches * rounds,
        "slow subscriber received all {slow_got} messages"
    );
}

fn xpub_sees_subscriptions_and_xsub_sends_them(tr: Transport) {
    let ctx = Context::new();
    let (xpub, ep) = bound_on(&ctx, tr, SocketType::Xpub);
    let xpub = with_timeout(xpub);
    let xsub = with_timeout(connected(&ctx, SocketType::Xsub, &ep));
    xsub.send(&b"\x01news"[..], 0).unwrap();
    assert_eq!(&xpub.recv(0).unwrap()[..], b"\x01news");
    xpub.send("news today", 0).unwrap();
    xpub.send("sport today", 0).unwrap();
    assert_eq!(xsub.recv(0).unwrap().as_str(), Some("news today"));
    xsub.send(&b"\x00news"[..], 0).unwrap();
    assert_eq!(&xpub.recv(0).unwrap()[..], b"\x00news");
}

fn pair_talks_both_ways(tr: Transport) {
    let ctx = Context::new();
    let (a, ep) = bound_on(&ctx, tr, SocketType::Pair);
    let a = with_timeout(a);
    let b = with_timeout(connected(&ctx, SocketType::Pair, &ep));
    a.send_multipart(["x", ""], 0).unwrap();
    assert_eq!(
        b.recv_multipart(0).unwrap(),
        vec![b"x".to_vec(), Vec::new()]
    );
    b.send("y", 0).unwrap();
    assert_eq!(a.recv(0).unwrap().as_str(), Some("y"));
}

fn push_round_robins_and_pull_fair_queues(tr: Transport) {
    let ctx = Context::new();
    let (pull_a, ep_a) = bound_on(&ctx, tr, SocketType::Pull);
    let (pull_b, ep_b) = bound_on(&ctx, tr, SocketType::Pull);
    let (pull_a, pull_b) = (with_timeout(pull_a), with_timeout(pull_b));
    let push = ctx.socket(SocketType::Push).unwrap();
    push.connect(&ep_a).unwrap();
    push.connect(&ep_b).unwrap();
    // Both connections up before round-robin is observable.
    wait_until("both peers", || {
        push.events().unwrap() & ferromq::POLLOUT != 0
    });
    for i in 0..10u8 {
        push.send(vec![i], 0).unwrap();
    }
    let a: Vec<u8> = (0..5).map(|_| pull_a.recv(0).unwrap()[0]).collect();
    let b: Vec<u8> = (0..5).map(|_| pull_b.recv(0).unwrap()[0]).collect();
    let mut all = [a.clone(), b.clone()].concat();
    all.sort();
    assert_eq!(all, (0..10).collect::<Vec<_>>());
    assert!(a.windows(2).all(|w| w[0] < w[1]) && b.windows(2).all(|w| w[0] < w[1]));
}

fn sub_resubscribes_to_a_restarted_publisher(tr: Transport) {
    let ctx = Context::new();
    // A path of our own: a generated one (ipc://*) goes with its socket.
    let dir = TempDir::new();
    let bind_to = match tr {
        Transport::Ipc => format!("ipc://{}/pub", dir.path().display()),
        _ => tr.any_endpoint(),
    };
    let publisher = ctx.socket(SocketType::Pub).unwrap();
    publisher.bind(&bind_to).unwrap();
    let ep = publisher.last_endpoint().unwrap();
    let sub = ctx.socket(SocketType::Sub).unwrap();
    sub.set_subscribe(b"temp").unwrap();
    sub.connect(&ep).unwrap();
    sub.set_rcvtimeo(20).unwrap();
    wait_until("the first publisher to hear the subscription", || {
        publisher.send("temp 1", 0).unwrap();
        sub.recv(0).is_ok()
    });
    drop(publisher);

    // A new publisher on the same port knows nothing of the old
    // subscriptions: only a resent SUBSCRIBE lets "temp" through.
    let publisher = ctx.socket(SocketType::Pub).unwrap();
    wait_until("rebinding the same port", || publisher.bind(&ep).is_ok());
    wait_until("the restarted publisher to hear the subscription", || {
        publisher.send("other", 0).unwrap();
        publisher.send("temp 2", 0).unwrap();
        matches!(sub.recv(0), Ok(m) if m.as_str() == Some("temp 2"))
    });
    // Filtering still holds after the resubscription.
    publisher.send("other", 0).unwrap();
    publisher.send("temp 3", 0).unwrap();
    sub.set_rcvtimeo(DEADLINE.as_millis() as i32).unwrap();
    loop {
        let m = sub.recv(0).unwrap();
        assert_ne!(m.as_str(), Some("other"));
        if m.as_str() == Some("temp 3") {
            break;
        }
    }
}
