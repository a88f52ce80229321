//! ferromq-bench: ferromq against libzmq (and zmq.rs) on the same
//! workloads, in the same run, on this machine, reported as ratios.
//!
//! `ferromq-bench all` runs everything; `--quick` a reduced smoke set;
//! `thr`, `lat`, `fanout`, `scale`, `cross`, `proxy` one workload; `plot`
//! redraws the SVGs from a JSON result. Each side of a workload is a child
//! process (this binary, hidden `role` subcommand) reporting JSON lines.

#![forbid(unsafe_code)]

mod backend;
mod child;
mod harness;
mod machine;
mod plot;
mod report;
mod run;
mod stats;
mod svg;
mod work;

use backend::{CurveKeys, Impl, Mechanism, Transport};
use clap::{Parser, Subcommand};
use report::{Report, Row, SettingsRecord};
use run::Settings;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Side-by-side benchmarks of ferromq against libzmq and zmq.rs.
#[derive(Parser, Debug)]
#[command(name = "ferromq-bench", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Reduced smoke set (with no subcommand), or shorter runs and fewer
    /// rounds for the chosen workload.
    #[arg(long, global = true)]
    quick: bool,
    /// Rounds per row, implementations alternating (default 5; 3 with --quick).
    #[arg(long, global = true)]
    rounds: Option<usize>,
    /// Put the two sides on different CPUs (taskset -c 0 / -c 1).
    #[arg(long, global = true)]
    pin: bool,
    /// Target seconds per throughput/latency run (default 2; 0.5 with --quick).
    #[arg(long, global = true)]
    duration: Option<f64>,
    /// Implementations to compare (default ferromq,libzmq,zmqrs,ferromq-async;
    /// --quick leaves zmq.rs out; ferromq-async runs only thr and lat).
    #[arg(long, global = true, value_delimiter = ',')]
    impls: Option<Vec<Impl>>,
    /// Directory for the JSON, Markdown and SVG output.
    #[arg(long, global = true)]
    out: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Every workload (or the smoke set with --quick); writes latest.json,
    /// latest.md and the plots, and bench/RESULTS.md.
    All,
    /// Throughput, PUSH -> PULL.
    Thr {
        /// Transports (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "tcp")]
        transport: Vec<Transport>,
        /// Message sizes in bytes (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "64")]
        size: Vec<usize>,
        /// CURVE on both sockets (PULL the server); tcp and ipc only.
        #[arg(long)]
        curve: bool,
    },
    /// Latency, REQ <-> REP.
    Lat {
        /// Transports (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "tcp")]
        transport: Vec<Transport>,
        /// Message sizes in bytes (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "1")]
        size: Vec<usize>,
        /// CURVE on both sockets (REP the server); tcp and ipc only.
        #[arg(long)]
        curve: bool,
    },
    /// PUB -> N SUB fan-out over tcp.
    Fanout {
        /// Subscriber counts (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "10")]
        subs: Vec<usize>,
        /// Numbered messages to publish (default scales with N).
        #[arg(long)]
        count: Option<u64>,
    },
    /// N DEALERs to one ROUTER over tcp.
    Scale {
        /// Connection counts (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "1000")]
        conns: Vec<usize>,
    },
    /// ferromq on one side, libzmq on the other, both directions.
    Cross,
    /// Request/reply throughput through a ROUTER/DEALER proxy (each
    /// implementation's zmq_proxy, libzmq clients and workers), tcp.
    Proxy {
        /// Request sizes in bytes (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "64")]
        size: Vec<usize>,
    },
    /// Redraws the SVG plots (and Markdown) from a JSON result.
    Plot {
        /// The JSON result (default: <out>/latest.json).
        #[arg(long)]
        input: Option<PathBuf>,
    },
    /// One side of a workload (used by the harness itself).
    #[command(hide = true)]
    Role {
        /// JSON role description.
        spec: String,
    },
}

fn default_out() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("results")
}

fn main() {
    let cli = Cli::parse();
    if let Some(Cmd::Role { spec }) = &cli.cmd {
        std::process::exit(child::run(spec));
    }
    let out = cli.out.clone().unwrap_or_else(default_out);
    if let Some(Cmd::Plot { input }) = &cli.cmd {
        let input = input.clone().unwrap_or_else(|| out.join("latest.json"));
        if let Err(e) = replot(&input) {
            eprintln!("ferromq-bench plot: {e}");
            std::process::exit(1);
        }
        return;
    }
    let quick = cli.quick;
    let settings = Settings {
        rounds: cli.rounds.unwrap_or(if quick { 3 } else { 5 }).max(1),
        pin: cli.pin,
        duration_s: cli.duration.unwrap_or(if quick { 0.5 } else { 2.0 }),
        scale_duration_s: if quick { 0.5 } else { 1.0 },
        impls: cli.impls.clone().unwrap_or_else(|| {
            if quick {
                vec![Impl::Ferromq, Impl::Libzmq, Impl::FerromqAsync]
            } else {
                vec![Impl::Ferromq, Impl::Libzmq, Impl::Zmqrs, Impl::FerromqAsync]
            }
        }),
        quick,
        // One set of CURVE keys for the whole run, handed to both sides.
        curve_keys: CurveKeys::generate(),
    };
    let (mode, plan) = match plan(cli.cmd.as_ref(), quick) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ferromq-bench: {e}");
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    let machine = machine::Machine::detect();
    eprintln!(
        "ferromq-bench {mode}: {} rounds, {} s runs, impls {:?}, pin {}",
        settings.rounds, settings.duration_s, settings.impls, settings.pin
    );
    let rows: Vec<Row> = plan.iter().map(|step| step.run(&settings)).collect();
    let report = Report {
        mode: mode.clone(),
        machine,
        settings: SettingsRecord {
            rounds: settings.rounds,
            pin: settings.pin,
            duration_s: settings.duration_s,
            impls: settings.impls.clone(),
        },
        wall_s: started.elapsed().as_secs_f64(),
        rows,
    };
    let stem = if mode == "all" {
        "latest"
    } else {
        mode.as_str()
    };
    if let Err(e) = write_outputs(&report, &out, stem, mode == "all") {
        eprintln!("ferromq-bench: writing results: {e}");
        std::process::exit(1);
    }
    println!("{}", report::tables(&report));
    println!("Ratios (ferromq/libzmq unless named; ↑ higher is better, ↓ lower is better):");
    print!("{}", report::ratio_lines(&report));
    println!(
        "\nwrote {} and {} in {:.0} s",
        out.join(format!("{stem}.json")).display(),
        out.join(format!("{stem}.md")).display(),
        report.wall_s
    );
}

/// One row to measure.
#[derive(Debug, PartialEq)]
enum Step {
    Thr(Transport, Mechanism, usize),
    Lat(Transport, Mechanism, usize),
    Fan(usize, Option<u64>),
    Scale(usize),
    CrossThr(usize),
    CrossLat(usize),
    Proxy(usize),
}

impl Step {
    fn run(&self, s: &Settings) -> Row {
        match *self {
            Step::Thr(t, m, size) => run::thr_row(s, t, m, size),
            Step::Lat(t, m, size) => run::lat_row(s, t, m, size),
            Step::Fan(n, count) => run::fan_row(s, n, count),
            Step::Scale(n) => run::scale_row(s, n),
            Step::CrossThr(size) => run::cross_thr_row(s, size),
            Step::CrossLat(size) => run::cross_lat_row(s, size),
            Step::Proxy(size) => run::proxy_row(s, size),
        }
    }
}

const ALL_TRANSPORTS: [Transport; 3] = [Transport::Tcp, Transport::Ipc, Transport::Inproc];
const THR_SIZES: [usize; 5] = [1, 64, 1024, 65_536, 1 << 20];
const LAT_SIZES: [usize; 2] = [1, 1024];
/// The CURVE rows of `all` (tcp): issue 10's throughput and latency rows.
const CURVE_THR_SIZES: [usize; 3] = [64, 1024, 65_536];
const CURVE_LAT_SIZES: [usize; 2] = [1, 1024];

fn mechanism(curve: bool) -> Mechanism {
    if curve {
        Mechanism::Curve
    } else {
        Mechanism::Null
    }
}

/// Every (transport, size) pair, refusing a mechanism a transport cannot
/// carry (CURVE over inproc).
fn grid(
    transports: &[Transport],
    sizes: &[usize],
    mech: Mechanism,
) -> Result<Vec<(Transport, usize)>, String> {
    if let Some(t) = transports.iter().find(|t| !mech.supports(**t)) {
        return Err(format!(
            "--curve needs tcp or ipc: {} has no security handshake",
            t.name()
        ));
    }
    Ok(transports
        .iter()
        .flat_map(|&t| sizes.iter().map(move |&s| (t, s)))
        .collect())
}

fn plan(cmd: Option<&Cmd>, quick: bool) -> Result<(String, Vec<Step>), String> {
    let mut steps = Vec::new();
    let (null, curve) = (Mechanism::Null, Mechanism::Curve);
    let mode = match cmd {
        None | Some(Cmd::All) if quick => {
            steps.push(Step::Thr(Transport::Tcp, null, 64));
            steps.push(Step::Thr(Transport::Tcp, null, 65_536));
            steps.push(Step::Thr(Transport::Tcp, curve, 64));
            steps.push(Step::Lat(Transport::Tcp, null, 1));
            steps.push(Step::Thr(Transport::Inproc, null, 64));
            steps.push(Step::Fan(10, None));
            steps.push(Step::Proxy(64));
            "quick"
        }
        None | Some(Cmd::All) => {
            for t in ALL_TRANSPORTS {
                for size in THR_SIZES {
                    steps.push(Step::Thr(t, null, size));
                }
            }
            for size in CURVE_THR_SIZES {
                steps.push(Step::Thr(Transport::Tcp, curve, size));
            }
            for t in ALL_TRANSPORTS {
                for size in LAT_SIZES {
                    steps.push(Step::Lat(t, null, size));
                }
            }
            for size in CURVE_LAT_SIZES {
                steps.push(Step::Lat(Transport::Tcp, curve, size));
            }
            for n in [1, 10, 100] {
                steps.push(Step::Fan(n, None));
            }
            for n in [1, 100, 1000, 10_000] {
                steps.push(Step::Scale(n));
            }
            steps.push(Step::CrossThr(64));
            steps.push(Step::CrossThr(65_536));
            steps.push(Step::CrossLat(1));
            steps.push(Step::Proxy(64));
            "all"
        }
        Some(Cmd::Thr {
            transport,
            size,
            curve,
        }) => {
            let m = mechanism(*curve);
            for (t, s) in grid(transport, size, m)? {
                steps.push(Step::Thr(t, m, s));
            }
            "thr"
        }
        Some(Cmd::Lat {
            transport,
            size,
            curve,
        }) => {
            let m = mechanism(*curve);
            for (t, s) in grid(transport, size, m)? {
                steps.push(Step::Lat(t, m, s));
            }
            "lat"
        }
        Some(Cmd::Fanout { subs, count }) => {
            steps.extend(subs.iter().map(|&n| Step::Fan(n, *count)));
            "fanout"
        }
        Some(Cmd::Scale { conns }) => {
            steps.extend(conns.iter().map(|&n| Step::Scale(n)));
            "scale"
        }
        Some(Cmd::Cross) => {
            steps.push(Step::CrossThr(64));
            steps.push(Step::CrossThr(65_536));
            steps.push(Step::CrossLat(1));
            "cross"
        }
        Some(Cmd::Proxy { size }) => {
            steps.extend(size.iter().map(|&n| Step::Proxy(n)));
            "proxy"
        }
        Some(Cmd::Plot { .. }) | Some(Cmd::Role { .. }) => unreachable!("handled before"),
    };
    Ok((mode.to_string(), steps))
}

fn write_outputs(report: &Report, out: &Path, stem: &str, full: bool) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let json = serde_json::to_string_pretty(report).expect("report serialises");
    std::fs::write(out.join(format!("{stem}.json")), json + "\n")?;
    std::fs::write(out.join(format!("{stem}.md")), report::markdown(report))?;
    let plots = plot::write_all(report, out, stem)?;
    if full {
        let results_md = Path::new(env!("CARGO_MANIFEST_DIR")).join("RESULTS.md");
        std::fs::write(results_md, plot::results_page(report, &plots, out))?;
    }
    Ok(())
}

fn replot(input: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let report: Report =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", input.display()))?;
    let out = input.parent().unwrap_or(Path::new("."));
    let stem = input
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("latest")
        .to_string();
    write_outputs(
        &report,
        out,
        &stem,
        report.mode == "all" && stem == "latest",
    )
    .map_err(|e| e.to_string())?;
    println!("redrew plots for {}", input.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("ferromq-bench").chain(args.iter().copied()))
            .expect("arguments parse")
    }

    fn curve_steps(steps: &[Step]) -> Vec<&Step> {
        steps
            .iter()
            .filter(|s| {
                matches!(
                    s,
                    Step::Thr(_, Mechanism::Curve, _) | Step::Lat(_, Mechanism::Curve, _)
                )
            })
            .collect()
    }

    #[test]
    fn curve_flag_makes_curve_rows() {
        let cli = parse(&[
            "thr",
            "--curve",
            "--size",
            "64,1024",
            "--transport",
            "tcp,ipc",
        ]);
        let (mode, steps) = plan(cli.cmd.as_ref(), false).unwrap();
        assert_eq!(mode, "thr");
        assert_eq!(
            steps,
            vec![
                Step::Thr(Transport::Tcp, Mechanism::Curve, 64),
                Step::Thr(Transport::Tcp, Mechanism::Curve, 1024),
                Step::Thr(Transport::Ipc, Mechanism::Curve, 64),
                Step::Thr(Transport::Ipc, Mechanism::Curve, 1024),
            ]
        );
        let cli = parse(&["lat", "--curve"]);
        let (_, steps) = plan(cli.cmd.as_ref(), false).unwrap();
        assert_eq!(steps, vec![Step::Lat(Transport::Tcp, Mechanism::Curve, 1)]);
        // Without the flag, the rows are what they always were.
        let cli = parse(&["lat"]);
        let (_, steps) = plan(cli.cmd.as_ref(), false).unwrap();
        assert_eq!(steps, vec![Step::Lat(Transport::Tcp, Mechanism::Null, 1)]);
    }

    #[test]
    fn curve_over_inproc_is_refused() {
        for sub in ["thr", "lat"] {
            let cli = parse(&[sub, "--curve", "--transport", "tcp,inproc"]);
            let err = plan(cli.cmd.as_ref(), false).unwrap_err();
            assert!(err.contains("inproc"), "{err}");
            // NULL over inproc stays fine.
            let cli = parse(&[sub, "--transport", "inproc"]);
            assert!(plan(cli.cmd.as_ref(), false).is_ok());
        }
    }

    #[test]
    fn all_and_quick_have_curve_rows() {
        let (_, all) = plan(None, false).unwrap();
        let curve = curve_steps(&all);
        for size in CURVE_THR_SIZES {
            assert!(curve.contains(&&Step::Thr(Transport::Tcp, Mechanism::Curve, size)));
        }
        for size in CURVE_LAT_SIZES {
            assert!(curve.contains(&&Step::Lat(Transport::Tcp, Mechanism::Curve, size)));
        }
        assert_eq!(curve.len(), CURVE_THR_SIZES.len() + CURVE_LAT_SIZES.len());
        let (mode, quick) = plan(Some(&Cmd::All), true).unwrap();
        assert_eq!(mode, "quick");
        assert_eq!(curve_steps(&quick).len(), 1);
        // Every CURVE row is on a transport that has a handshake.
        for s in curve_steps(&all) {
            let (Step::Thr(t, m, _) | Step::Lat(t, m, _)) = s else {
                unreachable!()
            };
            assert!(m.supports(*t));
        }
    }
}
