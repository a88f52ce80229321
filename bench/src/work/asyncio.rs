//! The async rows (issue 11): the throughput and latency workloads again,
//! with ferromq's `AsyncSocket` awaited inside a tokio current-thread
//! runtime, so each row compares async against sync ferromq on the same
//! wire and the same machine.
//!
//! Sockets are set up (options, CURVE, bind, connect) through the sync
//! backend and then wrapped; only the message loops differ. Each side's
//! whole loop is one task, as an async program would write it, so the cost
//! measured is the future's poll, the waker registration when a socket has
//! nothing, and the runtime's park and wake: not one runtime entry per
//! message. Receives are bounded by one deadline on the whole loop (the
//! sync side bounds each receive with RCVTIMEO); the REP side bounds each
//! wait for a request, to check whether to stop, as the sync one does.

use crate::backend::Backend;
use crate::backend::{ferro_error, BResult, BenchError, Ferro, FerroSocket, Kind, Security, Sock};
use crate::child::{emit, emit_result, Control, Event, Role};
use crate::stats::LatencyStats;
use crate::work::lat::LatResult;
use crate::work::thr::{SendResult, ThrResult};
use crate::work::{payload, RECV_TIMEOUT_MS};
use ferromq::{AsyncSocket, Context, Msg};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the REP side waits for a request before checking whether to
/// stop (as the sync REP's receive timeout).
const STOP_CHECK: Duration = Duration::from_millis(100);

/// How long a receiving loop may take in all: far beyond any calibrated
/// run, so it only ends a run whose peer died.
const LOOP_DEADLINE: Duration = Duration::from_secs(300);

/// Runs one side of a throughput or latency workload with async sockets;
/// any other role is not offered by this implementation.
pub fn run(role: Role, c: &Control) -> BResult<()> {
    match role {
        Role::ThrRecv {
            endpoint,
            size,
            count,
            security,
            ..
        } => thr_recv(&endpoint, size, count, &security),
        Role::ThrSend {
            endpoint,
            size,
            count,
            security,
            ..
        } => thr_send(&endpoint, size, count, &security, c),
        Role::ThrInproc { size, count, .. } => thr_inproc(size, count),
        Role::LatRep {
            endpoint, security, ..
        } => lat_rep(&endpoint, &security, c),
        Role::LatReq {
            endpoint,
            size,
            warmup,
            count,
            max_s,
            security,
            ..
        } => lat_req(&endpoint, size, warmup, count, max_s, &security),
        Role::LatInproc {
            size,
            warmup,
            count,
            max_s,
            ..
        } => lat_inproc(size, warmup, count, max_s),
        other => Err(BenchError::unsupported(format!(
            "ferromq-async: only throughput and latency rows are measured async, not {}",
            serde_json::to_value(&other)
                .ok()
                .and_then(|v| v["role"].as_str().map(str::to_string))
                .unwrap_or_default()
        ))),
    }
}

/// Runs `work` to completion on a new current-thread runtime in this
/// thread: the setup an async program with one task per socket has.
fn block_on<T>(work: impl Future<Output = BResult<T>>) -> BResult<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| BenchError::failed(format!("tokio runtime: {e}")))?
        .block_on(work)
}

/// `work` bounded by `limit`; running out is a timeout naming `what`.
async fn within<T>(
    limit: Duration,
    what: &str,
    work: impl Future<Output = BResult<T>>,
) -> BResult<T> {
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or_else(|_| Err(BenchError::timeout(format!("{what}: timed out"))))
}

/// A socket of `kind` with `sec` applied, bound (returning the endpoint)
/// or connected, wrapped for async use.
fn socket(
    ctx: &Context,
    kind: Kind,
    sec: &Security,
    bind: Option<&str>,
    connect: Option<&str>,
) -> BResult<(AsyncSocket, Option<String>)> {
    let mut s: FerroSocket = Ferro::socket(ctx, kind)?;
    sec.apply(&mut s)?;
    let endpoint = match bind {
        Some(ep) => Some(s.bind(ep).map_err(|e| e.context("bind"))?),
        None => None,
    };
    if let Some(ep) = connect {
        s.connect(ep).map_err(|e| e.context("connect"))?;
    }
    Ok((AsyncSocket::new(s.into_inner()), endpoint))
}

/// Receives one whole message into `msg` (frames reused as the sync
/// backend does: a frame at a time, no Vec per message).
async fn recv_into(s: &mut AsyncSocket, msg: &mut Vec<Msg>) -> BResult<()> {
    msg.clear();
    loop {
        let frame = s.recv().await.map_err(ferro_error)?;
        let more = frame.more();
        msg.push(frame);
        if !more {
            return Ok(());
        }
    }
}

/// Sends the frames of `msg` back as one message.
async fn echo(s: &mut AsyncSocket, msg: &mut Vec<Msg>) -> BResult<()> {
    let n = msg.len();
    for (i, frame) in msg.drain(..).enumerate() {
        let flags = if i + 1 < n { ferromq::SNDMORE } else { 0 };
        s.send(frame, flags).await.map_err(ferro_error)?;
    }
    Ok(())
}

/// Checks that message `i` (a `what`) is one `size`-byte frame.
fn one_frame_of(msg: &[Msg], size: usize, what: &str, i: u64) -> BResult<()> {
    if msg.len() != 1 || msg[0].len() != size {
        return Err(BenchError::failed(format!(
            "{what} {i}: expected one {size}-byte frame"
        )));
    }
    Ok(())
}

async fn receive_timed(s: &mut AsyncSocket, size: usize, count: u64) -> BResult<ThrResult> {
    let mut msg = Vec::with_capacity(4);
    within(
        Duration::from_millis(RECV_TIMEOUT_MS as u64),
        "first message",
        recv_into(s, &mut msg),
    )
    .await?;
    one_frame_of(&msg, size, "message", 0)?;
    let t0 = Instant::now();
    within(LOOP_DEADLINE, &format!("{count} messages"), async {
        for i in 1..count {
            recv_into(s, &mut msg)
                .await
                .map_err(|e| e.context(&format!("message {i} of {count}")))?;
            one_frame_of(&msg, size, "message", i)?;
        }
        Ok(())
    })
    .await?;
    Ok(ThrResult {
        count,
        elapsed_s: t0.elapsed().as_secs_f64(),
    })
}

async fn send_all(s: &mut AsyncSocket, size: usize, count: u64) -> BResult<SendResult> {
    let data = payload(size);
    let t0 = Instant::now();
    for i in 0..count {
        // A fresh copy per message, as the sync rows send.
        s.send(Msg::copy_from_slice(&data), 0)
            .await
            .map_err(|e| ferro_error(e).context(&format!("send {i} of {count}")))?;
    }
    Ok(SendResult {
        sent: count,
        elapsed_s: t0.elapsed().as_secs_f64(),
    })
}

fn thr_recv(endpoint: &str, size: usize, count: u64, sec: &Security) -> BResult<()> {
    let ctx = Ferro::context()?;
    let (mut s, ep) = socket(&ctx, Kind::Pull, sec, Some(endpoint), None)?;
    emit(&Event::Ready { endpoint: ep });
    let r = block_on(receive_timed(&mut s, size, count))?;
    emit_result(&r);
    Ok(())
}

fn thr_send(endpoint: &str, size: usize, count: u64, sec: &Security, c: &Control) -> BResult<()> {
    let ctx = Ferro::context()?;
    let (mut s, _) = socket(&ctx, Kind::Push, sec, None, Some(endpoint))?;
    let r = block_on(send_all(&mut s, size, count))?;
    emit_result(&r);
    c.wait_exit();
    s.get_ref().set_linger(0).map_err(ferro_error)
}

fn thr_inproc(size: usize, count: u64) -> BResult<()> {
    let ctx = Ferro::context()?;
    let null = Security::Null;
    let (mut pull, ep) = socket(
        &ctx,
        Kind::Pull,
        &null,
        Some("inproc://ferromq-bench-thr-async"),
        None,
    )?;
    let (mut push, _) = socket(&ctx, Kind::Push, &null, None, ep.as_deref())?;
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let sender = std::thread::spawn(move || -> BResult<()> {
        block_on(send_all(&mut push, size, count))?;
        let _ = done_rx.recv_timeout(Duration::from_secs(120));
        push.get_ref().set_linger(0).map_err(ferro_error)
    });
    let r = block_on(receive_timed(&mut pull, size, count));
    drop(done_tx);
    // On failure return at once: the sender may wait on a full pipe, and
    // the process exiting ends it.
    let r = r?;
    sender
        .join()
        .map_err(|_| BenchError::failed("sender thread panicked"))??;
    emit_result(&r);
    Ok(())
}

/// Echoes requests until `stop()` says so (checked whenever no request
/// came for `STOP_CHECK`).
async fn answer(s: &mut AsyncSocket, stop: impl Fn() -> bool) -> BResult<u64> {
    let mut msg = Vec::with_capacity(4);
    let mut answered = 0u64;
    let mut last = Instant::now();
    loop {
        match tokio::time::timeout(STOP_CHECK, recv_into(s, &mut msg)).await {
            Ok(got) => {
                got.map_err(|e| e.context(&format!("request {answered}")))?;
                echo(s, &mut msg)
                    .await
                    .map_err(|e| e.context(&format!("reply {answered}")))?;
                answered += 1;
                last = Instant::now();
            }
            Err(_) => {
                if stop() {
                    return Ok(answered);
                }
                if last.elapsed() > Duration::from_millis(RECV_TIMEOUT_MS as u64) {
                    return Err(BenchError::timeout(format!("no request after {answered}")));
                }
            }
        }
    }
}

/// Times up to `count` round trips after `warmup` untimed ones, stopping
/// after `max_s` seconds.
async fn ask(
    s: &mut AsyncSocket,
    size: usize,
    warmup: u64,
    count: u64,
    max_s: f64,
) -> BResult<LatResult> {
    let data = payload(size);
    let max = Duration::from_secs_f64(max_s);
    let mut msg = Vec::with_capacity(4);
    let timed = within(LOOP_DEADLINE, "round trips", async {
        for i in 0..warmup {
            s.send(Msg::copy_from_slice(&data), 0)
                .await
                .map_err(ferro_error)?;
            recv_into(s, &mut msg)
                .await
                .map_err(|e| e.context(&format!("warm-up reply {i}")))?;
        }
        let mut samples = Vec::with_capacity(count as usize);
        let t0 = Instant::now();
        for i in 0..count {
            let t = Instant::now();
            if t - t0 > max {
                break;
            }
            s.send(Msg::copy_from_slice(&data), 0)
                .await
                .map_err(ferro_error)?;
            recv_into(s, &mut msg)
                .await
                .map_err(|e| e.context(&format!("reply {i} of {count}")))?;
            samples.push(t.elapsed().as_nanos() as u64);
            one_frame_of(&msg, size, "reply", i)?;
        }
        Ok((samples, t0.elapsed().as_secs_f64()))
    });
    let (mut samples, elapsed_s) = timed.await?;
    let stats = LatencyStats::from_nanos(&mut samples)
        .ok_or_else(|| BenchError::failed("no round trips measured"))?;
    Ok(LatResult { stats, elapsed_s })
}

fn lat_rep(endpoint: &str, sec: &Security, c: &Control) -> BResult<()> {
    let ctx = Ferro::context()?;
    let (mut s, ep) = socket(&ctx, Kind::Rep, sec, Some(endpoint), None)?;
    emit(&Event::Ready { endpoint: ep });
    let answered = block_on(answer(&mut s, || {
        matches!(c.poll().as_deref(), Some("stop" | "exit"))
    }))?;
    emit_result(&serde_json::json!({ "answered": answered }));
    s.get_ref().set_linger(0).map_err(ferro_error)
}

fn lat_req(
    endpoint: &str,
    size: usize,
    warmup: u64,
    count: u64,
    max_s: f64,
    sec: &Security,
) -> BResult<()> {
    let ctx = Ferro::context()?;
    let (mut s, _) = socket(&ctx, Kind::Req, sec, None, Some(endpoint))?;
    let r = block_on(ask(&mut s, size, warmup, count, max_s))?;
    emit_result(&r);
    s.get_ref().set_linger(0).map_err(ferro_error)
}

fn lat_inproc(size: usize, warmup: u64, count: u64, max_s: f64) -> BResult<()> {
    let ctx = Ferro::context()?;
    let null = Security::Null;
    let (mut rep, ep) = socket(
        &ctx,
        Kind::Rep,
        &null,
        Some("inproc://ferromq-bench-lat-async"),
        None,
    )?;
    let (mut req, _) = socket(&ctx, Kind::Req, &null, None, ep.as_deref())?;
    let done = Arc::new(AtomicBool::new(false));
    let stop = done.clone();
    let server =
        std::thread::spawn(move || block_on(answer(&mut rep, || stop.load(Ordering::Relaxed))));
    // On failure return at once rather than wait for the REP thread.
    let r = block_on(ask(&mut req, size, warmup, count, max_s))?;
    done.store(true, Ordering::Relaxed);
    server
        .join()
        .map_err(|_| BenchError::failed("REP thread panicked"))??;
    emit_result(&r);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{ErrorClass, Impl};

    #[test]
    fn async_throughput_inproc_passes_every_message() {
        thr_inproc(64, 5_000).unwrap();
    }

    #[test]
    fn async_latency_inproc_answers_every_request() {
        lat_inproc(16, 10, 200, 30.0).unwrap();
    }

    #[test]
    fn async_tcp_sides_talk_to_each_other() {
        // The REP side and the REQ side, as two threads over tcp: the same
        // functions the two child processes run.
        let ctx = Ferro::context().unwrap();
        let (mut rep, ep) = socket(
            &ctx,
            Kind::Rep,
            &Security::Null,
            Some("tcp://127.0.0.1:*"),
            None,
        )
        .unwrap();
        let ep = ep.unwrap();
        assert!(ep.starts_with("tcp://127.0.0.1:"), "{ep}");
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let server =
            std::thread::spawn(move || block_on(answer(&mut rep, || stop.load(Ordering::Relaxed))));
        let (mut req, _) = socket(&ctx, Kind::Req, &Security::Null, None, Some(&ep)).unwrap();
        let r = block_on(ask(&mut req, 100, 5, 50, 30.0)).unwrap();
        done.store(true, Ordering::Relaxed);
        assert_eq!(r.stats.count, 50);
        assert_eq!(server.join().unwrap().unwrap(), 55);
    }

    #[test]
    fn other_workloads_are_not_offered() {
        let role = Role::FanPub {
            imp: Impl::FerromqAsync,
            endpoint: "tcp://127.0.0.1:*".into(),
            count: 10,
        };
        let e = run(role, &Control::start()).unwrap_err();
        assert_eq!(e.class, ErrorClass::Unsupported);
        assert!(e.message.contains("fan_pub"), "{}", e.message);
    }
}
