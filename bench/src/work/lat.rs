//! Latency, REQ <-> REP: every round trip is timed on the REQ side.

use crate::backend::{BResult, Backend, BenchError, Kind, Sock};
use crate::child::{emit, emit_result, Control, Event};
use crate::stats::LatencyStats;
use crate::work::{payload, RECV_TIMEOUT_MS};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// What the REQ side reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LatResult {
    /// Round-trip statistics.
    pub stats: LatencyStats,
    /// Seconds for the timed round trips.
    pub elapsed_s: f64,
}

fn answer<S: Sock>(s: &mut S, count: u64) -> BResult<()> {
    let mut msg = S::new_in();
    for i in 0..count {
        s.recv(&mut msg)
            .map_err(|e| e.context(&format!("request {i} of {count}")))?;
        s.echo(&mut msg)
            .map_err(|e| e.context(&format!("reply {i}")))?;
    }
    Ok(())
}

fn ask<S: Sock>(s: &mut S, size: usize, warmup: u64, count: u64) -> BResult<LatResult> {
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

/// REP side: bind, report the endpoint, echo `count` requests.
pub fn rep<B: Backend>(endpoint: &str, _size: usize, count: u64, c: &Control) -> BResult<()> {
    let ctx = B::context()?;
    let mut s = B::socket(&ctx, Kind::Rep)?;
    s.set_recv_timeout(RECV_TIMEOUT_MS)?;
    let ep = s.bind(endpoint).map_err(|e| e.context("bind"))?;
    emit(&Event::Ready { endpoint: Some(ep) });
    answer(&mut s, count)?;
    emit_result(&serde_json::json!({ "answered": count }));
    c.wait_exit();
    s.set_linger(0)?;
    Ok(())
}

/// REQ side: connect, time the round trips.
pub fn req<B: Backend>(
    endpoint: &str,
    size: usize,
    warmup: u64,
    count: u64,
    _c: &Control,
) -> BResult<()> {
    let ctx = B::context()?;
    let mut s = B::socket(&ctx, Kind::Req)?;
    s.set_recv_timeout(RECV_TIMEOUT_MS)?;
    s.connect(endpoint).map_err(|e| e.context("connect"))?;
    let r = ask(&mut s, size, warmup, count)?;
    emit_result(&r);
    s.set_linger(0)?;
    Ok(())
}

/// Both sides in this process, one context, two threads.
pub fn inproc<B: Backend>(size: usize, warmup: u64, count: u64) -> BResult<()> {
    let ctx = B::context()?;
    let mut rep = B::socket(&ctx, Kind::Rep)?;
    rep.set_recv_timeout(RECV_TIMEOUT_MS)?;
    let ep = rep
        .bind("inproc://ferromq-bench-lat")
        .map_err(|e| e.context("bind"))?;
    let mut req = B::socket(&ctx, Kind::Req)?;
    req.set_recv_timeout(RECV_TIMEOUT_MS)?;
    req.connect(&ep).map_err(|e| e.context("connect"))?;
    let server = std::thread::spawn(move || answer(&mut rep, warmup + count));
    // On failure return at once rather than wait for the REP thread.
    let r = ask(&mut req, size, warmup, count)?;
    server
        .join()
        .map_err(|_| BenchError::failed("REP thread panicked"))??;
    emit_result(&r);
    Ok(())
}
