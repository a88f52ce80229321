//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test file uses a subset

use ferromq::{Context, Socket, SocketType};
use std::time::{Duration, Instant};

/// Generous: machines are shared and slow; nothing waits this long when
/// things work.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A socket bound to an ephemeral port on 127.0.0.1, and its endpoint.
pub fn bound(ctx: &Context, t: SocketType) -> (Socket, String) {
    let s = ctx.socket(t).unwrap();
    s.bind("tcp://127.0.0.1:*").unwrap();
    let ep = s.last_endpoint().unwrap();
    (s, ep)
}

/// A transport the semantics tests run over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Ipc,
    Inproc,
}

impl Transport {
    /// An endpoint to bind that no other test uses: an ephemeral tcp port,
    /// a generated ipc path, or a fresh inproc name.
    pub fn any_endpoint(self) -> String {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        match self {
            Transport::Tcp => "tcp://127.0.0.1:*".into(),
            Transport::Ipc => "ipc://*".into(),
            Transport::Inproc => format!(
                "inproc://test-{}",
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
        }
    }
}

/// A socket bound on `tr`, and the endpoint to connect to.
pub fn bound_on(ctx: &Context, tr: Transport, t: SocketType) -> (Socket, String) {
    let s = ctx.socket(t).unwrap();
    s.bind(&tr.any_endpoint()).unwrap();
    let ep = s.last_endpoint().unwrap();
    (s, ep)
}

/// Runs each listed `fn(Transport)` as one test per transport, in modules
/// named after the transports (`tcp::name`, `ipc::name`, `inproc::name`).
#[macro_export]
macro_rules! per_transport {
    ([], $($name:ident),+ $(,)?) => {};
    ([$tr:ident $(, $rest:ident)*], $($name:ident),+ $(,)?) => {
        $crate::per_transport!(@one $tr, $($name),+);
        $crate::per_transport!([$($rest),*], $($name),+);
    };
    (@one Tcp, $($name:ident),+) => { $crate::per_transport!(@mod tcp, Tcp, $($name),+); };
    (@one Ipc, $($name:ident),+) => { $crate::per_transport!(@mod ipc, Ipc, $($name),+); };
    (@one Inproc, $($name:ident),+) => { $crate::per_transport!(@mod inproc, Inproc, $($name),+); };
    (@mod $m:ident, $tr:ident, $($name:ident),+) => {
        mod $m {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::common::Transport::$tr)
                }
            )+
        }
    };
}

/// A private directory removed when dropped (ipc paths of a test).
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("ferromq-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A socket connected to `ep`.
pub fn connected(ctx: &Context, t: SocketType, ep: &str) -> Socket {
    let s = ctx.socket(t).unwrap();
    s.connect(ep).unwrap();
    s
}

/// Polls `cond` until it holds or the deadline passes.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sets a receive timeout so a broken test fails instead of hanging.
pub fn with_timeout(s: Socket) -> Socket {
    s.set_rcvtimeo(DEADLINE.as_millis() as i32).unwrap();
    s
}

/// The port of a `tcp://host:port` endpoint.
pub fn port_of(ep: &str) -> u16 {
    ep.rsplit(':').next().unwrap().parse().unwrap()
}

mod ports;
#[allow(unused_imports)] // each test file uses a subset
pub use ports::{unused_endpoint, unused_port};
