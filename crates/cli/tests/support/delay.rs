//! A TCP forwarder that holds every chunk back for a fixed delay, both
//! ways: added latency for the fault tests, since this kernel has no
//! netem qdisc. Order is kept; nothing is lost or reordered by it.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Listens on 127.0.0.1 and forwards each connection to `target` with
/// `delay` added in each direction. Runs until the test process ends.
pub struct DelayProxy {
    /// Where to connect to reach the target through the proxy.
    pub endpoint: String,
}

impl DelayProxy {
    pub fn start(target: std::net::SocketAddr, delay: Duration) -> DelayProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("tcp://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(target) else {
                    continue; // the client sees its connection close
                };
                for (from, to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    forward(from, to, delay);
                }
            }
        });
        DelayProxy { endpoint }
    }
}

/// Copies `from` to `to`, each chunk sent `delay` after it was read.
fn forward(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    type Queue = (Mutex<(VecDeque<(Instant, Vec<u8>)>, bool)>, Condvar);
    let queue: Arc<Queue> = Arc::new((Mutex::new((VecDeque::new(), false)), Condvar::new()));
    let reader_queue = queue.clone();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = from.read(&mut buf).unwrap_or(0);
            let (lock, ready) = &*reader_queue;
            let mut q = lock.lock().unwrap();
            if n == 0 {
                q.1 = true;
                ready.notify_one();
                return;
            }
            q.0.push_back((Instant::now() + delay, buf[..n].to_vec()));
            ready.notify_one();
        }
    });
    std::thread::spawn(move || loop {
        let (lock, ready) = &*queue;
        let mut q = lock.lock().unwrap();
        while q.0.is_empty() && !q.1 {
            q = ready.wait(q).unwrap();
        }
        let Some((due, chunk)) = q.0.pop_front() else {
            let _ = to.shutdown(Shutdown::Write);
            return;
        };
        drop(q);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        if to.write_all(&chunk).is_err() {
            return;
        }
    });
}
