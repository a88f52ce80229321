//! Fault tests (issue 7, connection lifecycle): real processes killed with
//! SIGKILL mid-stream, a listener restarted on its port, a subscriber that
//! stops reading, a peer frozen with SIGSTOP under heartbeats. Each test
//! states what arrives, what is lost or counted as dropped, and checks
//! that nothing arrives twice or out of order.
//!
//! The killable peers are `ferromq seq-send` / `seq-recv` (see the CLI's
//! `seq.rs`): they print every message as they hand it over or receive
//! it, so after a SIGKILL their stdout still tells exactly what they got.
//! Network partitions between namespaces are in `partition.rs`.

mod support;

use ferromq::monitor::event;
use ferromq::{Context, ErrorKind, Socket, SocketType, DONTWAIT};
use std::time::{Duration, Instant};
use support::*;

/// The pace of the streams: fast enough that plenty is in flight when the
/// fault hits, slow enough to stay light on a shared machine.
const PACE: Duration = Duration::from_micros(200);

/// Sends `n` (as text, with `prefix`) without blocking; false if the
/// socket is at its HWM.
fn try_send(s: &Socket, prefix: &str, n: u64) -> bool {
    match s.send(format!("{prefix}{n}"), DONTWAIT) {
        Ok(()) => true,
        Err(e) if e.kind() == ErrorKind::EAGAIN => false,
        Err(e) => panic!("send {n}: {e}"),
    }
}

/// Messages a socket still holds for the peer at connect endpoint `ep`
/// (the queue kept across reconnects), from its per-peer stats.
fn queued_for(s: &Socket, ep: &str) -> u64 {
    let stats = s.stats().unwrap();
    let peers: Vec<_> = stats.peers.iter().filter(|p| p.endpoint == ep).collect();
    assert_eq!(peers.len(), 1, "one queue for {ep}: {:?}", stats.peers);
    peers[0].queued_out
}

fn check_deadline(start: Instant, what: &str) {
    assert!(start.elapsed() < DEADLINE, "timed out: {what}");
}

/// A number in a message body `<prefix><n>`.
fn number(body: &[u8], prefix: &str) -> Option<u64> {
    std::str::from_utf8(body)
        .ok()?
        .strip_prefix(prefix)?
        .parse()
        .ok()
}

/// PUSH (here, SNDHWM 10) -> PULL (a child process). The PULL is killed
/// with SIGKILL mid-stream, then restarted on the same port.
///
/// To make the loss exact, the PULL is first frozen (SIGSTOP) so that it
/// can print nothing more, and 300 more messages are sent into the frozen
/// connection before the kill: at most SNDHWM of them can still be in the
/// PUSH's queue (which survives the reconnect); every other one had left
/// for the doomed connection (engine output, kernel buffers, the child's
/// queue) and dies with it.
///
/// What must hold: the PUSH sees the connection drop and come back
/// (DISCONNECTED, then CONNECTED and HANDSHAKE_SUCCEEDED); the first
/// incarnation printed exactly 0..=a with a below the freeze point; the
/// second exactly b..=last, where `last` is the last message sent, so
/// everything sent after the restart arrived. The gap is accounted for
/// by the PUSH's per-peer stats: nothing is sent between the kill and the
/// DISCONNECTED event, after which the dead engine can take nothing more,
/// so the `queued_out` then (S <= SNDHWM) is exactly what survives, and
/// b == (sent at the kill) - S: the gap a+1..b-1 (at least 290 messages)
/// is exactly what had left the queue for the dead connection. TCP cannot
/// tell the sender which of those bytes the dead process had read, so
/// they are not counted as dropped (`dropped` stays 0). Nothing arrives
/// twice: the queue hands each message to one connection only.
#[test]
fn push_reconnects_to_a_pull_killed_mid_stream_and_restarted() {
    const SNDHWM: u64 = 10;
    let ep = format!("tcp://127.0.0.1:{}", free_port());
    let pull_args = ["seq-recv", "--type", "PULL", "--bind", &ep];
    let mut first = start_bound("PULL #1", &pull_args);
    let ctx = Context::new();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_linger(0).unwrap();
    push.set_sndhwm(SNDHWM as i32).unwrap();
    let mut events = EventLog::new(push.monitor(event::ALL).unwrap());
    push.connect(&ep).unwrap();

    let start = Instant::now();
    let mut next = 0u64;
    let send_paced = |next: &mut u64| {
        if try_send(&push, "", *next) {
            *next += 1;
            std::thread::sleep(PACE);
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    // Mid-stream: the peer has printed 100 and more are on the way.
    while first.received("").len() < 100 {
        send_paced(&mut next);
        first.pump();
        check_deadline(start, "the first PULL printing 100 messages");
    }
    first.signal("STOP");
    let frozen_at = next;
    while next < frozen_at + 300 {
        send_paced(&mut next);
        check_deadline(start, "sending into the frozen connection");
    }
    events.pump();
    let mark = events.seen.len();
    let killed_at = next;
    first.kill9();
    let got1 = first.received("");
    // Nothing is sent until the drop is reported: then the dead engine
    // can take nothing more, and what the queue still holds is exactly
    // what will survive.
    let disconnected = events.wait_for(event::DISCONNECTED, mark);
    let survivors = queued_for(&push, &ep);
    let mut second = start_bound("PULL #2", &pull_args);
    while events
        .wait_for_within(event::HANDSHAKE_SUCCEEDED, disconnected, Duration::ZERO)
        .is_none()
    {
        send_paced(&mut next);
        second.pump();
        check_deadline(start, "the reconnect to the restarted PULL");
    }
    let connected = events.wait_for(event::CONNECTED, disconnected);
    let handshake = events.wait_for(event::HANDSHAKE_SUCCEEDED, connected);
    // After the restart: 200 more, all of which must arrive.
    let after = next;
    while next < after + 200 {
        send_paced(&mut next);
        second.pump();
        check_deadline(start, "sending after the restart");
    }
    let last = next - 1;
    second.wait_until(&format!("message {last}"), |lines| {
        numbered(lines, "recv ", "").last() == Some(&last)
    });
    let got2 = second.received("");

    assert!(got1.len() >= 100 && !got2.is_empty());
    assert_run("first incarnation", &got1, 0, 1);
    let (a, b) = (*got1.last().unwrap(), got2[0]);
    assert!(a < frozen_at, "a frozen process printed {a}");
    assert!(b > a, "the restart got {b}, already delivered to the first");
    assert!(
        survivors <= SNDHWM,
        "{survivors} queued with SNDHWM {SNDHWM}"
    );
    assert_eq!(
        b,
        killed_at - survivors,
        "the restart must begin with the first of the {survivors} messages still queued \
         when the connection dropped (sent before the kill: {killed_at})"
    );
    assert_run("second incarnation", &got2, b, 1);
    assert_eq!(*got2.last().unwrap(), last);
    let stats = push.stats().unwrap();
    assert_eq!(stats.messages_sent, next);
    eprintln!(
        "sigkill PULL: sent {next} (frozen at {frozen_at}, killed at {killed_at}); first got \
         0..={a}, second got {b}..={last}; still queued at the drop: {survivors}; lost with \
         the dead connection: {}; PUSH dropped (counted): {:?}; events: DISCONNECTED \
         #{disconnected}, CONNECTED #{connected}, HANDSHAKE_SUCCEEDED #{handshake}: {}",
        b - a - 1,
        stats.dropped,
        events.names()
    );
}

/// The mirror: PUSH (a child process) -> PULL (here, bound). The sender,
/// sending as fast as it can, is killed with SIGKILL mid-stream and a new
/// one started.
///
/// What must hold: the PULL saw the first sender come, go and the second
/// come (HANDSHAKE_SUCCEEDED, DISCONNECTED, HANDSHAKE_SUCCEEDED); from
/// the first it got exactly a.0..=a.k, a prefix of what that process had
/// handed to its socket (the rest died in its queue and output buffer;
/// what its kernel already held was still delivered, TCP closes the
/// killed process's socket in order); from the second exactly b.0..b.299,
/// everything it sent. Nothing twice, nothing out of order, and no a.*
/// after the first b.* (the dead connection's queue was drained first).
#[test]
fn pull_keeps_receiving_from_a_push_killed_mid_stream_and_restarted() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    let mut events = EventLog::new(pull.monitor(event::ALL).unwrap());
    pull.bind("tcp://127.0.0.1:*").unwrap();
    pull.set_rcvtimeo(50).unwrap();
    let ep = pull.last_endpoint().unwrap();
    let pace = PACE.as_micros().to_string();
    let sender = |name: &str, prefix: &str, count: &str, interval_us: &str| {
        Proc::ferromq(
            name,
            &[
                "seq-send",
                "--type",
                "PUSH",
                "--connect",
                &ep,
                "--prefix",
                prefix,
                "--count",
                count,
                "--interval-us",
                interval_us,
            ],
        )
    };
    let mut got: Vec<String> = Vec::new();
    let recv_some = |got: &mut Vec<String>, flags: i32| match pull.recv(flags) {
        Ok(m) => {
            got.push(String::from_utf8(m.to_vec()).unwrap());
            true
        }
        Err(e) if e.kind() == ErrorKind::EAGAIN => false,
        Err(e) => panic!("recv: {e}"),
    };
    let start = Instant::now();
    let mut a = sender("PUSH a", "a.", "0", "0");
    while got.len() < 200 {
        recv_some(&mut got, 0);
        check_deadline(start, "200 messages from the first sender");
    }
    let first_up = events.wait_for(event::HANDSHAKE_SUCCEEDED, 0);
    a.kill9();
    let sent_a = a.sent();
    // Keep receiving (so the engine can read up to the end of the stream)
    // until the connection is reported gone, then take what is queued.
    while events
        .wait_for_within(event::DISCONNECTED, first_up, Duration::ZERO)
        .is_none()
    {
        recv_some(&mut got, 0);
        check_deadline(start, "DISCONNECTED after killing the sender");
    }
    while recv_some(&mut got, DONTWAIT) {}
    let gone = events.wait_for(event::DISCONNECTED, first_up);
    let from_a = got.len();

    let mut b = sender("PUSH b", "b.", "300", &pace);
    while got.last().map(String::as_str) != Some("b.299") {
        recv_some(&mut got, 0);
        check_deadline(start, "b.299 from the second sender");
    }
    assert!(b.wait_exit(), "{}", b.describe());
    assert!(b.lines.iter().any(|l| l.starts_with("stats sent=300 ")));
    events.wait_for(event::HANDSHAKE_SUCCEEDED, gone);

    let got_a = numbered_bodies(&got[..from_a], "a.");
    let got_b = numbered_bodies(&got[from_a..], "b.");
    assert_eq!(
        got_a.len(),
        from_a,
        "only a.* before the first b.*: {got:?}"
    );
    assert_eq!(got_b.len(), got.len() - from_a, "only b.* after the kill");
    assert_run("from the killed sender", &got_a, 0, 1);
    // A process killed between a send and its `sent` line delivers one
    // message more than it printed.
    assert!(got_a.len() <= sent_a.len() + 1);
    assert_run("from the new sender", &got_b, 0, 1);
    assert_eq!(got_b.len(), 300);
    assert_eq!(
        pull.stats().unwrap().messages_received,
        got.len() as u64,
        "the PULL's count"
    );
    eprintln!(
        "sigkill PUSH: the killed sender handed {} to its socket, {} arrived, {} died with it; \
         events: {}",
        sent_a.len(),
        got_a.len(),
        sent_a.len().saturating_sub(got_a.len()),
        events.names()
    );
}

fn numbered_bodies(bodies: &[String], prefix: &str) -> Vec<u64> {
    bodies
        .iter()
        .filter_map(|b| number(b.as_bytes(), prefix))
        .collect()
}

/// SUB (here, connecting) <- PUB (a child process, bound). The publisher
/// is killed with SIGKILL and a new one started on the same port.
///
/// Each publisher sends `keep.<x>.<n>` for even n and `skip.<x>.<n>` for
/// odd n; the SUB subscribed to `keep.` only. A new publisher knows no
/// subscriptions: that keep.b.* arrives at all proves the SUB sent its
/// subscription again on the new connection, and no skip.* ever arrives.
/// The publishers have no SNDHWM limit, and a SUB does not drop (it stops
/// reading at its RCVHWM and TCP holds the sender back), so nothing is
/// dropped in this setup: each publisher's keep.* arrive as an unbroken
/// run n, n+2, n+4, ... from the first that found the subscription to the
/// last before the kill. The SUB keeps one queue across reconnects, so
/// every keep.a.* comes before the first keep.b.*.
#[test]
fn sub_resubscribes_to_a_pub_restarted_on_the_same_port() {
    let ep = format!("tcp://127.0.0.1:{}", free_port());
    let publisher = |name: &str, x: &str| {
        let prefix = format!("keep.{x}.,skip.{x}.");
        start_bound(
            name,
            &[
                "seq-send",
                "--type",
                "PUB",
                "--bind",
                &ep,
                "--sndhwm",
                "0",
                "--prefix",
                &prefix,
                "--interval-us",
                "500",
            ],
        )
    };
    let mut a = publisher("PUB a", "a");
    let ctx = Context::new();
    let sub = ctx.socket(SocketType::Sub).unwrap();
    sub.set_rcvtimeo(50).unwrap();
    let mut events = EventLog::new(sub.monitor(event::ALL).unwrap());
    sub.set_subscribe(b"keep.").unwrap();
    sub.connect(&ep).unwrap();
    let mut got: Vec<String> = Vec::new();
    let recv_until = |got: &mut Vec<String>, what: &str, cond: &dyn Fn(&[String]) -> bool| {
        let start = Instant::now();
        while !cond(got) {
            match sub.recv(0) {
                Ok(m) => got.push(String::from_utf8(m.to_vec()).unwrap()),
                Err(e) if e.kind() == ErrorKind::EAGAIN => {}
                Err(e) => panic!("recv: {e}"),
            }
            check_deadline(start, what);
        }
    };
    recv_until(&mut got, "100 messages from the first PUB", &|g| {
        g.len() >= 100
    });
    events.pump();
    let mark = events.seen.len();
    a.kill9();
    // Read on while the connection is lost and the new PUB starts: a
    // socket takes in a reconnection (and re-sends subscriptions) inside
    // its calls.
    let disconnected = events.wait_for(event::DISCONNECTED, mark);
    let mut b = publisher("PUB b", "b");
    let from_a_seen = got.len();
    recv_until(&mut got, "100 messages from the restarted PUB", &|g| {
        g.iter().filter(|m| m.starts_with("keep.b.")).count() >= 100
    });
    let handshake = events.wait_for(event::HANDSHAKE_SUCCEEDED, disconnected);
    b.pump();

    assert!(
        got.iter().all(|m| m.starts_with("keep.")),
        "an unsubscribed topic arrived: {:?}",
        got.iter().find(|m| !m.starts_with("keep."))
    );
    let first_b = got.iter().position(|m| m.starts_with("keep.b.")).unwrap();
    assert!(first_b >= from_a_seen);
    let got_a = numbered_bodies(&got[..first_b], "keep.a.");
    let got_b = numbered_bodies(&got[first_b..], "keep.b.");
    assert_eq!(got_a.len(), first_b, "a keep.a.* after a keep.b.*");
    assert_eq!(got_b.len(), got.len() - first_b);
    assert_eq!(got_a[0] % 2, 0);
    assert_run("keep.a.*", &got_a, got_a[0], 2);
    assert_eq!(got_b[0] % 2, 0);
    assert_run("keep.b.*", &got_b, got_b[0], 2);
    // (+1: killed between a send and its `sent` line)
    assert!(*got_a.last().unwrap() <= *a.sent().last().unwrap() + 1);
    eprintln!(
        "restarted PUB: from a {} (keep.a.{}..={}), from b {} (from keep.b.{}); \
         DISCONNECTED #{disconnected}, HANDSHAKE_SUCCEEDED #{handshake}: {}",
        got_a.len(),
        got_a[0],
        got_a.last().unwrap(),
        got_b.len(),
        got_b[0],
        events.names()
    );
}

/// One PUB, two SUBs in contexts (I/O threads) of their own; all queues
/// are small (SNDHWM and RCVHWM 10, 16 KiB kernel buffers, 1 KiB
/// messages). One SUB stops reading while 3000 messages go out, then
/// reads again.
///
/// The PUB never has more than 4 messages unread by the fast SUB (it
/// waits for the fast SUB to catch up), so the fast SUB's queue can never
/// reach its HWM: every message is delivered to it, in order, and every
/// drop the PUB counts is one the stalled SUB missed. The stalled SUB
/// loses nothing once a message is in its PUB-side queue (TCP, and a SUB
/// that stops reading rather than dropping). Hence, once its backlog
/// (queues, engine buffers, kernel buffers) is drained, the exact
/// identity: received by the stalled SUB + dropped.hwm == sent. A marker
/// sent after that is the next thing it gets: nothing else was in flight.
#[test]
fn a_stalled_subscriber_loses_what_the_pub_counts_and_the_others_get_everything() {
    const WINDOW: u64 = 4;
    let (pub_ctx, fast_ctx, slow_ctx) = (Context::new(), Context::new(), Context::new());
    let publ = pub_ctx.socket(SocketType::Pub).unwrap();
    publ.set_sndhwm(10).unwrap();
    publ.set_sndbuf(16 * 1024).unwrap();
    publ.set_linger(0).unwrap();
    publ.bind("tcp://127.0.0.1:*").unwrap();
    let ep = publ.last_endpoint().unwrap();
    let subscriber = |ctx: &Context| {
        let s = ctx.socket(SocketType::Sub).unwrap();
        s.set_rcvhwm(10).unwrap();
        s.set_rcvbuf(16 * 1024).unwrap();
        s.set_rcvtimeo(DEADLINE.as_millis() as i32).unwrap();
        s.set_subscribe(b"").unwrap();
        s.connect(&ep).unwrap();
        s
    };
    let (fast, slow) = (subscriber(&fast_ctx), subscriber(&slow_ctx));
    let body = |n: u64| {
        let mut v = vec![0u8; 1024];
        v[..8].copy_from_slice(&n.to_be_bytes());
        v
    };
    let seq_of = |m: &ferromq::Msg| {
        assert_eq!(m.len(), 1024, "a message of the wrong size");
        u64::from_be_bytes(m[..8].try_into().unwrap())
    };

    // Both subscriptions must have reached the PUB before counting: send
    // probes until each SUB has one, then a marker each reads up to.
    let start = Instant::now();
    let (mut fast_ok, mut slow_ok) = (false, false);
    fast.set_rcvtimeo(20).unwrap();
    slow.set_rcvtimeo(20).unwrap();
    while !(fast_ok && slow_ok) {
        publ.send(&b"probe"[..], 0).unwrap();
        fast_ok |= fast.recv(0).is_ok();
        slow_ok |= slow.recv(0).is_ok();
        check_deadline(start, "both subscriptions reaching the PUB");
    }
    publ.send(&b"go"[..], 0).unwrap();
    for s in [&fast, &slow] {
        s.set_rcvtimeo(DEADLINE.as_millis() as i32).unwrap();
        while &s.recv(0).unwrap()[..] != b"go" {}
    }
    let base = publ.stats().unwrap();
    assert_eq!(base.dropped.hwm, 0);

    let mut fast_got = Vec::new();
    let mut slow_got = Vec::new();
    let mut sent = 0u64;
    // Sends `count` messages, letting the fast SUB (and the slow one if
    // `slow_reads`) keep within WINDOW of the PUB. The slow SUB is behind
    // by `skipped` messages it will never get (dropped for it earlier).
    let run = |count: u64,
               slow_reads: Option<u64>,
               sent: &mut u64,
               fg: &mut Vec<u64>,
               sg: &mut Vec<u64>| {
        let slow_behind = |sg: &Vec<u64>, sent: u64, window: u64| {
            slow_reads.is_some_and(|skipped| sg.len() as u64 + skipped + window < sent)
        };
        for _ in 0..count {
            publ.send(body(*sent), 0).unwrap();
            *sent += 1;
            while (fg.len() as u64) + WINDOW < *sent {
                fg.push(seq_of(&fast.recv(0).unwrap()));
            }
            while slow_behind(sg, *sent, WINDOW) {
                sg.push(seq_of(&slow.recv(0).unwrap()));
            }
        }
        while (fg.len() as u64) < *sent {
            fg.push(seq_of(&fast.recv(0).unwrap()));
        }
        while slow_behind(sg, *sent, 0) {
            sg.push(seq_of(&slow.recv(0).unwrap()));
        }
    };
    // Both read: nothing can be dropped.
    run(100, Some(0), &mut sent, &mut fast_got, &mut slow_got);
    assert_eq!(publ.stats().unwrap().dropped.hwm, 0);
    // The stall.
    run(3000, None, &mut sent, &mut fast_got, &mut slow_got);
    let dropped_in_stall = publ.stats().unwrap().dropped.hwm;
    assert!(dropped_in_stall > 0, "the stall filled no queue");
    // Resume: drain the backlog until the identity holds; it must never
    // be exceeded.
    let start = Instant::now();
    loop {
        let dropped = publ.stats().unwrap().dropped.hwm;
        assert_eq!(dropped, dropped_in_stall, "drops while nothing was sent");
        let accounted = slow_got.len() as u64 + dropped;
        assert!(accounted <= sent, "the stalled SUB got more than was sent");
        if accounted == sent {
            break;
        }
        slow_got.push(seq_of(&slow.recv(0).unwrap()));
        check_deadline(start, "draining the stalled SUB");
    }
    let backlog_end = slow_got.len();
    // Both read again: the last 100 reach both.
    run(
        100,
        Some(dropped_in_stall),
        &mut sent,
        &mut fast_got,
        &mut slow_got,
    );
    publ.send(&b"end"[..], 0).unwrap();
    assert_eq!(
        &slow.recv(0).unwrap()[..],
        b"end",
        "something else was in flight"
    );
    assert_eq!(&fast.recv(0).unwrap()[..], b"end");

    let stats = publ.stats().unwrap();
    assert_run("fast SUB", &fast_got, 0, 1);
    assert_eq!(fast_got.len() as u64, sent);
    assert_increasing("stalled SUB", &slow_got);
    assert_run("stalled SUB before the stall", &slow_got[..100], 0, 1);
    assert_run(
        "stalled SUB after it resumed",
        &slow_got[backlog_end..],
        sent - 100,
        1,
    );
    assert_eq!(stats.dropped.hwm, dropped_in_stall);
    assert_eq!(slow_got.len() as u64 + stats.dropped.hwm, sent);
    assert_eq!(stats.dropped.total(), stats.dropped.hwm);
    // probes + go + the numbered messages + end, each counted once
    assert_eq!(stats.messages_sent - base.messages_sent, sent + 1);
    eprintln!(
        "stalled SUB: sent {sent}; fast got all; stalled got {} ({} from its backlog after \
         resuming), dropped.hwm {}",
        slow_got.len(),
        backlog_end - 100,
        stats.dropped.hwm
    );
}

/// DEALER (here) with HEARTBEAT_IVL 100 ms and HEARTBEAT_TIMEOUT 500 ms,
/// connected to a DEALER in a child process, which is then frozen with
/// SIGSTOP: its kernel still ACKs TCP, but nothing answers the PINGs.
///
/// What must hold: while the peer runs, a quiet connection stays up over
/// ten heartbeat intervals (the PINGs are answered); once frozen, the
/// connection is dropped (DISCONNECTED) — without heartbeats it would
/// hang forever; after SIGCONT the DEALER reconnects (HANDSHAKE_SUCCEEDED)
/// and every message arrives exactly once, in order: those sent before
/// the freeze, and those sent after the drop, which waited in the
/// DEALER's queue (none was sent between the freeze and the drop, when
/// the doomed connection would have taken them).
#[test]
fn heartbeats_drop_a_frozen_peer_and_reconnect_when_it_thaws() {
    let ep = format!("tcp://127.0.0.1:{}", free_port());
    let mut peer = start_bound(
        "DEALER peer",
        &["seq-recv", "--type", "DEALER", "--bind", &ep],
    );
    let ctx = Context::new();
    let dealer = ctx.socket(SocketType::Dealer).unwrap();
    dealer.set_linger(0).unwrap();
    let set = |o: i32, v: i32| dealer.set_option_raw(o, &v.to_ne_bytes()).unwrap();
    set(ferromq::option::HEARTBEAT_IVL, 100);
    set(ferromq::option::HEARTBEAT_TIMEOUT, 500);
    let mut events = EventLog::new(dealer.monitor(event::ALL).unwrap());
    dealer.connect(&ep).unwrap();
    let up = events.wait_for(event::HANDSHAKE_SUCCEEDED, 0);
    dealer.send("0", 0).unwrap();
    peer.wait_until("message 0", |l| numbered(l, "recv ", "") == [0]);
    // Quiet for ten heartbeat intervals: the running peer answers PINGs.
    assert_eq!(
        events.wait_for_within(event::DISCONNECTED, up, Duration::from_millis(1000)),
        None,
        "a live peer was dropped: {}",
        events.names()
    );

    peer.signal("STOP");
    let frozen_at = Instant::now();
    let dropped = events.wait_for(event::DISCONNECTED, up);
    let took = frozen_at.elapsed();
    for n in 1..=5 {
        dealer.send(n.to_string(), 0).unwrap();
    }
    peer.signal("CONT");
    let back = events.wait_for(event::HANDSHAKE_SUCCEEDED, dropped);
    for n in 6..=10 {
        dealer.send(n.to_string(), 0).unwrap();
    }
    peer.wait_until("message 10", |l| {
        numbered(l, "recv ", "").last() == Some(&10)
    });
    assert_run("at the peer", &peer.received(""), 0, 1);
    assert_eq!(peer.received("").len(), 11);
    eprintln!(
        "frozen peer: dropped {took:?} after SIGSTOP (heartbeat timeout 500 ms); \
         reconnected (HANDSHAKE_SUCCEEDED #{back}); events: {}",
        events.names()
    );
}
