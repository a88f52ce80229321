//! The child side of the harness: a role (one side of a workload) runs in
//! its own process, reports JSON lines on stdout and takes control words
//! ("go", "stop", "exit") on stdin.

use crate::backend::{dispatch, BResult, BenchError, ErrorClass, Impl, Job, Security};
use crate::work;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::{BufRead, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

/// One line a child writes on stdout.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Set up and waiting; binders say where to connect.
    Ready {
        /// The resolved endpoint, for roles that bind.
        endpoint: Option<String>,
    },
    /// An intermediate measurement (e.g. "all connected").
    Progress {
        /// Role-specific data.
        data: Value,
    },
    /// The final measurement.
    Result {
        /// Role-specific data.
        data: Value,
    },
    /// The implementation does not support what was asked.
    Unsupported {
        /// Why.
        reason: String,
    },
    /// Something went wrong.
    Failed {
        /// Why.
        reason: String,
    },
}

/// Writes one event as a JSON line and flushes, so the parent sees it now.
pub fn emit(event: &Event) {
    let line = serde_json::to_string(event).expect("events serialise");
    let mut out = std::io::stdout().lock();
    // A parent that went away cannot be told anything more: ignore.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Emits a result built from a serialisable value.
pub fn emit_result<T: Serialize>(data: &T) {
    emit(&Event::Result {
        data: serde_json::to_value(data).expect("results serialise"),
    });
}

/// Emits a progress report built from a serialisable value.
pub fn emit_progress<T: Serialize>(data: &T) {
    emit(&Event::Progress {
        data: serde_json::to_value(data).expect("results serialise"),
    });
}

/// Control words from the parent, read by a thread so that waiting for one
/// can have a deadline and polling for one never blocks.
pub struct Control {
    lines: Receiver<String>,
}

impl Control {
    /// Starts reading stdin. End of input reads as "exit".
    pub fn start() -> Control {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line.trim().to_string()).is_err() {
                    return;
                }
            }
            let _ = tx.send("exit".to_string());
        });
        Control { lines: rx }
    }

    /// Waits for `word`, at most `timeout`. Other words are an error, except
    /// that "exit" always is one.
    pub fn wait_for(&self, word: &str, timeout: Duration) -> BResult<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(w) if w == word => return Ok(()),
                Ok(w) if w == "exit" => {
                    return Err(BenchError::failed(format!(
                        "parent said exit while waiting for {word:?}"
                    )))
                }
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(BenchError::failed(format!(
                        "no {word:?} from the parent within {timeout:?}"
                    )))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(BenchError::failed("stdin reader gone"))
                }
            }
        }
    }

    /// The next control word if one has arrived, without waiting ("exit"
    /// once stdin is closed).
    pub fn poll(&self) -> Option<String> {
        match self.lines.try_recv() {
            Ok(w) => Some(w),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some("exit".to_string()),
        }
    }

    /// Waits (bounded) for the parent to say the run is over, so a sender
    /// does not tear down while its peer is still receiving.
    pub fn wait_exit(&self) {
        let _ = self.wait_for("exit", Duration::from_secs(120));
    }
}

/// One side of a workload, as the parent asks for it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Role {
    /// PULL: binds, receives `count` messages, times first to last.
    ThrRecv {
        /// Implementation.
        imp: Impl,
        /// Where to bind.
        endpoint: String,
        /// Message size.
        size: usize,
        /// Messages to receive.
        count: u64,
        /// Security settings (NULL unless a CURVE row).
        #[serde(default, skip_serializing_if = "Security::is_null")]
        security: Security,
    },
    /// PUSH: connects, sends `count` messages.
    ThrSend {
        /// Implementation.
        imp: Impl,
        /// Where to connect.
        endpoint: String,
        /// Message size.
        size: usize,
        /// Messages to send.
        count: u64,
        /// Security settings (NULL unless a CURVE row).
        #[serde(default, skip_serializing_if = "Security::is_null")]
        security: Security,
    },
    /// PUSH and PULL as two threads of this process (inproc).
    ThrInproc {
        /// Implementation.
        imp: Impl,
        /// Message size.
        size: usize,
        /// Messages to pass.
        count: u64,
    },
    /// REP: binds, echoes requests until "stop".
    LatRep {
        /// Implementation.
        imp: Impl,
        /// Where to bind.
        endpoint: String,
        /// Security settings (NULL unless a CURVE row).
        #[serde(default, skip_serializing_if = "Security::is_null")]
        security: Security,
    },
    /// REQ: connects, times up to `count` round trips (at most `max_s`
    /// seconds) after `warmup` untimed ones.
    LatReq {
        /// Implementation.
        imp: Impl,
        /// Where to connect.
        endpoint: String,
        /// Message size.
        size: usize,
        /// Untimed round trips first.
        warmup: u64,
        /// Most timed round trips.
        count: u64,
        /// Stop timing after this many seconds even if `count` is not reached.
        max_s: f64,
        /// Security settings (NULL unless a CURVE row).
        #[serde(default, skip_serializing_if = "Security::is_null")]
        security: Security,
    },
    /// REQ and REP as two threads of this process (inproc).
    LatInproc {
        /// Implementation.
        imp: Impl,
        /// Message size.
        size: usize,
        /// Untimed round trips first.
        warmup: u64,
        /// Most timed round trips.
        count: u64,
        /// Stop timing after this many seconds even if `count` is not reached.
        max_s: f64,
    },
    /// PUB: binds, sends warm-ups until "go", then `count` numbered
    /// messages, then end markers until "stop".
    FanPub {
        /// Implementation.
        imp: Impl,
        /// Where to bind.
        endpoint: String,
        /// Numbered messages to publish.
        count: u64,
    },
    /// `subs` SUB sockets (a thread each, one context): ready once each has
    /// seen a warm-up, then count numbered messages until an end marker.
    FanSubs {
        /// Implementation.
        imp: Impl,
        /// Where to connect.
        endpoint: String,
        /// Number of subscribers.
        subs: usize,
    },
    /// ROUTER: binds, times how long until `conns` DEALERs have spoken,
    /// measures its RSS growth, then echoes requests until "stop".
    ScaleRouter {
        /// Implementation.
        imp: Impl,
        /// Where to bind.
        endpoint: String,
        /// DEALERs expected in total.
        conns: usize,
    },
    /// `conns` DEALERs: on "go" connect and say hello; on "go2" run
    /// request/reply over all of them for `duration_s`.
    ScaleDealers {
        /// Implementation.
        imp: Impl,
        /// Where to connect.
        endpoint: String,
        /// DEALERs in this process.
        conns: usize,
        /// Seconds of request/reply traffic.
        duration_s: f64,
    },
    /// The proxy under test: ROUTER and DEALER bound on tcp (endpoints
    /// reported space-separated), proxying until "exit".
    ProxyQueue {
        /// Implementation of the proxy.
        imp: Impl,
    },
    /// A DEALER worker behind the proxy, echoing until "stop".
    ProxyWorker {
        /// Implementation.
        imp: Impl,
        /// The proxy's backend.
        endpoint: String,
    },
    /// A DEALER client: `count` requests through the proxy, a window of
    /// them in flight.
    ProxyClient {
        /// Implementation.
        imp: Impl,
        /// The proxy's frontend.
        endpoint: String,
        /// Request size.
        size: usize,
        /// Requests.
        count: u64,
    },
}

impl Role {
    /// The implementation this role runs.
    pub fn imp(&self) -> Impl {
        match self {
            Role::ThrRecv { imp, .. }
            | Role::ThrSend { imp, .. }
            | Role::ThrInproc { imp, .. }
            | Role::LatRep { imp, .. }
            | Role::LatReq { imp, .. }
            | Role::LatInproc { imp, .. }
            | Role::FanPub { imp, .. }
            | Role::FanSubs { imp, .. }
            | Role::ScaleRouter { imp, .. }
            | Role::ScaleDealers { imp, .. }
            | Role::ProxyQueue { imp }
            | Role::ProxyWorker { imp, .. }
            | Role::ProxyClient { imp, .. } => *imp,
        }
    }
}

struct RoleJob {
    role: Role,
    control: Control,
}

impl Job for RoleJob {
    type Output = BResult<()>;

    fn run<B: crate::backend::Backend>(self) -> BResult<()> {
        let c = &self.control;
        match self.role {
            Role::ThrRecv {
                endpoint,
                size,
                count,
                security,
                ..
            } => work::thr::recv::<B>(&endpoint, size, count, &security, c),
            Role::ThrSend {
                endpoint,
                size,
                count,
                security,
                ..
            } => work::thr::send::<B>(&endpoint, size, count, &security, c),
            Role::ThrInproc { size, count, .. } => work::thr::inproc::<B>(size, count),
            Role::LatRep {
                endpoint, security, ..
            } => work::lat::rep::<B>(&endpoint, &security, c),
            Role::LatReq {
                endpoint,
                size,
                warmup,
                count,
                max_s,
                security,
                ..
            } => work::lat::req::<B>(&endpoint, size, warmup, count, max_s, &security),
            Role::LatInproc {
                size,
                warmup,
                count,
                max_s,
                ..
            } => work::lat::inproc::<B>(size, warmup, count, max_s),
            Role::FanPub {
                endpoint, count, ..
            } => work::fanout::publisher::<B>(&endpoint, count, c),
            Role::FanSubs { endpoint, subs, .. } => work::fanout::subscribers::<B>(&endpoint, subs),
            Role::ScaleRouter {
                endpoint, conns, ..
            } => work::scale::router::<B>(&endpoint, conns, c),
            Role::ScaleDealers {
                endpoint,
                conns,
                duration_s,
                ..
            } => work::scale::dealers::<B>(&endpoint, conns, duration_s, c),
            Role::ProxyQueue { .. } => work::proxy::proxy::<B>(c),
            Role::ProxyWorker { endpoint, .. } => work::proxy::worker::<B>(&endpoint, c),
            Role::ProxyClient {
                endpoint,
                size,
                count,
                ..
            } => work::proxy::client::<B>(&endpoint, size, count, c),
        }
    }
}

/// Runs the role described by `spec` (JSON) and returns the exit code.
/// Every outcome, including failure, is reported as an event.
pub fn run(spec: &str) -> i32 {
    let role: Role = match serde_json::from_str(spec) {
        Ok(r) => r,
        Err(e) => {
            emit(&Event::Failed {
                reason: format!("bad role spec: {e}"),
            });
            return 2;
        }
    };
    let imp = role.imp();
    let control = Control::start();
    let outcome = match imp {
        Impl::FerromqAsync => work::asyncio::run(role, &control),
        _ => dispatch(imp, RoleJob { role, control })
            .unwrap_or_else(|| Err(BenchError::failed(format!("{imp:?} has no sync backend")))),
    };
    match outcome {
        Ok(()) => 0,
        Err(e) if e.class == ErrorClass::Unsupported => {
            emit(&Event::Unsupported { reason: e.message });
            0
        }
        Err(e) => {
            emit(&Event::Failed { reason: e.message });
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CurveKeys;

    #[test]
    fn null_roles_look_as_before() {
        // A NULL role's spec has no security field, and a spec without one
        // (e.g. written before CURVE rows) reads as NULL.
        let role = Role::LatRep {
            imp: Impl::Ferromq,
            endpoint: "tcp://127.0.0.1:*".into(),
            security: Security::Null,
        };
        let text = serde_json::to_string(&role).unwrap();
        assert!(!text.contains("security"), "{text}");
        let back: Role = serde_json::from_str(
            r#"{"role":"thr_recv","imp":"libzmq","endpoint":"tcp://127.0.0.1:*","size":64,"count":10}"#,
        )
        .unwrap();
        assert!(matches!(
            back,
            Role::ThrRecv {
                security: Security::Null,
                ..
            }
        ));
    }

    #[test]
    fn curve_keys_reach_the_child() {
        let keys = CurveKeys::generate();
        let role = Role::ThrSend {
            imp: Impl::Libzmq,
            endpoint: "tcp://127.0.0.1:5555".into(),
            size: 64,
            count: 10,
            security: keys.client(),
        };
        let back: Role = serde_json::from_str(&serde_json::to_string(&role).unwrap()).unwrap();
        let Role::ThrSend { security, .. } = back else {
            panic!("role changed kind");
        };
        assert_eq!(security, keys.client());
    }
}
