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

use backend::{Impl, Transport};
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
    /// Implementations to compare (default ferromq,libzmq,zmqrs; --quick
    /// leaves zmq.rs out).
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
    },
    /// Latency, REQ <-> REP.
    Lat {
        /// Transports (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "tcp")]
        transport: Vec<Transport>,
        /// Message sizes in bytes (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "1")]
        size: Vec<usize>,
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
                vec![Impl::Ferromq, Impl::Libzmq]
            } else {
                vec![Impl::Ferromq, Impl::Libzmq, Impl::Zmqrs]
            }
        }),
        quick,
    };
    let (mode, plan) = plan(cli.cmd.as_ref(), quick);
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
enum Step {
    Thr(Transport, usize),
    Lat(Transport, usize),
    Fan(usize, Option<u64>),
    Scale(usize),
    CrossThr(usize),
    CrossLat(usize),
    Proxy(usize),
}

impl Step {
    fn run(&self, s: &Settings) -> Row {
        match *self {
            Step::Thr(t, size) => run::thr_row(s, t, size),
            Step::Lat(t, size) => run::lat_row(s, t, size),
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

fn plan(cmd: Option<&Cmd>, quick: bool) -> (String, Vec<Step>) {
    let mut steps = Vec::new();
    let mode = match cmd {
        None | Some(Cmd::All) if quick => {
            steps.push(Step::Thr(Transport::Tcp, 64));
            steps.push(Step::Thr(Transport::Tcp, 65_536));
            steps.push(Step::Lat(Transport::Tcp, 1));
            steps.push(Step::Thr(Transport::Inproc, 64));
            steps.push(Step::Fan(10, None));
            steps.push(Step::Proxy(64));
            "quick"
        }
        None | Some(Cmd::All) => {
            for t in ALL_TRANSPORTS {
                for size in THR_SIZES {
                    steps.push(Step::Thr(t, size));
                }
            }
            for t in ALL_TRANSPORTS {
                for size in LAT_SIZES {
                    steps.push(Step::Lat(t, size));
                }
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
        Some(Cmd::Thr { transport, size }) => {
            for &t in transport {
                for &s in size {
                    steps.push(Step::Thr(t, s));
                }
            }
            "thr"
        }
        Some(Cmd::Lat { transport, size }) => {
            for &t in transport {
                for &s in size {
                    steps.push(Step::Lat(t, s));
                }
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
    (mode.to_string(), steps)
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
