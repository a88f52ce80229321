//! CONFLATE (option 54): a socket keeps only the latest message in its
//! queues, ignoring the HWMs, and counts each message replaced unread in
//! `stats().dropped.conflated`. Over every transport.

mod common;

use common::*;
use ferromq::{Context, ErrorKind, Socket, SocketType, DONTWAIT};

/// Messages sent in each burst; more than a queue would hold is not
/// needed: with CONFLATE any two unread messages are one too many.
const N: u64 = 200;

fn conflating(ctx: &Context, t: SocketType) -> Socket {
    let s = ctx.socket(t).unwrap();
    s.set_conflate(true).unwrap();
    s
}

fn text(m: &ferromq::Msg) -> String {
    String::from_utf8(m.to_vec()).unwrap()
}

/// Asserts that nothing is waiting to be received. Only used once every
/// message sent is accounted for (received or counted), so nothing can
/// still be on its way.
fn assert_nothing_more(s: &Socket) {
    let err = s.recv(DONTWAIT).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::EAGAIN, "{err}");
}

fn conflated(s: &Socket) -> u64 {
    s.stats().unwrap().dropped.conflated
}

/// An endpoint on `tr` that nobody has bound (a port free a moment ago, a
/// path in `dir`, a fresh inproc name).
fn unbound_endpoint(tr: Transport, dir: &TempDir) -> String {
    match tr {
        Transport::Tcp => unused_endpoint(),
        Transport::Ipc => format!("ipc://{}/later", dir.path().display()),
        Transport::Inproc => tr.any_endpoint(),
    }
}

/// Waits until `subscriber` gets what `publisher` sends, then until the
/// last probe arrived, so that nothing is left in flight.
fn wait_subscribed(publisher: &Socket, subscriber: &Socket) {
    let probe = |n: u64| format!("probe {n}");
    let (mut sent, mut got) = (0, None);
    wait_until("the subscription to reach the publisher", || {
        publisher.send(probe(sent), 0).unwrap();
        sent += 1;
        got = subscriber.recv(DONTWAIT).ok().map(|m| text(&m));
        got.is_some()
    });
    let last = probe(sent - 1);
    wait_until("the last probe", || {
        while let Ok(m) = subscriber.recv(DONTWAIT) {
            got = Some(text(&m));
        }
        got.as_deref() == Some(last.as_str())
    });
}

/// A conflating PULL that does not read ends up with exactly the last of
/// N messages, the others counted as conflated.
fn pull_keeps_only_the_latest(tr: Transport) {
    let ctx = Context::new();
    let pull = conflating(&ctx, SocketType::Pull);
    pull.bind(&tr.any_endpoint()).unwrap();
    let push = connected(&ctx, SocketType::Push, &pull.last_endpoint().unwrap());
    for i in 0..N {
        push.send(i.to_string(), 0).unwrap();
    }
    wait_until("all but the last message to be conflated", || {
        conflated(&pull) == N - 1
    });
    assert_eq!(text(&pull.recv(DONTWAIT).unwrap()), (N - 1).to_string());
    assert_nothing_more(&pull);
    let stats = pull.stats().unwrap();
    assert_eq!(stats.messages_received, 1);
    assert_eq!(stats.dropped.total(), N - 1, "{stats:?}");
    assert_eq!(push.stats().unwrap().dropped.total(), 0);
}

/// The same for a conflating SUB.
fn sub_keeps_only_the_latest(tr: Transport) {
    let ctx = Context::new();
    let sub = conflating(&ctx, SocketType::Sub);
    sub.set_subscribe(b"").unwrap();
    sub.bind(&tr.any_endpoint()).unwrap();
    let publisher = connected(&ctx, SocketType::Pub, &sub.last_endpoint().unwrap());
    wait_subscribed(&publisher, &sub);
    let before = conflated(&sub);
    for i in 0..N {
        publisher.send(i.to_string(), 0).unwrap();
    }
    wait_until("all but the last message to be conflated", || {
        conflated(&sub) - before == N - 1
    });
    assert_eq!(text(&sub.recv(DONTWAIT).unwrap()), (N - 1).to_string());
    assert_nothing_more(&sub);
    assert_eq!(publisher.stats().unwrap().dropped.total(), 0);
}

/// A conflating PUSH whose peer is not there yet keeps only its latest
/// message, and counts the others at once (no other thread is involved).
fn push_without_a_peer_keeps_only_the_latest(tr: Transport) {
    let dir = TempDir::new();
    let ctx = Context::new();
    let ep = unbound_endpoint(tr, &dir);
    let push = conflating(&ctx, SocketType::Push);
    push.connect(&ep).unwrap();
    for i in 0..N {
        // Never blocks: no HWM applies.
        push.send(i.to_string(), DONTWAIT).unwrap();
    }
    assert_eq!(conflated(&push), N - 1);
    // The per-peer view agrees: N queued for the peer, one still held.
    let peer = &push.stats().unwrap().peers[0];
    assert_eq!((peer.messages_out, peer.queued_out), (N, 1), "{peer:?}");
    let pull = with_timeout(ctx.socket(SocketType::Pull).unwrap());
    pull.bind(&ep).unwrap();
    assert_eq!(text(&pull.recv(0).unwrap()), (N - 1).to_string());
    assert_nothing_more(&pull);
    let stats = push.stats().unwrap();
    assert_eq!((stats.messages_sent, stats.dropped.total()), (N, N - 1));
}

/// Conflating PUB and SUB: a message is either the one the subscriber
/// reads or counted, once, by one side (the PUB when its connection was
/// busy, the SUB when it was not reading).
fn pub_and_sub_account_for_every_message(tr: Transport) {
    let ctx = Context::new();
    let sub = conflating(&ctx, SocketType::Sub);
    sub.set_subscribe(b"").unwrap();
    sub.bind(&tr.any_endpoint()).unwrap();
    let publisher = conflating(&ctx, SocketType::Pub);
    publisher.connect(&sub.last_endpoint().unwrap()).unwrap();
    wait_subscribed(&publisher, &sub);
    let before = conflated(&sub) + conflated(&publisher);
    for i in 0..N {
        publisher.send(i.to_string(), 0).unwrap();
    }
    wait_until("all but the last message to be conflated", || {
        conflated(&sub) + conflated(&publisher) - before == N - 1
    });
    // The one not replaced is the last; it may still be on its way (when
    // the PUB's connection took nothing else).
    let sub = with_timeout(sub);
    assert_eq!(text(&sub.recv(0).unwrap()), (N - 1).to_string());
    assert_nothing_more(&sub);
}

/// DEALER conflates both ways: what it sends before its peer is there,
/// and what it is sent while not reading.
fn dealer_conflates_both_ways(tr: Transport) {
    let dir = TempDir::new();
    let ctx = Context::new();
    let ep = unbound_endpoint(tr, &dir);
    let dealer = conflating(&ctx, SocketType::Dealer);
    dealer.connect(&ep).unwrap();
    for i in 0..N {
        dealer.send(format!("up {i}"), DONTWAIT).unwrap();
    }
    assert_eq!(conflated(&dealer), N - 1);
    let router = with_timeout(ctx.socket(SocketType::Router).unwrap());
    router.bind(&ep).unwrap();
    let got = router.recv_multipart(0).unwrap();
    assert_eq!(got[1], format!("up {}", N - 1).into_bytes());
    for i in 0..N {
        router
            .send_multipart([got[0].clone(), format!("down {i}").into_bytes()], 0)
            .unwrap();
    }
    wait_until("all but the last reply to be conflated", || {
        conflated(&dealer) == 2 * (N - 1)
    });
    assert_eq!(
        text(&dealer.recv(DONTWAIT).unwrap()),
        format!("down {}", N - 1)
    );
    assert_nothing_more(&dealer);
    assert_eq!(router.stats().unwrap().dropped.total(), 0);
}

/// The latest message stays readable after its sender closed (libzmq
/// loses it: its end-of-pipe marker replaces it).
fn latest_message_outlives_its_sender(tr: Transport) {
    let ctx = Context::new();
    let pull = conflating(&ctx, SocketType::Pull);
    pull.bind(&tr.any_endpoint()).unwrap();
    let push = connected(&ctx, SocketType::Push, &pull.last_endpoint().unwrap());
    for i in 0..N {
        push.send(i.to_string(), 0).unwrap();
    }
    // Lingers until everything was handed over.
    drop(push);
    wait_until("all but the last message to be conflated", || {
        conflated(&pull) == N - 1
    });
    assert_eq!(text(&pull.recv(DONTWAIT).unwrap()), (N - 1).to_string());
    assert_nothing_more(&pull);
}

/// Multipart messages are not supported (as in libzmq): of unread ones
/// only the last frame is left.
fn multipart_keeps_only_the_last_frame(tr: Transport) {
    let dir = TempDir::new();
    let ctx = Context::new();
    let ep = unbound_endpoint(tr, &dir);
    let push = conflating(&ctx, SocketType::Push);
    push.connect(&ep).unwrap();
    push.send_multipart(["a1", "a2"], 0).unwrap();
    push.send_multipart(["b1", "b2", "b3"], 0).unwrap();
    assert_eq!(conflated(&push), 1, "one whole message was replaced");
    let pull = with_timeout(ctx.socket(SocketType::Pull).unwrap());
    pull.bind(&ep).unwrap();
    assert_eq!(pull.recv_multipart(0).unwrap(), vec![b"b3".to_vec()]);
    assert_nothing_more(&pull);
}

per_transport!(
    [Tcp, Ipc, Inproc],
    pull_keeps_only_the_latest,
    sub_keeps_only_the_latest,
    push_without_a_peer_keeps_only_the_latest,
    pub_and_sub_account_for_every_message,
    dealer_conflates_both_ways,
    latest_message_outlives_its_sender,
    multipart_keeps_only_the_last_frame,
);

#[test]
fn every_type_takes_the_option_and_reads_it_back() {
    use SocketType::*;
    let ctx = Context::new();
    for t in [
        Pair, Pub, Sub, Req, Rep, Dealer, Router, Pull, Push, Xpub, Xsub,
    ] {
        let s = ctx.socket(t).unwrap();
        assert!(!s.conflate().unwrap(), "{t}: off by default");
        s.set_conflate(true).unwrap();
        assert!(s.conflate().unwrap(), "{t}");
        let raw = s.get_option_raw(ferromq::option::CONFLATE).unwrap();
        assert_eq!(raw, 1i32.to_ne_bytes());
        // Like libzmq: 0 or 1, nothing else.
        for bad in [2i32, -1] {
            let err = s
                .set_option_raw(ferromq::option::CONFLATE, &bad.to_ne_bytes())
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::EINVAL, "{t} {bad}");
        }
        s.set_conflate(false).unwrap();
        assert!(!s.conflate().unwrap());
    }
}

#[test]
fn types_without_conflation_still_queue() {
    // PAIR is not one of the conflating types: the option changes nothing.
    let ctx = Context::new();
    let (a, ep) = bound(&ctx, SocketType::Pair);
    a.set_conflate(true).unwrap();
    let b = ctx.socket(SocketType::Pair).unwrap();
    b.set_conflate(true).unwrap();
    b.connect(&ep).unwrap();
    let a = with_timeout(a);
    for i in 0..N {
        b.send(i.to_string(), 0).unwrap();
    }
    for i in 0..N {
        assert_eq!(text(&a.recv(0).unwrap()), i.to_string());
    }
    assert_eq!(b.stats().unwrap().dropped.total(), 0);
}

#[test]
fn a_conflating_sub_keeps_every_subscription() {
    // Only messages conflate, not subscriptions: libzmq's conflating SUB
    // sends its subscriptions through its conflating queue and keeps only
    // the last ("B" here).
    let ctx = Context::new();
    let (publisher, ep) = bound(&ctx, SocketType::Pub);
    let sub = conflating(&ctx, SocketType::Sub);
    sub.set_subscribe(b"A").unwrap();
    sub.set_subscribe(b"B").unwrap();
    sub.connect(&ep).unwrap();
    for topic in ["A", "B"] {
        wait_until(&format!("a message on topic {topic}"), || {
            publisher.send(topic, 0).unwrap();
            sub.recv(DONTWAIT).is_ok_and(|m| text(&m) == topic)
        });
    }
}

#[test]
fn inproc_binder_option_counts_when_bound_first() {
    // libzmq looks only at the connecting socket's option over inproc.
    let ctx = Context::new();
    let pull = conflating(&ctx, SocketType::Pull);
    pull.bind("inproc://conflate-binder").unwrap();
    let push = connected(&ctx, SocketType::Push, "inproc://conflate-binder");
    for i in 0..N {
        push.send(i.to_string(), 0).unwrap();
    }
    // One pipe between the two: the replacements happen as PUSH sends and
    // are counted by the socket that asked for them.
    assert_eq!(conflated(&pull), N - 1);
    assert_eq!(conflated(&push), 0);
    assert_eq!(text(&pull.recv(DONTWAIT).unwrap()), (N - 1).to_string());
}
