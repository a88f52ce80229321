//! A terminated context leaves no threads and no file descriptors behind.
//! Alone in its own test binary: other tests running in parallel threads
//! of the same process would change the counts.

mod common;

use common::*;
use ferromq::{Context, SocketType};

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

fn threads() -> usize {
    count("/proc/self/task")
}

fn fds() -> usize {
    count("/proc/self/fd")
}

/// One round of everything that opens threads and fds: I/O threads,
/// listeners and connections over tcp and ipc, inproc pipes, a monitor,
/// traffic both ways, then close and term.
fn busy_context(dir: &TempDir) {
    let ctx = Context::with_io_threads(2).unwrap();
    let mut sockets = Vec::new();
    for ep in [
        "tcp://127.0.0.1:*".to_string(),
        format!("ipc://{}/leak.ipc", dir.path().display()),
        "inproc://leak".to_string(),
    ] {
        let rep = with_timeout(ctx.socket(SocketType::Rep).unwrap());
        let _events = rep.monitor(ferromq::monitor::event::ALL).unwrap();
        rep.bind(&ep).unwrap();
        let req = with_timeout(ctx.socket(SocketType::Req).unwrap());
        req.set_option_raw(ferromq::option::HEARTBEAT_IVL, &50i32.to_ne_bytes())
            .unwrap();
        req.connect(&rep.last_endpoint().unwrap()).unwrap();
        for _ in 0..10 {
            req.send("ping", 0).unwrap();
            rep.recv(0).unwrap();
            rep.send("pong", 0).unwrap();
            req.recv(0).unwrap();
        }
        sockets.push(rep);
        sockets.push(req);
    }
    // A connect that never succeeds, with a reconnect timer pending.
    let lonely = ctx.socket(SocketType::Dealer).unwrap();
    lonely.set_linger(0).unwrap();
    lonely.connect("tcp://127.0.0.1:1").unwrap();
    lonely.send("nobody", 0).unwrap();
    sockets.push(lonely);
    drop(sockets);
    ctx.term();
}

#[test]
fn a_terminated_context_leaves_no_threads_or_fds() {
    let dir = TempDir::new();
    // A first round warms up what the process keeps anyway (the test
    // harness's own threads, lazily opened files).
    busy_context(&dir);
    let (threads_before, fds_before) = (threads(), fds());
    for _ in 0..3 {
        busy_context(&dir);
    }
    // term() joins the I/O threads, so their exit is complete; the count
    // is exact, not eventual.
    assert_eq!(threads(), threads_before, "threads left behind");
    assert_eq!(fds(), fds_before, "file descriptors left behind");
}
