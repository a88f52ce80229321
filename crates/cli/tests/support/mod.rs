//! Helpers for the fault tests: `ferromq seq-send` / `seq-recv` child
//! processes read line by line, monitor event logs, sequence checks.
#![allow(dead_code)] // each test file uses a subset

pub mod delay;
pub mod netns;

use ferromq::monitor::event;
use ferromq::{Monitor, MonitorEvent};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Generous: the machines are shared and slow; nothing waits this long
/// when things work.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The `ferromq` binary under test.
pub fn ferromq_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ferromq")
}

/// A loopback port that is free now, for a peer that must be restarted
/// on the same port (shared with the library's tests: see there why it is
/// not an ephemeral one).
pub fn free_port() -> u16 {
    ports::unused_port()
}

#[path = "../../../ferromq/tests/common/ports.rs"]
#[allow(dead_code)]
mod ports;

/// One child process whose stdout lines are collected as they come. It is
/// killed (SIGKILL) when dropped; it also ends by itself when its stdin
/// closes, should this process die first.
pub struct Proc {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<String>,
    /// Every stdout line so far, in order.
    pub lines: Vec<String>,
    /// Stdout reached its end (the process exited or was killed).
    pub eof: bool,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    /// Starts `ferromq ARGS...`.
    pub fn ferromq(name: &str, args: &[&str]) -> Proc {
        let mut cmd = Command::new(ferromq_bin());
        cmd.args(args);
        Proc::spawn(name, cmd)
    }

    /// Starts a prepared command with piped stdin, stdout and stderr.
    pub fn spawn(name: &str, mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let err_text = Arc::new(Mutex::new(String::new()));
        let sink = err_text.clone();
        std::thread::spawn(move || {
            let mut buf = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut buf);
            sink.lock().unwrap().push_str(&buf);
        });
        Proc {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            rx,
            lines: Vec::new(),
            eof: false,
            stderr: err_text,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Takes in the lines printed so far without waiting.
    pub fn pump(&mut self) {
        loop {
            match self.rx.try_recv() {
                Ok(line) => self.lines.push(line),
                Err(mpsc::TryRecvError::Empty) => return,
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.eof = true;
                    return;
                }
            }
        }
    }

    /// Waits up to `timeout` for one more line; false on timeout or at
    /// the end of stdout.
    pub fn pump_one(&mut self, timeout: Duration) -> bool {
        match self.rx.recv_timeout(timeout) {
            Ok(line) => {
                self.lines.push(line);
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => {
                self.eof = true;
                false
            }
        }
    }

    /// Waits until `cond(lines)` holds; panics (showing the output) at the
    /// deadline or if the process ends first.
    pub fn wait_until(&mut self, what: &str, mut cond: impl FnMut(&[String]) -> bool) {
        let start = Instant::now();
        self.pump();
        while !cond(&self.lines) {
            if self.eof {
                let why = self.describe();
                panic!("{} ended before {what}\n{why}", self.name);
            }
            let left = DEADLINE.saturating_sub(start.elapsed());
            if left.is_zero() {
                let why = self.describe();
                panic!("{}: timed out waiting for {what}\n{why}", self.name);
            }
            self.pump_one(left.min(Duration::from_millis(100)));
        }
    }

    /// Waits for a line starting with `prefix`, returns it.
    pub fn expect_line(&mut self, prefix: &str) -> String {
        self.wait_until(&format!("a line starting with {prefix:?}"), |lines| {
            lines.iter().any(|l| l.starts_with(prefix))
        });
        self.lines
            .iter()
            .find(|l| l.starts_with(prefix))
            .unwrap()
            .clone()
    }

    /// The numbers of the `recv <prefix><n>` lines so far, in order.
    pub fn received(&self, prefix: &str) -> Vec<u64> {
        numbered(&self.lines, "recv ", prefix)
    }

    /// The numbers of the `sent <n>` lines so far, in order.
    pub fn sent(&self) -> Vec<u64> {
        numbered(&self.lines, "sent ", "")
    }

    /// The `event NAME ...` lines so far, as names.
    pub fn events(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter_map(|l| l.strip_prefix("event "))
            .map(|rest| rest.split(' ').next().unwrap_or("").to_owned())
            .collect()
    }

    /// Sends a signal by name (`STOP`, `CONT`, `KILL`) with kill(1).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill(1) runs");
        assert!(status.success(), "kill -{sig} {} failed", self.pid());
    }

    /// SIGKILL, then collects everything it printed before dying.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.drain();
    }

    /// Waits for the process to exit by itself; returns its success.
    pub fn wait_exit(&mut self) -> bool {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.drain();
                return status.success();
            }
            if start.elapsed() > DEADLINE {
                let why = self.describe();
                panic!("{} did not exit\n{why}", self.name);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Reads stdout to its end (the process has exited).
    fn drain(&mut self) {
        while !self.eof {
            if !self.pump_one(DEADLINE) && !self.eof {
                panic!("{}: stdout did not end after exit", self.name);
            }
        }
    }

    /// The process's state and output, for failure messages.
    pub fn describe(&mut self) -> String {
        std::thread::sleep(Duration::from_millis(50)); // let the pumps catch up
        self.pump();
        let state = match self.child.try_wait() {
            Ok(Some(s)) => format!("exited: {s}"),
            _ => "running".to_owned(),
        };
        let tail: Vec<&String> = self.lines.iter().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().map(|s| s.as_str()).collect();
        format!(
            "{} (pid {}, {state}), {} lines; last ones:\n{}\nstderr:\n{}",
            self.name,
            self.pid(),
            self.lines.len(),
            tail.join("\n"),
            self.stderr.lock().unwrap()
        )
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `ferromq ARGS...`, which binds a fixed port, and waits for its
/// `ready` line. Right after a peer on that port was killed, the bind can
/// briefly fail: a failed start is retried until the deadline.
pub fn start_bound(name: &str, args: &[&str]) -> Proc {
    start_bound_with(name, || {
        let mut cmd = Command::new(ferromq_bin());
        cmd.args(args);
        cmd
    })
}

/// Like [`start_bound`], with the command made by `make` (e.g. wrapped in
/// `ip netns exec`).
pub fn start_bound_with(name: &str, mut make: impl FnMut() -> Command) -> Proc {
    let start = Instant::now();
    let is_ready = |lines: &[String]| lines.iter().any(|l| l.starts_with("ready "));
    loop {
        let mut p = Proc::spawn(name, make());
        // Monitor event lines may come first; `ready` or the end of
        // stdout (the bind failed) decides.
        while !is_ready(&p.lines) && !p.eof && start.elapsed() < DEADLINE {
            p.pump_one(Duration::from_millis(100));
        }
        if is_ready(&p.lines) {
            return p;
        }
        let _ = p.child.kill();
        let _ = p.child.wait();
        let why = p.describe();
        assert!(
            start.elapsed() < DEADLINE && p.stderr().contains("in use"),
            "{name} did not start: {why}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The numbers `n` of lines `<verb><prefix><n>`, in order.
pub fn numbered(lines: &[String], verb: &str, prefix: &str) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(verb)?.strip_prefix(prefix)?.parse().ok())
        .collect()
}

/// Asserts that `seq` is exactly `first, first+step, ...`: nothing twice,
/// nothing out of order, nothing missing.
pub fn assert_run(what: &str, seq: &[u64], first: u64, step: u64) {
    for (i, &n) in seq.iter().enumerate() {
        let want = first + step * i as u64;
        assert_eq!(
            n,
            want,
            "{what}: item {i} is {n}, expected {want} (a gap, duplicate or reordering); \
             around it: {:?}",
            &seq[i.saturating_sub(5)..(i + 5).min(seq.len())]
        );
    }
}

/// Asserts that `seq` strictly increases: nothing twice, nothing out of
/// order (gaps allowed).
pub fn assert_increasing(what: &str, seq: &[u64]) {
    for (i, w) in seq.windows(2).enumerate() {
        assert!(
            w[0] < w[1],
            "{what}: {} then {} at index {i}: a duplicate or a reordering",
            w[0],
            w[1]
        );
    }
}

/// A socket's monitor events, kept in order as they are waited for.
pub struct EventLog {
    monitor: Monitor,
    /// Every event read so far.
    pub seen: Vec<MonitorEvent>,
}

impl EventLog {
    /// Wraps a monitor.
    pub fn new(monitor: Monitor) -> EventLog {
        EventLog {
            monitor,
            seen: Vec::new(),
        }
    }

    /// Takes in the events queued so far without waiting.
    pub fn pump(&mut self) {
        while let Some(ev) = self.monitor.try_recv() {
            self.seen.push(ev);
        }
    }

    /// Waits up to `timeout` for an event `wanted` after position `from`
    /// of the log; returns its position.
    pub fn wait_for_within(
        &mut self,
        wanted: u16,
        from: usize,
        timeout: Duration,
    ) -> Option<usize> {
        let until = Instant::now() + timeout;
        loop {
            self.pump();
            if let Some(i) = self.seen[from.min(self.seen.len())..]
                .iter()
                .position(|e| e.event == wanted)
            {
                return Some(from + i);
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            if let Some(ev) = self.monitor.recv_timeout(left) {
                self.seen.push(ev);
            }
        }
    }

    /// Like [`wait_for_within`](Self::wait_for_within) with the deadline;
    /// panics showing the log if the event does not come.
    pub fn wait_for(&mut self, wanted: u16, from: usize) -> usize {
        match self.wait_for_within(wanted, from, DEADLINE) {
            Some(i) => i,
            None => panic!(
                "no {} after event #{from} within {DEADLINE:?}; events: {}",
                event::name(wanted).unwrap_or("?"),
                self.names()
            ),
        }
    }

    /// The names of the events so far, for messages.
    pub fn names(&self) -> String {
        self.seen
            .iter()
            .map(|e| e.name())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Positions of the events numbered `wanted` so far.
    pub fn positions(&self, wanted: u16) -> Vec<usize> {
        (0..self.seen.len())
            .filter(|&i| self.seen[i].event == wanted)
            .collect()
    }
}
