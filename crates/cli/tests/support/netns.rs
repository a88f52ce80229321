//! A network namespace joined to this one by a veth pair, for partition
//! tests: a peer runs inside it (`ip netns exec`), the test connects to
//! it over the veth, and a partition is made and healed with blackhole
//! routes on both sides.
//!
//! Why blackhole routes and not the link: with the veth down, the peer's
//! address falls back to the default route, and whatever lies that way
//! (here, a sandbox network that accepts any TCP connection) answers in
//! its place. A blackhole route for the one peer address on each side
//! drops the traffic both ways and nothing else.
//!
//! Everything made is removed when the guard is dropped, a failed test
//! included.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Set (to anything) to make a test that cannot create its namespace
/// fail instead of being skipped.
pub const REQUIRE_ENV: &str = "FERROMQ_REQUIRE_NETNS";

/// A namespace with a veth pair to it; see the module documentation.
pub struct Netns {
    /// The namespace's name.
    pub name: String,
    /// The veth end in this namespace.
    pub host_if: String,
    /// The address of this side of the veth.
    pub host_ip: String,
    /// The address of the namespace's side.
    pub peer_ip: String,
    partitioned: bool,
}

/// Runs `ip ARGS...`; the error is its stderr.
fn ip(args: &[&str]) -> Result<(), String> {
    run("ip", args)
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

impl Netns {
    /// Creates the namespace and the veth pair, or says why it cannot.
    pub fn create() -> Result<Netns, String> {
        if effective_uid() != Some(0) {
            return Err("not running as root (network namespaces need CAP_SYS_ADMIN)".into());
        }
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        remove_stale();
        // Names unique per process and test (interface names have at most
        // 15 bytes); a /30 in 10.200.0.0/13 per (process, test), so that
        // concurrent runs do not collide.
        let tag = format!("{}{n}", pid % 100_000);
        let subnet = (pid.wrapping_mul(16) + n) % 2048;
        let (b, c) = (200 + subnet / 256, subnet % 256);
        let ns = Netns {
            name: format!("fmq-{pid}-{n}"),
            host_if: format!("fmq{tag}h"),
            host_ip: format!("10.{b}.{c}.1"),
            peer_ip: format!("10.{b}.{c}.2"),
            partitioned: false,
        };
        // A run killed before its cleanup may have left a blackhole for
        // this address.
        let _ = ip(&["route", "del", "blackhole", &format!("{}/32", ns.peer_ip)]);
        ip(&["netns", "add", &ns.name])?;
        // From here on, Drop cleans up whatever was made.
        let peer_if = format!("fmq{tag}n");
        let host_cidr = format!("{}/30", ns.host_ip);
        let peer_cidr = format!("{}/30", ns.peer_ip);
        let name = ns.name.clone();
        ip(&[
            "link",
            "add",
            &ns.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &peer_if,
        ])?;
        ip(&["link", "set", &peer_if, "netns", &name])?;
        ip(&["addr", "add", &host_cidr, "dev", &ns.host_if])?;
        ip(&["link", "set", &ns.host_if, "up"])?;
        ip(&["-n", &name, "addr", "add", &peer_cidr, "dev", &peer_if])?;
        ip(&["-n", &name, "link", "set", &peer_if, "up"])?;
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A command that runs `program ARGS...` inside the namespace.
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]).args(args);
        cmd
    }

    /// Cuts the link both ways: packets to the peer's address (here) and
    /// to ours (in the namespace) are dropped.
    pub fn partition(&mut self) {
        self.partitioned = true;
        let to_peer = format!("{}/32", self.peer_ip);
        let to_host = format!("{}/32", self.host_ip);
        ip(&["route", "add", "blackhole", &to_peer]).unwrap();
        ip(&["-n", &self.name, "route", "add", "blackhole", &to_host]).unwrap();
    }

    /// Ends the partition.
    pub fn heal(&mut self) {
        self.partitioned = false;
        let to_peer = format!("{}/32", self.peer_ip);
        let to_host = format!("{}/32", self.host_ip);
        ip(&["route", "del", "blackhole", &to_peer]).unwrap();
        ip(&["-n", &self.name, "route", "del", "blackhole", &to_host]).unwrap();
    }

    /// Drops `percent` of the packets entering the namespace, at random,
    /// with an nftables rule inside it (this kernel has no netem qdisc);
    /// or says why it cannot. The namespace's deletion removes the rule.
    pub fn drop_randomly(&mut self, percent: u32) -> Result<(), String> {
        let nft = |args: &[&str]| {
            let mut full = vec!["netns", "exec", &self.name, "nft"];
            full.extend_from_slice(args);
            run("ip", &full)
        };
        nft(&["add", "table", "inet", "fmq"])?;
        nft(&[
            "add",
            "chain",
            "inet",
            "fmq",
            "input",
            "{ type filter hook input priority 0 ; }",
        ])?;
        let share = percent.to_string();
        nft(&[
            "add", "rule", "inet", "fmq", "input", "numgen", "random", "mod", "100", "<", &share,
            "drop",
        ])
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if self.partitioned {
            let _ = ip(&["route", "del", "blackhole", &format!("{}/32", self.peer_ip)]);
        }
        // Deleting the namespace destroys its veth end and with it the pair;
        // deleting the link as well covers a namespace that was not made.
        let _ = ip(&["netns", "del", &self.name]);
        let _ = ip(&["link", "del", &self.host_if]);
    }
}

/// Deletes the namespaces (and with them their veth pairs) left by test
/// processes that were killed before they could clean up.
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(pid) = name
            .strip_prefix("fmq-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// Says that a test is skipped and why, on stderr even when the test
/// harness captures output (the print macros are captured, a direct
/// write is not).
pub fn skipped(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// The namespace, or `None` after printing why the test is skipped (or a
/// panic when [`REQUIRE_ENV`] is set).
pub fn netns_or_skip(test: &str) -> Option<Netns> {
    match Netns::create() {
        Ok(ns) => Some(ns),
        Err(why) => {
            assert!(
                std::env::var_os(REQUIRE_ENV).is_none(),
                "{test}: cannot create a network namespace ({why}) and {REQUIRE_ENV} is set"
            );
            skipped(test, &format!("cannot create a network namespace: {why}"));
            None
        }
    }
}
