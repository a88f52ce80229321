//! The `Poller` over sockets and raw file descriptors, and the socket's
//! event-loop descriptor (`Socket::fd`, ZMQ_FD).

mod common;

use common::*;
use ferromq::{
    poll, Context, ErrorKind, PollItem, Poller, Ready, SocketType, DONTWAIT, POLLIN, POLLOUT,
};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

const FOREVER: i64 = -1;

fn deadline_ms() -> i64 {
    DEADLINE.as_millis() as i64
}

/// Waits until the poller has reported every index in `expected` (over
/// several waits: tcp messages arrive when they arrive), and checks that
/// nothing else was ever reported.
fn wait_for_exactly(poller: &mut Poller<'_>, expected: &BTreeSet<usize>) {
    let mut seen = BTreeSet::new();
    let mut ready = Vec::new();
    while seen != *expected {
        assert!(
            poller.wait(&mut ready, deadline_ms()).unwrap() > 0,
            "timed out"
        );
        for r in &ready {
            assert!(
                expected.contains(&r.index),
                "index {} was not ready",
                r.index
            );
            assert_eq!(r.events, POLLIN);
            seen.insert(r.index);
        }
    }
}

#[test]
fn reports_exactly_the_ready_sockets_and_descriptors() {
    let ctx = Context::new();
    let sockets: Vec<_> = (0..20)
        .map(|i| {
            let ep = if i % 2 == 0 {
                "tcp://127.0.0.1:*".to_string()
            } else {
                format!("inproc://poller-{i}")
            };
            let s = ctx.socket(SocketType::Pull).unwrap();
            s.bind(&ep).unwrap();
            s
        })
        .collect();
    let pairs: Vec<_> = (0..10).map(|_| UnixStream::pair().unwrap()).collect();
    let mut poller = Poller::new().unwrap();
    let socket_index: Vec<usize> = sockets
        .iter()
        .map(|s| poller.add(s, POLLIN).unwrap())
        .collect();
    let fd_index: Vec<usize> = pairs
        .iter()
        .map(|(r, _)| poller.add_fd(r.as_raw_fd(), POLLIN).unwrap())
        .collect();
    let mut ready = Vec::new();
    assert_eq!(poller.wait(&mut ready, 0).unwrap(), 0, "nothing yet");

    let mut expected = BTreeSet::new();
    let mut pushes = Vec::new();
    for i in [3, 8, 15] {
        let push = connected(&ctx, SocketType::Push, &sockets[i].last_endpoint().unwrap());
        push.send("x", 0).unwrap();
        pushes.push(push);
        expected.insert(socket_index[i]);
    }
    for i in [2, 9] {
        (&pairs[i].1).write_all(b"y").unwrap();
        expected.insert(fd_index[i]);
    }
    wait_for_exactly(&mut poller, &expected);

    // Descriptors are level-triggered: still readable, still reported.
    assert!(poller.wait(&mut ready, 0).unwrap() >= 2);
    // Consume everything: nothing is ready any more.
    for i in [3, 8, 15] {
        sockets[i].recv(0).unwrap();
    }
    for i in [2, 9] {
        let mut b = [0u8; 1];
        (&pairs[i].0).read_exact(&mut b).unwrap();
    }
    assert_eq!(poller.wait(&mut ready, 0).unwrap(), 0, "{ready:?}");
}

#[test]
fn waits_forever_until_woken_and_times_out_otherwise() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.bind("inproc://poller-wake").unwrap();
    let mut poller = Poller::new().unwrap();
    let i = poller.add(&pull, POLLIN).unwrap();
    let mut ready = Vec::new();
    assert_eq!(poller.wait(&mut ready, 30).unwrap(), 0, "timed out empty");
    assert_eq!(
        poller.wait(&mut ready, -2).unwrap_err().kind(),
        ErrorKind::EINVAL
    );
    let push = ctx.socket(SocketType::Push).unwrap();
    push.connect("inproc://poller-wake").unwrap();
    let sender = std::thread::spawn(move || {
        // The sleep only makes the message come while the poller sleeps.
        std::thread::sleep(Duration::from_millis(50));
        push.send("late", 0).unwrap();
        push
    });
    assert_eq!(poller.wait(&mut ready, FOREVER).unwrap(), 1);
    assert_eq!(
        ready,
        [Ready {
            index: i,
            events: POLLIN
        }]
    );
    drop(sender.join().unwrap());
}

#[test]
fn pollout_waits_for_room_below_the_hwm() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_rcvhwm(1).unwrap();
    pull.bind("inproc://poller-hwm").unwrap();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_sndhwm(1).unwrap();
    push.connect("inproc://poller-hwm").unwrap();
    while push.send("fill", DONTWAIT).is_ok() {}
    let mut poller = Poller::new().unwrap();
    let i = poller.add(&push, POLLOUT).unwrap();
    let mut ready = Vec::new();
    assert_eq!(poller.wait(&mut ready, 0).unwrap(), 0, "full: no POLLOUT");
    let reader = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        pull.recv(0).unwrap();
        pull
    });
    assert_eq!(poller.wait(&mut ready, FOREVER).unwrap(), 1);
    assert_eq!(
        ready,
        [Ready {
            index: i,
            events: POLLOUT
        }]
    );
    drop(reader.join().unwrap());
}

/// CPU time of this thread, in clock ticks (utime + stime).
fn thread_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5), counted from the state (field 3).
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn an_idle_wait_sleeps_in_the_kernel() {
    let ctx = Context::new();
    let (pull, _) = bound(&ctx, SocketType::Pull);
    let (a, _b) = UnixStream::pair().unwrap();
    let mut poller = Poller::new().unwrap();
    poller.add(&pull, POLLIN).unwrap();
    poller.add_fd(a.as_raw_fd(), POLLIN).unwrap();
    let mut ready = Vec::new();
    let before = thread_cpu_ticks();
    assert_eq!(poller.wait(&mut ready, 500).unwrap(), 0);
    // A busy loop would burn the whole half second (50 ticks at 100 Hz);
    // sleeping costs next to nothing. Counted in CPU time, not wall time.
    let used = thread_cpu_ticks() - before;
    assert!(used <= 10, "an idle wait used {used} ticks of CPU");
}

#[test]
fn items_are_added_once_modified_and_removed() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.bind("inproc://poller-items").unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    let mut poller = Poller::new().unwrap();
    let s = poller.add(&pull, POLLIN).unwrap();
    assert_eq!(
        poller.add(&pull, POLLIN).unwrap_err().kind(),
        ErrorKind::EINVAL
    );
    let f = poller.add_fd(a.as_raw_fd(), POLLIN).unwrap();
    assert_eq!(
        poller.add_fd(a.as_raw_fd(), POLLIN).unwrap_err().kind(),
        ErrorKind::EINVAL
    );
    (&b).write_all(b"z").unwrap();
    let mut ready = Vec::new();
    // Watched for POLLOUT only: a unix socket with room is writable.
    poller.modify(f, POLLOUT).unwrap();
    poller.wait(&mut ready, deadline_ms()).unwrap();
    assert_eq!(
        ready,
        [Ready {
            index: f,
            events: POLLOUT
        }]
    );
    poller.remove(f).unwrap();
    assert_eq!(poller.wait(&mut ready, 0).unwrap(), 0);
    assert_eq!(poller.remove(f).unwrap_err().kind(), ErrorKind::EINVAL);
    let push = connected(&ctx, SocketType::Push, "inproc://poller-items");
    push.send("m", 0).unwrap();
    assert_eq!(poller.wait(&mut ready, deadline_ms()).unwrap(), 1);
    assert_eq!(ready[0].index, s);
}

#[test]
fn poll_takes_raw_descriptors_too() {
    let ctx = Context::new();
    let (pull, ep) = bound(&ctx, SocketType::Pull);
    let (a, b) = UnixStream::pair().unwrap();
    let push = connected(&ctx, SocketType::Push, &ep);
    push.send("s", 0).unwrap();
    (&b).write_all(b"f").unwrap();
    let mut items = [
        PollItem::new(&pull, POLLIN),
        PollItem::fd(a.as_raw_fd(), POLLIN),
    ];
    wait_until("both ready", || {
        poll(&mut items, deadline_ms()).unwrap();
        items[0].is_readable() && items[1].is_readable()
    });
}

/// The hard case for event loops: several messages arrive while the loop
/// is not looking, and the loop takes one message per wake-up. With
/// libzmq's edge-triggered ZMQ_FD the loop stalls after the first; here
/// the descriptor is readable again as long as a message waits, even
/// under an edge-triggered epoll (mio).
#[test]
fn socket_fd_wakes_an_edge_triggered_loop_for_every_waiting_message() {
    use mio::unix::SourceFd;
    use mio::{Events, Interest, Poll, Token};
    let ctx = Context::new();
    for ep in ["inproc://fd-loop", "tcp://127.0.0.1:*"] {
        let pull = ctx.socket(SocketType::Pull).unwrap();
        pull.bind(ep).unwrap();
        let fd = pull.fd().unwrap();
        assert_eq!(
            pull.get_option_raw(ferromq::option::FD).unwrap(),
            fd.to_ne_bytes(),
            "ZMQ_FD"
        );
        let mut event_loop = Poll::new().unwrap();
        event_loop
            .registry()
            .register(&mut SourceFd(&fd), Token(1), Interest::READABLE)
            .unwrap();
        let push = connected(&ctx, SocketType::Push, &pull.last_endpoint().unwrap());
        for i in 0..5 {
            push.send(format!("m{i}").as_str(), 0).unwrap();
        }
        let mut events = Events::with_capacity(4);
        let mut got = Vec::new();
        while got.len() < 5 {
            event_loop.poll(&mut events, Some(DEADLINE)).unwrap();
            assert!(!events.is_empty(), "{ep}: the loop stalled after {got:?}");
            // One message per wake-up, then back to the loop: a message
            // still waiting must wake it again.
            if let Ok(m) = pull.recv(DONTWAIT) {
                got.push(m.as_str().unwrap().to_string());
            }
        }
        assert_eq!(got, ["m0", "m1", "m2", "m3", "m4"], "{ep}");
        // Nothing waits now: after a call the descriptor is not readable.
        assert_eq!(pull.events().unwrap() & POLLIN, 0);
        let mut check = Poller::new().unwrap();
        check.add_fd(fd, POLLIN).unwrap();
        assert_eq!(check.wait(&mut Vec::new(), 0).unwrap(), 0, "{ep}: idle fd");
    }
}

#[test]
fn socket_fd_signals_room_after_a_send_hit_the_hwm() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_rcvhwm(1).unwrap();
    pull.bind("inproc://fd-room").unwrap();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_sndhwm(1).unwrap();
    push.connect("inproc://fd-room").unwrap();
    let fd = push.fd().unwrap();
    while push.send("fill", DONTWAIT).is_ok() {}
    let mut check = Poller::new().unwrap();
    check.add_fd(fd, POLLIN).unwrap();
    let mut ready = Vec::new();
    assert_eq!(check.wait(&mut ready, 0).unwrap(), 0, "full, nothing to do");
    pull.recv(0).unwrap();
    assert_eq!(
        check.wait(&mut ready, deadline_ms()).unwrap(),
        1,
        "room again"
    );
    assert_ne!(push.events().unwrap() & POLLOUT, 0);
}

#[test]
fn a_reset_connection_reports_pollerr_even_unasked() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    // Close with an RST: the client's socket gets an error pending.
    socket2::SockRef::from(&server)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(server);
    let mut poller = Poller::new().unwrap();
    let i = poller.add_fd(client.as_raw_fd(), POLLOUT).unwrap();
    let mut ready = Vec::new();
    wait_until("the reset to be seen", || {
        poller.wait(&mut ready, deadline_ms()).unwrap();
        ready
            .iter()
            .any(|r| r.index == i && r.events & ferromq::POLLERR != 0)
    });
}
