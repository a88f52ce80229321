//! Throughput through a ROUTER/DEALER proxy (the guide's shared queue):
//! a DEALER client keeps a window of requests in flight through the
//! proxy's ROUTER frontend, the proxy passes them to its DEALER backend,
//! a DEALER worker echoes each one (routing envelope included), and the
//! replies come back the same way. Three processes: the proxy under test,
//! the worker, the client; the client measures replies per second.

use crate::backend::{BResult, Backend, BenchError, ErrorClass, Kind, Sock};
use crate::child::{emit, emit_result, Control, Event};
use crate::work::{payload, RECV_TIMEOUT_MS};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Requests the client keeps in flight: enough to keep every hop busy,
/// and below the default HWM (1000) of every pipe on the way, so a reply
/// never finds the client's queue full (a ROUTER would drop it).
pub const WINDOW: u64 = 500;

/// How often an idle worker checks whether to stop.
const STOP_CHECK_MS: i32 = 100;

/// What the client reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProxyResult {
    /// Round trips completed.
    pub count: u64,
    /// Seconds from the first request sent to the last reply received.
    pub elapsed_s: f64,
}

impl ProxyResult {
    /// Requests (and replies) through the proxy per second.
    pub fn msg_per_s(&self) -> f64 {
        if self.elapsed_s <= 0.0 {
            return 0.0;
        }
        self.count as f64 / self.elapsed_s
    }
}

/// The proxy: binds a ROUTER and a DEALER on tcp, reports both endpoints
/// (space-separated) and proxies until the parent says "exit"; the process
/// then ends with the proxy still running, which is how both
/// implementations' proxies are meant to end (with the process or the
/// context).
pub fn proxy<B: Backend>(c: &Control) -> BResult<()> {
    let ctx = B::context()?;
    let mut frontend = B::socket(&ctx, Kind::Router)?;
    let fe = frontend
        .bind("tcp://127.0.0.1:*")
        .map_err(|e| e.context("frontend bind"))?;
    let mut backend = B::socket(&ctx, Kind::Dealer)?;
    let be = backend
        .bind("tcp://127.0.0.1:*")
        .map_err(|e| e.context("backend bind"))?;
    let running = std::thread::spawn(move || B::proxy(frontend, backend));
    emit(&Event::Ready {
        endpoint: Some(format!("{fe} {be}")),
    });
    c.wait_exit();
    if running.is_finished() {
        return match running.join() {
            Ok(Err(e)) => Err(e.context("proxy")),
            _ => Err(BenchError::failed("the proxy returned on its own")),
        };
    }
    Ok(())
}

/// The worker: a DEALER that sends every message it gets straight back
/// (the proxy's routing frame included), until the parent says to stop.
pub fn worker<B: Backend>(endpoint: &str, c: &Control) -> BResult<()> {
    let ctx = B::context()?;
    let mut s = B::socket(&ctx, Kind::Dealer)?;
    s.set_recv_timeout(STOP_CHECK_MS)?;
    s.connect(endpoint).map_err(|e| e.context("connect"))?;
    emit(&Event::Ready { endpoint: None });
    let mut msg = <B::Socket as Sock>::new_in();
    let mut answered = 0u64;
    loop {
        match s.recv(&mut msg) {
            Ok(()) => {
                s.echo(&mut msg)?;
                answered += 1;
                if answered % 4096 == 0 && matches!(c.poll().as_deref(), Some("stop" | "exit")) {
                    break;
                }
            }
            Err(e) if e.class == ErrorClass::Timeout => {
                if matches!(c.poll().as_deref(), Some("stop" | "exit")) {
                    break;
                }
            }
            Err(e) => return Err(e.context(&format!("request {answered}"))),
        }
    }
    emit_result(&serde_json::json!({ "answered": answered }));
    s.set_linger(0)?;
    Ok(())
}

/// The client: `count` requests of `size` bytes through the proxy, at
/// most [`WINDOW`] in flight, every reply checked.
pub fn client<B: Backend>(endpoint: &str, size: usize, count: u64, c: &Control) -> BResult<()> {
    let ctx = B::context()?;
    let mut s = B::socket(&ctx, Kind::Dealer)?;
    s.set_recv_timeout(RECV_TIMEOUT_MS)?;
    s.connect(endpoint).map_err(|e| e.context("connect"))?;
    let out = <B::Socket as Sock>::prepare(payload(size));
    let mut msg = <B::Socket as Sock>::new_in();
    // One round trip first, so connecting is not timed.
    s.send(&out)?;
    s.recv(&mut msg).map_err(|e| e.context("first reply"))?;
    let t0 = Instant::now();
    let mut sent = 0;
    while sent < count.min(WINDOW) {
        s.send(&out)?;
        sent += 1;
    }
    for i in 0..count {
        s.recv(&mut msg)
            .map_err(|e| e.context(&format!("reply {i} of {count}")))?;
        if <B::Socket as Sock>::frame_count(&msg) != 1
            || <B::Socket as Sock>::frame(&msg, 0).len() != size
        {
            return Err(BenchError::failed(format!(
                "reply {i}: expected one {size}-byte frame"
            )));
        }
        if sent < count {
            s.send(&out)?;
            sent += 1;
        }
    }
    emit_result(&ProxyResult {
        count,
        elapsed_s: t0.elapsed().as_secs_f64(),
    });
    let _ = c.wait_for("exit", Duration::from_secs(120));
    s.set_linger(0)?;
    Ok(())
}
