//! PUB -> N SUB fan-out over tcp, 64-byte messages, default HWMs.
//!
//! Counting starts only once every SUB is subscribed: the publisher sends
//! warm-up messages until the parent (told by the subscriber process that
//! each SUB has received one) says "go". Then it publishes `count` numbered
//! messages as fast as it can, then end markers until "stop". Each SUB
//! counts the numbered messages it got; drops = published - received.

use crate::backend::{BResult, Backend, BenchError, Kind, Sock};
use crate::child::{emit, emit_result, Control, Event};
use crate::work::RECV_TIMEOUT_MS;
use serde::{Deserialize, Serialize};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Size of every fan-out message.
pub const FAN_SIZE: usize = 64;
const WARMUP: u8 = b'W';
const DATA: u8 = b'D';
const END: u8 = b'E';
/// Bound on each waiting phase of the publisher and subscribers.
const PHASE_LIMIT: Duration = Duration::from_secs(120);

/// What the publisher reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PubResult {
    /// Numbered messages published.
    pub published: u64,
    /// Seconds the publishing took.
    pub elapsed_s: f64,
    /// Warm-up messages sent before "go".
    pub warmups: u64,
}

/// What one subscriber saw.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SubStat {
    /// Numbered messages received.
    pub received: u64,
    /// Seconds from the first numbered message to the last.
    pub span_s: f64,
    /// Whether the end marker arrived.
    pub end_seen: bool,
    /// Why the subscriber stopped early, if it did.
    pub error: Option<String>,
}

/// What the subscriber process reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SubsResult {
    /// One entry per SUB.
    pub subs: Vec<SubStat>,
}

/// The publisher.
pub fn publisher<B: Backend>(endpoint: &str, count: u64, c: &Control) -> BResult<()> {
    let ctx = B::context()?;
    let mut s = B::socket(&ctx, Kind::Pub)?;
    let ep = s.bind(endpoint).map_err(|e| e.context("bind"))?;
    emit(&Event::Ready { endpoint: Some(ep) });
    let mut buf = [0u8; FAN_SIZE];
    buf[0] = WARMUP;
    let deadline = Instant::now() + PHASE_LIMIT;
    let mut warmups = 0;
    loop {
        match c.poll().as_deref() {
            Some("go") => break,
            Some("exit") => return Err(BenchError::failed("told to exit before go")),
            _ => {}
        }
        if Instant::now() > deadline {
            return Err(BenchError::failed("subscribers never became ready"));
        }
        s.send_copy(&buf)?;
        warmups += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    buf[0] = DATA;
    let t0 = Instant::now();
    for seq in 0..count {
        buf[1..9].copy_from_slice(&seq.to_le_bytes());
        s.send_copy(&buf)?;
    }
    let elapsed_s = t0.elapsed().as_secs_f64();
    // PUB drops at the high-water mark, so one end marker might be lost:
    // repeat it until the parent has heard from every subscriber.
    buf[0] = END;
    let deadline = Instant::now() + PHASE_LIMIT;
    while !matches!(c.poll().as_deref(), Some("stop" | "exit")) {
        if Instant::now() > deadline {
            return Err(BenchError::failed("no stop after the end markers"));
        }
        s.send_copy(&buf)?;
        std::thread::sleep(Duration::from_millis(2));
    }
    emit_result(&PubResult {
        published: count,
        elapsed_s,
        warmups,
    });
    s.set_linger(0)?;
    Ok(())
}

fn subscriber<S: Sock>(mut s: S, ready: mpsc::Sender<()>) -> SubStat {
    let mut msg = S::new_in();
    let mut stat = SubStat {
        received: 0,
        span_s: 0.0,
        end_seen: false,
        error: None,
    };
    // Any message proves the subscription reached the publisher.
    if let Err(e) = s.recv(&mut msg) {
        stat.error = Some(e.context("waiting for a warm-up").message);
        return stat;
    }
    let _ = ready.send(());
    let mut first: Option<Instant> = None;
    let mut last: Option<Instant> = None;
    loop {
        if let Err(e) = s.recv(&mut msg) {
            stat.error = Some(e.message);
            break;
        }
        match S::frame(&msg, 0).first() {
            Some(&DATA) => {
                let now = Instant::now();
                first.get_or_insert(now);
                last = Some(now);
                stat.received += 1;
            }
            Some(&END) => {
                stat.end_seen = true;
                break;
            }
            _ => {}
        }
    }
    if let (Some(f), Some(l)) = (first, last) {
        stat.span_s = (l - f).as_secs_f64();
    }
    let _ = s.set_linger(0);
    stat
}

/// The subscriber process: `subs` SUBs in one context, a thread each.
pub fn subscribers<B: Backend>(endpoint: &str, subs: usize) -> BResult<()> {
    let ctx = B::context()?;
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut threads = Vec::with_capacity(subs);
    for i in 0..subs {
        let mut s = B::socket(&ctx, Kind::Sub)?;
        s.subscribe_all()?;
        s.set_recv_timeout(RECV_TIMEOUT_MS)?;
        s.connect(endpoint)
            .map_err(|e| e.context(&format!("SUB {i} connect")))?;
        let tx = ready_tx.clone();
        threads.push(std::thread::spawn(move || subscriber(s, tx)));
    }
    drop(ready_tx);
    let deadline = Instant::now() + PHASE_LIMIT;
    for n in 0..subs {
        let left = deadline.saturating_duration_since(Instant::now());
        if ready_rx.recv_timeout(left).is_err() {
            return Err(BenchError::failed(format!(
                "only {n} of {subs} SUBs received a warm-up message"
            )));
        }
    }
    emit(&Event::Ready { endpoint: None });
    let mut stats = Vec::with_capacity(subs);
    for t in threads {
        stats.push(
            t.join()
                .map_err(|_| BenchError::failed("SUB thread panicked"))?,
        );
    }
    emit_result(&SubsResult { subs: stats });
    Ok(())
}
