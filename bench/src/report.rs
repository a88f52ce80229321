//! The results: data model (serialised as the JSON file) and the Markdown
//! rendering of it.

use crate::backend::{Impl, Mechanism, Transport};
use crate::stats::Summary;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A whole run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// What was run: "all", "quick", or a single workload's name.
    pub mode: String,
    /// The machine and software versions.
    pub machine: crate::machine::Machine,
    /// How it was run.
    pub settings: SettingsRecord,
    /// Wall-clock seconds for the whole run.
    pub wall_s: f64,
    /// One row per workload instance.
    pub rows: Vec<Row>,
}

/// The settings, as recorded.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SettingsRecord {
    /// Rounds per row.
    pub rounds: usize,
    /// Whether the two sides were pinned to different CPUs.
    pub pin: bool,
    /// Target seconds per measured throughput/latency run.
    pub duration_s: f64,
    /// Implementations compared.
    pub impls: Vec<Impl>,
}

/// Which workload a row measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    /// PUSH -> PULL throughput.
    Thr,
    /// REQ <-> REP latency.
    Lat,
    /// PUB -> N SUB.
    Fanout,
    /// N DEALERs -> one ROUTER.
    Scale,
    /// Throughput with the two sides from different implementations.
    CrossThr,
    /// Latency with the two sides from different implementations.
    CrossLat,
    /// Request/reply throughput through a ROUTER/DEALER proxy.
    Proxy,
}

/// Whether larger or smaller values of a metric are better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Throughput-like.
    Higher,
    /// Time- or memory-like.
    Lower,
}

/// A project target on a ratio.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// Whether the ratio must be at least (`Higher`) or at most (`Lower`)
    /// `value`.
    pub better: Better,
    /// The bound.
    pub value: f64,
}

impl Target {
    /// Whether `ratio` meets the target.
    pub fn met(&self, ratio: f64) -> bool {
        match self.better {
            Better::Higher => ratio >= self.value,
            Better::Lower => ratio <= self.value,
        }
    }

    /// "≥ 1.3" / "≤ 0.7".
    pub fn label(&self) -> String {
        match self.better {
            Better::Higher => format!("≥ {}", self.value),
            Better::Lower => format!("≤ {}", self.value),
        }
    }
}

/// One workload instance (e.g. throughput, tcp, 64 B) with every
/// implementation's results and the ratios between them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    /// Short id, e.g. "thr tcp 64B".
    pub id: String,
    /// The workload.
    pub workload: Workload,
    /// The transport.
    pub transport: Transport,
    /// Message size in bytes, where it applies.
    pub size: Option<usize>,
    /// Subscribers (fan-out).
    pub subs: Option<usize>,
    /// Connections (scale).
    pub conns: Option<usize>,
    /// The sockets' security mechanism ("null" in results from before
    /// CURVE rows existed).
    #[serde(default)]
    pub security: Mechanism,
    /// One per implementation (or pairing, for cross rows).
    pub entries: Vec<Entry>,
    /// Ratios between entries.
    pub ratios: Vec<Ratio>,
}

/// Status of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// At least one round succeeded.
    Ok,
    /// The implementation does not support this (reported as "n/a").
    Na,
    /// No round succeeded.
    Failed,
}

/// One implementation (or pairing) in a row.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// "ferromq", "libzmq", "zmq.rs", or "A→B" for cross rows.
    pub label: String,
    /// Sending / requesting side (or the only one).
    pub a: Impl,
    /// Receiving / replying side.
    pub b: Impl,
    /// Overall status.
    pub status: Status,
    /// Why it is n/a or failed (or the first failure among its rounds).
    pub reason: Option<String>,
    /// What the pilot run decided (e.g. message count).
    pub calibration: Option<Value>,
    /// Every round, in order.
    pub rounds: Vec<RoundOutcome>,
    /// Per metric, over the successful rounds.
    pub summary: BTreeMap<String, Summary>,
}

impl Entry {
    /// The summary of `metric`, if any round succeeded.
    pub fn metric(&self, metric: &str) -> Option<&Summary> {
        self.summary.get(metric)
    }
}

/// One round of one entry.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RoundOutcome {
    /// Whether it succeeded.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
    /// Metric values.
    pub metrics: BTreeMap<String, f64>,
    /// Workload-specific detail (latency profile, per-subscriber counts...).
    pub extra: Option<Value>,
}

/// A ratio `numerator / denominator` of one metric, per round and as the
/// median of the per-round ratios.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ratio {
    /// The metric.
    pub metric: String,
    /// Entry label on top.
    pub numerator: String,
    /// Entry label below.
    pub denominator: String,
    /// Which direction is better for this ratio.
    pub better: Better,
    /// Per round (None where either side failed).
    pub per_round: Vec<Option<f64>>,
    /// Median of the per-round ratios.
    pub median: Option<f64>,
    /// Smallest and largest per-round ratio.
    pub min: Option<f64>,
    /// See `min`.
    pub max: Option<f64>,
    /// The project's target, if one applies.
    pub target: Option<Target>,
    /// Whether the median meets the target.
    pub met: Option<bool>,
}

impl Row {
    /// The entry labelled `label`.
    pub fn entry(&self, label: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.label == label)
    }

    /// The ratio of `metric` with `numerator` on top.
    pub fn ratio(&self, metric: &str, numerator: &str) -> Option<&Ratio> {
        self.ratios
            .iter()
            .find(|r| r.metric == metric && r.numerator == numerator)
    }
}

/// Formats a number with an SI suffix (k, M, G) and 3 significant digits.
pub fn si(v: f64) -> String {
    let (v, suffix) = if v.abs() >= 1e9 {
        (v / 1e9, "G")
    } else if v.abs() >= 1e6 {
        (v / 1e6, "M")
    } else if v.abs() >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    format!("{}{suffix}", sig3(v))
}

/// Three significant digits, without scientific notation.
pub fn sig3(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = v.abs().log10().floor() as i32;
    let decimals = (2 - digits).clamp(0, 6) as usize;
    format!("{v:.decimals$}")
}

/// "1.2M (1.1M–1.3M)" from a summary, formatted by `f`.
fn cell(s: Option<&Summary>, f: fn(f64) -> String) -> String {
    match s {
        Some(s) if s.n > 1 => format!("{} ({}–{})", f(s.median), f(s.min), f(s.max)),
        Some(s) => f(s.median),
        None => "—".into(),
    }
}

/// Short text for an entry that has no value (the full reason is listed
/// under the tables).
fn missing(e: &Entry) -> String {
    match e.status {
        Status::Na => "n/a (unsupported)".into(),
        Status::Failed => "failed (see notes)".into(),
        Status::Ok => "—".into(),
    }
}

fn entry_cell(row: &Row, label: &str, metric: &str, f: fn(f64) -> String) -> String {
    match row.entry(label) {
        None => "—".into(),
        Some(e) => match e.metric(metric) {
            Some(s) => cell(Some(s), f),
            None => missing(e),
        },
    }
}

/// One cell per implementation for `metric`.
fn push_cells(md: &mut String, row: &Row, labels: &[&str], metric: &str, f: fn(f64) -> String) {
    for l in labels {
        let _ = write!(md, " {} |", entry_cell(row, l, metric, f));
    }
}

/// The ratio, target and met cells that end a row.
fn push_ratio_tail(md: &mut String, r: Option<&Ratio>) {
    let _ = writeln!(
        md,
        " {} | {} | {} |",
        ratio_cell(r),
        target_cell(r),
        met_cell(r)
    );
}

fn ratio_cell(r: Option<&Ratio>) -> String {
    match r.and_then(|r| r.median.map(|m| (r, m))) {
        Some((r, m)) => match (r.min, r.max) {
            (Some(lo), Some(hi)) if r.per_round.iter().flatten().count() > 1 => {
                format!("**{m:.2}** ({lo:.2}–{hi:.2})")
            }
            _ => format!("**{m:.2}**"),
        },
        None => "—".into(),
    }
}

/// Why a ratio has no value: which side is n/a or failed.
fn why_no_ratio(row: &Row, r: &Ratio) -> String {
    let side = |label: &str| row.entry(label).map(|e| (e.label.clone(), e.status));
    for (label, status) in [side(&r.numerator), side(&r.denominator)]
        .into_iter()
        .flatten()
    {
        match status {
            Status::Na => return format!("n/a ({label} unsupported)"),
            Status::Failed => return format!("— ({label} failed)"),
            Status::Ok => {}
        }
    }
    "—".into()
}

fn met_cell(r: Option<&Ratio>) -> String {
    match r.and_then(|r| r.met) {
        Some(true) => "met".into(),
        Some(false) => "**not met**".into(),
        None => "—".into(),
    }
}

fn target_cell(r: Option<&Ratio>) -> String {
    r.and_then(|r| r.target)
        .map_or_else(|| "—".into(), |t| t.label())
}

/// Human size: "1 B", "64 B", "1 KiB", "64 KiB", "1 MiB".
pub fn size_label(size: usize) -> String {
    if size >= 1 << 20 && size % (1 << 20) == 0 {
        format!("{} MiB", size >> 20)
    } else if size >= 1 << 10 && size % (1 << 10) == 0 {
        format!("{} KiB", size >> 10)
    } else {
        format!("{size} B")
    }
}

/// A number formatter for table cells.
type Fmt = fn(f64) -> String;

fn us(v: f64) -> String {
    sig3(v)
}

fn ms(seconds: f64) -> String {
    sig3(seconds * 1000.0)
}

fn plain(v: f64) -> String {
    sig3(v)
}

/// The labels of the implementations that ran `workload` (async ferromq
/// gets no column in the tables of workloads it does not run).
fn impl_labels(report: &Report, workload: Workload) -> Vec<&'static str> {
    report
        .settings
        .impls
        .iter()
        .filter(|i| i.runs(workload))
        .map(|i| i.label())
        .collect()
}

const FERRO: &str = "ferromq";

/// " with CURVE" in section titles, "" without.
fn with_mechanism(mech: Mechanism) -> String {
    match mech {
        Mechanism::Null => String::new(),
        m => format!(" with {}", m.label()),
    }
}

/// What a mechanism's section says about how it was run.
fn mechanism_note(mech: Mechanism) -> &'static str {
    match mech {
        Mechanism::Null => "",
        Mechanism::Curve => "Both sides CURVE: the binding side (PULL, REP) is the server, the connecting side the client, with key pairs made once per bench run; libzmq is built with CURVE on libsodium (a libzmq without it would show n/a); zmq.rs has no CURVE. The handshake is outside the timed part. ",
    }
}

/// The distinct target labels of `metric` over `rows` ("≥ 1.3", ...).
fn target_labels(rows: &[&Row], metric: &str) -> String {
    let mut labels: Vec<String> = Vec::new();
    for t in rows
        .iter()
        .filter_map(|r| r.ratio(metric, FERRO).and_then(|r| r.target))
    {
        let l = t.label();
        if !labels.contains(&l) {
            labels.push(l);
        }
    }
    labels.join(" / ")
}

/// The throughput table of `rows` (all of one mechanism), if any.
fn thr_table(md: &mut String, rows: &[&Row], labels: &[&str], mech: Mechanism) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "### Throughput{}, PUSH → PULL (messages/s; median of rounds, min–max)\n",
        with_mechanism(mech)
    );
    let _ = writeln!(
        md,
        "{}Ratio = ferromq / libzmq messages per second: **higher is better**.\n",
        mechanism_note(mech)
    );
    let _ = write!(md, "| transport | size |");
    for l in labels {
        let _ = write!(md, " {l} msg/s |");
    }
    for l in labels {
        let _ = write!(md, " {l} MB/s |");
    }
    md.push_str(" ratio ↑ | target | |\n|---|---|");
    md.push_str(&"---|".repeat(labels.len() * 2 + 3));
    md.push('\n');
    for row in rows {
        let r = row.ratio("msg_per_s", FERRO);
        let _ = write!(
            md,
            "| {} | {} |",
            transport_cell(row),
            size_label(row.size.unwrap_or(0))
        );
        push_cells(md, row, labels, "msg_per_s", si);
        push_cells(md, row, labels, "mb_per_s", si);
        push_ratio_tail(md, r);
    }
    md.push('\n');
}

/// The latency table of `rows` (all of one mechanism), if any.
fn lat_table(md: &mut String, rows: &[&Row], labels: &[&str], mech: Mechanism) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "### Latency{}, REQ ↔ REP round trip (µs; median of rounds, min–max)\n",
        with_mechanism(mech)
    );
    let targets = match target_labels(rows, "mean_us") {
        t if t.is_empty() => String::new(),
        t => format!(" Target {t} for mean, p50 and p99."),
    };
    let _ = writeln!(
        md,
        "{}Ratio = ferromq time / libzmq time: **lower is better**.{targets}\n",
        mechanism_note(mech),
    );
    let _ = write!(md, "| transport | size | metric |");
    for l in labels {
        let _ = write!(md, " {l} |");
    }
    md.push_str(" ratio ↓ | target | |\n|---|---|---|");
    md.push_str(&"---|".repeat(labels.len() + 3));
    md.push('\n');
    for row in rows {
        for (i, metric) in ["mean_us", "p50_us", "p99_us"].iter().enumerate() {
            let r = row.ratio(metric, FERRO);
            let (t, s) = if i == 0 {
                (transport_cell(row), size_label(row.size.unwrap_or(0)))
            } else {
                (String::new(), String::new())
            };
            let _ = write!(md, "| {t} | {s} | {} |", metric.trim_end_matches("_us"));
            push_cells(md, row, labels, metric, us);
            push_ratio_tail(md, r);
        }
    }
    md.push('\n');
}

/// "tcp", or "tcp + CURVE" for a secured row.
pub fn transport_cell(row: &Row) -> String {
    match row.security {
        Mechanism::Null => row.transport.name().to_string(),
        m => format!("{} + {}", row.transport.name(), m.label()),
    }
}

/// Renders the tables (no machine header): what `--quick` prints and what
/// the Markdown file holds below its header.
pub fn tables(report: &Report) -> String {
    let mut md = String::new();
    let rows_of = |w: Workload| report.rows.iter().filter(move |r| r.workload == w);

    // Targets first: the answer to "are we there yet".
    let targeted: Vec<(&Row, &Ratio)> = report
        .rows
        .iter()
        .flat_map(|row| row.ratios.iter().map(move |r| (row, r)))
        .filter(|(_, r)| r.target.is_some())
        .collect();
    if !targeted.is_empty() {
        let met = targeted.iter().filter(|(_, r)| r.met == Some(true)).count();
        let measured = targeted.iter().filter(|(_, r)| r.median.is_some()).count();
        let _ = writeln!(
            md,
            "### Targets (median of per-round ratios): {met} of {measured} measured met{}\n",
            match targeted.len() - measured {
                0 => String::new(),
                n => format!(", {n} not measurable yet"),
            }
        );
        md.push_str(
            "| row | ratio | metric | better | value (min–max) | target | |\n|---|---|---|---|---|---|---|\n",
        );
        for (row, r) in &targeted {
            let _ = writeln!(
                md,
                "| {} | {} / {} | {} | {} | {} | {} | {} |",
                row.id,
                r.numerator,
                r.denominator,
                r.metric,
                if r.better == Better::Higher {
                    "higher"
                } else {
                    "lower"
                },
                if r.median.is_some() {
                    ratio_cell(Some(r))
                } else {
                    why_no_ratio(row, r)
                },
                target_cell(Some(r)),
                met_cell(Some(r)),
            );
        }
        md.push('\n');
    }

    for mech in [Mechanism::Null, Mechanism::Curve] {
        let thr: Vec<&Row> = rows_of(Workload::Thr)
            .filter(|r| r.security == mech)
            .collect();
        thr_table(&mut md, &thr, &impl_labels(report, Workload::Thr), mech);
        let lat: Vec<&Row> = rows_of(Workload::Lat)
            .filter(|r| r.security == mech)
            .collect();
        lat_table(&mut md, &lat, &impl_labels(report, Workload::Lat), mech);
    }

    let fan: Vec<&Row> = rows_of(Workload::Fanout).collect();
    if !fan.is_empty() {
        let labels = impl_labels(report, Workload::Fanout);
        md.push_str("### PUB → N SUB fan-out, tcp, 64 B, default HWM\n\n");
        md.push_str("Delivered messages/s per subscriber (mean over subscribers; median of rounds, min–max) and drops (% of published × subscribers). Ratio = ferromq / libzmq delivered rate: **higher is better**.\n\n");
        let _ = write!(md, "| subs | published |");
        for l in &labels {
            let _ = write!(md, " {l} msg/s/sub |");
        }
        for l in &labels {
            let _ = write!(md, " {l} drops % |");
        }
        md.push_str(" ratio ↑ | target | |\n|---|---|");
        md.push_str(&"---|".repeat(labels.len() * 2 + 3));
        md.push('\n');
        for row in fan {
            let r = row.ratio("msg_per_s_per_sub", FERRO);
            let published = row
                .entries
                .iter()
                .find_map(|e| e.metric("published"))
                .map_or("—".into(), |s| si(s.median));
            let _ = write!(md, "| {} | {published} |", row.subs.unwrap_or(0));
            push_cells(&mut md, row, &labels, "msg_per_s_per_sub", si);
            push_cells(&mut md, row, &labels, "drops_pct", plain);
            push_ratio_tail(&mut md, r);
        }
        md.push('\n');
    }

    let scale: Vec<&Row> = rows_of(Workload::Scale).collect();
    if !scale.is_empty() {
        let labels = impl_labels(report, Workload::Scale);
        md.push_str("### Connection scale: N DEALERs → one ROUTER, tcp\n\n");
        md.push_str("Connect time until the ROUTER heard from every DEALER (ms, ratio ↓ better); ROUTER VmRSS growth per connection (KiB, ratio ↓ better; target ≤ 1 at 10k); request/reply throughput over all connections (req/s, ratio ↑ better).\n\n");
        md.push_str("| conns | metric |");
        for l in &labels {
            let _ = write!(md, " {l} |");
        }
        md.push_str(" ratio | target | |\n|---|---|");
        md.push_str(&"---|".repeat(labels.len() + 3));
        md.push('\n');
        for row in scale {
            let metrics: [(&str, &str, Fmt); 3] = [
                ("connect_s", "connect ms ↓", ms),
                ("rss_kb_per_conn", "KiB/conn ↓", plain),
                ("req_per_s", "req/s ↑", si),
            ];
            for (i, (metric, name, f)) in metrics.iter().enumerate() {
                let r = row.ratio(metric, FERRO);
                let n = if i == 0 {
                    row.conns.unwrap_or(0).to_string()
                } else {
                    String::new()
                };
                let _ = write!(md, "| {n} | {name} |");
                push_cells(&mut md, row, &labels, metric, *f);
                push_ratio_tail(&mut md, r);
            }
        }
        md.push('\n');
    }

    let proxied: Vec<&Row> = rows_of(Workload::Proxy).collect();
    if !proxied.is_empty() {
        let labels = impl_labels(report, Workload::Proxy);
        md.push_str(
            "### Through a ROUTER/DEALER proxy, tcp (requests/s; median of rounds, min–max)\n\n",
        );
        let _ = writeln!(
            md,
            "A DEALER client keeps {} requests in flight through the proxy under test (zmq_proxy: ROUTER frontend, DEALER backend) to a DEALER worker that echoes them; client and worker are {} whichever proxy runs. Ratio = ferromq proxy / libzmq proxy requests per second: **higher is better**.\n",
            crate::work::proxy::WINDOW,
            crate::run::PROXY_PEERS.label()
        );
        let _ = write!(md, "| size |");
        for l in &labels {
            let _ = write!(md, " {l} proxy req/s |");
        }
        md.push_str(" ratio ↑ | target | |\n|---|");
        md.push_str(&"---|".repeat(labels.len() + 3));
        md.push('\n');
        for row in proxied {
            let r = row.ratio("msg_per_s", FERRO);
            let _ = write!(md, "| {} |", size_label(row.size.unwrap_or(0)));
            push_cells(&mut md, row, &labels, "msg_per_s", si);
            push_ratio_tail(&mut md, r);
        }
        md.push('\n');
    }

    let cross: Vec<&Row> = report
        .rows
        .iter()
        .filter(|r| matches!(r.workload, Workload::CrossThr | Workload::CrossLat))
        .collect();
    if !cross.is_empty() {
        md.push_str("### Mixed implementations on the wire, tcp\n\n");
        md.push_str("A→B: A sends (PUSH) or asks (REQ), B receives (PULL) or answers (REP). Ratio = each pairing / libzmq→libzmq (throughput: ↑ better; latency: ↓ better). A mixed pair close to 1 means the wire between the two is not a bottleneck.\n\n");
        md.push_str("| row | pairing | value | ratio vs libzmq→libzmq |\n|---|---|---|---|\n");
        for row in cross {
            let metric = if row.workload == Workload::CrossThr {
                "msg_per_s"
            } else {
                "mean_us"
            };
            for (i, e) in row.entries.iter().enumerate() {
                let value = match e.metric(metric) {
                    Some(s) if row.workload == Workload::CrossThr => {
                        format!("{} msg/s", cell(Some(s), si))
                    }
                    Some(s) => format!("{} µs mean", cell(Some(s), us)),
                    None => missing(e),
                };
                let r = row.ratio(metric, &e.label);
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} |",
                    if i == 0 { row.id.as_str() } else { "" },
                    e.label,
                    value,
                    ratio_cell(r)
                );
            }
        }
        md.push('\n');
    }

    // Full reasons for every n/a and failure, since table cells cut them.
    let mut notes = String::new();
    for row in &report.rows {
        for e in &row.entries {
            if let Some(reason) = &e.reason {
                let what = match e.status {
                    Status::Na => "n/a",
                    Status::Failed => "failed",
                    Status::Ok => "some rounds failed",
                };
                let _ = writeln!(notes, "- {} / {}: {what}: {reason}", row.id, e.label);
            }
        }
    }
    if !notes.is_empty() {
        md.push_str("### Not measured / failures\n\n");
        md.push_str(&notes);
        md.push('\n');
    }
    md
}

/// The whole Markdown file: header, machine, settings, tables.
pub fn markdown(report: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "## ferromq-bench `{}`\n", report.mode);
    md.push_str(&crate::machine::describe(&report.machine));
    let _ = writeln!(
        md,
        "- settings: {} rounds, implementations alternated every round ({}); {} s per throughput/latency run; pinning: {}; whole run took {:.0} s\n",
        report.settings.rounds,
        report
            .settings
            .impls
            .iter()
            .map(|i| i.label())
            .collect::<Vec<_>>()
            .join(", "),
        report.settings.duration_s,
        if report.settings.pin {
            "receiving/binding side on CPU 0, the other on CPU 1 (taskset)"
        } else {
            "none"
        },
        report.wall_s
    );
    md.push_str(&tables(report));
    md
}

/// The ratios alone, one per line, for pasting.
pub fn ratio_lines(report: &Report) -> String {
    let mut out = String::new();
    for row in &report.rows {
        for r in &row.ratios {
            let Some(m) = r.median else {
                if r.target.is_some() {
                    let _ = writeln!(
                        out,
                        "{:<24} {:<20} {}/{}: {}",
                        row.id,
                        r.metric,
                        r.numerator,
                        r.denominator,
                        why_no_ratio(row, r)
                    );
                }
                continue;
            };
            let t = r.target.map_or(String::new(), |t| {
                format!(
                    "  target {} {}",
                    t.label(),
                    if r.met == Some(true) {
                        "met"
                    } else {
                        "NOT met"
                    }
                )
            });
            let dir = if r.better == Better::Higher {
                "↑"
            } else {
                "↓"
            };
            let _ = writeln!(
                out,
                "{:<24} {:<20} {}/{}: {m:.2} {dir}{t}",
                row.id, r.metric, r.numerator, r.denominator
            );
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn number_formatting() {
        assert_eq!(si(1_234_567.0), "1.23M");
        assert_eq!(si(999.0), "999");
        assert_eq!(si(12_300.0), "12.3k");
        assert_eq!(sig3(0.01234), "0.0123");
        assert_eq!(size_label(65536), "64 KiB");
        assert_eq!(size_label(1 << 20), "1 MiB");
        assert_eq!(size_label(64), "64 B");
    }

    /// A two-implementation row whose ferromq/libzmq ratio is `ratio`.
    pub(crate) fn sample_row(
        workload: Workload,
        mech: Mechanism,
        size: usize,
        metric: &str,
        better: Better,
        target: f64,
    ) -> Row {
        let entry = |imp: Impl, v: f64| Entry {
            label: imp.label().to_string(),
            a: imp,
            b: imp,
            status: Status::Ok,
            reason: None,
            calibration: None,
            rounds: vec![RoundOutcome {
                ok: true,
                error: None,
                metrics: [(metric.to_string(), v)].into_iter().collect(),
                extra: None,
            }],
            summary: [(metric.to_string(), crate::stats::Summary::of(&[v]).unwrap())]
                .into_iter()
                .collect(),
        };
        let t = Target {
            better,
            value: target,
        };
        let word = if workload == Workload::Thr {
            "thr"
        } else {
            "lat"
        };
        Row {
            id: crate::run::row_id(word, Transport::Tcp, size, mech),
            workload,
            transport: Transport::Tcp,
            size: Some(size),
            subs: None,
            conns: None,
            security: mech,
            entries: vec![entry(Impl::Ferromq, 110.0), entry(Impl::Libzmq, 100.0)],
            ratios: vec![Ratio {
                metric: metric.to_string(),
                numerator: "ferromq".into(),
                denominator: "libzmq".into(),
                better,
                per_round: vec![Some(1.1)],
                median: Some(1.1),
                min: Some(1.1),
                max: Some(1.1),
                target: Some(t),
                met: Some(t.met(1.1)),
            }],
        }
    }

    pub(crate) fn sample_report(rows: Vec<Row>) -> Report {
        Report {
            mode: "test".into(),
            machine: crate::machine::Machine {
                nproc: 2,
                cpu_model: "cpu".into(),
                kernel: "k".into(),
                mem_total: "1 kB".into(),
                rustc: "rustc".into(),
                libzmq: "4.3.5".into(),
                libzmq_curve: Some(true),
                libsodium: Some("1.0.20".into()),
                zmqrs: "0.7".into(),
                git_commit: None,
                date_utc: "now".into(),
                fd_limit: None,
            },
            settings: SettingsRecord {
                rounds: 1,
                pin: false,
                duration_s: 0.1,
                impls: vec![Impl::Ferromq, Impl::Libzmq],
            },
            wall_s: 1.0,
            rows,
        }
    }

    #[test]
    fn curve_rows_get_their_own_tables() {
        let rows = vec![
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
                Mechanism::Curve,
                64,
                "msg_per_s",
                Better::Higher,
                1.0,
            ),
            sample_row(
                Workload::Lat,
                Mechanism::Null,
                1,
                "mean_us",
                Better::Lower,
                0.7,
            ),
            sample_row(
                Workload::Lat,
                Mechanism::Curve,
                1,
                "mean_us",
                Better::Lower,
                1.0,
            ),
        ];
        let md = tables(&sample_report(rows));
        let section = |title: &str| {
            let start = md
                .find(title)
                .unwrap_or_else(|| panic!("no {title:?} in\n{md}"));
            let rest = &md[start + title.len()..];
            rest[..rest.find("\n### ").unwrap_or(rest.len())].to_string()
        };
        // The targets list names the CURVE rows and their targets.
        let targets = section("### Targets");
        assert!(
            targets.contains(
                "| thr tcp 64 B CURVE | ferromq / libzmq | msg_per_s | higher | **1.10** | ≥ 1 | met |"
            ),
            "{targets}"
        );
        assert!(
            targets.contains(
                "| lat tcp 1 B CURVE | ferromq / libzmq | mean_us | lower | **1.10** | ≤ 1 | **not met** |"
            ),
            "{targets}"
        );
        // Plain tables hold only plain rows, CURVE tables only CURVE rows.
        let thr = section("### Throughput, PUSH → PULL");
        assert!(
            thr.contains("| tcp | 64 B |") && !thr.contains("CURVE"),
            "{thr}"
        );
        let thr_curve = section("### Throughput with CURVE, PUSH → PULL");
        assert!(thr_curve.contains("| tcp + CURVE | 64 B |"), "{thr_curve}");
        assert!(thr_curve.contains("≥ 1 |") && !thr_curve.contains("| tcp | 64 B |"));
        let lat = section("### Latency, REQ ↔ REP");
        assert!(
            lat.contains("Target ≤ 0.7 ") && !lat.contains("CURVE"),
            "{lat}"
        );
        let lat_curve = section("### Latency with CURVE, REQ ↔ REP");
        assert!(
            lat_curve.contains("Target ≤ 1 ") && lat_curve.contains("| tcp + CURVE | 1 B | mean |"),
            "{lat_curve}"
        );
        // And the JSON says which rows are CURVE, old JSON reading as NULL.
        let report = sample_report(vec![sample_row(
            Workload::Thr,
            Mechanism::Curve,
            64,
            "msg_per_s",
            Better::Higher,
            1.0,
        )]);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["rows"][0]["security"], "curve");
        let mut old = json.clone();
        old["rows"][0].as_object_mut().unwrap().remove("security");
        old["machine"]
            .as_object_mut()
            .unwrap()
            .remove("libzmq_curve");
        old["machine"].as_object_mut().unwrap().remove("libsodium");
        let back: Report = serde_json::from_value(old).unwrap();
        assert_eq!(back.rows[0].security, Mechanism::Null);
        assert_eq!(back.machine.libzmq_curve, None);
        assert_eq!(back.machine.libsodium, None);
    }

    #[test]
    fn targets() {
        let t = Target {
            better: Better::Lower,
            value: 0.7,
        };
        assert!(t.met(0.7) && t.met(0.5) && !t.met(0.71));
        let t = Target {
            better: Better::Higher,
            value: 1.3,
        };
        assert!(t.met(1.3) && !t.met(1.29));
    }
}
