//! Latency, REQ <-> REP: every round trip is timed on the REQ side.

use crate::backend::{BResult, Backend, BenchError, ErrorClass, Kind, Security, Sock};
use crate::child::{emit, emit_result, Control, Event};
use crate::stats::LatencyStats;
use crate::work::{payload, RECV_TIMEOUT_MS};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The REP side's receive timeout: how often it checks whether to stop.
const STOP_CHECK_MS: i32 = 100;

/// What the REQ side reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LatResult {
    /// Round-trip statistics.
    pub stats: LatencyStats,
    /// Seconds for the timed round trips.
    pub elapsed_s: f64,
}

/// Echoes requests until `stop()` says so (checked whenever no request
/// arrived for a moment), so the requesting side alone decides how many
/// round trips a run has.
fn answer<S: Sock>(s: &mut S, stop: impl Fn() -> bool) -> BResult<u64> {
    s.set_recv_timeout(STOP_CHECK_MS)?;
    let mut msg = S::new_in();
    let mut answered = 0u64;
    let mut last = Instant::now();
    loop {
        match s.recv(&mut msg) {
            Ok(()) => {
                s.echo(&mut msg)
                    .map_err(|e| e.context(&format!("reply {answered}")))?;
                answered += 1;
                last = Instant::now();
            }
            Err(e) if e.class == ErrorClass::Timeout => {
                if stop() {
                    return Ok(answered);
                }
                if last.elapsed() > Duration::from_millis(RECV_TIMEOUT_MS as u64) {
                    return Err(e.context(&format!("no request after {answered}")));
                }
            }
            Err(e) => return Err(e.context(&format!("request {answered}"))),
        }
    }
}

/// Times up to `count` round trips, stopping early after `max_s` seconds so
/// a run stays bounded even when the pilot misjudged the latency.
fn ask<S: Sock>(s: &mut S, size: usize, warmup: u64, count: u64, max_s: f64) -> BResult<LatResult> {
    let max = Duration::from_secs_f64(max_s);
    let out = S::prepare(payload(size));
    let mut msg = S::new_in();
    for i in 0..warmup {
        s.send(&out)?;
        s.recv(&mut msg)
            .map_err(|e| e.context(&format!("warm-up reply {i}")))?;
    }
    let mut samples = Vec::with_capacity(count as usize);
    let t0 = Instant::now();
    for i in 0..count {
        let t = Instant::now();
        if t - t0 > max {
            break;
        }
        s.send(&out)?;
        s.recv(&mut msg)
            .map_err(|e| e.context(&format!("reply {i} of {count}")))?;
        samples.push(t.elapsed().as_nanos() as u64);
        if S::frame_count(&msg) != 1 || S::frame(&msg, 0).len() != size {
            return Err(BenchError::failed(format!(
                "reply {i}: expected one {size}-byte frame"
            )));
        }
    }
    let elapsed_s = t0.elapsed().as_secs_f64();
    let stats = LatencyStats::from_nanos(&mut samples)
        .ok_or_else(|| BenchError::failed("no round trips measured"))?;
    Ok(LatResult { stats, elapsed_s })
}

/// REP side: bind (as the CURVE server, if `sec` says so), report the
/// endpoint, echo until told to stop.
pub fn rep<B: Backend>(endpoint: &str, sec: &Security, c: &Control) -> BResult<()> {
    let ctx = B::context()?;
    let mut s = B::socket(&ctx, Kind::Rep)?;
    sec.apply(&mut s)?;
    let ep = s.bind(endpoint).map_err(|e| e.context("bind"))?;
    emit(&Event::Ready { endpoint: Some(ep) });
    let answered = answer(&mut s, || {
        matches!(c.poll().as_deref(), Some("stop" | "exit"))
    })?;
    emit_result(&serde_json::json!({ "answered": answered }));
    s.set_linger(0)?;
    Ok(())
}

/// REQ side: connect (as the CURVE client, if `sec` says so), time the
/// round trips. The warm-up absorbs the handshake.
pub fn req<B: Backend>(
    endpoint: &str,
    size: usize,
    warmup: u64,
    count: u64,
    max_s: f64,
    sec: &Security,
) -> BResult<()> {
    let ctx = B::context()?;
    let mut s = B::socket(&ctx, Kind::Req)?;
    sec.apply(&mut s)?;
    s.set_recv_timeout(RECV_TIMEOUT_MS)?;
    s.connect(endpoint).map_err(|e| e.context("connect"))?;
    let r = ask(&mut s, size, warmup, count, max_s)?;
    emit_result(&r);
    s.set_linger(0)?;
    Ok(())
}

/// Both sides in this process, one context, two threads.
pub fn inproc<B: Backend>(size: usize, warmup: u64, count: u64, max_s: f64) -> BResult<()> {
    let ctx = B::context()?;
    let mut rep = B::socket(&ctx, Kind::Rep)?;
    let ep = rep
        .bind("inproc://ferromq-bench-lat")
        .map_err(|e| e.context("bind"))?;
    let mut req = B::socket(&ctx, Kind::Req)?;
    req.set_recv_timeout(RECV_TIMEOUT_MS)?;
    req.connect(&ep).map_err(|e| e.context("connect"))?;
    let done = Arc::new(AtomicBool::new(false));
    let stop = done.clone();
    let server = std::thread::spawn(move || answer(&mut rep, || stop.load(Ordering::Relaxed)));
    // On failure return at once rather than wait for the REP thread.
    let r = ask(&mut req, size, warmup, count, max_s)?;
    done.store(true, Ordering::Relaxed);
    server
        .join()
        .map_err(|_| BenchError::failed("REP thread panicked"))??;
    emit_result(&r);
    Ok(())
}
