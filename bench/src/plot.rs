//! The plots (SVG, from a report) and the RESULTS.md page that shows them.

use crate::backend::{Mechanism, Transport};
use crate::report::{self, Better, Report, Row, Workload};
use crate::stats::median;
use crate::svg::{panel, Axis, Series, Svg};
use std::fmt::Write as _;
use std::path::Path;

fn color(label: &str) -> &'static str {
    match label {
        "ferromq" => "#d95f02",
        "libzmq" => "#1b9e77",
        "zmq.rs" => "#7570b3",
        _ => "#666666",
    }
}

fn labels(report: &Report) -> Vec<&'static str> {
    report.settings.impls.iter().map(|i| i.label()).collect()
}

/// Points `(x, median, (min, max))` of `metric` for entry `label` across
/// `rows`, with `x` taken from each row.
fn series_over(
    rows: &[&Row],
    label: &str,
    metric: &str,
    x: impl Fn(&Row) -> Option<usize>,
) -> Series {
    let points = rows
        .iter()
        .filter_map(|r| {
            let s = r.entry(label)?.metric(metric)?;
            Some((x(r)? as f64, s.median, Some((s.min, s.max))))
        })
        .collect();
    Series {
        label: label.to_string(),
        color: color(label).to_string(),
        dash: None,
        points,
    }
}

fn all_y(series: &[Series]) -> Vec<f64> {
    series
        .iter()
        .flat_map(|s| {
            s.points.iter().flat_map(|p| {
                let (lo, hi) = p.2.unwrap_or((p.1, p.1));
                [p.1, lo, hi]
            })
        })
        .collect()
}

fn size_ticks(sizes: &[usize]) -> Vec<(f64, String)> {
    sizes
        .iter()
        .map(|&s| (s as f64, report::size_label(s)))
        .collect()
}

/// The rows of `workload` over `transport` with `mech`: one plot's rows
/// (CURVE rows get plots of their own, never mixed with NULL ones).
fn plot_rows(
    report: &Report,
    workload: Workload,
    transport: Transport,
    mech: Mechanism,
) -> Vec<&Row> {
    report
        .rows
        .iter()
        .filter(|r| r.workload == workload && r.transport == transport && r.security == mech)
        .collect()
}

/// "tcp" / "tcp + CURVE" in titles; "tcp" / "tcp-curve" in file names.
fn plot_names(transport: Transport, mech: Mechanism) -> (String, String) {
    match mech {
        Mechanism::Null => (transport.name().to_string(), transport.name().to_string()),
        m => (
            format!("{} + {}", transport.name(), m.label()),
            format!("{}-{}", transport.name(), m.label().to_lowercase()),
        ),
    }
}

fn thr_plot(report: &Report, transport: Transport, mech: Mechanism) -> Option<Svg> {
    let rows = plot_rows(report, Workload::Thr, transport, mech);
    let name = plot_names(transport, mech).0;
    if rows.is_empty() {
        return None;
    }
    let sizes: Vec<usize> = rows.iter().filter_map(|r| r.size).collect();
    let mut x = Axis::fit(
        "message size",
        &sizes.iter().map(|&s| s as f64).collect::<Vec<_>>(),
        true,
    );
    x.ticks = size_ticks(&sizes);
    let mut svg = Svg::new(1000.0, 420.0);
    for (i, (metric, title)) in [("msg_per_s", "messages/s"), ("mb_per_s", "MB/s")]
        .iter()
        .enumerate()
    {
        let series: Vec<Series> = labels(report)
            .iter()
            .map(|l| series_over(&rows, l, metric, |r| r.size))
            .filter(|s| !s.points.is_empty())
            .collect();
        let y = Axis::fit(title, &all_y(&series), true);
        panel(
            &mut svg,
            (i as f64 * 500.0, 0.0),
            (500.0, 420.0),
            &format!("PUSH→PULL throughput, {name} ({title})"),
            &x,
            &y,
            &series,
        );
    }
    Some(svg)
}

/// x position of percentile `q` on a "nines" scale: 90 → 1, 99 → 2, ...
fn nines(q: f64) -> f64 {
    -(1.0 - q / 100.0).max(1e-6).log10()
}

fn lat_plot(report: &Report, transport: Transport, mech: Mechanism) -> Option<Svg> {
    let rows = plot_rows(report, Workload::Lat, transport, mech);
    let name = plot_names(transport, mech).0;
    if rows.is_empty() {
        return None;
    }
    let width = 500.0 * rows.len() as f64;
    let mut svg = Svg::new(width, 420.0);
    let mut x = Axis {
        title: "percentile".into(),
        lo: 0.0,
        hi: nines(99.99),
        log: false,
        ticks: Vec::new(),
    };
    x.ticks = [0.0, 50.0, 90.0, 99.0, 99.9, 99.99]
        .iter()
        .map(|&q| (nines(q), format!("p{q}")))
        .collect();
    for (i, row) in rows.iter().enumerate() {
        let series: Vec<Series> = labels(report)
            .iter()
            .filter_map(|l| {
                let e = row.entry(l)?;
                // Per percentile point, the median over the rounds.
                let profiles: Vec<Vec<(f64, f64)>> = e
                    .rounds
                    .iter()
                    .filter(|r| r.ok)
                    .filter_map(|r| {
                        serde_json::from_value(r.extra.as_ref()?.get("profile")?.clone()).ok()
                    })
                    .collect();
                let first = profiles.first()?;
                let points = first
                    .iter()
                    .enumerate()
                    .filter(|(_, (q, _))| *q <= 99.99)
                    .map(|(k, (q, _))| {
                        let vals: Vec<f64> = profiles
                            .iter()
                            .filter_map(|p| p.get(k).map(|v| v.1))
                            .collect();
                        (nines(*q), median(&vals).unwrap_or(f64::NAN), None)
                    })
                    .collect();
                Some(Series {
                    label: l.to_string(),
                    color: color(l).to_string(),
                    dash: None,
                    points,
                })
            })
            .collect();
        let y = Axis::fit("round trip, µs", &all_y(&series), true);
        panel(
            &mut svg,
            (i as f64 * 500.0, 0.0),
            (500.0, 420.0),
            &format!(
                "REQ↔REP round trip, {name} {} (percentiles)",
                report::size_label(row.size.unwrap_or(0))
            ),
            &x,
            &y,
            &series,
        );
    }
    Some(svg)
}

fn by_n_plot(
    report: &Report,
    workload: Workload,
    n: impl Fn(&Row) -> Option<usize> + Copy,
    xtitle: &str,
    panels: &[(&str, &str, &str)],
) -> Option<Svg> {
    let rows: Vec<&Row> = report
        .rows
        .iter()
        .filter(|r| r.workload == workload)
        .collect();
    if rows.is_empty() {
        return None;
    }
    let ns: Vec<usize> = rows.iter().filter_map(|r| n(r)).collect();
    let mut x = Axis::fit(
        xtitle,
        &ns.iter().map(|&v| v as f64).collect::<Vec<_>>(),
        true,
    );
    x.ticks = ns.iter().map(|&v| (v as f64, v.to_string())).collect();
    let mut svg = Svg::new(500.0 * panels.len() as f64, 420.0);
    for (i, (metric, ytitle, title)) in panels.iter().enumerate() {
        let series: Vec<Series> = labels(report)
            .iter()
            .map(|l| series_over(&rows, l, metric, n))
            .filter(|s| !s.points.is_empty())
            .collect();
        let y = Axis::fit(ytitle, &all_y(&series), true);
        panel(
            &mut svg,
            (i as f64 * 500.0, 0.0),
            (500.0, 420.0),
            title,
            &x,
            &y,
            &series,
        );
    }
    Some(svg)
}

fn ratio_plot(report: &Report) -> Option<Svg> {
    let items: Vec<(String, &report::Ratio)> = report
        .rows
        .iter()
        .flat_map(|row| {
            row.ratios
                .iter()
                .filter(|r| r.target.is_some() && r.median.is_some())
                .map(move |r| (format!("{} {}", row.id, r.metric), r))
        })
        .collect();
    if items.is_empty() {
        return None;
    }
    let bar_h = 16.0;
    let (left, top, w) = (260.0, 40.0, 560.0);
    let height = top + items.len() as f64 * (bar_h + 6.0) + 50.0;
    let mut svg = Svg::new(left + w + 80.0, height);
    // Scale to the medians and targets (whiskers are clipped), so one wild
    // round does not squash every bar.
    let hi = items
        .iter()
        .flat_map(|(_, r)| [r.median.unwrap_or(0.0), r.target.map_or(0.0, |t| t.value)])
        .fold(2.0f64, f64::max)
        .ceil();
    let px = |v: f64| left + (v / hi).clamp(0.0, 1.0) * w;
    svg.text(
        ((left + w) / 2.0 + 40.0, 20.0),
        "ferromq / libzmq against the targets (bar: median, whisker: min–max; | target)",
        13.0,
        "middle",
        "#000",
    );
    let mut v = 0.0;
    while v <= hi + 1e-9 {
        svg.line(
            (px(v), top - 5.0),
            (px(v), height - 40.0),
            "#e0e0e0",
            1.0,
            None,
        );
        svg.text(
            (px(v), height - 25.0),
            &format!("{v:.1}"),
            11.0,
            "middle",
            "#333",
        );
        v += 0.5;
    }
    svg.line(
        (px(1.0), top - 5.0),
        (px(1.0), height - 40.0),
        "#888",
        1.0,
        Some("4 3"),
    );
    for (i, (label, r)) in items.iter().enumerate() {
        let y = top + i as f64 * (bar_h + 6.0);
        let m = r.median.unwrap_or(0.0);
        let fill = if r.met == Some(true) {
            "#4daf4a"
        } else {
            "#e41a1c"
        };
        let dir = if r.better == Better::Higher {
            "↑"
        } else {
            "↓"
        };
        svg.text(
            (left - 8.0, y + bar_h - 4.0),
            &format!("{label} {dir}"),
            11.0,
            "end",
            "#000",
        );
        svg.rect(left, y, px(m) - left, bar_h, fill, None);
        if let (Some(lo), Some(hi)) = (r.min, r.max) {
            svg.line(
                (px(lo), y + bar_h / 2.0),
                (px(hi), y + bar_h / 2.0),
                "#000",
                1.0,
                None,
            );
        }
        if let Some(t) = r.target {
            svg.line(
                (px(t.value), y - 2.0),
                (px(t.value), y + bar_h + 2.0),
                "#000",
                2.5,
                None,
            );
        }
        svg.text(
            (px(m) + 4.0, y + bar_h - 4.0),
            &format!("{m:.2}"),
            11.0,
            "start",
            "#000",
        );
    }
    Some(svg)
}

/// Writes every plot the report has data for; returns (title, file name).
pub fn write_all(
    report: &Report,
    out: &Path,
    stem: &str,
) -> std::io::Result<Vec<(String, String)>> {
    let prefix = format!("{stem}-");
    let mut plots: Vec<(String, String, Svg)> = Vec::new();
    if let Some(svg) = ratio_plot(report) {
        plots.push(("Ratios against the targets".into(), "ratios".into(), svg));
    }
    let kinds = [Mechanism::Null, Mechanism::Curve]
        .into_iter()
        .flat_map(|m| {
            [Transport::Tcp, Transport::Ipc, Transport::Inproc]
                .into_iter()
                .filter(move |&t| m.supports(t))
                .map(move |t| (t, m))
        });
    for (t, m) in kinds.clone() {
        if let Some(svg) = thr_plot(report, t, m) {
            let (title, file) = plot_names(t, m);
            plots.push((
                format!("Throughput vs message size, {title}"),
                format!("thr-{file}"),
                svg,
            ));
        }
    }
    for (t, m) in kinds {
        if let Some(svg) = lat_plot(report, t, m) {
            let (title, file) = plot_names(t, m);
            plots.push((
                format!("Latency percentiles, {title}"),
                format!("lat-{file}"),
                svg,
            ));
        }
    }
    if let Some(svg) = by_n_plot(
        report,
        Workload::Fanout,
        |r| r.subs,
        "subscribers",
        &[
            (
                "msg_per_s_per_sub",
                "messages/s per subscriber",
                "PUB→N SUB: rate per subscriber",
            ),
            (
                "delivered_msg_per_s",
                "messages/s, all subscribers",
                "PUB→N SUB: total delivered",
            ),
        ],
    ) {
        plots.push(("Fan-out".into(), "fanout".into(), svg));
    }
    if let Some(svg) = by_n_plot(
        report,
        Workload::Scale,
        |r| r.conns,
        "DEALERs",
        &[
            ("connect_s", "seconds", "time until all connected"),
            ("rss_kb_per_conn", "KiB", "ROUTER RSS per connection"),
            ("req_per_s", "requests/s", "request/reply over all"),
        ],
    ) {
        plots.push(("Connection scale".into(), "scale".into(), svg));
    }
    let mut written = Vec::new();
    for (title, name, svg) in plots {
        let file = format!("{prefix}{name}.svg");
        std::fs::write(out.join(&file), svg.finish())?;
        written.push((title, file));
    }
    Ok(written)
}

/// The committed results page (bench/RESULTS.md): how it was measured,
/// on what, the tables, and the plots.
pub fn results_page(report: &Report, plots: &[(String, String)], out: &Path) -> String {
    let rel = out
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| out.display().to_string());
    let mut md = String::new();
    md.push_str("# ferromq benchmarks: ferromq vs libzmq (and zmq.rs)\n\n");
    md.push_str("Generated by `cargo run --release -p ferromq-bench -- all` (the bench crate in `bench/`); ");
    let _ = writeln!(md, "raw data in [`{rel}/latest.json`]({rel}/latest.json), the same tables in [`{rel}/latest.md`]({rel}/latest.md).\n");
    md.push_str("## Machine\n\n");
    md.push_str(&crate::machine::describe(&report.machine));
    let _ = writeln!(
        md,
        "- run: {} rounds per row, {} s per throughput/latency run, pinning {}, whole run {:.0} min\n",
        report.settings.rounds,
        report.settings.duration_s,
        if report.settings.pin { "on" } else { "off" },
        report.wall_s / 60.0
    );
    md.push_str("## Method\n\n");
    md.push_str(
        "- Each side of a workload is its own process (the bench re-executes itself with a hidden `role` subcommand; children report one JSON line), except inproc, where both sides are two threads sharing one context, in one process.\n\
- Implementations alternate within every round (ferromq, libzmq, zmq.rs, ferromq, ...). Each cell is the median of the rounds with the min–max range; each ratio is the **median of the per-round ratios** ferromq/libzmq. For throughput a ratio above 1 means ferromq is faster; for latency, connect time and memory a ratio below 1 means ferromq is better.\n\
- Throughput: PUSH→PULL, measured on the receiving side from the first message to the last, like libzmq's `local_thr`. The message count is calibrated per implementation from a pilot run so that a run lasts about the configured time. Senders copy a fixed payload into a fresh message every time, as libzmq's `remote_thr` does: ferromq `send(&[u8])`, libzmq `zmq_send` (not `zmq_msg_copy` of one shared message); zmq.rs sends a cloned `Bytes`. Receivers reuse buffers where the API allows (libzmq `zmq_msg_recv` into the same message).\n\
- Latency: REQ↔REP, every round trip timed on the REQ side after a warm-up; the REP side echoes the received message.\n\
- CURVE rows (\"CURVE\" in the row id, \"tcp + CURVE\" in tables and plots): the same throughput and latency workloads with CURVE on both sockets; the binding side (PULL, REP) is the server, the connecting side the client. The parent makes a server and a client key pair once per run and hands them (Z85) to both processes in their role specs. libzmq is 4.3.5 built from source (zeromq-src) with CURVE on libsodium (libsodium-sys-stable); zmq.rs has no CURVE (n/a). The handshake falls outside the timed part (throughput is timed from the first message received, latency after the warm-up). Targets: ferromq/libzmq throughput ≥ 1.0 and round-trip time ≤ 1.0.\n\
- Fan-out: one PUB, N SUBs in one process (a thread each, one context). The PUB sends warm-ups until every SUB has received one, then publishes numbered 64-byte messages as fast as it can, then end markers. Rate per subscriber = messages received / time from its first to its last numbered message; drops = published − received. Default HWMs (1000), so drops are expected when SUBs fall behind.\n\
- Connection scale: the ROUTER's VmRSS (from `/proc/self/status`) is read after bind and again once every DEALER has said hello; the difference is divided by N. DEALERs run at most 1000 per process (under libzmq's default 1023-socket limit per context, which the bench leaves as it is; all implementations use the same split). The ROUTER's listen backlog is raised to N (ferromq and libzmq; zmq.rs has no such option) so a burst of connects measures the library, not SYN retransmission. Request/reply throughput keeps one request in flight per DEALER.\n\
- Proxy: request/reply through each implementation's built-in proxy (zmq_proxy between a ROUTER frontend and a DEALER backend, tcp), three processes: the proxy, a DEALER worker echoing every request with its envelope, and a DEALER client keeping 500 requests in flight; client and worker are libzmq for every proxy, so only the proxy differs. Rate = requests completed / time from the first request to the last reply, after one untimed round trip.\n\
- ferromq-async (issue 11): the throughput and latency workloads again with ferromq's `AsyncSocket`, each side's whole loop one future awaited in a tokio current-thread runtime (timers on), sockets set up as for sync ferromq. It is compared with sync ferromq on the same row: targets ferromq-async/ferromq throughput ≥ 0.9 and round-trip time ≤ 1.1. It runs no other workload.\n\
- zmq.rs is driven through a sync adapter (each call blocks on its future; a one-worker tokio runtime plays the I/O thread). It has no inproc transport and no HWM options.\n\
- Every wait has a deadline; a child that hangs is killed and its row recorded as failed with the reason. n/a means the implementation returned \"not supported\" (e.g. a transport it does not have yet).\n\
- Noise: on a small shared VM, round-trip latency is bimodal (tens of µs while both sides keep their cores busy, over 100 µs when a side must be woken on an idle core), so latency ratios swing widely between rounds (see the min–max ranges) and throughput varies by tens of percent. Quote the medians of the per-round ratios, treat differences under about 20% as noise, and compare runs with `--pin` when in doubt.\n\n",
    );
    md.push_str("## Results\n\n");
    md.push_str(&report::tables(report));
    if !plots.is_empty() {
        md.push_str("## Plots\n\n");
        for (title, file) in plots {
            let _ = writeln!(md, "### {title}\n\n![{title}]({rel}/{file})\n");
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{sample_report, sample_row};

    #[test]
    fn curve_rows_get_their_own_plots() {
        let report = sample_report(vec![
            sample_row(
                Workload::Thr,
                Mechanism::Null,
                64,
                "msg_per_s",
                Better::Higher,
                1.3,
            ),
            sample_row(
                Workload::Thr,
                Mechanism::Null,
                1024,
                "msg_per_s",
                Better::Higher,
                1.3,
            ),
            sample_row(
                Workload::Thr,
                Mechanism::Curve,
                64,
                "msg_per_s",
                Better::Higher,
                1.0,
            ),
            sample_row(
                Workload::Lat,
                Mechanism::Curve,
                1,
                "mean_us",
                Better::Lower,
                1.0,
            ),
        ]);
        assert_eq!(
            plot_rows(&report, Workload::Thr, Transport::Tcp, Mechanism::Null).len(),
            2
        );
        let curve = plot_rows(&report, Workload::Thr, Transport::Tcp, Mechanism::Curve);
        assert_eq!(curve.len(), 1);
        assert_eq!(curve[0].id, "thr tcp 64 B CURVE");
        let dir =
            std::env::temp_dir().join(format!("ferromq-bench-plot-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let written = write_all(&report, &dir, "t").unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let files: Vec<&str> = written.iter().map(|(_, f)| f.as_str()).collect();
        for f in [
            "t-ratios.svg",
            "t-thr-tcp.svg",
            "t-thr-tcp-curve.svg",
            "t-lat-tcp-curve.svg",
        ] {
            assert!(files.contains(&f), "{f} not in {files:?}");
        }
        assert!(!files.contains(&"t-lat-tcp.svg"), "{files:?}");
        let titles: Vec<&str> = written.iter().map(|(t, _)| t.as_str()).collect();
        assert!(
            titles.contains(&"Throughput vs message size, tcp + CURVE"),
            "{titles:?}"
        );
    }
}
