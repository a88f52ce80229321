//! `poll` over several sockets: exact readiness, timeouts, wake-ups while
//! waiting, POLLOUT at the high-water mark.

mod common;

use common::*;
use ferromq::{poll, Context, ErrorKind, PollItem, SocketType, DONTWAIT, POLLIN, POLLOUT};
use std::time::{Duration, Instant};

#[test]
fn reports_exactly_the_ready_sockets() {
    let ctx = Context::new();
    let pulls: Vec<_> = (0..4).map(|_| bound(&ctx, SocketType::Pull)).collect();
    let push = connected(&ctx, SocketType::Push, &pulls[2].1);
    push.send("for number two", 0).unwrap();
    let mut items: Vec<PollItem> = pulls
        .iter()
        .map(|(s, _)| PollItem::new(s, POLLIN))
        .collect();
    assert_eq!(poll(&mut items, DEADLINE.as_millis() as i64).unwrap(), 1);
    let ready: Vec<bool> = items.iter().map(PollItem::is_readable).collect();
    assert_eq!(ready, [false, false, true, false]);
    assert_eq!(
        pulls[2].0.recv(DONTWAIT).unwrap().as_str(),
        Some("for number two")
    );
    // Consumed: nothing is ready any more.
    assert_eq!(poll(&mut items, 0).unwrap(), 0);
}

#[test]
fn times_out_and_rejects_bad_timeouts() {
    let ctx = Context::new();
    let (pull, _) = bound(&ctx, SocketType::Pull);
    let mut items = [PollItem::new(&pull, POLLIN)];
    let start = Instant::now();
    assert_eq!(poll(&mut items, 50).unwrap(), 0);
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert_eq!(poll(&mut items, -2).unwrap_err().kind(), ErrorKind::EINVAL);
}

#[test]
fn wakes_when_a_message_arrives_during_the_wait() {
    let ctx = Context::new();
    let (a, _) = bound(&ctx, SocketType::Pull);
    let (b, ep_b) = bound(&ctx, SocketType::Pull);
    let sender_ctx = ctx.clone();
    let sender = std::thread::spawn(move || {
        let push = connected(&sender_ctx, SocketType::Push, &ep_b);
        for i in 0..20u8 {
            push.send(vec![i], 0).unwrap();
        }
    });
    // Blocks (no timeout) until the other thread's messages arrive: a
    // missed wake-up hangs here and the test harness reports it.
    let mut got = 0;
    while got < 20 {
        let mut items = [PollItem::new(&a, POLLIN), PollItem::new(&b, POLLIN)];
        assert!(poll(&mut items, -1).unwrap() >= 1);
        assert!(!items[0].is_readable());
        while let Ok(m) = b.recv(DONTWAIT) {
            assert_eq!(m[0], got);
            got += 1;
        }
    }
    sender.join().unwrap();
}

#[test]
fn pollout_follows_the_high_water_mark() {
    let ctx = Context::new();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_sndhwm(3).unwrap();
    // No peer yet: a connect-side pipe exists and accepts up to its HWM.
    push.connect("tcp://127.0.0.1:1").unwrap();
    let mut items = [PollItem::new(&push, POLLOUT)];
    assert_eq!(poll(&mut items, 0).unwrap(), 1);
    for _ in 0..3 {
        push.send("x", DONTWAIT).unwrap();
    }
    assert_eq!(
        poll(&mut items, 0).unwrap(),
        0,
        "full pipe must not be writable"
    );
    assert_eq!(
        push.send("x", DONTWAIT).unwrap_err().kind(),
        ErrorKind::EAGAIN
    );
    push.set_linger(0).unwrap();
}

#[test]
fn term_interrupts_a_waiting_poll() {
    let ctx = Context::new();
    let (pull, _) = bound(&ctx, SocketType::Pull);
    let poller = std::thread::spawn(move || {
        let mut items = [PollItem::new(&pull, POLLIN)];
        poll(&mut items, -1).unwrap_err().kind()
    });
    ctx.term();
    assert_eq!(poller.join().unwrap(), ErrorKind::ETERM);
}
