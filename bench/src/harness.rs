//! The parent side of the harness: spawns roles as child processes (this
//! same binary, hidden `role` subcommand), reads their JSON events with a
//! deadline on every wait, and kills a child that overruns.

use crate::backend::BenchError;
use crate::child::{Event, Role};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How much of a child's stderr is kept for error messages.
const STDERR_TAIL: usize = 2000;

/// A running role.
pub struct Proc {
    label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    events: Receiver<Result<Event, String>>,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    /// Starts `role`, on CPU `pin` (via `taskset`) when given.
    pub fn spawn(label: &str, role: &Role, pin: Option<usize>) -> Result<Proc, BenchError> {
        let exe = std::env::current_exe()
            .map_err(|e| BenchError::failed(format!("cannot find own executable: {e}")))?;
        let spec = serde_json::to_string(role).expect("roles serialise");
        let mut cmd = match pin {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.arg("role")
            .arg(spec)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| BenchError::failed(format!("cannot start {label}: {e}")))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !line.trim_start().starts_with('{') {
                    continue; // not ours (a library printing something)
                }
                let ev = serde_json::from_str::<Event>(&line)
                    .map_err(|e| format!("unparsable event {line:?}: {e}"));
                if tx.send(ev).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stderr_pipe);
            let mut buf = [0u8; 4096];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                s.push_str(&String::from_utf8_lossy(&buf[..n]));
                if s.len() > STDERR_TAIL * 2 {
                    let cut = s.len() - STDERR_TAIL;
                    let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(0);
                    s.drain(..cut);
                }
            }
        });
        Ok(Proc {
            label: label.to_string(),
            stdin: child.stdin.take(),
            child,
            events: rx,
            stderr,
        })
    }

    fn stderr_tail(&self) -> String {
        let s = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let t = s.trim();
        let start = t.len().saturating_sub(600);
        let start = (start..t.len())
            .find(|&i| t.is_char_boundary(i))
            .unwrap_or(0);
        t[start..].replace('\n', " | ")
    }

    /// The next event, waiting at most until `deadline`. A `Failed` or
    /// `Unsupported` event, an early exit or the deadline passing is an
    /// error (and the child is killed on the deadline).
    pub fn next(&mut self, what: &str, deadline: Instant) -> Result<Event, BenchError> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.events.recv_timeout(left) {
            Ok(Ok(Event::Failed { reason })) => {
                Err(BenchError::failed(format!("{}: {reason}", self.label)))
            }
            Ok(Ok(Event::Unsupported { reason })) => Err(BenchError::unsupported(reason)),
            Ok(Ok(ev)) => Ok(ev),
            Ok(Err(e)) => Err(BenchError::failed(format!("{}: {e}", self.label))),
            Err(RecvTimeoutError::Timeout) => {
                self.kill();
                Err(BenchError::failed(format!(
                    "{} hung: no {what} within {:.0} s (killed){}",
                    self.label,
                    left.as_secs_f64(),
                    self.stderr_suffix()
                )))
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.wait_until(Instant::now() + Duration::from_secs(5));
                Err(BenchError::failed(format!(
                    "{} exited ({status}) before {what}{}",
                    self.label,
                    self.stderr_suffix()
                )))
            }
        }
    }

    fn stderr_suffix(&self) -> String {
        let t = self.stderr_tail();
        if t.is_empty() {
            String::new()
        } else {
            format!("; stderr: {t}")
        }
    }

    /// Waits for a `Ready` event; returns its endpoint.
    pub fn ready(&mut self, deadline: Instant) -> Result<Option<String>, BenchError> {
        match self.next("ready", deadline)? {
            Event::Ready { endpoint } => Ok(endpoint),
            other => Err(self.unexpected("ready", &other)),
        }
    }

    /// Waits for a `Progress` event; returns its data.
    pub fn progress(&mut self, deadline: Instant) -> Result<serde_json::Value, BenchError> {
        match self.next("progress report", deadline)? {
            Event::Progress { data } => Ok(data),
            other => Err(self.unexpected("progress report", &other)),
        }
    }

    /// Waits for the `Result` event and decodes it as `T`.
    pub fn result<T: serde::de::DeserializeOwned>(
        &mut self,
        deadline: Instant,
    ) -> Result<T, BenchError> {
        match self.next("result", deadline)? {
            Event::Result { data } => serde_json::from_value(data)
                .map_err(|e| BenchError::failed(format!("{}: bad result: {e}", self.label))),
            other => Err(self.unexpected("result", &other)),
        }
    }

    fn unexpected(&mut self, what: &str, ev: &Event) -> BenchError {
        self.kill();
        BenchError::failed(format!("{}: expected {what}, got {ev:?}", self.label))
    }

    /// Sends a control word.
    pub fn tell(&mut self, word: &str) {
        if let Some(stdin) = self.stdin.as_mut() {
            // A child that already exited cannot listen; that is fine here.
            let _ = writeln!(stdin, "{word}");
            let _ = stdin.flush();
        }
    }

    /// Tells the child to exit and waits for it, killing it at `deadline`.
    pub fn finish(mut self, deadline: Instant) {
        self.tell("exit");
        self.stdin = None;
        self.wait_until(deadline);
    }

    fn wait_until(&mut self, deadline: Instant) -> String {
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.to_string(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Ok(None) => {
                    self.kill();
                    return "killed after the deadline".to_string();
                }
                Err(e) => return format!("wait failed: {e}"),
            }
        }
    }

    fn kill(&mut self) {
        // Only this child, by its own handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stdin = None;
            // Give it a moment to leave on its own after stdin closes.
            let deadline = Instant::now() + Duration::from_secs(2);
            self.wait_until(deadline);
        }
    }
}
