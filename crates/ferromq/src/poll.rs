//! Waiting on several sockets and raw file descriptors at once: [`poll`]
//! (like zmq_poll, items given each call) and [`Poller`] (like
//! zmq_poller or pyzmq's `Poller`, registered once).

use crate::error::{Error, ErrorKind, Result};
use crate::mailbox::wait_until;
use crate::options::{POLLERR, POLLIN, POLLOUT};
use crate::pipe::{Wake, Waker};
use crate::signal::FdSignal;
use crate::socket::Socket;
use mio::unix::SourceFd;
use mio::{Events, Interest, Token};
use std::os::fd::RawFd;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What is watched: a ferromq socket or a raw file descriptor.
#[derive(Clone, Copy)]
enum Target<'a> {
    Socket(&'a Socket),
    Fd(RawFd),
}

/// One socket or file descriptor to watch and what for; [`poll`] fills in
/// `revents`.
pub struct PollItem<'a> {
    target: Target<'a>,
    events: i32,
    revents: i32,
}

impl<'a> PollItem<'a> {
    /// Watch `socket` for `events` ([`POLLIN`] and/or [`POLLOUT`]).
    pub fn new(socket: &'a Socket, events: i32) -> PollItem<'a> {
        PollItem {
            target: Target::Socket(socket),
            events,
            revents: 0,
        }
    }

    /// Watch a raw file descriptor (a pipe, a TCP socket of your own, ...)
    /// for `events`; [`POLLERR`] is reported whether asked for or not, as
    /// poll(2) does.
    pub fn fd(fd: RawFd, events: i32) -> PollItem<'a> {
        PollItem {
            target: Target::Fd(fd),
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
    let deadline = deadline_of(timeout_ms)?;
    if items.iter().any(|i| matches!(i.target, Target::Fd(_))) {
        // Raw descriptors need the kernel's poller.
        let mut poller = Poller::new()?;
        for item in items.iter() {
            match item.target {
                Target::Socket(s) => poller.add(s, item.events)?,
                Target::Fd(fd) => poller.add_fd(fd, item.events)?,
            };
        }
        let mut ready = Vec::new();
        let n = poller.wait(&mut ready, timeout_ms)?;
        items.iter_mut().for_each(|i| i.revents = 0);
        for r in ready {
            items[r.index].revents = r.events;
        }
        return Ok(n);
    }
    let flag: Arc<Flag> = Arc::default();
    let waker: Waker = flag.clone();
    // Register before checking, so a change right after a check still
    // wakes us.
    for item in items.iter() {
        if let Target::Socket(s) = item.target {
            s.watch(waker.clone());
        }
    }
    let result = (|| loop {
        let mut ready = 0;
        for item in items.iter_mut() {
            let Target::Socket(socket) = item.target else {
                continue;
            };
            item.revents = socket.events()? & item.events;
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
        if let Target::Socket(s) = item.target {
            s.unwatch(&waker);
        }
    }
    result
}

/// `None` for "do not wait" and "forever" alike (the callers tell them
/// apart by the timeout); EINVAL below -1.
fn deadline_of(timeout_ms: i64) -> Result<Option<Instant>> {
    if timeout_ms < -1 {
        return Err(Error::inval(format!(
            "poll timeout must be -1, 0 or positive, got {timeout_ms}"
        )));
    }
    Ok((timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms as u64)))
}

/// One ready item of a [`Poller`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    /// The index [`Poller::add`] or [`Poller::add_fd`] returned.
    pub index: usize,
    /// The events found: [`POLLIN`], [`POLLOUT`], [`POLLERR`].
    pub events: i32,
}

const WAKE: Token = Token(usize::MAX);

/// A set of sockets and file descriptors registered once and waited on
/// many times (zmq_poller, pyzmq's `Poller`).
///
/// Readiness is exact: a socket is reported when [`Socket::events`] says
/// so, a descriptor when poll(2) would (level-triggered). An idle wait
/// sleeps in the kernel and uses no CPU; a socket's pipes wake it.
///
/// ```
/// use ferromq::{Context, Poller, SocketType, POLLIN};
/// let ctx = Context::new();
/// let a = ctx.socket(SocketType::Pull)?;
/// a.bind("inproc://poller-a")?;
/// let b = ctx.socket(SocketType::Pull)?;
/// b.bind("inproc://poller-b")?;
/// let mut poller = Poller::new()?;
/// let ia = poller.add(&a, POLLIN)?;
/// let ib = poller.add(&b, POLLIN)?;
/// let push = ctx.socket(SocketType::Push)?;
/// push.connect("inproc://poller-b")?;
/// push.send("hi", 0)?;
/// let mut ready = Vec::new();
/// assert_eq!(poller.wait(&mut ready, 5000)?, 1);
/// assert_eq!((ready[0].index, ready[0].events), (ib, POLLIN));
/// # let _ = ia;
/// # Ok::<(), ferromq::Error>(())
/// ```
pub struct Poller<'a> {
    items: Vec<Option<(Target<'a>, i32)>>,
    poll: mio::Poll,
    events: Events,
    /// Raised by any watched socket that may have changed.
    signal: Arc<FdSignal>,
    waker: Waker,
}

fn io_error(e: &std::io::Error, what: &str) -> Error {
    Error::from_io(e, what)
}

fn interest(events: i32) -> Interest {
    match (events & POLLIN != 0, events & POLLOUT != 0) {
        (_, false) => Interest::READABLE,
        (false, true) => Interest::WRITABLE,
        (true, true) => Interest::READABLE | Interest::WRITABLE,
    }
}

impl<'a> Poller<'a> {
    /// An empty poller.
    pub fn new() -> Result<Poller<'a>> {
        let poll = mio::Poll::new().map_err(|e| io_error(&e, "cannot create a poller"))?;
        let signal = Arc::new(FdSignal::new().map_err(|e| io_error(&e, "cannot create a poller"))?);
        poll.registry()
            .register(&mut SourceFd(&signal.fd()), WAKE, Interest::READABLE)
            .map_err(|e| io_error(&e, "cannot create a poller"))?;
        Ok(Poller {
            items: Vec::new(),
            poll,
            events: Events::with_capacity(64),
            waker: signal.clone(),
            signal,
        })
    }

    /// Watches `socket` for `events` ([`POLLIN`] and/or [`POLLOUT`]);
    /// returns the index [`wait`](Poller::wait) reports it by.
    pub fn add(&mut self, socket: &'a Socket, events: i32) -> Result<usize> {
        let taken = self
            .items
            .iter()
            .flatten()
            .any(|(t, _)| matches!(t, Target::Socket(s) if std::ptr::eq(*s, socket)));
        if taken {
            return Err(Error::inval("this socket is already in the poller"));
        }
        socket.watch(self.waker.clone());
        self.items.push(Some((Target::Socket(socket), events)));
        Ok(self.items.len() - 1)
    }

    /// Watches a raw file descriptor for `events`; [`POLLERR`] is always
    /// reported. Returns the index [`wait`](Poller::wait) reports it by.
    pub fn add_fd(&mut self, fd: RawFd, events: i32) -> Result<usize> {
        let index = self.items.len();
        self.poll
            .registry()
            .register(&mut SourceFd(&fd), Token(index), interest(events))
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::inval(format!("fd {fd} is already in the poller"))
                } else {
                    io_error(&e, &format!("cannot watch fd {fd}"))
                }
            })?;
        self.items.push(Some((Target::Fd(fd), events)));
        Ok(index)
    }

    /// Changes what item `index` is watched for.
    pub fn modify(&mut self, index: usize, events: i32) -> Result<()> {
        let Some(Some((target, wanted))) = self.items.get_mut(index) else {
            return Err(no_item(index));
        };
        *wanted = events;
        if let Target::Fd(fd) = *target {
            self.poll
                .registry()
                .reregister(&mut SourceFd(&fd), Token(index), interest(events))
                .map_err(|e| io_error(&e, &format!("cannot watch fd {fd}")))?;
        }
        Ok(())
    }

    /// Stops watching item `index` (other indexes stay as they are).
    pub fn remove(&mut self, index: usize) -> Result<()> {
        let Some((target, _)) = self.items.get_mut(index).and_then(Option::take) else {
            return Err(no_item(index));
        };
        match target {
            Target::Socket(s) => s.unwatch(&self.waker),
            Target::Fd(fd) => {
                let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
            }
        }
        Ok(())
    }

    /// Waits until at least one item is ready or `timeout_ms` passes (-1
    /// forever, 0 only checks); fills `ready` (cleared first) and returns
    /// how many items are ready.
    pub fn wait(&mut self, ready: &mut Vec<Ready>, timeout_ms: i64) -> Result<usize> {
        let deadline = deadline_of(timeout_ms)?;
        ready.clear();
        // Descriptors are level-triggered: re-arming each one reports it
        // again if it is still ready (mio's epoll is edge-triggered).
        for (index, item) in self.items.iter().enumerate() {
            if let Some((Target::Fd(fd), events)) = item {
                self.poll
                    .registry()
                    .reregister(&mut SourceFd(fd), Token(index), interest(*events))
                    .map_err(|e| io_error(&e, &format!("cannot watch fd {fd}")))?;
            }
        }
        let mut block = false;
        loop {
            // Cleared before the sockets are looked at: a change after the
            // look raises it again, so the kernel wait below sees it.
            self.signal.clear();
            for (index, item) in self.items.iter().enumerate() {
                if let Some((Target::Socket(socket), events)) = item {
                    let found = socket.events()? & events;
                    if found != 0 {
                        ready.push(Ready {
                            index,
                            events: found,
                        });
                    }
                }
            }
            let wait_for = if !ready.is_empty() || !block {
                Some(Duration::ZERO)
            } else {
                deadline.map(|d| d.saturating_duration_since(Instant::now()))
            };
            match self.poll.poll(&mut self.events, wait_for) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(&e, "poll failed")),
            }
            for event in self.events.iter() {
                if event.token() == WAKE {
                    continue;
                }
                let index = event.token().0;
                let Some(Some((Target::Fd(_), events))) = self.items.get(index) else {
                    continue;
                };
                let mut found = 0;
                if event.is_readable() || event.is_read_closed() {
                    found |= POLLIN;
                }
                if event.is_writable() || event.is_write_closed() {
                    found |= POLLOUT;
                }
                found &= events;
                if event.is_error() {
                    found |= POLLERR;
                }
                if found != 0 {
                    ready.push(Ready {
                        index,
                        events: found,
                    });
                }
            }
            if !ready.is_empty() || timeout_ms == 0 {
                return Ok(ready.len());
            }
            if block && deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(0);
            }
            // Nothing yet: the next round sleeps in the kernel.
            block = true;
        }
    }
}

fn no_item(index: usize) -> Error {
    Error::new(ErrorKind::EINVAL, format!("no item {index} in the poller"))
}

impl Drop for Poller<'_> {
    fn drop(&mut self) {
        for (target, _) in self.items.iter().flatten() {
            if let Target::Socket(s) = target {
                s.unwatch(&self.waker);
            }
        }
    }
}
