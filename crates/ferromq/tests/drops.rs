//! Dropped-message accounting through real sockets: what a socket drops
//! instead of delivering is counted in `stats().dropped`, by reason, and
//! nothing is counted that was delivered.

mod common;

use common::*;
use ferromq::{Context, ErrorKind, Socket, SocketType, DONTWAIT};

const HWM: i32 = 10;
/// Small kernel buffers, so that a stalled reader stalls its writer soon.
const KERNEL_BUFFER: i32 = 4096;

fn number(m: &ferromq::Msg) -> u64 {
    u64::from_be_bytes(m[..8].try_into().unwrap())
}

/// Message `i`: its number, padded to `size` bytes.
fn numbered(i: u64, size: usize) -> Vec<u8> {
    let mut body = i.to_be_bytes().to_vec();
    body.resize(size.max(8), b'.');
    body
}

/// Waits until `subscriber` gets what `publisher` sends, then until the
/// last probe arrived, so that nothing is left in flight.
fn wait_subscribed(publisher: &Socket, subscriber: &Socket) {
    let (mut sent, mut last_seen) = (0u64, None);
    wait_until("the subscription to reach the publisher", || {
        publisher.send(numbered(sent, 8), 0).unwrap();
        sent += 1;
        while let Ok(m) = subscriber.recv(DONTWAIT) {
            last_seen = Some(number(&m));
        }
        last_seen.is_some()
    });
    wait_until("the last probe", || {
        while let Ok(m) = subscriber.recv(DONTWAIT) {
            last_seen = Some(number(&m));
        }
        last_seen == Some(sent - 1)
    });
}

/// A PUB whose subscriber stalls (small HWMs, small kernel buffers, the
/// subscriber not reading) drops messages at its HWM; once the subscriber
/// has read everything that got through, the PUB's `dropped.hwm` is
/// exactly what was sent and not received.
fn pub_counts_exactly_what_a_stalled_sub_missed(tr: Transport) {
    const N: u64 = 20_000;
    let ctx = Context::new();
    let publisher = ctx.socket(SocketType::Pub).unwrap();
    publisher.set_sndhwm(HWM).unwrap();
    publisher.set_sndbuf(KERNEL_BUFFER).unwrap();
    publisher.bind(&tr.any_endpoint()).unwrap();
    let sub = ctx.socket(SocketType::Sub).unwrap();
    sub.set_rcvhwm(HWM).unwrap();
    sub.set_rcvbuf(KERNEL_BUFFER).unwrap();
    sub.set_subscribe(b"").unwrap();
    sub.connect(&publisher.last_endpoint().unwrap()).unwrap();
    wait_subscribed(&publisher, &sub);
    let before = publisher.stats().unwrap();
    assert_eq!(before.dropped.total(), 0, "{before:?}");

    // The subscriber does not read while all of this is sent.
    for i in 0..N {
        publisher.send(numbered(i, 100), 0).unwrap();
    }
    let mut received = 0;
    let mut last = None;
    wait_until("every message to be received or counted as dropped", || {
        while let Ok(m) = sub.recv(DONTWAIT) {
            let i = number(&m);
            assert!(last < Some(i), "in order, each once: {last:?} then {i}");
            last = Some(i);
            received += 1;
        }
        received + publisher.stats().unwrap().dropped.hwm == N
    });
    let stats = publisher.stats().unwrap();
    assert!(
        stats.dropped.hwm > 0,
        "the subscriber stalled the publisher"
    );
    assert_eq!(stats.dropped.total(), stats.dropped.hwm, "{stats:?}");
    assert_eq!(stats.messages_sent - before.messages_sent, N);
    assert_eq!(sub.recv(DONTWAIT).unwrap_err().kind(), ErrorKind::EAGAIN);
    assert_eq!(sub.stats().unwrap().dropped.total(), 0);
}

/// Messages queued for a peer whose connection ends are lost with it, and
/// counted as `peer_gone` by the socket when it lets the pipe go.
fn messages_queued_for_a_peer_that_left_count_as_peer_gone(tr: Transport) {
    const READ: u64 = 3;
    let ctx = Context::new();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_sndhwm(HWM).unwrap();
    push.set_sndbuf(KERNEL_BUFFER).unwrap();
    push.bind(&tr.any_endpoint()).unwrap();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_rcvhwm(HWM).unwrap();
    pull.set_rcvbuf(KERNEL_BUFFER).unwrap();
    pull.set_linger(0).unwrap();
    pull.connect(&push.last_endpoint().unwrap()).unwrap();
    let pull = with_timeout(pull);
    // The bound PUSH has a pipe once the connection is made.
    push.send(numbered(0, 8), 0).unwrap();
    pull.recv(0).unwrap();

    // Fill everything between the two: a send that cannot go for a while
    // means the PUSH's queue is full and the connection stalled.
    push.set_sndtimeo(500).unwrap();
    let body = vec![b'x'; 16 * 1024];
    let mut sent = 0;
    loop {
        match push.send(body.clone(), 0) {
            Ok(()) => sent += 1,
            Err(e) if e.kind() == ErrorKind::EAGAIN => break,
            Err(e) => panic!("{e}"),
        }
    }
    for _ in 0..READ {
        pull.recv(0).unwrap();
    }
    drop(pull);
    wait_until("the PUSH to count the messages lost with its peer", || {
        push.stats().unwrap().dropped.peer_gone > 0
    });
    let dropped = push.stats().unwrap().dropped;
    assert_eq!(dropped.total(), dropped.peer_gone, "{dropped:?}");
    if tr == Transport::Inproc {
        // One queue between the two sockets: all it held is lost.
        assert_eq!(dropped.peer_gone, sent - READ);
    } else {
        // Only what was still in the PUSH's own queue is counted: what its
        // connection took (kernel buffers, the peer's queue) is gone
        // uncounted, as in any messaging over a network.
        assert!(dropped.peer_gone <= HWM as u64, "{dropped:?}");
        assert!(dropped.peer_gone <= sent - READ, "{dropped:?} of {sent}");
    }
    // A new peer gets what is sent next, none of it dropped.
    let pull = with_timeout(ctx.socket(SocketType::Pull).unwrap());
    pull.connect(&push.last_endpoint().unwrap()).unwrap();
    push.set_sndtimeo(DEADLINE.as_millis() as i32).unwrap();
    push.send("after", 0).unwrap();
    assert_eq!(&pull.recv(0).unwrap()[..], b"after");
    assert_eq!(push.stats().unwrap().dropped, dropped);
}

per_transport!(
    [Tcp, Ipc, Inproc],
    pub_counts_exactly_what_a_stalled_sub_missed,
    messages_queued_for_a_peer_that_left_count_as_peer_gone,
);
