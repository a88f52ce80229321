//! What machine and software a run happened on.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// The machine description stored with every result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Machine {
    /// CPUs available to this process.
    pub nproc: usize,
    /// "model name" from /proc/cpuinfo.
    pub cpu_model: String,
    /// Kernel release.
    pub kernel: String,
    /// Total memory, from /proc/meminfo.
    pub mem_total: String,
    /// The compiler that built the bench.
    pub rustc: String,
    /// libzmq as linked (zmq_version).
    pub libzmq: String,
    /// Whether that libzmq has CURVE (zmq_has("curve")); absent in results
    /// from before CURVE rows existed.
    #[serde(default)]
    pub libzmq_curve: Option<bool>,
    /// The libsodium that CURVE runs on; absent in results from before
    /// libzmq had CURVE.
    #[serde(default)]
    pub libsodium: Option<String>,
    /// zmq.rs crate version.
    pub zmqrs: String,
    /// Commit of the ferromq tree measured, if known.
    pub git_commit: Option<String>,
    /// When the run started (UTC).
    pub date_utc: String,
    /// The open-file limit (connection scale depends on it).
    pub fd_limit: Option<String>,
}

fn first_field(path: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

fn command_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// "YYYY-MM-DD HH:MM:SS UTC" for a Unix time (civil-from-days, proleptic
/// Gregorian), so no date crate is needed.
pub fn utc_string(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let secs = unix_secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Soft / hard open-file limit from /proc/self/limits, whose lines are
/// column-aligned ("Max open files   20000   20000   files"), not "key: value".
fn fd_limit() -> Option<String> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let rest = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    let v: Vec<&str> = rest.split_whitespace().take(2).collect();
    (v.len() == 2).then(|| v.join(" / "))
}

impl Machine {
    /// Describes this machine now.
    pub fn detect() -> Machine {
        let (maj, min, patch) = ferromq_bench_libzmq::version();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Machine {
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model: first_field("/proc/cpuinfo", "model name").unwrap_or_default(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            mem_total: first_field("/proc/meminfo", "MemTotal").unwrap_or_default(),
            rustc: env!("BENCH_RUSTC_VERSION").to_string(),
            libzmq: format!("{maj}.{min}.{patch}"),
            libzmq_curve: Some(crate::backend::libzmq_has_curve()),
            libsodium: Some(ferromq_bench_libzmq::sodium_version()),
            zmqrs: "0.7 (crate zeromq)".to_string(),
            git_commit: command_line("git", &["rev-parse", "--short", "HEAD"]),
            date_utc: utc_string(now),
            fd_limit: fd_limit(),
        }
    }
}

/// The machine as Markdown bullet lines.
pub fn describe(m: &Machine) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "- machine: {} CPUs, {}, {} RAM, Linux {}",
        m.nproc, m.cpu_model, m.mem_total, m.kernel
    );
    let _ = writeln!(
        s,
        "- software: {}; libzmq {} (built from source{}); zmq.rs {}; ferromq at {}",
        m.rustc,
        m.libzmq,
        libzmq_build(m.libzmq_curve, m.libsodium.as_deref()),
        m.zmqrs,
        m.git_commit.as_deref().unwrap_or("unknown commit")
    );
    let _ = writeln!(
        s,
        "- date: {}; open-file limit (soft / hard): {}",
        m.date_utc,
        m.fd_limit.as_deref().unwrap_or("unknown")
    );
    s
}

/// What the description says about libzmq's CURVE.
fn libzmq_build(curve: Option<bool>, libsodium: Option<&str>) -> String {
    match (curve, libsodium) {
        (Some(true), Some(v)) => format!(", with CURVE on libsodium {v}"),
        (Some(true), None) => ", with CURVE on libsodium".to_string(),
        (Some(false), _) => ", without CURVE".to_string(),
        (None, _) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn libzmq_curve_is_described() {
        assert_eq!(super::libzmq_build(None, None), "");
        assert!(super::libzmq_build(Some(true), None).contains("libsodium"));
        assert!(super::libzmq_build(Some(true), Some("1.0.20")).ends_with("libsodium 1.0.20"));
        assert!(super::libzmq_build(Some(false), None).contains("without CURVE"));
    }

    #[test]
    fn fd_limit_is_read() {
        assert!(super::fd_limit().is_some_and(|s| s.contains(" / ")));
    }

    #[test]
    fn utc_dates() {
        assert_eq!(super::utc_string(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::utc_string(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(super::utc_string(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }
}
