//! Throughput, PUSH -> PULL, measured on the receiving side from the first
//! message to the last (as libzmq's local_thr does).

use crate::backend::{BResult, Backend, BenchError, Kind, Security, Sock};
use crate::child::{emit, emit_result, Control, Event};
use crate::work::{payload, RECV_TIMEOUT_MS};
use serde::{Deserialize, Serialize};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What the receiving side reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ThrResult {
    /// Messages received.
    pub count: u64,
    /// Seconds from the first message received to the last.
    pub elapsed_s: f64,
}

impl ThrResult {
    /// Messages per second: `count - 1` intervals over the elapsed time.
    pub fn msg_per_s(&self) -> f64 {
        if self.count < 2 || self.elapsed_s <= 0.0 {
            return 0.0;
        }
        (self.count - 1) as f64 / self.elapsed_s
    }
}

/// What the sending side reports (informational).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SendResult {
    /// Messages handed to the socket.
    pub sent: u64,
    /// Seconds the sends took.
    pub elapsed_s: f64,
}

fn receive_timed<S: Sock>(s: &mut S, size: usize, count: u64) -> BResult<ThrResult> {
    let mut msg = S::new_in();
    let check = |msg: &S::In, i: u64| {
        if S::frame_count(msg) != 1 || S::frame(msg, 0).len() != size {
            return Err(BenchError::failed(format!(
                "message {i}: expected one {size}-byte frame"
            )));
        }
        Ok(())
    };
    s.recv(&mut msg).map_err(|e| e.context("first message"))?;
    check(&msg, 0)?;
    let t0 = Instant::now();
    for i in 1..count {
        s.recv(&mut msg)
            .map_err(|e| e.context(&format!("message {i} of {count}")))?;
        check(&msg, i)?;
    }
    Ok(ThrResult {
        count,
        elapsed_s: t0.elapsed().as_secs_f64(),
    })
}

fn send_all<S: Sock>(s: &mut S, size: usize, count: u64) -> BResult<SendResult> {
    let out = S::prepare(payload(size));
    let t0 = Instant::now();
    for i in 0..count {
        s.send(&out)
            .map_err(|e| e.context(&format!("send {i} of {count}")))?;
    }
    Ok(SendResult {
        sent: count,
        elapsed_s: t0.elapsed().as_secs_f64(),
    })
}

/// PULL side: bind (as the CURVE server, if `sec` says so), report the
/// endpoint, receive and time.
pub fn recv<B: Backend>(
    endpoint: &str,
    size: usize,
    count: u64,
    sec: &Security,
    _c: &Control,
) -> BResult<()> {
    let ctx = B::context()?;
    let mut s = B::socket(&ctx, Kind::Pull)?;
    s.set_recv_timeout(RECV_TIMEOUT_MS)?;
    sec.apply(&mut s)?;
    let ep = s.bind(endpoint).map_err(|e| e.context("bind"))?;
    emit(&Event::Ready { endpoint: Some(ep) });
    let r = receive_timed(&mut s, size, count)?;
    emit_result(&r);
    Ok(())
}

/// PUSH side: connect (as the CURVE client, if `sec` says so) and send;
/// stay until the parent says the run is over, so that no
/// implementation's close/linger behaviour matters.
pub fn send<B: Backend>(
    endpoint: &str,
    size: usize,
    count: u64,
    sec: &Security,
    c: &Control,
) -> BResult<()> {
    let ctx = B::context()?;
    let mut s = B::socket(&ctx, Kind::Push)?;
    sec.apply(&mut s)?;
    s.connect(endpoint).map_err(|e| e.context("connect"))?;
    let r = send_all(&mut s, size, count)?;
    emit_result(&r);
    c.wait_exit();
    s.set_linger(0)?;
    Ok(())
}

/// Both sides in this process, one context, two threads.
pub fn inproc<B: Backend>(size: usize, count: u64) -> BResult<()> {
    let ctx = B::context()?;
    let mut pull = B::socket(&ctx, Kind::Pull)?;
    pull.set_recv_timeout(RECV_TIMEOUT_MS)?;
    let ep = pull
        .bind("inproc://ferromq-bench-thr")
        .map_err(|e| e.context("bind"))?;
    // Connect here, not in the thread, so an error is reported at once.
    let mut push = B::socket(&ctx, Kind::Push)?;
    push.connect(&ep).map_err(|e| e.context("connect"))?;
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let sender = std::thread::spawn(move || -> BResult<()> {
        send_all(&mut push, size, count)?;
        let _ = done_rx.recv_timeout(Duration::from_secs(120));
        push.set_linger(0)
    });
    let r = receive_timed(&mut pull, size, count);
    drop(done_tx);
    // On failure return at once: the sender may be blocked on a full pipe,
    // and the process exiting ends it.
    let r = r?;
    sender
        .join()
        .map_err(|_| BenchError::failed("sender thread panicked"))??;
    emit_result(&r);
    Ok(())
}
