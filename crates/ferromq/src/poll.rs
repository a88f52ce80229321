//! `poll`: wait until any of several sockets can receive or send, like
//! zmq_poll over sockets.

use crate::error::{Error, Result};
use crate::mailbox::wait_until;
use crate::options::{POLLIN, POLLOUT};
use crate::pipe::{Wake, Waker};
use crate::socket::Socket;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One socket to watch and what for; [`poll`] fills in `revents`.
pub struct PollItem<'a> {
    socket: &'a Socket,
    events: i32,
    revents: i32,
}

impl<'a> PollItem<'a> {
    /// Watch `socket` for `events` ([`POLLIN`] and/or [`POLLOUT`]).
    pub fn new(socket: &'a Socket, events: i32) -> PollItem<'a> {
        PollItem {
            socket,
            events,
            revents: 0,
        }
    }

    /// The events found ready by the last [`poll`].
    pub fn revents(&self) -> i32 {
        self.revents
    }

    /// True if the last [`poll`] found the socket readable.
    pub fn is_readable(&self) -> bool {
        self.revents & POLLIN != 0
    }

    /// True if the last [`poll`] found the socket writable.
    pub fn is_writable(&self) -> bool {
        self.revents & POLLOUT != 0
    }
}

#[derive(Default)]
struct Flag {
    set: Mutex<bool>,
    cond: Condvar,
}

impl Wake for Flag {
    fn wake(&self) {
        *self.set.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cond.notify_one();
    }
}

impl Flag {
    /// Waits until woken or `deadline`; false on timeout.
    fn wait(&self, deadline: Option<Instant>) -> bool {
        let set = self.set.lock().unwrap_or_else(|e| e.into_inner());
        let (mut set, woken) = wait_until(&self.cond, set, deadline, |set| *set);
        *set = false;
        woken
    }
}

/// Waits until at least one item is ready or `timeout_ms` passes (-1
/// waits forever, 0 only checks). Returns how many items are ready and
/// sets each item's `revents`. An idle wait uses no CPU: the sockets' pipes
/// wake the poller when something arrives or room frees up.
///
/// ```
/// use ferromq::{poll, Context, PollItem, SocketType, POLLIN};
/// let ctx = Context::new();
/// let a = ctx.socket(SocketType::Pull)?;
/// a.bind("tcp://127.0.0.1:*")?;
/// let b = ctx.socket(SocketType::Pull)?;
/// b.bind("tcp://127.0.0.1:*")?;
/// let mut items = [PollItem::new(&a, POLLIN), PollItem::new(&b, POLLIN)];
/// assert_eq!(poll(&mut items, 10)?, 0); // nothing arrived within 10 ms
/// # Ok::<(), ferromq::Error>(())
/// ```
pub fn poll(items: &mut [PollItem<'_>], timeout_ms: i64) -> Result<usize> {
    if timeout_ms < -1 {
        return Err(Error::inval(format!(
            "poll timeout must be -1, 0 or positive, got {timeout_ms}"
        )));
    }
    let deadline =
        (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms as u64));
    let flag: Arc<Flag> = Arc::default();
    let waker: Waker = flag.clone();
    // Register before checking, so a change right after a check still
    // wakes us.
    for item in items.iter() {
        item.socket.watch(waker.clone());
    }
    let result = (|| loop {
        let mut ready = 0;
        for item in items.iter_mut() {
            item.revents = item.socket.events()? & item.events;
            if item.revents != 0 {
                ready += 1;
            }
        }
        if ready > 0 || timeout_ms == 0 {
            return Ok(ready);
        }
        if !flag.wait(deadline) {
            return Ok(0);
        }
    })();
    for item in items.iter() {
        item.socket.unwatch(&waker);
    }
    result
}
