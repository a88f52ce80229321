//! Parent-side orchestration: which processes to start for each workload,
//! calibration, alternating rounds, and turning measurements into rows.

use crate::backend::{BenchError, CurveKeys, ErrorClass, Impl, Mechanism, Transport};
use crate::child::Role;
use crate::harness::Proc;
use crate::report::{Better, Entry, Ratio, RoundOutcome, Row, Status, Target, Workload};
use crate::stats::{median, ratio, LatencyStats, Summary};
use crate::work::fanout::{PubResult, SubsResult};
use crate::work::lat::LatResult;
use crate::work::proxy::ProxyResult;
use crate::work::scale::{DealersDone, RouterConnected, RouterDone};
use crate::work::thr::{SendResult, ThrResult};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How a run is done.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Rounds per row.
    pub rounds: usize,
    /// Pin the two sides to CPUs 0 and 1.
    pub pin: bool,
    /// Target seconds per measured throughput/latency run.
    pub duration_s: f64,
    /// Seconds of request/reply traffic in the scale workload.
    pub scale_duration_s: f64,
    /// Implementations to compare (ferromq and libzmq for ratios).
    pub impls: Vec<Impl>,
    /// Reduced sizes (fan-out counts) for the smoke check.
    pub quick: bool,
    /// The CURVE keys of this run (made once, used by every CURVE row).
    pub curve_keys: CurveKeys,
}

impl Settings {
    /// One case per implementation that has `workload`.
    fn cases(&self, workload: Workload) -> Vec<Case> {
        self.impls
            .iter()
            .filter(|i| i.runs(workload))
            .map(|&i| Case::same(i))
            .collect()
    }
}

/// Most DEALERs per child process. Each libzmq context stays under its
/// 1023-socket default (the bench leaves ZMQ_MAX_SOCKETS as it is, as it
/// leaves every libzmq setting it does not need); the same split is used
/// for every implementation so the process layout is identical.
pub const DEALERS_PER_PROCESS: usize = 1000;

/// What one case of a row runs: `a` sends/asks (or is the only side),
/// `b` receives/answers.
#[derive(Clone, Debug)]
pub struct Case {
    label: String,
    a: Impl,
    b: Impl,
}

impl Case {
    fn same(imp: Impl) -> Case {
        Case {
            label: imp.label().to_string(),
            a: imp,
            b: imp,
        }
    }

    fn pair(a: Impl, b: Impl) -> Case {
        Case {
            label: format!("{}→{}", a.label(), b.label()),
            a,
            b,
        }
    }
}

/// A ratio to compute once the rounds are in.
struct RatioSpec {
    metric: &'static str,
    numerator: String,
    denominator: String,
    better: Better,
    target: Option<f64>,
}

/// A measurement: metric values and optional detail.
type Outcome = (BTreeMap<String, f64>, Option<Value>);

fn metrics(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn pin(s: &Settings, cpu: usize) -> Option<usize> {
    s.pin.then_some(cpu)
}

/// Where a run binds. ipc endpoints live in a fresh temporary directory,
/// removed when this is dropped.
struct Endpoints {
    transport: Transport,
    dir: Option<PathBuf>,
}

static EP_COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Endpoints {
    fn new(transport: Transport) -> Result<Endpoints, BenchError> {
        let dir = if transport == Transport::Ipc {
            let d = std::env::temp_dir().join(format!(
                "ferromq-bench-{}-{}",
                std::process::id(),
                EP_COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&d)
                .map_err(|e| BenchError::failed(format!("temp dir {}: {e}", d.display())))?;
            Some(d)
        } else {
            None
        };
        Ok(Endpoints { transport, dir })
    }

    fn bind(&self, name: &str) -> String {
        match self.transport {
            Transport::Tcp => "tcp://127.0.0.1:*".to_string(),
            Transport::Ipc => format!(
                "ipc://{}/{name}.sock",
                self.dir.as_ref().expect("ipc has a dir").display()
            ),
            Transport::Inproc => format!("inproc://{name}"),
        }
    }
}

impl Drop for Endpoints {
    fn drop(&mut self) {
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn need_endpoint(ep: Option<String>) -> Result<String, BenchError> {
    ep.ok_or_else(|| BenchError::failed("binding side reported no endpoint"))
}

// ---------------------------------------------------------------- thr

/// Refuses a mechanism the transport cannot carry (the plan never asks).
fn check_mechanism(mech: Mechanism, transport: Transport) -> Result<(), BenchError> {
    if mech.supports(transport) {
        Ok(())
    } else {
        Err(BenchError::failed(format!(
            "{} needs a transport with a handshake, not {}",
            mech.label(),
            transport.name()
        )))
    }
}

/// One throughput run; `timeout` bounds the whole run. With CURVE the
/// PULL (binding) side is the server.
#[allow(clippy::too_many_arguments)]
pub fn thr_once(
    s: &Settings,
    send: Impl,
    recv: Impl,
    transport: Transport,
    mech: Mechanism,
    size: usize,
    count: u64,
    timeout: Duration,
) -> Result<ThrResult, BenchError> {
    let deadline = Instant::now() + timeout;
    check_mechanism(mech, transport)?;
    let (server, client) = mech.sides(&s.curve_keys);
    if transport == Transport::Inproc {
        let role = Role::ThrInproc {
            imp: send,
            size,
            count,
        };
        let mut p = Proc::spawn(&format!("{} inproc", send.label()), &role, None)?;
        let r = p.result(deadline)?;
        p.finish(Instant::now() + secs(10.0));
        return Ok(r);
    }
    let eps = Endpoints::new(transport)?;
    let role = Role::ThrRecv {
        imp: recv,
        endpoint: eps.bind("thr"),
        size,
        count,
        security: server,
    };
    let mut rx = Proc::spawn(&format!("{} PULL", recv.label()), &role, pin(s, 0))?;
    let ep = need_endpoint(rx.ready(Instant::now() + secs(30.0))?)?;
    let role = Role::ThrSend {
        imp: send,
        endpoint: ep,
        size,
        count,
        security: client,
    };
    let mut tx = Proc::spawn(&format!("{} PUSH", send.label()), &role, pin(s, 1))?;
    let r: ThrResult = rx.result(deadline)?;
    let _: SendResult = tx.result(Instant::now() + secs(10.0))?;
    tx.finish(Instant::now() + secs(10.0));
    rx.finish(Instant::now() + secs(10.0));
    Ok(r)
}

fn thr_pilot_count(size: usize) -> u64 {
    (20_000_000 / (size as u64 + 32)).clamp(200, 100_000)
}

/// Finds the message count that makes one run last about `duration_s`.
fn thr_calibrate(
    s: &Settings,
    c: &Case,
    transport: Transport,
    mech: Mechanism,
    size: usize,
) -> Result<u64, BenchError> {
    let pilot = thr_pilot_count(size);
    calibrate_count(s, pilot, (100, 200_000_000), |n| {
        thr_once(s, c.a, c.b, transport, mech, size, n, secs(60.0))
            .map(|r| (r.msg_per_s(), r.elapsed_s))
    })
}

/// How many messages make a run of about `s.duration_s`: runs a pilot of
/// `pilot` messages, larger each time (a pilot much shorter than the run
/// misjudges the rate, start-up costs dominating) until it lasts a
/// quarter of a run, and scales its rate. `once(n)` gives (rate, seconds).
fn calibrate_count(
    s: &Settings,
    pilot: u64,
    (min, max): (u64, u64),
    mut once: impl FnMut(u64) -> Result<(f64, f64), BenchError>,
) -> Result<u64, BenchError> {
    let mut n = pilot;
    let mut rate = 0.0;
    let want = (s.duration_s / 4.0).max(0.05);
    for attempt in 0..4 {
        let (r, elapsed_s) = once(n)?;
        rate = r;
        if elapsed_s >= want || attempt == 3 {
            break;
        }
        let grow = (1.5 * want / elapsed_s.max(1e-4)).clamp(2.0, 50.0);
        n = (n as f64 * grow) as u64;
    }
    Ok(((rate * s.duration_s) as u64).clamp(min, max))
}

fn thr_outcome(r: &ThrResult, size: usize) -> Outcome {
    let rate = r.msg_per_s();
    (
        metrics(&[("msg_per_s", rate), ("mb_per_s", rate * size as f64 / 1e6)]),
        Some(json!({ "count": r.count, "elapsed_s": r.elapsed_s })),
    )
}

fn run_timeout(s: &Settings) -> Duration {
    secs(30.0 + 10.0 * s.duration_s)
}

/// The target on ferromq/libzmq messages per second (at least).
pub fn thr_target(transport: Transport, mech: Mechanism) -> f64 {
    match (mech, transport) {
        // Issue 10: CURVE throughput at least libzmq's (on libsodium).
        (Mechanism::Curve, _) => 1.0,
        (Mechanism::Null, Transport::Inproc) => 1.5,
        (Mechanism::Null, _) => 1.3,
    }
}

/// The target on ferromq/libzmq round-trip times (at most).
pub fn lat_target(mech: Mechanism) -> f64 {
    match mech {
        // Issue 10: CURVE latency no worse than libzmq's.
        Mechanism::Curve => 1.0,
        Mechanism::Null => 0.7,
    }
}

/// Issue 11: async ferromq's messages per second at least 0.9 of sync
/// ferromq's, on the same row.
pub const ASYNC_THR_TARGET: f64 = 0.9;

/// Issue 11: async ferromq's round-trip times within 10% of sync ferromq's.
pub const ASYNC_LAT_TARGET: f64 = 1.1;

/// A row's id: "thr tcp 64 B", "lat tcp 1 B CURVE".
pub fn row_id(workload: &str, transport: Transport, size: usize, mech: Mechanism) -> String {
    let id = format!(
        "{workload} {} {}",
        transport.name(),
        crate::report::size_label(size)
    );
    match mech {
        Mechanism::Null => id,
        _ => format!("{id} {}", mech.label()),
    }
}

/// Throughput row for one transport, mechanism and size.
pub fn thr_row(s: &Settings, transport: Transport, mech: Mechanism, size: usize) -> Row {
    let cases = s.cases(Workload::Thr);
    let target = thr_target(transport, mech);
    let mut row = new_row(
        row_id("thr", transport, size, mech),
        Workload::Thr,
        transport,
    );
    row.size = Some(size);
    row.security = mech;
    run_cases(
        s,
        &mut row,
        &cases,
        |c| thr_calibrate(s, c, transport, mech, size).map(|n| json!({ "count": n })),
        |c, cal| {
            let n = cal["count"].as_u64().unwrap_or(1000);
            thr_once(s, c.a, c.b, transport, mech, size, n, run_timeout(s))
                .map(|r| thr_outcome(&r, size))
        },
        "msg_per_s",
    );
    add_ratios(
        &mut row,
        &[
            RatioSpec {
                metric: "msg_per_s",
                numerator: "ferromq".into(),
                denominator: "libzmq".into(),
                better: Better::Higher,
                target: Some(target),
            },
            RatioSpec {
                metric: "msg_per_s",
                numerator: Impl::FerromqAsync.label().into(),
                denominator: "ferromq".into(),
                better: Better::Higher,
                target: Some(ASYNC_THR_TARGET),
            },
        ],
    );
    row
}

// ---------------------------------------------------------------- lat

/// One latency run. With CURVE the REP (binding) side is the server.
#[allow(clippy::too_many_arguments)]
pub fn lat_once(
    s: &Settings,
    req: Impl,
    rep: Impl,
    transport: Transport,
    mech: Mechanism,
    size: usize,
    count: u64,
    timeout: Duration,
) -> Result<LatResult, BenchError> {
    let deadline = Instant::now() + timeout;
    check_mechanism(mech, transport)?;
    let (server, client) = mech.sides(&s.curve_keys);
    let warmup = (count / 100).clamp(100, 10_000);
    // Bounds a run whose pilot misjudged the latency (it can vary 10x here).
    let max_s = (3.0 * s.duration_s).max(1.0);
    if transport == Transport::Inproc {
        let role = Role::LatInproc {
            imp: req,
            size,
            warmup,
            count,
            max_s,
        };
        let mut p = Proc::spawn(&format!("{} inproc", req.label()), &role, None)?;
        let r = p.result(deadline)?;
        p.finish(Instant::now() + secs(10.0));
        return Ok(r);
    }
    let eps = Endpoints::new(transport)?;
    let role = Role::LatRep {
        imp: rep,
        endpoint: eps.bind("lat"),
        security: server,
    };
    let mut server = Proc::spawn(&format!("{} REP", rep.label()), &role, pin(s, 0))?;
    let ep = need_endpoint(server.ready(Instant::now() + secs(30.0))?)?;
    let role = Role::LatReq {
        imp: req,
        endpoint: ep,
        size,
        warmup,
        count,
        max_s,
        security: client,
    };
    let mut client = Proc::spawn(&format!("{} REQ", req.label()), &role, pin(s, 1))?;
    let r: LatResult = client.result(deadline)?;
    server.tell("stop");
    let _: Value = server.result(Instant::now() + secs(10.0))?;
    client.finish(Instant::now() + secs(10.0));
    server.finish(Instant::now() + secs(10.0));
    Ok(r)
}

fn lat_calibrate(
    s: &Settings,
    c: &Case,
    transport: Transport,
    mech: Mechanism,
    size: usize,
) -> Result<u64, BenchError> {
    let r = lat_once(s, c.a, c.b, transport, mech, size, 1000, secs(60.0))?;
    let per = r.elapsed_s / r.stats.count.max(1) as f64;
    Ok(((s.duration_s / per.max(1e-7)) as u64).clamp(200, 5_000_000))
}

fn lat_outcome(r: &LatResult) -> Outcome {
    let st: &LatencyStats = &r.stats;
    (
        metrics(&[
            ("mean_us", st.mean_us),
            ("p50_us", st.p50_us),
            ("p99_us", st.p99_us),
        ]),
        Some(json!({ "count": st.count, "profile": st.profile })),
    )
}

/// Latency row for one transport, mechanism and size.
pub fn lat_row(s: &Settings, transport: Transport, mech: Mechanism, size: usize) -> Row {
    let cases = s.cases(Workload::Lat);
    let target = lat_target(mech);
    let mut row = new_row(
        row_id("lat", transport, size, mech),
        Workload::Lat,
        transport,
    );
    row.size = Some(size);
    row.security = mech;
    run_cases(
        s,
        &mut row,
        &cases,
        |c| lat_calibrate(s, c, transport, mech, size).map(|n| json!({ "count": n })),
        |c, cal| {
            let n = cal["count"].as_u64().unwrap_or(1000);
            lat_once(s, c.a, c.b, transport, mech, size, n, run_timeout(s)).map(|r| lat_outcome(&r))
        },
        "mean_us",
    );
    let metrics = ["mean_us", "p50_us", "p99_us"];
    let vs_libzmq = metrics.into_iter().map(|metric| RatioSpec {
        metric,
        numerator: "ferromq".into(),
        denominator: "libzmq".into(),
        better: Better::Lower,
        target: Some(target),
    });
    let async_vs_sync = metrics.into_iter().map(|metric| RatioSpec {
        metric,
        numerator: Impl::FerromqAsync.label().into(),
        denominator: "ferromq".into(),
        better: Better::Lower,
        target: Some(ASYNC_LAT_TARGET),
    });
    let specs: Vec<RatioSpec> = vs_libzmq.chain(async_vs_sync).collect();
    add_ratios(&mut row, &specs);
    row
}

// ---------------------------------------------------------------- fan-out

/// Numbered messages published per fan-out run: total deliveries shrink
/// as N grows, so one run stays around a second or two on 2 cores.
pub fn fan_count(subs: usize, quick: bool) -> u64 {
    let total: u64 = if quick { 5_000_000 } else { 10_000_000 };
    (total / subs.max(1) as u64).clamp(10_000, 4_000_000)
}

/// One fan-out run.
pub fn fan_once(s: &Settings, imp: Impl, subs: usize, count: u64) -> Result<Outcome, BenchError> {
    let role = Role::FanPub {
        imp,
        endpoint: "tcp://127.0.0.1:*".into(),
        count,
    };
    let mut publisher = Proc::spawn(&format!("{} PUB", imp.label()), &role, pin(s, 0))?;
    let ep = need_endpoint(publisher.ready(Instant::now() + secs(30.0))?)?;
    let role = Role::FanSubs {
        imp,
        endpoint: ep,
        subs,
    };
    let mut subscribers = Proc::spawn(&format!("{} SUBs", imp.label()), &role, pin(s, 1))?;
    subscribers.ready(Instant::now() + secs(150.0))?;
    publisher.tell("go");
    let sr: SubsResult = subscribers.result(Instant::now() + secs(180.0))?;
    publisher.tell("stop");
    let pr: PubResult = publisher.result(Instant::now() + secs(30.0))?;
    subscribers.finish(Instant::now() + secs(10.0));
    publisher.finish(Instant::now() + secs(10.0));
    if let Some((i, e)) = sr
        .subs
        .iter()
        .enumerate()
        .find_map(|(i, st)| st.error.as_ref().map(|e| (i, e)))
    {
        return Err(BenchError::failed(format!("SUB {i}: {e}")));
    }
    let rates: Vec<f64> = sr
        .subs
        .iter()
        .map(|st| {
            if st.span_s > 0.0 && st.received > 1 {
                (st.received - 1) as f64 / st.span_s
            } else {
                0.0
            }
        })
        .collect();
    let received: u64 = sr.subs.iter().map(|st| st.received).sum();
    let expected = pr.published * subs as u64;
    let drops = expected.saturating_sub(received);
    let mean_rate = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
    let min_rate = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let max_drops = sr
        .subs
        .iter()
        .map(|st| pr.published.saturating_sub(st.received))
        .max()
        .unwrap_or(0);
    Ok((
        metrics(&[
            ("msg_per_s_per_sub", mean_rate),
            ("min_sub_msg_per_s", min_rate),
            ("delivered_msg_per_s", mean_rate * subs as f64),
            (
                "pub_msg_per_s",
                pr.published as f64 / pr.elapsed_s.max(1e-9),
            ),
            ("published", pr.published as f64),
            ("drops", drops as f64),
            ("drops_pct", 100.0 * drops as f64 / expected.max(1) as f64),
            ("max_drops_per_sub", max_drops as f64),
        ]),
        Some(json!({
            "received_per_sub": sr.subs.iter().map(|st| st.received).collect::<Vec<_>>(),
            "warmups": pr.warmups,
        })),
    ))
}

/// Fan-out row for N subscribers.
pub fn fan_row(s: &Settings, subs: usize, count: Option<u64>) -> Row {
    let cases = s.cases(Workload::Fanout);
    let count = count.unwrap_or_else(|| fan_count(subs, s.quick));
    let mut row = new_row(
        format!("fanout tcp N={subs}"),
        Workload::Fanout,
        Transport::Tcp,
    );
    row.size = Some(crate::work::fanout::FAN_SIZE);
    row.subs = Some(subs);
    run_cases(
        s,
        &mut row,
        &cases,
        |_| Ok(json!({ "count": count })),
        |c, _| fan_once(s, c.a, subs, count),
        "msg_per_s_per_sub",
    );
    add_ratios(
        &mut row,
        &[RatioSpec {
            metric: "msg_per_s_per_sub",
            numerator: "ferromq".into(),
            denominator: "libzmq".into(),
            better: Better::Higher,
            target: Some(1.3),
        }],
    );
    row
}

// ---------------------------------------------------------------- scale

/// One connection-scale run.
pub fn scale_once(s: &Settings, imp: Impl, conns: usize) -> Result<Outcome, BenchError> {
    let role = Role::ScaleRouter {
        imp,
        endpoint: "tcp://127.0.0.1:*".into(),
        conns,
    };
    let mut router = Proc::spawn(&format!("{} ROUTER", imp.label()), &role, pin(s, 0))?;
    let ep = need_endpoint(router.ready(Instant::now() + secs(30.0))?)?;
    let mut dealers = Vec::new();
    let mut left = conns;
    while left > 0 {
        let n = left.min(DEALERS_PER_PROCESS);
        left -= n;
        let role = Role::ScaleDealers {
            imp,
            endpoint: ep.clone(),
            conns: n,
            duration_s: s.scale_duration_s,
        };
        let label = format!("{} DEALERs #{}", imp.label(), dealers.len());
        dealers.push(Proc::spawn(&label, &role, pin(s, 1))?);
    }
    for d in dealers.iter_mut() {
        d.ready(Instant::now() + secs(120.0))?;
    }
    router.tell("go");
    for d in dealers.iter_mut() {
        d.tell("go");
    }
    let connected: RouterConnected =
        serde_json::from_value(router.progress(Instant::now() + secs(320.0))?)
            .map_err(|e| BenchError::failed(format!("ROUTER progress: {e}")))?;
    for d in dealers.iter_mut() {
        d.progress(Instant::now() + secs(60.0))?;
    }
    for d in dealers.iter_mut() {
        d.tell("go2");
    }
    let mut req_per_s = 0.0;
    let mut round_trips = 0;
    for d in dealers.iter_mut() {
        let r: DealersDone = d.result(Instant::now() + secs(60.0 + 2.0 * s.scale_duration_s))?;
        req_per_s += r.round_trips as f64 / r.elapsed_s.max(1e-9);
        round_trips += r.round_trips;
    }
    router.tell("stop");
    let done: RouterDone = router.result(Instant::now() + secs(30.0))?;
    for d in dealers {
        d.finish(Instant::now() + secs(30.0));
    }
    router.finish(Instant::now() + secs(30.0));
    let per_conn = |after: u64| after.saturating_sub(connected.rss_before_kb) as f64 / conns as f64;
    Ok((
        metrics(&[
            ("connect_s", connected.connect_s),
            ("rss_kb_per_conn", per_conn(connected.rss_after_kb)),
            (
                "rss_kb_per_conn_after_traffic",
                per_conn(done.rss_after_traffic_kb),
            ),
            ("req_per_s", req_per_s),
        ]),
        Some(json!({
            "rss_before_kb": connected.rss_before_kb,
            "rss_after_kb": connected.rss_after_kb,
            "rss_after_traffic_kb": done.rss_after_traffic_kb,
            "round_trips": round_trips,
            "answered": done.answered,
        })),
    ))
}

/// Connection-scale row for N DEALERs.
pub fn scale_row(s: &Settings, conns: usize) -> Row {
    let cases = s.cases(Workload::Scale);
    let mut row = new_row(
        format!("scale tcp N={conns}"),
        Workload::Scale,
        Transport::Tcp,
    );
    row.conns = Some(conns);
    run_cases(
        s,
        &mut row,
        &cases,
        |_| Ok(json!({ "dealer_processes": conns.div_ceil(DEALERS_PER_PROCESS) })),
        |c, _| scale_once(s, c.a, conns),
        "connect_s",
    );
    let spec = |metric, better, target| RatioSpec {
        metric,
        numerator: "ferromq".into(),
        denominator: "libzmq".into(),
        better,
        target,
    };
    let mem_target = (conns >= 10_000).then_some(1.0);
    add_ratios(
        &mut row,
        &[
            spec("connect_s", Better::Lower, None),
            spec("rss_kb_per_conn", Better::Lower, mem_target),
            spec("req_per_s", Better::Higher, None),
        ],
    );
    row
}

// ---------------------------------------------------------------- cross

fn cross_cases() -> Vec<Case> {
    use Impl::{Ferromq, Libzmq};
    vec![
        Case::pair(Libzmq, Libzmq),
        Case::pair(Ferromq, Libzmq),
        Case::pair(Libzmq, Ferromq),
        Case::pair(Ferromq, Ferromq),
    ]
}

fn cross_ratios(row: &mut Row, metric: &'static str, better: Better) {
    let base = Case::pair(Impl::Libzmq, Impl::Libzmq).label;
    let specs: Vec<RatioSpec> = cross_cases()
        .into_iter()
        .skip(1)
        .map(|c| RatioSpec {
            metric,
            numerator: c.label,
            denominator: base.clone(),
            better,
            target: None,
        })
        .collect();
    add_ratios(row, &specs);
}

/// Mixed-implementation throughput row (tcp).
pub fn cross_thr_row(s: &Settings, size: usize) -> Row {
    let mut row = new_row(
        format!("cross thr tcp {}", crate::report::size_label(size)),
        Workload::CrossThr,
        Transport::Tcp,
    );
    row.size = Some(size);
    run_cases(
        s,
        &mut row,
        &cross_cases(),
        |c| {
            thr_calibrate(s, c, Transport::Tcp, Mechanism::Null, size)
                .map(|n| json!({ "count": n }))
        },
        |c, cal| {
            let n = cal["count"].as_u64().unwrap_or(1000);
            let (tcp, null) = (Transport::Tcp, Mechanism::Null);
            thr_once(s, c.a, c.b, tcp, null, size, n, run_timeout(s)).map(|r| thr_outcome(&r, size))
        },
        "msg_per_s",
    );
    cross_ratios(&mut row, "msg_per_s", Better::Higher);
    row
}

/// Mixed-implementation latency row (tcp).
pub fn cross_lat_row(s: &Settings, size: usize) -> Row {
    let mut row = new_row(
        format!("cross lat tcp {}", crate::report::size_label(size)),
        Workload::CrossLat,
        Transport::Tcp,
    );
    row.size = Some(size);
    run_cases(
        s,
        &mut row,
        &cross_cases(),
        |c| {
            lat_calibrate(s, c, Transport::Tcp, Mechanism::Null, size)
                .map(|n| json!({ "count": n }))
        },
        |c, cal| {
            let n = cal["count"].as_u64().unwrap_or(1000);
            let (tcp, null) = (Transport::Tcp, Mechanism::Null);
            lat_once(s, c.a, c.b, tcp, null, size, n, run_timeout(s)).map(|r| lat_outcome(&r))
        },
        "mean_us",
    );
    cross_ratios(&mut row, "mean_us", Better::Lower);
    row
}

// ---------------------------------------------------------------- proxy

/// The clients and workers around the proxy under test: the same
/// implementation whichever proxy runs, so a row compares the proxies.
pub const PROXY_PEERS: Impl = Impl::Libzmq;

/// One run through a ROUTER/DEALER proxy of implementation `imp` (tcp):
/// the proxy, a DEALER worker and a DEALER client, each its own process.
pub fn proxy_once(
    s: &Settings,
    imp: Impl,
    size: usize,
    count: u64,
    timeout: Duration,
) -> Result<ProxyResult, BenchError> {
    let deadline = Instant::now() + timeout;
    let role = Role::ProxyQueue { imp };
    let mut proxy = Proc::spawn(&format!("{} proxy", imp.label()), &role, pin(s, 0))?;
    let endpoints = need_endpoint(proxy.ready(Instant::now() + secs(30.0))?)?;
    let (frontend, backend) = endpoints
        .split_once(' ')
        .ok_or_else(|| BenchError::failed(format!("proxy endpoints {endpoints:?}")))?;
    let role = Role::ProxyWorker {
        imp: PROXY_PEERS,
        endpoint: backend.to_string(),
    };
    let label = format!("{} worker", PROXY_PEERS.label());
    let mut worker = Proc::spawn(&label, &role, pin(s, 1))?;
    worker.ready(Instant::now() + secs(30.0))?;
    let role = Role::ProxyClient {
        imp: PROXY_PEERS,
        endpoint: frontend.to_string(),
        size,
        count,
    };
    let label = format!("{} client", PROXY_PEERS.label());
    let mut client = Proc::spawn(&label, &role, pin(s, 1))?;
    let r: ProxyResult = client.result(deadline)?;
    worker.tell("stop");
    let _: Value = worker.result(Instant::now() + secs(10.0))?;
    client.finish(Instant::now() + secs(10.0));
    worker.finish(Instant::now() + secs(10.0));
    proxy.finish(Instant::now() + secs(10.0));
    Ok(r)
}

/// Finds the request count that makes one run last about `duration_s`.
fn proxy_calibrate(s: &Settings, c: &Case, size: usize) -> Result<u64, BenchError> {
    calibrate_count(s, 20_000, (1000, 100_000_000), |n| {
        proxy_once(s, c.a, size, n, secs(60.0)).map(|r| (r.msg_per_s(), r.elapsed_s))
    })
}

/// Throughput through a ROUTER/DEALER proxy (tcp), requests of `size`.
pub fn proxy_row(s: &Settings, size: usize) -> Row {
    let cases = s.cases(Workload::Proxy);
    let mut row = new_row(
        format!("proxy tcp {}", crate::report::size_label(size)),
        Workload::Proxy,
        Transport::Tcp,
    );
    row.size = Some(size);
    run_cases(
        s,
        &mut row,
        &cases,
        |c| proxy_calibrate(s, c, size).map(|n| json!({ "count": n })),
        |c, cal| {
            let n = cal["count"].as_u64().unwrap_or(1000);
            proxy_once(s, c.a, size, n, run_timeout(s)).map(|r| {
                (
                    metrics(&[("msg_per_s", r.msg_per_s())]),
                    Some(json!({ "count": r.count, "elapsed_s": r.elapsed_s })),
                )
            })
        },
        "msg_per_s",
    );
    add_ratios(
        &mut row,
        &[RatioSpec {
            metric: "msg_per_s",
            numerator: "ferromq".into(),
            denominator: "libzmq".into(),
            better: Better::Higher,
            target: None,
        }],
    );
    row
}

// ---------------------------------------------------------------- rounds

fn new_row(id: String, workload: Workload, transport: Transport) -> Row {
    Row {
        id,
        workload,
        transport,
        size: None,
        subs: None,
        conns: None,
        security: Mechanism::Null,
        entries: Vec::new(),
        ratios: Vec::new(),
    }
}

/// Calibrates every case, then runs the rounds with the cases alternating
/// (A B C A B C ...), so slow drifts of a noisy machine hit all alike.
fn run_cases(
    s: &Settings,
    row: &mut Row,
    cases: &[Case],
    mut calibrate: impl FnMut(&Case) -> Result<Value, BenchError>,
    mut measure: impl FnMut(&Case, &Value) -> Result<Outcome, BenchError>,
    headline: &str,
) {
    let mut entries: Vec<Entry> = cases
        .iter()
        .map(|c| Entry {
            label: c.label.clone(),
            a: c.a,
            b: c.b,
            status: Status::Ok,
            reason: None,
            calibration: None,
            rounds: Vec::new(),
            summary: BTreeMap::new(),
        })
        .collect();
    for (c, e) in cases.iter().zip(entries.iter_mut()) {
        match calibrate(c) {
            Ok(v) => e.calibration = Some(v),
            Err(err) => {
                e.status = if err.class == ErrorClass::Unsupported {
                    Status::Na
                } else {
                    Status::Failed
                };
                eprintln!("  {} {}: {}", row.id, c.label, status_word(e.status));
                e.reason = Some(format!("pilot: {}", err.message));
            }
        }
    }
    for round in 0..s.rounds {
        for (c, e) in cases.iter().zip(entries.iter_mut()) {
            let Some(cal) = e.calibration.clone() else {
                continue;
            };
            if e.status == Status::Na {
                continue;
            }
            let t = Instant::now();
            let outcome = match measure(c, &cal) {
                Ok((m, extra)) => {
                    eprintln!(
                        "  {} round {}/{} {}: {} {} ({:.1} s)",
                        row.id,
                        round + 1,
                        s.rounds,
                        c.label,
                        headline,
                        m.get(headline)
                            .map_or("?".into(), |v| crate::report::si(*v)),
                        t.elapsed().as_secs_f64()
                    );
                    RoundOutcome {
                        ok: true,
                        error: None,
                        metrics: m,
                        extra,
                    }
                }
                Err(err) => {
                    eprintln!(
                        "  {} round {}/{} {}: FAILED: {}",
                        row.id,
                        round + 1,
                        s.rounds,
                        c.label,
                        err.message
                    );
                    if err.class == ErrorClass::Unsupported {
                        e.status = Status::Na;
                    }
                    if e.reason.is_none() {
                        e.reason = Some(format!("round {}: {}", round + 1, err.message));
                    }
                    RoundOutcome {
                        ok: false,
                        error: Some(err.message),
                        ..Default::default()
                    }
                }
            };
            e.rounds.push(outcome);
        }
    }
    for e in entries.iter_mut() {
        let ok: Vec<&RoundOutcome> = e.rounds.iter().filter(|r| r.ok).collect();
        if e.status == Status::Ok && ok.is_empty() {
            e.status = Status::Failed;
        }
        let keys: Vec<String> = ok
            .iter()
            .flat_map(|r| r.metrics.keys().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for k in keys {
            let vals: Vec<f64> = ok
                .iter()
                .filter_map(|r| r.metrics.get(&k).copied())
                .collect();
            if let Some(sm) = Summary::of(&vals) {
                e.summary.insert(k, sm);
            }
        }
    }
    row.entries = entries;
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Na => "n/a",
        Status::Failed => "failed",
    }
}

/// Per-round ratios (same round index on both sides) and their median.
fn add_ratios(row: &mut Row, specs: &[RatioSpec]) {
    for spec in specs {
        let (Some(num), Some(den)) = (row.entry(&spec.numerator), row.entry(&spec.denominator))
        else {
            continue;
        };
        let value = |e: &Entry, i: usize| {
            e.rounds
                .get(i)
                .filter(|r| r.ok)
                .and_then(|r| r.metrics.get(spec.metric).copied())
        };
        let n = num.rounds.len().max(den.rounds.len());
        let per_round: Vec<Option<f64>> = (0..n)
            .map(|i| ratio(value(num, i), value(den, i)))
            .collect();
        let vals: Vec<f64> = per_round.iter().flatten().copied().collect();
        let med = median(&vals);
        let target = spec.target.map(|value| Target {
            better: spec.better,
            value,
        });
        row.ratios.push(Ratio {
            metric: spec.metric.to_string(),
            numerator: spec.numerator.clone(),
            denominator: spec.denominator.clone(),
            better: spec.better,
            median: med,
            min: vals.iter().copied().reduce(f64::min),
            max: vals.iter().copied().reduce(f64::max),
            met: match (target, med) {
                (Some(t), Some(m)) => Some(t.met(m)),
                _ => None,
            },
            target,
            per_round,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_rows_have_their_own_targets() {
        // Issue 10: CURVE throughput and latency at least as good as libzmq's.
        assert_eq!(thr_target(Transport::Tcp, Mechanism::Curve), 1.0);
        assert_eq!(thr_target(Transport::Ipc, Mechanism::Curve), 1.0);
        assert_eq!(lat_target(Mechanism::Curve), 1.0);
        // The NULL rows keep theirs.
        assert_eq!(thr_target(Transport::Tcp, Mechanism::Null), 1.3);
        assert_eq!(thr_target(Transport::Inproc, Mechanism::Null), 1.5);
        assert_eq!(lat_target(Mechanism::Null), 0.7);
    }

    #[test]
    fn curve_rows_are_labelled() {
        assert_eq!(
            row_id("thr", Transport::Tcp, 64, Mechanism::Null),
            "thr tcp 64 B"
        );
        assert_eq!(
            row_id("thr", Transport::Tcp, 65_536, Mechanism::Curve),
            "thr tcp 64 KiB CURVE"
        );
        assert_eq!(
            row_id("lat", Transport::Ipc, 1, Mechanism::Curve),
            "lat ipc 1 B CURVE"
        );
    }

    #[test]
    fn curve_over_inproc_is_an_error() {
        assert!(check_mechanism(Mechanism::Curve, Transport::Inproc).is_err());
        assert!(check_mechanism(Mechanism::Curve, Transport::Tcp).is_ok());
        assert!(check_mechanism(Mechanism::Null, Transport::Inproc).is_ok());
    }
}
