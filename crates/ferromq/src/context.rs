//! `Context`: owns the I/O threads and knows every socket, so termination
//! can interrupt blocked calls and wait for linger.

use crate::error::{Error, Result};
use crate::io::IoThread;
use crate::pipe::Wake;
use crate::socket::{Socket, SocketLink};
use ferromq_proto::SocketType;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

pub(crate) struct CtxShared {
    terminated: AtomicBool,
    sockets: Mutex<HashMap<u64, Arc<SocketLink>>>,
    sockets_gone: Condvar,
    io_threads: Vec<IoThread>,
    next_io: AtomicUsize,
    /// inproc names bound in this context, and connects waiting for them.
    inproc: Mutex<crate::inproc::Registry>,
}

impl CtxShared {
    fn sockets(&self) -> MutexGuard<'_, HashMap<u64, Arc<SocketLink>>> {
        self.sockets.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.terminated.load(Ordering::Acquire)
    }

    /// A new id, unique within the context (sockets, pipes, endpoints).
    pub(crate) fn next_id(&self) -> u64 {
        crate::io::next_id()
    }

    /// The I/O thread for the next bind/connect: round-robin over the
    /// threads `affinity` allows (bit i = thread i; 0, or bits naming no
    /// thread, allow all, as in libzmq).
    pub(crate) fn choose_io(&self, affinity: u64) -> usize {
        let n = self.io_threads.len();
        let turn = self.next_io.fetch_add(1, Ordering::Relaxed);
        let allowed = || (0..n.min(64)).filter(move |i| affinity & (1u64 << i) != 0);
        match allowed().count() {
            0 => turn % n,
            count => allowed().nth(turn % count).unwrap_or(0),
        }
    }

    pub(crate) fn inproc(&self) -> MutexGuard<'_, crate::inproc::Registry> {
        self.inproc.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn io(&self, index: usize) -> &IoThread {
        &self.io_threads[index]
    }

    pub(crate) fn register_socket(&self, link: Arc<SocketLink>) -> Result<()> {
        if self.is_terminated() {
            return Err(Error::term());
        }
        self.sockets().insert(link.id, link);
        Ok(())
    }

    pub(crate) fn unregister_socket(&self, id: u64) {
        let mut sockets = self.sockets();
        sockets.remove(&id);
        if sockets.is_empty() {
            self.sockets_gone.notify_all();
        }
    }

    fn terminate(&self) {
        self.terminated.store(true, Ordering::Release);
        // Wake every socket so its blocked call notices and returns ETERM.
        for link in self.sockets().values() {
            link.mailbox.wake();
        }
    }

    fn wait_for_sockets(&self) {
        let mut sockets = self.sockets();
        while !sockets.is_empty() {
            sockets = self
                .sockets_gone
                .wait(sockets)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for CtxShared {
    fn drop(&mut self) {
        // The last socket and the last Context handle are gone: let the I/O
        // threads finish lingering connections, then stop them.
        self.stop_io_threads();
    }
}

impl CtxShared {
    /// Lets the I/O threads finish lingering connections, then stops them
    /// (a no-op for threads already stopped).
    fn stop_io_threads(&self) {
        for io in &self.io_threads {
            io.stop_and_join();
        }
    }
}

/// A ZeroMQ context: the I/O threads and the sockets made from it.
///
/// Cloning a `Context` gives another handle to the same context.
/// [`term`](Context::term) interrupts every blocked call on its sockets
/// with `ETERM`, waits until they are all closed and their queued messages
/// have left (or their LINGER expired). Dropping the last handle and
/// socket does the same waiting without the interruption.
///
/// ```
/// use ferromq::{Context, SocketType};
/// let ctx = Context::new();
/// let sock = ctx.socket(SocketType::Req)?;
/// drop(sock);
/// ctx.term();
/// # Ok::<(), ferromq::Error>(())
/// ```
#[derive(Clone)]
pub struct Context {
    shared: Arc<CtxShared>,
}

impl Context {
    /// A context with one I/O thread.
    pub fn new() -> Context {
        Context::with_io_threads(1).expect("one I/O thread")
    }

    /// A context with `n` I/O threads (at least 1).
    pub fn with_io_threads(n: usize) -> Result<Context> {
        if n == 0 {
            return Err(Error::inval("a context needs at least one I/O thread"));
        }
        let io_threads = (0..n).map(IoThread::spawn).collect::<Result<Vec<_>>>()?;
        Ok(Context {
            shared: Arc::new(CtxShared {
                terminated: AtomicBool::new(false),
                sockets: Mutex::new(HashMap::new()),
                sockets_gone: Condvar::new(),
                io_threads,
                next_io: AtomicUsize::new(0),
                inproc: Mutex::new(crate::inproc::Registry::default()),
            }),
        })
    }

    /// Creates a socket of `socket_type`.
    pub fn socket(&self, socket_type: SocketType) -> Result<Socket> {
        Socket::new(self.shared.clone(), socket_type)
    }

    /// Number of I/O threads.
    pub fn io_threads(&self) -> usize {
        self.shared.io_threads.len()
    }

    /// Makes every blocking call on this context's sockets return `ETERM`
    /// (and every later call fail with it), without waiting.
    pub fn shutdown(&self) {
        self.shared.terminate();
    }

    /// Like zmq_ctx_term: interrupts blocked calls with `ETERM`, waits
    /// until every socket of the context is closed (dropped), then waits
    /// until what they queued has been sent or their LINGER has expired.
    /// With LINGER -1 (the default) and an unreachable peer this waits
    /// forever, as libzmq does.
    pub fn term(&self) {
        self.shared.terminate();
        self.shared.wait_for_sockets();
        self.shared.stop_io_threads();
    }

    /// True once [`term`](Context::term) or [`shutdown`](Context::shutdown)
    /// was called.
    pub fn is_terminated(&self) -> bool {
        self.shared.is_terminated()
    }
}

impl Default for Context {
    fn default() -> Context {
        Context::new()
    }
}
