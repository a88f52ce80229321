//! Connection scale: many DEALERs (spread over several processes) to one
//! ROUTER over tcp. The ROUTER times how long until every DEALER has been
//! heard from, reports its RSS growth per connection, then echoes
//! requests while the DEALERs measure request/reply throughput.

use crate::backend::{BResult, Backend, BenchError, Kind, Sock};
use crate::child::{emit, emit_progress, emit_result, Control, Event};
use crate::work::{payload, rss_kb, RECV_TIMEOUT_MS};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Bound on each waiting phase.
const PHASE_LIMIT: Duration = Duration::from_secs(300);
/// Request size in the request/reply phase.
pub const REQ_SIZE: usize = 64;

/// The ROUTER's report once every DEALER was heard from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RouterConnected {
    /// Seconds from "go" until the last DEALER's hello arrived.
    pub connect_s: f64,
    /// VmRSS after bind, before any connection.
    pub rss_before_kb: u64,
    /// VmRSS once all are connected.
    pub rss_after_kb: u64,
}

/// The ROUTER's final report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RouterDone {
    /// Requests answered.
    pub answered: u64,
    /// VmRSS after the request/reply traffic.
    pub rss_after_traffic_kb: u64,
}

/// One DEALER process's report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DealersDone {
    /// Round trips completed over all of this process's DEALERs.
    pub round_trips: u64,
    /// Seconds they took.
    pub elapsed_s: f64,
}

/// The ROUTER process.
pub fn router<B: Backend>(endpoint: &str, conns: usize, c: &Control) -> BResult<()> {
    let ctx = B::context()?;
    let mut s = B::socket(&ctx, Kind::Router)?;
    // A burst of connects larger than the default backlog (100) would mostly
    // measure the kernel's SYN retransmission timer, not the library.
    s.set_backlog(conns.clamp(100, 65_535) as i32)?;
    // Short, so the echo loop notices "stop" soon after traffic ends.
    s.set_recv_timeout(100)?;
    let ep = s.bind(endpoint).map_err(|e| e.context("bind"))?;
    let rss_before_kb = rss_kb().unwrap_or(0);
    emit(&Event::Ready { endpoint: Some(ep) });
    c.wait_for("go", PHASE_LIMIT)?;
    let t0 = Instant::now();
    let mut msg = <B::Socket as Sock>::new_in();
    let mut heard = 0;
    while heard < conns {
        match s.recv(&mut msg) {
            Ok(()) => heard += 1,
            Err(e) if e.class == crate::backend::ErrorClass::Timeout => {
                if t0.elapsed() > PHASE_LIMIT {
                    return Err(BenchError::failed(format!(
                        "only {heard} of {conns} DEALERs heard from within {PHASE_LIMIT:?}"
                    )));
                }
            }
            Err(e) => return Err(e.context("waiting for hellos")),
        }
    }
    let connect_s = t0.elapsed().as_secs_f64();
    emit_progress(&RouterConnected {
        connect_s,
        rss_before_kb,
        rss_after_kb: rss_kb().unwrap_or(0),
    });
    let mut answered = 0u64;
    let stop = |c: &Control| matches!(c.poll().as_deref(), Some("stop" | "exit"));
    loop {
        match s.recv(&mut msg) {
            Ok(()) => {
                s.echo(&mut msg)?;
                answered += 1;
                if answered % 4096 == 0 && stop(c) {
                    break;
                }
            }
            Err(e) if e.class == crate::backend::ErrorClass::Timeout => {
                if stop(c) {
                    break;
                }
            }
            Err(e) => return Err(e.context("echo loop")),
        }
    }
    emit_result(&RouterDone {
        answered,
        rss_after_traffic_kb: rss_kb().unwrap_or(0),
    });
    s.set_linger(0)?;
    Ok(())
}

/// One DEALER process.
pub fn dealers<B: Backend>(
    endpoint: &str,
    conns: usize,
    duration_s: f64,
    c: &Control,
) -> BResult<()> {
    let ctx = B::context()?;
    let mut socks = Vec::with_capacity(conns);
    for i in 0..conns {
        let mut s = B::socket(&ctx, Kind::Dealer)
            .map_err(|e| e.context(&format!("DEALER {i} of {conns}")))?;
        s.set_recv_timeout(RECV_TIMEOUT_MS)?;
        socks.push(s);
    }
    emit(&Event::Ready { endpoint: None });
    c.wait_for("go", PHASE_LIMIT)?;
    for (i, s) in socks.iter_mut().enumerate() {
        s.connect(endpoint)
            .map_err(|e| e.context(&format!("DEALER {i} connect")))?;
        s.send_copy(b"hello")?;
    }
    emit_progress(&serde_json::json!({ "connects_issued": conns }));
    c.wait_for("go2", PHASE_LIMIT)?;
    let out = <B::Socket as Sock>::prepare(payload(REQ_SIZE));
    let mut msg = <B::Socket as Sock>::new_in();
    let run_for = Duration::from_secs_f64(duration_s);
    let t0 = Instant::now();
    let mut round_trips = 0u64;
    // One request in flight per DEALER: send on all, then collect all.
    while t0.elapsed() < run_for {
        for s in socks.iter_mut() {
            s.send(&out)?;
        }
        for (i, s) in socks.iter_mut().enumerate() {
            s.recv(&mut msg)
                .map_err(|e| e.context(&format!("DEALER {i} reply")))?;
        }
        round_trips += conns as u64;
    }
    emit_result(&DealersDone {
        round_trips,
        elapsed_s: t0.elapsed().as_secs_f64(),
    });
    c.wait_exit();
    for s in socks.iter_mut() {
        s.set_linger(0)?;
    }
    Ok(())
}
