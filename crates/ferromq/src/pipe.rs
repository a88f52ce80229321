//! Pipes: one-directional single-producer single-consumer message queues
//! between a socket and an engine (or, later, between two inproc sockets).
//!
//! The writer batches frames locally and publishes them with one lock when
//! a message is complete (so the reader only ever sees whole messages); the
//! reader takes everything published in one swap. The high-water mark
//! counts whole messages, as libzmq's does, with lock-free counters. The
//! other side is woken only on transitions: the reader when it was waiting
//! on an empty pipe, the writer when it was blocked at the HWM.

use crate::msg::Msg;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Something to wake when a pipe changes state.
pub(crate) trait Wake: Send + Sync {
    fn wake(&self);
}

pub(crate) type Waker = Arc<dyn Wake>;

struct NoWake;
impl Wake for NoWake {
    fn wake(&self) {}
}

pub(crate) fn no_waker() -> Waker {
    Arc::new(NoWake)
}

struct Queue {
    msgs: VecDeque<Msg>,
    reader_waiting: bool,
    writer_closed: bool,
    reader_closed: bool,
    reader_waker: Waker,
    writer_waker: Waker,
}

/// Keeps a field on a cache line of its own: the reader's counter and the
/// writer's flag are written on every message by different threads, and
/// sharing a line would make each write a cross-core transfer.
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

struct Shared {
    queue: Mutex<Queue>,
    /// Whole messages the reader has consumed (written by the reader only).
    read: Padded<AtomicU64>,
    writer_blocked: AtomicBool,
    /// Set (under the lock) whenever the writer publishes or closes; lets a
    /// reader that is already registered as waiting see "still empty"
    /// without taking the lock.
    changed: Padded<AtomicBool>,
    /// Settable: an inproc connect made before its bind learns the
    /// binder's share of the limit later.
    hwm: AtomicU64,
}

impl Shared {
    fn set_hwm(&self, hwm: u64) {
        self.hwm.store(hwm, Ordering::Relaxed);
        // A writer blocked at the old limit may fit under the new one.
        if self.writer_blocked.swap(false, Ordering::SeqCst) {
            let waker = self.lock().writer_waker.clone();
            waker.wake();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding this lock cannot leave the queue torn (every
        // critical section is a few field updates), so poison is ignored.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Creates a pipe holding at most `hwm` whole messages (0 = unlimited).
pub(crate) fn pipe(hwm: u64, reader_waker: Waker, writer_waker: Waker) -> (PipeWriter, PipeReader) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            msgs: VecDeque::new(),
            reader_waiting: true,
            writer_closed: false,
            reader_closed: false,
            reader_waker,
            writer_waker,
        }),
        read: Padded(AtomicU64::new(0)),
        writer_blocked: AtomicBool::new(false),
        changed: Padded(AtomicBool::new(false)),
        hwm: AtomicU64::new(hwm),
    });
    (
        PipeWriter {
            shared: shared.clone(),
            batch: Vec::new(),
            written: 0,
            peer_read: std::cell::Cell::new(0),
            mid_message: false,
        },
        PipeReader {
            shared,
            local: VecDeque::new(),
            mid_message: false,
            registered: false,
            read: 0,
        },
    )
}

/// The writing end.
pub(crate) struct PipeWriter {
    shared: Arc<Shared>,
    batch: Vec<Msg>,
    /// Whole messages written (published or batched).
    written: u64,
    /// The reader's count as last seen: re-read only when it says "full",
    /// so the writer does not pull the reader's cache line every message.
    peer_read: std::cell::Cell<u64>,
    mid_message: bool,
}

impl PipeWriter {
    /// Whether a new message may be started without exceeding the HWM.
    /// When it may not, the writer is marked blocked and will be woken when
    /// the reader makes room.
    #[inline]
    pub(crate) fn check_write(&self) -> bool {
        if self.mid_message || self.has_room() {
            return true;
        }
        self.shared.writer_blocked.store(true, Ordering::SeqCst);
        // The reader may have made room between the check and the flag.
        if self.has_room() {
            self.shared.writer_blocked.store(false, Ordering::SeqCst);
            return true;
        }
        false
    }

    #[inline]
    fn has_room(&self) -> bool {
        let hwm = self.shared.hwm.load(Ordering::Relaxed);
        if hwm == 0 || self.written - self.peer_read.get() < hwm {
            return true;
        }
        self.peer_read.set(self.shared.read.load(Ordering::SeqCst));
        self.written - self.peer_read.get() < hwm
    }

    /// Changes the pipe's HWM (0 = unlimited).
    pub(crate) fn set_hwm(&self, hwm: u64) {
        self.shared.set_hwm(hwm);
    }

    /// Queues one frame. The caller checked [`check_write`] at the start of
    /// the message; frames after the first are always accepted.
    #[inline]
    pub(crate) fn write(&mut self, msg: Msg) {
        self.mid_message = msg.more();
        if !self.mid_message {
            self.written += 1;
        }
        self.batch.push(msg);
    }

    /// Publishes every complete message written so far; a trailing partial
    /// message stays in the batch until its last frame is written.
    pub(crate) fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let complete = if self.mid_message {
            match self.batch.iter().rposition(|m| !m.more()) {
                Some(i) => i + 1,
                None => return,
            }
        } else {
            self.batch.len()
        };
        let waker = {
            let mut q = self.shared.lock();
            if q.reader_closed {
                // Nobody will read: drop, but keep counting as if delivered.
                self.batch.drain(..complete);
                return;
            }
            q.msgs.extend(self.batch.drain(..complete));
            self.shared.changed.store(true, Ordering::Release);
            if q.reader_waiting {
                q.reader_waiting = false;
                Some(q.reader_waker.clone())
            } else {
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Drops the frames of an unfinished message (the connection died in
    /// the middle of it).
    pub(crate) fn rollback(&mut self) {
        if self.mid_message {
            let keep = self
                .batch
                .iter()
                .rposition(|m| !m.more())
                .map_or(0, |i| i + 1);
            self.batch.truncate(keep);
            self.mid_message = false;
        }
    }

    /// True when the reader has gone away.
    pub(crate) fn is_reader_closed(&self) -> bool {
        self.shared.lock().reader_closed
    }

    /// Replaces the waker called when the writer is unblocked.
    pub(crate) fn set_waker(&self, waker: Waker) {
        self.shared.lock().writer_waker = waker;
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        self.rollback();
        self.flush();
        let waker = {
            let mut q = self.shared.lock();
            q.writer_closed = true;
            q.reader_waiting = false;
            self.shared.changed.store(true, Ordering::Release);
            q.reader_waker.clone()
        };
        waker.wake();
    }
}

/// The reading end.
pub(crate) struct PipeReader {
    shared: Arc<Shared>,
    local: VecDeque<Msg>,
    mid_message: bool,
    /// This reader found the pipe empty and set `reader_waiting`; nothing
    /// was published since unless `changed` says so.
    registered: bool,
    /// Whole messages read (published in `Shared::read`).
    read: u64,
}

/// What a read found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadState {
    /// Nothing now; the reader will be woken when something arrives.
    Empty,
    /// The writer has gone and everything it sent has been read.
    Closed,
}

impl PipeReader {
    fn refill(&mut self) -> Result<(), ReadState> {
        if !self.local.is_empty() {
            return Ok(());
        }
        // Still registered and nothing published since: still empty, and
        // the writer will wake us. No lock needed.
        if self.registered && !self.shared.changed.load(Ordering::Acquire) {
            return Err(ReadState::Empty);
        }
        let mut q = self.shared.lock();
        self.shared.changed.store(false, Ordering::Relaxed);
        std::mem::swap(&mut self.local, &mut q.msgs);
        self.registered = false;
        if !self.local.is_empty() {
            return Ok(());
        }
        if q.writer_closed {
            return Err(ReadState::Closed);
        }
        q.reader_waiting = true;
        self.registered = true;
        Err(ReadState::Empty)
    }

    /// Takes the next frame.
    #[inline]
    pub(crate) fn read(&mut self) -> Result<Msg, ReadState> {
        self.refill()?;
        let msg = self.local.pop_front().ok_or(ReadState::Empty)?;
        self.mid_message = msg.more();
        if !self.mid_message {
            self.read += 1;
            // SeqCst: with the writer's SeqCst flag-then-count, one of the
            // two sides sees the other, so a blocked writer is always woken.
            self.shared.read.store(self.read, Ordering::SeqCst);
            if self.shared.writer_blocked.load(Ordering::SeqCst)
                && self.shared.writer_blocked.swap(false, Ordering::SeqCst)
            {
                let waker = self.shared.lock().writer_waker.clone();
                waker.wake();
            }
        }
        Ok(msg)
    }

    /// Whether a frame can be read now (does not consume it).
    pub(crate) fn check_read(&mut self) -> bool {
        self.refill().is_ok()
    }

    /// True if the last frame read had MORE set.
    pub(crate) fn mid_message(&self) -> bool {
        self.mid_message
    }

    /// Discards the rest of a message whose first frames were read by a
    /// connection that has since died. Returns false if frames are still to
    /// come (the writer has not published them yet).
    pub(crate) fn skip_partial(&mut self) -> bool {
        while self.mid_message {
            if self.read().is_err() {
                return false;
            }
        }
        true
    }

    /// Replaces the waker called when data arrives.
    pub(crate) fn set_waker(&self, waker: Waker) {
        self.shared.lock().reader_waker = waker;
    }

    /// Changes the pipe's HWM (0 = unlimited).
    pub(crate) fn set_hwm(&self, hwm: u64) {
        self.shared.set_hwm(hwm);
    }

    /// True when the writer closed and everything was read.
    pub(crate) fn is_closed(&mut self) -> bool {
        matches!(self.refill(), Err(ReadState::Closed))
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        let waker = {
            let mut q = self.shared.lock();
            q.reader_closed = true;
            q.msgs.clear();
            q.writer_waker.clone()
        };
        self.shared.writer_blocked.store(false, Ordering::SeqCst);
        waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Counter(AtomicUsize);
    impl Wake for Counter {
        fn wake(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> Arc<Counter> {
        Arc::new(Counter(AtomicUsize::new(0)))
    }

    #[test]
    fn reader_sees_only_whole_messages_and_is_woken_once_per_transition() {
        let rw = counter();
        let (mut w, mut r) = pipe(0, rw.clone(), no_waker());
        w.write(Msg::from("a").with_more(true));
        w.flush();
        assert_eq!(r.read(), Err(ReadState::Empty));
        assert_eq!(rw.0.load(Ordering::SeqCst), 0);
        w.write(Msg::from("b"));
        w.write(Msg::from("c"));
        w.flush();
        assert_eq!(rw.0.load(Ordering::SeqCst), 1);
        assert_eq!(&r.read().unwrap()[..], b"a");
        assert_eq!(&r.read().unwrap()[..], b"b");
        assert_eq!(&r.read().unwrap()[..], b"c");
        assert_eq!(r.read(), Err(ReadState::Empty));
        w.write(Msg::from("d"));
        w.flush();
        w.write(Msg::from("e"));
        w.flush();
        // Only the empty -> non-empty transition wakes.
        assert_eq!(rw.0.load(Ordering::SeqCst), 2);
        drop(w);
        assert_eq!(&r.read().unwrap()[..], b"d");
        assert_eq!(&r.read().unwrap()[..], b"e");
        assert_eq!(r.read(), Err(ReadState::Closed));
    }

    #[test]
    fn hwm_counts_messages_and_wakes_blocked_writer() {
        let ww = counter();
        let (mut w, mut r) = pipe(2, no_waker(), ww.clone());
        for _ in 0..2 {
            assert!(w.check_write());
            w.write(Msg::from("x").with_more(true));
            w.write(Msg::from("y"));
        }
        w.flush();
        assert!(!w.check_write());
        r.read().unwrap();
        assert_eq!(
            ww.0.load(Ordering::SeqCst),
            0,
            "half a message frees nothing"
        );
        r.read().unwrap();
        assert_eq!(ww.0.load(Ordering::SeqCst), 1);
        assert!(w.check_write());
    }

    #[test]
    fn rollback_drops_partial_message() {
        let (mut w, mut r) = pipe(0, no_waker(), no_waker());
        w.write(Msg::from("whole"));
        w.write(Msg::from("part").with_more(true));
        w.rollback();
        drop(w);
        assert_eq!(&r.read().unwrap()[..], b"whole");
        assert_eq!(r.read(), Err(ReadState::Closed));
    }

    #[test]
    fn threads_exchange_everything_in_order() {
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(&self) {
                self.0.unpark();
            }
        }
        let reader_thread = std::thread::current();
        let (mut w, mut r) = pipe(10, Arc::new(Unpark(reader_thread)), no_waker());
        let n: u32 = if cfg!(miri) { 200 } else { 20_000 };
        let writer = std::thread::spawn(move || {
            for i in 0..n {
                while !w.check_write() {
                    w.flush();
                    std::thread::yield_now();
                }
                w.write(Msg::from(i.to_be_bytes().to_vec()));
                w.flush();
            }
        });
        let mut next = 0u32;
        loop {
            match r.read() {
                Ok(m) => {
                    assert_eq!(&m[..], &next.to_be_bytes());
                    next += 1;
                }
                Err(ReadState::Closed) => break,
                Err(ReadState::Empty) => {
                    // The writer publishes or closes within microseconds and
                    // must wake us: a park that runs to its timeout means a
                    // wake-up was lost.
                    let start = std::time::Instant::now();
                    std::thread::park_timeout(std::time::Duration::from_secs(5));
                    assert!(
                        start.elapsed() < std::time::Duration::from_secs(5),
                        "missed wake-up after {next} messages"
                    );
                }
            }
        }
        writer.join().unwrap();
        assert_eq!(next, n);
    }
}
