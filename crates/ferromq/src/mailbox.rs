//! The socket's mailbox: commands from I/O threads (a pipe attached, a
//! pipe gone) and wake-ups from pipes, with a blocking wait for the owning
//! thread.

use crate::pipe::{Wake, Waker};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

pub(crate) struct Mailbox<C> {
    state: Mutex<State<C>>,
    cond: Condvar,
    /// Commands are queued: lets the owner skip the lock on every call
    /// when there are none (the common case on the data path).
    has_commands: AtomicBool,
    /// Mirrors `State::signaled` for the owner's brief spin before sleeping.
    signaled_hint: AtomicBool,
}

/// How long an owner that expects a reply looks for the wake-up before it
/// sleeps. Sleeping costs two futex calls and, on a virtual machine, the
/// wake-up of an idle CPU: about 100 µs per inproc round trip here, where
/// a peer answering from a busy core takes about 1 µs.
const SPIN_BEFORE_SLEEP: std::time::Duration = std::time::Duration::from_micros(20);

struct State<C> {
    signaled: bool,
    /// The owner is blocked on the condvar: only then does a wake-up need
    /// the (syscall) notify.
    sleeping: bool,
    /// The owner is gone: commands are dropped on arrival, so whatever
    /// they carry (a pipe end) is released instead of kept forever.
    closed: bool,
    commands: VecDeque<C>,
    /// Pollers waiting on this socket among others: woken on every wake.
    watchers: Vec<Waker>,
}

impl<C: Send> Mailbox<C> {
    pub(crate) fn new() -> Mailbox<C> {
        Mailbox {
            state: Mutex::new(State {
                signaled: false,
                sleeping: false,
                closed: false,
                commands: VecDeque::new(),
                watchers: Vec::new(),
            }),
            cond: Condvar::new(),
            has_commands: AtomicBool::new(false),
            signaled_hint: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<C>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a command and wakes the owner. After
    /// [`close`](Mailbox::close) the command is dropped instead.
    pub(crate) fn send(&self, command: C) {
        let mut st = self.lock();
        if st.closed {
            drop(st);
            drop(command);
            return;
        }
        st.commands.push_back(command);
        self.has_commands.store(true, Ordering::Release);
        let notify = self.signal(&mut st);
        let watchers = Watchers::copy(&st.watchers);
        drop(st);
        if notify {
            self.cond.notify_one();
        }
        watchers.wake();
    }

    /// Whether a command is queued (an atomic load, no lock).
    pub(crate) fn has_commands(&self) -> bool {
        self.has_commands.load(Ordering::Acquire)
    }

    /// Registers a poller to be woken along with the owner.
    pub(crate) fn watch(&self, watcher: Waker) {
        self.lock().watchers.push(watcher);
    }

    /// Removes a poller registered with [`watch`](Mailbox::watch).
    pub(crate) fn unwatch(&self, watcher: &Waker) {
        self.lock().watchers.retain(|w| !Arc::ptr_eq(w, watcher));
    }

    /// Takes all queued commands.
    pub(crate) fn take_commands(&self) -> VecDeque<C> {
        if !self.has_commands.load(Ordering::Acquire) {
            return VecDeque::new();
        }
        let mut st = self.lock();
        self.has_commands.store(false, Ordering::Relaxed);
        std::mem::take(&mut st.commands)
    }

    /// Waits until woken (or `deadline`); returns false on timeout. A wake
    /// that happened since the last wait returns at once, so no wake-up is
    /// ever missed between checking a pipe and waiting.
    ///
    /// `expecting_reply` (the owner sent since its last wait: request and
    /// reply, ping-pong) spins briefly first. A receiver that only receives
    /// does not: there, sleeping until the writer has queued a batch is
    /// what keeps the wake-ups per message low (spinning cost inproc
    /// throughput about a third).
    pub(crate) fn wait(&self, deadline: Option<Instant>, expecting_reply: bool) -> bool {
        if expecting_reply {
            self.spin_for_wake(deadline);
        }
        let mut st = self.lock();
        if !st.signaled {
            st.sleeping = true;
            st = wait_until(&self.cond, st, deadline, |st| st.signaled).0;
            st.sleeping = false;
        }
        let woken = st.signaled;
        if woken {
            st.signaled = false;
            self.signaled_hint.store(false, Ordering::Relaxed);
        }
        woken
    }

    /// For an owner that does not sleep here (an async task): forgets
    /// earlier wake-ups, then watches for a new one for up to
    /// SPIN_BEFORE_SLEEP; true if one came.
    pub(crate) fn spin_for_next_wake(&self) -> bool {
        self.signaled_hint.store(false, Ordering::SeqCst);
        self.spin_for_wake(None);
        self.signaled_hint.load(Ordering::Acquire)
    }

    /// Watches for a wake-up for up to SPIN_BEFORE_SLEEP (never past the
    /// deadline).
    fn spin_for_wake(&self, deadline: Option<Instant>) {
        let mut until = Instant::now() + SPIN_BEFORE_SLEEP;
        if let Some(d) = deadline {
            until = until.min(d);
        }
        loop {
            for _ in 0..64 {
                if self.signaled_hint.load(Ordering::Acquire) {
                    return;
                }
                std::hint::spin_loop();
            }
            if Instant::now() >= until {
                return;
            }
            // A peer thread waiting for this CPU (a busy or small machine)
            // runs now instead of after the spin: spinning without this
            // made inproc round trips 5× slower than libzmq's under load.
            std::thread::yield_now();
        }
    }

    /// Marks the owner woken (under the lock); true if it is asleep and
    /// must be notified.
    fn signal(&self, st: &mut State<C>) -> bool {
        let notify = st.sleeping && !st.signaled;
        st.signaled = true;
        self.signaled_hint.store(true, Ordering::Release);
        notify
    }

    /// The owner is closing: drops every queued command, and every later
    /// one on arrival. A pipe attached while the socket closed must not
    /// stay in the mailbox, where its engine would wait on it forever.
    pub(crate) fn close(&self) {
        let commands = {
            let mut st = self.lock();
            st.closed = true;
            st.signaled = false;
            self.signaled_hint.store(false, Ordering::Relaxed);
            std::mem::take(&mut st.commands)
        };
        // Dropped outside the lock: dropping a pipe end wakes its engine.
        drop(commands);
    }
}

/// Waits on `cond` until `ready` holds or `deadline` passes (`None`: no
/// deadline). Returns the guard and whether `ready` holds.
pub(crate) fn wait_until<'a, T>(
    cond: &Condvar,
    guard: MutexGuard<'a, T>,
    deadline: Option<Instant>,
    mut ready: impl FnMut(&mut T) -> bool,
) -> (MutexGuard<'a, T>, bool) {
    let mut guard = match deadline {
        None => cond
            .wait_while(guard, |t| !ready(t))
            .unwrap_or_else(|e| e.into_inner()),
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            cond.wait_timeout_while(guard, left, |t| !ready(t))
                .unwrap_or_else(|e| e.into_inner())
                .0
        }
    };
    let is_ready = ready(&mut guard);
    (guard, is_ready)
}

impl<C: Send> Wake for Mailbox<C> {
    fn wake(&self) {
        let mut st = self.lock();
        // Pollers are woken even when the owner already was: a poller
        // registered after that wake has not seen it.
        let watchers = Watchers::copy(&st.watchers);
        let notify = self.signal(&mut st);
        drop(st);
        if notify {
            self.cond.notify_one();
        }
        watchers.wake();
    }
}

/// The watchers of a wake-up, copied under the lock and woken after it
/// (waking one must not run under the mailbox's lock). One or two (an
/// async task, a poller) are copied without a heap allocation: an async
/// socket's mailbox is woken for every batch of messages.
enum Watchers {
    Few([Option<Waker>; 2]),
    Many(Vec<Waker>),
}

impl Watchers {
    fn copy(watchers: &[Waker]) -> Watchers {
        match watchers {
            [] => Watchers::Few([None, None]),
            [a] => Watchers::Few([Some(a.clone()), None]),
            [a, b] => Watchers::Few([Some(a.clone()), Some(b.clone())]),
            more => Watchers::Many(more.to_vec()),
        }
    }

    fn wake(self) {
        match self {
            Watchers::Few(few) => few.iter().flatten().for_each(|w| w.wake()),
            Watchers::Many(many) => many.iter().for_each(|w| w.wake()),
        }
    }
}
