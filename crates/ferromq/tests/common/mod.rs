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
