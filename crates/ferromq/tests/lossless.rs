//! Nothing silently lost: a PUSH with a live PULL peer delivers every
//! message, in order, however slow the peer; with small HWMs the sender
//! waits instead of dropping, and round-robin skips a peer that is full.
//! No socket counts any drop.

mod common;

use common::*;
use ferromq::{Context, ErrorKind, Socket, SocketType};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const N: u64 = 20_000;
const HWM: i32 = 10;
/// Small kernel buffers and messages big enough to fill them, so that a
/// slow or stalled consumer holds the producer back within a few
/// messages instead of the kernel absorbing the whole stream.
const KERNEL_BUFFER: i32 = 4096;
const SIZE: usize = 256;

fn number(m: &ferromq::Msg) -> u64 {
    assert_eq!(m.len(), SIZE);
    u64::from_be_bytes(m[..8].try_into().unwrap())
}

fn pull_with_small_hwm(ctx: &Context) -> Socket {
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_rcvhwm(HWM).unwrap();
    pull.set_rcvbuf(KERNEL_BUFFER).unwrap();
    // Short, so a consumer notices soon that everything has arrived.
    pull.set_rcvtimeo(50).unwrap();
    pull
}

/// Receives until `total` (shared by every consumer) reaches N, calling
/// `pause` after each message (the consumer's own slowness); returns the
/// numbers received, in the order received.
fn consume(pull: &Socket, total: &AtomicU64, mut pause: impl FnMut(u64)) -> Vec<u64> {
    let deadline = std::time::Instant::now() + DEADLINE;
    let mut got = Vec::new();
    while total.load(Ordering::SeqCst) < N {
        assert!(
            std::time::Instant::now() < deadline,
            "stuck after {} messages ({} here)",
            total.load(Ordering::SeqCst),
            got.len()
        );
        match pull.recv(0) {
            Ok(m) => {
                got.push(number(&m));
                total.fetch_add(1, Ordering::SeqCst);
                pause(got.len() as u64);
            }
            Err(e) if e.kind() == ErrorKind::EAGAIN => {}
            Err(e) => panic!("{e}"),
        }
    }
    got
}

/// Sends 0..N, each send waiting (never longer than the deadline) for
/// room instead of dropping.
fn produce(push: &Socket) {
    push.set_sndtimeo(DEADLINE.as_millis() as i32).unwrap();
    for i in 0..N {
        let mut body = i.to_be_bytes().to_vec();
        body.resize(SIZE, b'.');
        push.send(body, 0).unwrap();
    }
}

fn push_with_small_hwm(ctx: &Context) -> Socket {
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_sndhwm(HWM).unwrap();
    push.set_sndbuf(KERNEL_BUFFER).unwrap();
    push
}

/// A slow consumer (it sleeps a little every few hundred messages: load,
/// not synchronisation) gets all of a fast producer's messages, in order,
/// each once.
fn slow_pull_gets_every_message_in_order(tr: Transport) {
    let ctx = Context::new();
    let pull = pull_with_small_hwm(&ctx);
    pull.bind(&tr.any_endpoint()).unwrap();
    let push = push_with_small_hwm(&ctx);
    push.connect(&pull.last_endpoint().unwrap()).unwrap();
    let consumer = std::thread::spawn(move || {
        let total = AtomicU64::new(0);
        let got = consume(&pull, &total, |n| {
            if n % 300 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        (got, pull.stats().unwrap())
    });
    produce(&push);
    let (got, pull_stats) = consumer.join().unwrap();
    assert!(got.iter().copied().eq(0..N), "every number once, in order");
    assert_eq!(pull_stats.messages_received, N);
    assert_eq!(pull_stats.dropped.total(), 0, "{pull_stats:?}");
    let push_stats = push.stats().unwrap();
    assert_eq!(push_stats.messages_sent, N);
    assert_eq!(push_stats.dropped.total(), 0, "{push_stats:?}");
}

/// Two PULL peers, one of which stops reading for a while: the other
/// keeps receiving (round-robin skips the full one; the producer would
/// otherwise block on it, and the stall would never end), and once the
/// stall is over every message has arrived exactly once, each peer's
/// share in order.
fn round_robin_skips_a_stalled_pull(tr: Transport) {
    /// The stalled peer resumes once the other has received this many.
    const STALL_UNTIL: u64 = N / 4;
    let ctx = Context::new();
    let stalling = pull_with_small_hwm(&ctx);
    stalling.bind(&tr.any_endpoint()).unwrap();
    let steady = pull_with_small_hwm(&ctx);
    steady.bind(&tr.any_endpoint()).unwrap();
    let push = push_with_small_hwm(&ctx);
    // Connected pipes exist at once: both peers are in the rotation from
    // the first message.
    push.connect(&stalling.last_endpoint().unwrap()).unwrap();
    push.connect(&steady.last_endpoint().unwrap()).unwrap();

    let total = Arc::new(AtomicU64::new(0));
    let steady_count = Arc::new(AtomicU64::new(0));
    let stalling_thread = {
        let (total, steady_count) = (total.clone(), steady_count.clone());
        std::thread::spawn(move || {
            let got = consume(&stalling, &total, |n| {
                if n == 100 {
                    // Stop reading until the other peer got well ahead.
                    wait_until("the steady peer to get ahead", || {
                        steady_count.load(Ordering::SeqCst) >= STALL_UNTIL
                    });
                }
            });
            (got, stalling.stats().unwrap())
        })
    };
    let steady_thread = {
        let (total, steady_count) = (total.clone(), steady_count.clone());
        std::thread::spawn(move || {
            let got = consume(&steady, &total, |n| {
                steady_count.store(n, Ordering::SeqCst);
                if n % 500 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
            (got, steady.stats().unwrap())
        })
    };
    produce(&push);
    let (a, a_stats) = stalling_thread.join().unwrap();
    let (b, b_stats) = steady_thread.join().unwrap();

    assert!(a.len() >= 100, "the stalling peer had its share first");
    assert!(
        b.len() as u64 >= STALL_UNTIL,
        "the steady peer kept receiving"
    );
    for (name, got) in [("stalling", &a), ("steady", &b)] {
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "{name}: its share in order"
        );
    }
    let mut all: Vec<u64> = a.iter().chain(&b).copied().collect();
    all.sort_unstable();
    assert!(all.iter().copied().eq(0..N), "every number exactly once");
    for stats in [a_stats, b_stats, push.stats().unwrap()] {
        assert_eq!(stats.dropped.total(), 0, "{stats:?}");
    }
}

per_transport!(
    [Tcp, Ipc, Inproc],
    slow_pull_gets_every_message_in_order,
    round_robin_skips_a_stalled_pull,
);
