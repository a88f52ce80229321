//! Pipes: one-directional single-producer single-consumer message queues
//! between a socket and an engine, or between two inproc sockets.
//!
//! Lock-free: frames live in a linked list of fixed-size chunks. The writer
//! moves each complete message's frames into slots and publishes them by
//! storing the total frame count; the reader takes slots below the last
//! count it loaded. A partial multipart message stays in the writer's
//! local batch, so the reader only ever sees whole messages. Emptied chunks
//! go back to the writer through a one-chunk spare slot.
//!
//! The high-water mark counts whole messages, as libzmq's does. The other
//! side is woken only on transitions: the reader when it was waiting on an
//! empty pipe, the writer when it was blocked at the HWM and the reader has
//! brought the queue down to half of it (libzmq's low-water mark) or
//! emptied it. Each wake-up uses a flag-then-check handshake with SeqCst
//! on both sides, so one side always sees the other and no wake-up is
//! lost. The reader's side of the writer's handshake is fenced only every
//! few messages and at an empty pipe (see `FENCE_EVERY`), so a blocked
//! writer can be woken a few messages past its mark, as libzmq's reader
//! tells its writer of reads in batches.
//!
//! A reader that has been streaming and finds the pipe empty watches it
//! for about a microsecond before it asks to be woken: a writer that keeps
//! up then publishes into a pipe whose reader needs no wake-up.
//!
//! This replaced a mutex-guarded queue: perf put the lock, its contention
//! and the queue moves at about a third of tcp and most of inproc time.
//!
//! A pipe of a socket with CONFLATE is instead a single slot (see
//! [`slot`]): each frame written replaces the one not yet read, and the
//! HWM does not apply. Which kind a pipe is ([`Queue`]) is fixed when it
//! is made; [`PipeWriter`] and [`PipeReader`] dispatch on it, so a queue
//! pipe pays one predictable branch per call for the option.
#![allow(unsafe_code)]

mod slot;

use crate::msg::Msg;
use crate::options::Options;
use ferromq_proto::SocketType;
use std::cell::{Cell, UnsafeCell};
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, Ordering};
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

/// A reader that has read this many messages since it last found the pipe
/// empty is streaming: when it finds the pipe empty it watches for the
/// next publish before it asks to be woken. Request/reply traffic (one
/// message, then empty) never waits here.
const STREAMING: u64 = 64;

/// How long a streaming reader watches an empty pipe, in spin-loop hints:
/// about 1 µs here (a pause is 15 ns), several of a busy writer's
/// messages. Asking to be woken instead makes the writer's next publish
/// take two locks and often a futex call (inproc 64 B: 100k to 300k
/// wake-ups per 4M messages without the watch, 1k to 8k with it).
const WATCH_SPINS: u32 = 64;

/// A reader fences and looks for a blocked writer at least once every this
/// many messages (a power of two). In between it looks with a plain load,
/// which can miss a writer blocking at that very moment; the next fenced
/// look, or the one at an empty pipe, finds it.
const FENCE_EVERY: u64 = 32;

/// Frames per chunk: one allocation per this many frames, and none at all
/// in a steady state thanks to the spare.
const CHUNK: usize = 128;

struct Chunk {
    slots: [UnsafeCell<MaybeUninit<Msg>>; CHUNK],
    next: AtomicPtr<Chunk>,
}

impl Chunk {
    fn alloc() -> *mut Chunk {
        Box::into_raw(Box::new(Chunk {
            slots: std::array::from_fn(|_| UnsafeCell::new(MaybeUninit::uninit())),
            next: AtomicPtr::new(ptr::null_mut()),
        }))
    }
}

/// Keeps a field on a cache line of its own: fields written on every
/// message by different threads must not share a line.
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Where the reader stopped: the chunk, the slot in it, and how many frames
/// it had consumed in all.
struct ReaderEnd {
    chunk: *mut Chunk,
    index: usize,
    consumed: u64,
}

// SAFETY: a ReaderEnd is only written by the reader as it goes away and
// read in `Shared::drop`, when neither end exists any more; the chunk it
// points to is owned by the pipe, not by a thread.
unsafe impl Send for ReaderEnd {}

struct Flags {
    /// The reader found the pipe empty: the next publish must wake it.
    reader_waiting: AtomicBool,
    /// The writer found the pipe full: the reader wakes it once its read
    /// count reaches `wake_writer_at`, or when it finds the pipe empty.
    writer_blocked: AtomicBool,
    /// The read count at which a blocked writer is woken: the queue down
    /// to half the HWM. Woken by the first read instead, a writer that
    /// outpaced its reader came back for a few messages at a time, and
    /// both sides paid a futex call every few messages (inproc 64 B: one
    /// block per 10 to 80 messages, against one per 4,000 with the mark).
    wake_writer_at: AtomicU64,
    writer_closed: AtomicBool,
    reader_closed: AtomicBool,
    /// Settable: an inproc connect made before its bind learns the
    /// binder's share of the limit later.
    hwm: AtomicU64,
}

struct Wakers {
    reader: Waker,
    writer: Waker,
}

struct Shared {
    /// Frames published (written by the writer only).
    published: Padded<AtomicU64>,
    /// Whole messages consumed (written by the reader only).
    read: Padded<AtomicU64>,
    /// Whole messages published, for statistics only (written by the
    /// writer at each flush, on a line of its own).
    published_messages: Padded<AtomicU64>,
    flags: Padded<Flags>,
    /// An emptied chunk handed back by the reader for the writer to reuse.
    spare: AtomicPtr<Chunk>,
    reader_end: Mutex<Option<ReaderEnd>>,
    wakers: Mutex<Wakers>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a field update or two: a panic cannot
    // leave the data torn, so poison is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn set_hwm(&self, hwm: u64) {
        self.flags.hwm.store(hwm, Ordering::Relaxed);
        // A writer blocked at the old limit may fit under the new one.
        if self.flags.writer_blocked.swap(false, Ordering::SeqCst) {
            self.wake_writer();
        }
    }

    fn wake_reader(&self) {
        let waker = lock(&self.wakers).reader.clone();
        waker.wake();
    }

    fn wake_writer(&self) {
        let waker = lock(&self.wakers).writer.clone();
        waker.wake();
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Both ends are gone: drop the frames nobody read and free every
        // chunk, starting where the reader stopped.
        let Some(end) = self
            .reader_end
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        let mut unread = self.published.load(Ordering::Acquire) - end.consumed;
        let (mut chunk, mut index) = (end.chunk, end.index);
        // SAFETY: both ends are gone, so nothing else touches the chunks.
        // Slots from the reader's position on, `unread` of them, hold
        // published frames; the chain from the reader's chunk reaches the
        // writer's, and the writer linked each chunk before publishing the
        // frames in it.
        unsafe {
            while unread > 0 {
                (*(*chunk).slots[index].get()).assume_init_drop();
                unread -= 1;
                index += 1;
                if index == CHUNK {
                    let next = (*chunk).next.load(Ordering::Acquire);
                    drop(Box::from_raw(chunk));
                    chunk = next;
                    index = 0;
                }
            }
            while !chunk.is_null() {
                let next = (*chunk).next.load(Ordering::Acquire);
                drop(Box::from_raw(chunk));
                chunk = next;
            }
            let spare = self.spare.swap(ptr::null_mut(), Ordering::Acquire);
            if !spare.is_null() {
                drop(Box::from_raw(spare));
            }
        }
    }
}

/// How a pipe holds what is written to it, chosen when it is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queue {
    /// A queue of at most this many whole messages (0 = unlimited).
    Hwm(u64),
    /// CONFLATE: only the latest frame is kept; a frame written replaces
    /// the one not read yet, whatever the HWM. The given end counts the
    /// messages replaced (see [`PipeWriter::conflated`]): the end of the
    /// socket that set CONFLATE, so that over inproc, where both ends
    /// are sockets, a replacement is counted once.
    Conflate(End),
}

/// One end of a pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The writing end.
    Writer,
    /// The reading end.
    Reader,
}

/// Whether a socket of `socket_type` with CONFLATE set `conflate` keeps
/// only the latest message in its inbound (`inbound`) or outbound queue.
///
/// libzmq applies CONFLATE to PUB, SUB, PUSH, PULL and DEALER and accepts
/// it, to no effect, on every other type. It conflates both directions of
/// each connection, so a SUB's subscriptions (its outbound queue) and a
/// PUB's incoming subscriptions replace each other and all but the last
/// are lost (a conflating SUB that subscribes to two topics gets only the
/// second). Here only the directions that carry the application's
/// messages conflate: into PULL, SUB and DEALER; out of PUSH, PUB and
/// DEALER. Subscriptions always queue.
pub(crate) fn conflates(conflate: bool, socket_type: SocketType, inbound: bool) -> bool {
    use SocketType::{Dealer, Pub, Pull, Push, Sub};
    conflate
        && if inbound {
            matches!(socket_type, Pull | Sub | Dealer)
        } else {
            matches!(socket_type, Push | Pub | Dealer)
        }
}

impl Queue {
    /// The queue for messages coming into a socket of `socket_type` (over
    /// tcp and ipc: from its engine): RCVHWM, or a slot under CONFLATE.
    pub(crate) fn inbound(options: &Options, socket_type: SocketType) -> Queue {
        if conflates(options.conflate, socket_type, true) {
            Queue::Conflate(End::Reader)
        } else {
            Queue::Hwm(options.rcvhwm as u64)
        }
    }

    /// The queue for messages a socket of `socket_type` sends (over tcp
    /// and ipc: to its engine): SNDHWM, or a slot under CONFLATE.
    pub(crate) fn outbound(options: &Options, socket_type: SocketType) -> Queue {
        if conflates(options.conflate, socket_type, false) {
            Queue::Conflate(End::Writer)
        } else {
            Queue::Hwm(options.sndhwm as u64)
        }
    }
}

/// Creates a pipe of the given kind.
pub(crate) fn pipe(
    queue: Queue,
    reader_waker: Waker,
    writer_waker: Waker,
) -> (PipeWriter, PipeReader) {
    match queue {
        Queue::Hwm(hwm) => {
            let (w, r) = queue_pipe(hwm, reader_waker, writer_waker);
            (
                PipeWriter(WriterKind::Queue(w)),
                PipeReader(ReaderKind::Queue(r)),
            )
        }
        Queue::Conflate(counted_by) => {
            let (w, r) = slot::slot(counted_by, reader_waker, writer_waker);
            (
                PipeWriter(WriterKind::Slot(w)),
                PipeReader(ReaderKind::Slot(r)),
            )
        }
    }
}

/// The writing end of a pipe.
pub(crate) struct PipeWriter(WriterKind);

enum WriterKind {
    Queue(QueueWriter),
    Slot(slot::SlotWriter),
}

impl PipeWriter {
    /// Whether a new message may be started without exceeding the HWM
    /// (always, for a conflating pipe). When it may not, the writer is
    /// marked blocked, and stays so until the reader has brought the queue
    /// down to half the HWM (or emptied it), which wakes it.
    #[inline]
    pub(crate) fn check_write(&self) -> bool {
        match &self.0 {
            WriterKind::Queue(w) => w.check_write(LowWater::Half),
            WriterKind::Slot(_) => true,
        }
    }

    /// [`check_write`](Self::check_write) for a writer that drops a
    /// message it cannot queue (PUB, REP, a ROUTER without MANDATORY)
    /// instead of waiting: there is room again as soon as the reader has
    /// taken one message. A low-water mark only makes such a writer drop
    /// more (fan-out to 10 SUBs delivered a third less with it).
    #[inline]
    pub(crate) fn check_write_or_drop(&self) -> bool {
        match &self.0 {
            WriterKind::Queue(w) => w.check_write(LowWater::Full),
            WriterKind::Slot(_) => true,
        }
    }

    /// Changes the pipe's HWM (0 = unlimited); a conflating pipe has none.
    pub(crate) fn set_hwm(&self, hwm: u64) {
        if let WriterKind::Queue(w) = &self.0 {
            w.set_hwm(hwm);
        }
    }

    /// Queues one frame. The caller checked [`check_write`](Self::check_write)
    /// at the start of the message; frames after the first are always
    /// accepted. A queue shows the reader nothing before
    /// [`flush`](Self::flush), and only whole messages; a conflating pipe
    /// replaces its frame at once.
    #[inline]
    pub(crate) fn write(&mut self, msg: Msg) {
        match &mut self.0 {
            WriterKind::Queue(w) => w.write(msg),
            WriterKind::Slot(w) => w.write(msg),
        }
    }

    /// Publishes every complete message written so far and wakes the reader
    /// if it was waiting.
    #[inline]
    pub(crate) fn flush(&mut self) {
        match &mut self.0 {
            WriterKind::Queue(w) => w.flush(),
            WriterKind::Slot(w) => w.flush(),
        }
    }

    /// Drops the frames of an unfinished message (the connection died in
    /// the middle of it).
    pub(crate) fn rollback(&mut self) {
        match &mut self.0 {
            WriterKind::Queue(w) => w.rollback(),
            WriterKind::Slot(w) => w.rollback(),
        }
    }

    /// True when the reader has gone away.
    pub(crate) fn is_reader_closed(&self) -> bool {
        match &self.0 {
            WriterKind::Queue(w) => w.is_reader_closed(),
            WriterKind::Slot(w) => w.is_reader_closed(),
        }
    }

    /// Replaces the waker called when the writer is unblocked.
    pub(crate) fn set_waker(&self, waker: Waker) {
        match &self.0 {
            WriterKind::Queue(w) => w.set_waker(waker),
            WriterKind::Slot(w) => w.set_waker(waker),
        }
    }

    /// Whole messages written that the reader has not taken: still queued,
    /// or written after the reader went away. When the reader is gone,
    /// these are lost.
    pub(crate) fn queued(&self) -> u64 {
        match &self.0 {
            WriterKind::Queue(w) => w.queued(),
            WriterKind::Slot(w) => w.queued(),
        }
    }

    /// Whole messages a newer one replaced before they were read, if this
    /// end counts them (see [`Queue::Conflate`]); 0 for a queue.
    pub(crate) fn conflated(&self) -> u64 {
        match &self.0 {
            WriterKind::Queue(_) => 0,
            WriterKind::Slot(w) => w.conflated(),
        }
    }

    /// Whole messages written so far, and how many of them the reader has
    /// not taken yet (for statistics; see [`queued`](Self::queued)).
    pub(crate) fn message_counts(&self) -> (u64, u64) {
        match &self.0 {
            WriterKind::Queue(w) => w.message_counts(),
            WriterKind::Slot(w) => (w.written(), w.queued()),
        }
    }
}

/// The reading end of a pipe.
pub(crate) struct PipeReader(ReaderKind);

enum ReaderKind {
    Queue(QueueReader),
    Slot(slot::SlotReader),
}

impl PipeReader {
    /// This end for an engine: it asks to be woken as soon as it finds the
    /// pipe empty, never watching it first (its I/O thread serves other
    /// connections; watching each emptied pipe in turn cost a PUB with 10
    /// subscribers a quarter of its delivered rate).
    pub(crate) fn for_engine(mut self) -> PipeReader {
        if let ReaderKind::Queue(r) = &mut self.0 {
            r.watch = false;
        }
        self
    }

    /// Takes the next frame.
    #[inline]
    pub(crate) fn read(&mut self) -> Result<Msg, ReadState> {
        match &mut self.0 {
            ReaderKind::Queue(r) => r.read(),
            ReaderKind::Slot(r) => r.read(),
        }
    }

    /// Whether a frame can be read now (does not consume it).
    #[inline]
    pub(crate) fn check_read(&mut self) -> bool {
        match &mut self.0 {
            ReaderKind::Queue(r) => r.check_read(),
            ReaderKind::Slot(r) => r.check_read(),
        }
    }

    /// True if the last frame read had MORE set.
    pub(crate) fn mid_message(&self) -> bool {
        match &self.0 {
            ReaderKind::Queue(r) => r.mid_message(),
            ReaderKind::Slot(r) => r.mid_message(),
        }
    }

    /// Discards the rest of a message whose first frames were read by a
    /// connection that has since died. Returns false if frames are still to
    /// come (the writer has not published them yet).
    pub(crate) fn skip_partial(&mut self) -> bool {
        while self.mid_message() {
            if self.read().is_err() {
                return false;
            }
        }
        true
    }

    /// Replaces the waker called when data arrives.
    pub(crate) fn set_waker(&self, waker: Waker) {
        match &self.0 {
            ReaderKind::Queue(r) => r.set_waker(waker),
            ReaderKind::Slot(r) => r.set_waker(waker),
        }
    }

    /// Changes the pipe's HWM (0 = unlimited); a conflating pipe has none.
    pub(crate) fn set_hwm(&self, hwm: u64) {
        if let ReaderKind::Queue(r) = &self.0 {
            r.set_hwm(hwm);
        }
    }

    /// True when the writer closed and everything was read.
    pub(crate) fn is_closed(&mut self) -> bool {
        match &mut self.0 {
            ReaderKind::Queue(r) => r.is_closed(),
            ReaderKind::Slot(r) => r.is_closed(),
        }
    }

    /// Whole messages a newer one replaced before they were read, if this
    /// end counts them (see [`Queue::Conflate`]); 0 for a queue.
    pub(crate) fn conflated(&self) -> u64 {
        match &self.0 {
            ReaderKind::Queue(_) => 0,
            ReaderKind::Slot(r) => r.conflated(),
        }
    }

    /// Whole messages read so far (for statistics).
    pub(crate) fn messages_read(&self) -> u64 {
        match &self.0 {
            ReaderKind::Queue(r) => r.messages_read(),
            ReaderKind::Slot(r) => r.messages_read(),
        }
    }

    /// Whole messages published and not yet read (for statistics).
    pub(crate) fn waiting(&mut self) -> u64 {
        match &mut self.0 {
            ReaderKind::Queue(r) => r.waiting(),
            ReaderKind::Slot(r) => u64::from(r.check_read()),
        }
    }
}

/// Creates a lock-free queue holding at most `hwm` whole messages
/// (0 = unlimited).
fn queue_pipe(hwm: u64, reader_waker: Waker, writer_waker: Waker) -> (QueueWriter, QueueReader) {
    let first = Chunk::alloc();
    let shared = Arc::new(Shared {
        published: Padded(AtomicU64::new(0)),
        published_messages: Padded(AtomicU64::new(0)),
        read: Padded(AtomicU64::new(0)),
        flags: Padded(Flags {
            // A new reader may already be waiting without having looked.
            reader_waiting: AtomicBool::new(true),
            writer_blocked: AtomicBool::new(false),
            wake_writer_at: AtomicU64::new(0),
            writer_closed: AtomicBool::new(false),
            reader_closed: AtomicBool::new(false),
            hwm: AtomicU64::new(hwm),
        }),
        spare: AtomicPtr::new(ptr::null_mut()),
        reader_end: Mutex::new(None),
        wakers: Mutex::new(Wakers {
            reader: reader_waker,
            writer: writer_waker,
        }),
    });
    (
        QueueWriter {
            shared: shared.clone(),
            partial: Vec::new(),
            written: 0,
            peer_read: Cell::new(0),
            mid_message: false,
            tail: first,
            tail_index: 0,
            stored: 0,
            published: 0,
        },
        QueueReader {
            shared,
            head: first,
            head_index: 0,
            consumed: 0,
            available: 0,
            mid_message: false,
            read: 0,
            streak: 0,
            watch: true,
        },
    )
}

/// When a writer blocked at the HWM is woken: with the queue down to this.
#[derive(Clone, Copy)]
enum LowWater {
    /// Half the HWM: a writer that waits comes back for a batch.
    Half,
    /// One below the HWM: a writer that drops instead of waiting may write
    /// again as soon as there is room.
    Full,
}

/// The writing end.
struct QueueWriter {
    shared: Arc<Shared>,
    /// Frames of a multipart message whose last frame has not come yet.
    partial: Vec<Msg>,
    /// Whole messages written (published or not).
    written: u64,
    /// The reader's count as last seen: re-read only when it says "full",
    /// so the writer does not pull the reader's cache line every message.
    peer_read: Cell<u64>,
    mid_message: bool,
    /// The chunk being filled, and the next free slot in it.
    tail: *mut Chunk,
    tail_index: usize,
    /// Frames moved into slots, and how many of those are published.
    stored: u64,
    published: u64,
}

// SAFETY: `tail` points into the pipe's chunk list, kept alive by `shared`;
// only this writer writes to the slots from `tail_index` on, whichever
// thread owns it.
unsafe impl Send for QueueWriter {}

impl QueueWriter {
    /// Whether a new message may be started without exceeding the HWM.
    /// When it may not, the writer is marked blocked until the reader has
    /// brought the queue down to `low_water`'s mark (or emptied it), and
    /// woken then.
    #[inline]
    fn check_write(&self, low_water: LowWater) -> bool {
        if self.mid_message || self.has_room_cached() {
            return true;
        }
        let blocked = &self.shared.flags.writer_blocked;
        // Still flagged from an earlier check: the reader has not finished
        // a message since (its first read after the flag clears it, and
        // set_hwm and a closing reader clear it too), so the pipe is still
        // full and the reader's clearing, with its wake, is still to come.
        // A PUB meeting a full subscriber on every message answers here
        // from a line the reader seldom writes, instead of reloading the
        // reader's count and storing the flag again (two loads of a line
        // the reader writes per message, and a locked store) each time.
        if blocked.load(Ordering::Relaxed) {
            return false;
        }
        if self.has_room() {
            return true;
        }
        let hwm = self.shared.flags.hwm.load(Ordering::Relaxed);
        let low_water = match low_water {
            LowWater::Half => hwm / 2,
            LowWater::Full => hwm.saturating_sub(1),
        };
        self.shared
            .flags
            .wake_writer_at
            .store(self.written - low_water, Ordering::Relaxed);
        // SeqCst, after the Relaxed store above: a reader that sees the
        // flag also sees this block's mark.
        blocked.store(true, Ordering::SeqCst);
        // The reader may have made room between the check and the flag.
        if self.has_room() {
            self.shared
                .flags
                .writer_blocked
                .store(false, Ordering::SeqCst);
            return true;
        }
        false
    }

    /// Room by the reader's count as last seen (no load of its line).
    #[inline]
    fn has_room_cached(&self) -> bool {
        let hwm = self.shared.flags.hwm.load(Ordering::Relaxed);
        hwm == 0 || self.written - self.peer_read.get() < hwm
    }

    #[inline]
    fn has_room(&self) -> bool {
        let hwm = self.shared.flags.hwm.load(Ordering::Relaxed);
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

    /// Whole messages written so far, and how many of them the reader has
    /// not taken yet (for statistics).
    pub(crate) fn message_counts(&self) -> (u64, u64) {
        let read = self.shared.read.load(Ordering::Relaxed);
        (self.written, self.written.saturating_sub(read))
    }

    /// Queues one frame. The caller checked [`check_write`] at the start of
    /// the message; frames after the first are always accepted. Nothing is
    /// visible to the reader before [`flush`](PipeWriter::flush).
    // Always: left to LLVM, it stopped being inlined into the load
    // balancer once `Msg`'s flags became an enum, a call that cost 13
    // instructions per message (callgrind, inproc 1 B).
    #[inline(always)]
    pub(crate) fn write(&mut self, msg: Msg) {
        self.mid_message = msg.more();
        if self.mid_message {
            self.partial.push(msg);
            return;
        }
        self.written += 1;
        if self.shared.flags.reader_closed.load(Ordering::Relaxed) {
            // Nobody will read: drop, but keep counting as if delivered.
            self.partial.clear();
            return;
        }
        if !self.partial.is_empty() {
            let frames = std::mem::take(&mut self.partial);
            for frame in frames {
                self.store(frame);
            }
        }
        self.store(msg);
    }

    #[inline]
    fn store(&mut self, msg: Msg) {
        // SAFETY: slot `tail_index` of the tail chunk is free: the reader
        // only reads published slots, and this one is beyond the published
        // count; the chunk is alive (the reader frees a chunk only after
        // reading all its slots).
        unsafe {
            (*(*self.tail).slots[self.tail_index].get()).write(msg);
        }
        self.tail_index += 1;
        self.stored += 1;
        if self.tail_index == CHUNK {
            let next = self.new_chunk();
            // SAFETY: the tail chunk is alive (see above); the link is
            // stored before any frame of the new chunk is published.
            unsafe { (*self.tail).next.store(next, Ordering::Release) };
            self.tail = next;
            self.tail_index = 0;
        }
    }

    fn new_chunk(&self) -> *mut Chunk {
        let spare = self.shared.spare.swap(ptr::null_mut(), Ordering::Acquire);
        if spare.is_null() {
            return Chunk::alloc();
        }
        // SAFETY: the reader handed this chunk over after reading all of
        // its slots and leaving it; nobody else refers to it.
        unsafe { (*spare).next.store(ptr::null_mut(), Ordering::Relaxed) };
        spare
    }

    /// Publishes every complete message written so far and wakes the reader
    /// if it was waiting.
    #[inline]
    pub(crate) fn flush(&mut self) {
        if self.stored == self.published {
            return;
        }
        self.published = self.stored;
        self.shared
            .published_messages
            .store(self.written, Ordering::Relaxed);
        self.shared
            .published
            .store(self.published, Ordering::SeqCst);
        let flags = &self.shared.flags;
        if flags.reader_waiting.load(Ordering::SeqCst)
            && flags.reader_waiting.swap(false, Ordering::SeqCst)
        {
            self.shared.wake_reader();
        }
    }

    /// Drops the frames of an unfinished message (the connection died in
    /// the middle of it).
    pub(crate) fn rollback(&mut self) {
        self.partial.clear();
        self.mid_message = false;
    }

    /// True when the reader has gone away.
    pub(crate) fn is_reader_closed(&self) -> bool {
        self.shared.flags.reader_closed.load(Ordering::Acquire)
    }

    /// Whole messages written and not read (see [`PipeWriter::queued`]).
    fn queued(&self) -> u64 {
        self.written - self.shared.read.load(Ordering::Acquire)
    }

    /// Replaces the waker called when the writer is unblocked.
    pub(crate) fn set_waker(&self, waker: Waker) {
        lock(&self.shared.wakers).writer = waker;
    }
}

impl Drop for QueueWriter {
    fn drop(&mut self) {
        self.rollback();
        self.flush();
        let flags = &self.shared.flags;
        flags.writer_closed.store(true, Ordering::SeqCst);
        if flags.reader_waiting.swap(false, Ordering::SeqCst) {
            self.shared.wake_reader();
        }
    }
}

/// The reading end.
struct QueueReader {
    shared: Arc<Shared>,
    /// The chunk being read, and the next slot in it.
    head: *mut Chunk,
    head_index: usize,
    /// Frames taken, and the published count as last loaded.
    consumed: u64,
    available: u64,
    mid_message: bool,
    /// Whole messages read (published in `Shared::read`).
    read: u64,
    /// Whole messages read since the reader last asked to be woken.
    streak: u64,
    /// Whether a streaming reader watches an empty pipe before it asks to
    /// be woken (see `STREAMING`): not an engine's, whose I/O thread has
    /// other connections to serve meanwhile.
    watch: bool,
}

// SAFETY: `head` points into the pipe's chunk list, kept alive by `shared`;
// only this reader reads published slots and frees emptied chunks,
// whichever thread owns it.
unsafe impl Send for QueueReader {}

/// What a read found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadState {
    /// Nothing now; the reader will be woken when something arrives.
    Empty,
    /// The writer has gone and everything it sent has been read.
    Closed,
}

impl QueueReader {
    #[inline]
    fn refill(&mut self) -> Result<(), ReadState> {
        if self.consumed < self.available {
            return Ok(());
        }
        let shared = &*self.shared;
        self.available = shared.published.load(Ordering::Acquire);
        if self.consumed < self.available {
            return Ok(());
        }
        if self.watch && self.streak >= STREAMING {
            for _ in 0..WATCH_SPINS {
                std::hint::spin_loop();
                self.available = shared.published.load(Ordering::Acquire);
                if self.consumed < self.available {
                    return Ok(());
                }
            }
        }
        self.streak = 0;
        // Empty: ask to be woken, then look again, so a publish between
        // the two is either seen here or sees the flag.
        if !shared.flags.reader_waiting.load(Ordering::Relaxed) {
            shared.flags.reader_waiting.store(true, Ordering::SeqCst);
        }
        self.available = shared.published.load(Ordering::SeqCst);
        if self.consumed < self.available {
            return Ok(());
        }
        // Everything published is read. A writer blocked with messages
        // still unpublished (it publishes them as it blocks) is not left
        // waiting for a mark this reader cannot reach yet. The fence orders
        // the read count's last (Release) store before the look, against
        // the writer's flag-then-count.
        fence(Ordering::SeqCst);
        if shared.flags.writer_blocked.load(Ordering::SeqCst)
            && shared.flags.writer_blocked.swap(false, Ordering::SeqCst)
        {
            shared.wake_writer();
        }
        if shared.flags.writer_closed.load(Ordering::SeqCst) {
            // Frames published before the close are still to be read.
            self.available = shared.published.load(Ordering::SeqCst);
            if self.consumed < self.available {
                return Ok(());
            }
            return Err(ReadState::Closed);
        }
        Err(ReadState::Empty)
    }

    /// Takes the next frame. The caller made sure one is published.
    #[inline]
    fn take(&mut self) -> Msg {
        // SAFETY: `consumed < available` (checked by refill), so this slot
        // holds a frame the writer published (its SeqCst store, our load)
        // and will not touch again; it is moved out exactly once.
        let msg = unsafe { (*(*self.head).slots[self.head_index].get()).assume_init_read() };
        self.head_index += 1;
        self.consumed += 1;
        if self.head_index == CHUNK {
            // SAFETY: the writer linked the next chunk before publishing
            // this chunk's last slot, which we just read, so `next` is set
            // and visible. This chunk is now empty and ours alone: it goes
            // to the spare slot (freeing the chunk that was there).
            unsafe {
                let next = (*self.head).next.load(Ordering::Acquire);
                debug_assert!(!next.is_null());
                let done = std::mem::replace(&mut self.head, next);
                self.head_index = 0;
                let old = self.shared.spare.swap(done, Ordering::AcqRel);
                if !old.is_null() {
                    drop(Box::from_raw(old));
                }
            }
        }
        msg
    }

    /// Takes the next frame.
    #[inline]
    pub(crate) fn read(&mut self) -> Result<Msg, ReadState> {
        self.refill()?;
        let msg = self.take();
        self.mid_message = msg.more();
        if !self.mid_message {
            self.read += 1;
            self.streak += 1;
            // Release, and a fence only every FENCE_EVERY messages: a
            // SeqCst store here (an xchg, which waits for the line the
            // writer reads) was the top cost of a PULL's receive at 64 B
            // over tcp under perf. With the writer's SeqCst flag-then-count,
            // a fenced look and the writer's recheck cannot both miss, so a
            // blocked writer is woken at most FENCE_EVERY messages past its
            // mark, or when the pipe is found empty.
            self.shared.read.store(self.read, Ordering::Release);
            if self.read % FENCE_EVERY == 0 {
                fence(Ordering::SeqCst);
            }
            let flags = &self.shared.flags;
            // Acquire: a flag seen set comes with the mark stored before it.
            if flags.writer_blocked.load(Ordering::Acquire)
                && self.read >= flags.wake_writer_at.load(Ordering::Relaxed)
                && flags.writer_blocked.swap(false, Ordering::SeqCst)
            {
                self.shared.wake_writer();
            }
        }
        Ok(msg)
    }

    /// Whether a frame can be read now (does not consume it).
    #[inline]
    pub(crate) fn check_read(&mut self) -> bool {
        self.refill().is_ok()
    }

    /// Whole messages read so far (for statistics).
    pub(crate) fn messages_read(&self) -> u64 {
        self.read
    }

    /// Whole messages published and not yet read (for statistics).
    fn waiting(&self) -> u64 {
        let published = self.shared.published_messages.load(Ordering::Relaxed);
        published.saturating_sub(self.read)
    }

    /// True if the last frame read had MORE set.
    pub(crate) fn mid_message(&self) -> bool {
        self.mid_message
    }

    /// Replaces the waker called when data arrives.
    pub(crate) fn set_waker(&self, waker: Waker) {
        lock(&self.shared.wakers).reader = waker;
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

impl Drop for QueueReader {
    fn drop(&mut self) {
        self.shared
            .flags
            .reader_closed
            .store(true, Ordering::SeqCst);
        // Free what is already published now rather than with the pipe;
        // anything the writer publishes before it sees the flag goes then.
        self.available = self.shared.published.load(Ordering::SeqCst);
        while self.consumed < self.available {
            drop(self.take());
        }
        *lock(&self.shared.reader_end) = Some(ReaderEnd {
            chunk: self.head,
            index: self.head_index,
            consumed: self.consumed,
        });
        self.shared
            .flags
            .writer_blocked
            .store(false, Ordering::SeqCst);
        self.shared.wake_writer();
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

    /// Parks the reader until the writer wakes it. The writer publishes
    /// or closes within microseconds, so a park that runs to its timeout
    /// means a wake-up was lost.
    fn park_expecting_a_wake(after: &str) {
        let start = std::time::Instant::now();
        std::thread::park_timeout(std::time::Duration::from_secs(5));
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "missed wake-up after {after}"
        );
    }

    fn counter() -> Arc<Counter> {
        Arc::new(Counter(AtomicUsize::new(0)))
    }

    /// Reads messages numbered 0, 1, 2, ... (big-endian `u32`), checking
    /// the order and sleeping until woken whenever the pipe is empty, up
    /// to the writer's close; returns how many came.
    fn read_numbered_until_closed(r: &mut PipeReader) -> u32 {
        let mut next = 0u32;
        loop {
            match r.read() {
                Ok(m) => {
                    assert_eq!(&m[..], &next.to_be_bytes());
                    next += 1;
                }
                Err(ReadState::Closed) => return next,
                Err(ReadState::Empty) => park_expecting_a_wake(&format!("{next} messages")),
            }
        }
    }

    #[test]
    fn reader_sees_only_whole_messages_and_is_woken_once_per_transition() {
        let rw = counter();
        let (mut w, mut r) = pipe(Queue::Hwm(0), rw.clone(), no_waker());
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
        let (mut w, mut r) = pipe(Queue::Hwm(2), no_waker(), ww.clone());
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
    fn a_blocked_writer_is_woken_at_half_the_hwm() {
        let ww = counter();
        let (mut w, mut r) = pipe(Queue::Hwm(10), no_waker(), ww.clone());
        for _ in 0..10 {
            assert!(w.check_write());
            w.write(Msg::from("x"));
        }
        w.flush();
        assert!(!w.check_write());
        for _ in 0..4 {
            r.read().unwrap();
            assert!(!w.check_write(), "no room before the low-water mark");
        }
        assert_eq!(ww.0.load(Ordering::SeqCst), 0);
        r.read().unwrap();
        assert_eq!(ww.0.load(Ordering::SeqCst), 1, "woken at half the HWM");
        for _ in 0..5 {
            assert!(w.check_write());
            w.write(Msg::from("x"));
        }
        assert!(!w.check_write());
    }

    #[test]
    fn a_dropping_writer_has_room_after_one_read() {
        let ww = counter();
        let (mut w, mut r) = pipe(Queue::Hwm(10), no_waker(), ww.clone());
        for _ in 0..10 {
            assert!(w.check_write_or_drop());
            w.write(Msg::from("x"));
        }
        w.flush();
        assert!(!w.check_write_or_drop());
        r.read().unwrap();
        assert_eq!(ww.0.load(Ordering::SeqCst), 1);
        assert!(w.check_write_or_drop());
        w.write(Msg::from("x"));
        assert!(!w.check_write_or_drop());
    }

    #[test]
    fn a_reader_that_finds_nothing_wakes_a_writer_blocked_on_unpublished_messages() {
        // An engine writes a batch and publishes it as it stops at the
        // HWM; a reader that looks in between must not leave it waiting
        // for a low-water mark it cannot reach.
        let ww = counter();
        let (mut w, mut r) = pipe(Queue::Hwm(4), no_waker(), ww.clone());
        for _ in 0..4 {
            assert!(w.check_write());
            w.write(Msg::from("x"));
        }
        assert!(!w.check_write());
        assert_eq!(r.read(), Err(ReadState::Empty));
        assert_eq!(ww.0.load(Ordering::SeqCst), 1);
        w.flush();
        for _ in 0..4 {
            r.read().unwrap();
        }
    }

    #[test]
    fn a_sleeping_writer_and_a_sleeping_reader_are_always_woken() {
        // Both sides sleep until the other wakes them, the writer
        // publishing in batches as an engine does: a wake-up lost to the
        // low-water mark or to the reader's watch stalls one side, which
        // `park_expecting_a_wake` reports.
        struct Unpark(std::sync::OnceLock<std::thread::Thread>);
        impl Wake for Unpark {
            fn wake(&self) {
                if let Some(t) = self.0.get() {
                    t.unpark();
                }
            }
        }
        let reader_wake = Arc::new(Unpark(std::sync::OnceLock::new()));
        let writer_wake = Arc::new(Unpark(std::sync::OnceLock::new()));
        let _ = reader_wake.0.set(std::thread::current());
        let (mut w, mut r) = pipe(Queue::Hwm(8), reader_wake, writer_wake.clone());
        let n: u32 = if cfg!(miri) { 300 } else { 200_000 };
        let writer = std::thread::spawn(move || {
            let _ = writer_wake.0.set(std::thread::current());
            for i in 0..n {
                while !w.check_write() {
                    w.flush();
                    park_expecting_a_wake(&format!("blocking at message {i}"));
                }
                w.write(Msg::from(i.to_be_bytes().to_vec()));
                if i % 3 == 0 {
                    w.flush();
                }
            }
            w.flush();
        });
        let read = read_numbered_until_closed(&mut r);
        writer.join().unwrap();
        assert_eq!(read, n);
    }

    #[test]
    fn rollback_drops_partial_message() {
        let (mut w, mut r) = pipe(Queue::Hwm(0), no_waker(), no_waker());
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
        let (mut w, mut r) = pipe(Queue::Hwm(10), Arc::new(Unpark(reader_thread)), no_waker());
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
        let read = read_numbered_until_closed(&mut r);
        writer.join().unwrap();
        assert_eq!(read, n);
    }

    /// A frame whose drop is counted.
    struct Tracked(Arc<AtomicUsize>, [u8; 64]);
    impl AsRef<[u8]> for Tracked {
        fn as_ref(&self) -> &[u8] {
            &self.1
        }
    }
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn multipart_messages_cross_chunk_boundaries_in_order() {
        let (mut w, mut r) = pipe(Queue::Hwm(0), no_waker(), no_waker());
        let n = if cfg!(miri) { 100u32 } else { 1000 };
        for i in 0..n {
            // 1 to 3 frames, so messages straddle chunk ends at every offset.
            let frames = 1 + i % 3;
            for f in 0..frames {
                let body = [i.to_be_bytes(), f.to_be_bytes()].concat();
                w.write(Msg::from(body).with_more(f + 1 < frames));
            }
            if i % 7 == 0 {
                w.flush();
            }
        }
        w.flush();
        for i in 0..n {
            let frames = 1 + i % 3;
            for f in 0..frames {
                let m = r.read().unwrap();
                assert_eq!(&m[..4], &i.to_be_bytes());
                assert_eq!(&m[4..], &f.to_be_bytes());
                assert_eq!(m.more(), f + 1 < frames);
            }
        }
        assert_eq!(r.read(), Err(ReadState::Empty));
    }

    fn unread_frames_are_freed(reader_first: bool) {
        let drops = Arc::new(AtomicUsize::new(0));
        let (mut w, mut r) = pipe(Queue::Hwm(0), no_waker(), no_waker());
        let n = CHUNK * 3 + 5;
        for _ in 0..n {
            w.write(Msg::from_owner(Tracked(drops.clone(), [1; 64])));
        }
        w.flush();
        for _ in 0..CHUNK + 2 {
            drop(r.read().unwrap());
        }
        assert_eq!(drops.load(Ordering::SeqCst), CHUNK + 2);
        // A partial message never published, and one written after the
        // other end may have gone.
        w.write(Msg::from_owner(Tracked(drops.clone(), [2; 64])).with_more(true));
        if reader_first {
            drop(r);
            w.write(Msg::from_owner(Tracked(drops.clone(), [3; 64])));
            w.flush();
            drop(w);
        } else {
            drop(w);
            drop(r);
        }
        let expected = if reader_first { n + 2 } else { n + 1 };
        assert_eq!(drops.load(Ordering::SeqCst), expected);
    }

    #[test]
    fn unread_frames_are_freed_when_the_reader_goes_first() {
        unread_frames_are_freed(true);
    }

    #[test]
    fn unread_frames_are_freed_when_the_writer_goes_first() {
        unread_frames_are_freed(false);
    }

    fn conflating(counted_by: End) -> (PipeWriter, PipeReader, Arc<Counter>) {
        let rw = counter();
        let (w, r) = pipe(Queue::Conflate(counted_by), rw.clone(), no_waker());
        (w, r, rw)
    }

    #[test]
    fn conflating_pipe_keeps_the_latest_message_and_counts_the_rest() {
        let (mut w, mut r, rw) = conflating(End::Reader);
        for i in 0..5u8 {
            assert!(w.check_write(), "no HWM: never full");
            w.write(Msg::from(vec![i]));
            w.flush();
        }
        // Woken once: the reader had not looked yet.
        assert_eq!(rw.0.load(Ordering::SeqCst), 1);
        assert_eq!(r.conflated(), 4);
        assert_eq!(w.conflated(), 0, "counted by the reader's end only");
        assert_eq!(w.queued(), 1);
        assert_eq!(w.message_counts(), (5, 1));
        assert_eq!(&r.read().unwrap()[..], &[4]);
        assert_eq!(w.queued(), 0);
        assert_eq!(w.message_counts(), (5, 0));
        assert_eq!(r.messages_read(), 1);
        assert_eq!(r.read(), Err(ReadState::Empty));
        w.write(Msg::from("next"));
        w.flush();
        assert_eq!(
            rw.0.load(Ordering::SeqCst),
            2,
            "woken: it found the slot empty"
        );
        assert_eq!(&r.read().unwrap()[..], b"next");
        assert_eq!(r.conflated(), 4, "a message read is not conflated");
    }

    #[test]
    fn conflating_pipe_keeps_frames_not_messages() {
        // As libzmq: of unread multipart messages only the last frame is
        // left, and replacing a message's own earlier frames loses no
        // message.
        let (mut w, mut r, _) = conflating(End::Writer);
        for m in [["a1", "a2"], ["b1", "b2"]] {
            w.write(Msg::from(m[0]).with_more(true));
            w.write(Msg::from(m[1]));
            w.flush();
        }
        assert_eq!(w.conflated(), 1);
        assert_eq!(r.conflated(), 0);
        let m = r.read().unwrap();
        assert_eq!((&m[..], m.more()), (&b"b2"[..], false));
        // A reader that took a first frame takes whatever comes next.
        w.write(Msg::from("c1").with_more(true));
        w.flush();
        assert!(r.read().unwrap().more());
        assert!(r.mid_message());
        assert!(!r.skip_partial(), "the rest has not come");
        w.write(Msg::from("c2"));
        w.flush();
        assert!(r.skip_partial());
        assert!(!r.mid_message());
    }

    #[test]
    fn conflating_pipe_rollback_drops_an_unfinished_frame() {
        let (mut w, mut r, _) = conflating(End::Reader);
        w.write(Msg::from("whole"));
        w.write(Msg::from("part").with_more(true));
        assert_eq!(w.queued(), 0, "half a message is not queued");
        w.rollback();
        w.flush();
        assert_eq!(r.read(), Err(ReadState::Empty));
        assert_eq!(r.conflated(), 1, "the whole message was replaced");
    }

    #[test]
    fn conflating_pipe_keeps_the_latest_after_the_writer_goes() {
        // libzmq's end-of-pipe marker replaces the unread message; here the
        // reader still gets it, then sees the close.
        let (mut w, mut r, rw) = conflating(End::Reader);
        assert_eq!(r.read(), Err(ReadState::Empty));
        w.write(Msg::from("last"));
        drop(w);
        assert_eq!(rw.0.load(Ordering::SeqCst), 1, "the close wakes the reader");
        assert!(!r.is_closed());
        assert_eq!(&r.read().unwrap()[..], b"last");
        assert!(r.is_closed());
        assert_eq!(r.read(), Err(ReadState::Closed));
    }

    #[test]
    fn conflating_pipe_counts_messages_lost_with_the_reader() {
        let (mut w, r, _) = conflating(End::Writer);
        w.write(Msg::from("unread"));
        drop(r);
        assert!(w.is_reader_closed());
        w.write(Msg::from("after").with_more(true));
        w.write(Msg::from("close"));
        w.write(Msg::from("again"));
        // The unread message and the two written after the reader left.
        assert_eq!(w.queued(), 3);
        assert_eq!(w.conflated(), 0, "nothing was replaced: nobody reads");
    }

    #[test]
    fn conflating_pipe_wakes_a_reader_on_another_thread() {
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(&self) {
                self.0.unpark();
            }
        }
        let (mut w, mut r) = pipe(
            Queue::Conflate(End::Reader),
            Arc::new(Unpark(std::thread::current())),
            no_waker(),
        );
        let n: u32 = if cfg!(miri) { 200 } else { 20_000 };
        let writer = std::thread::spawn(move || {
            for i in 0..n {
                w.write(Msg::from(i.to_be_bytes().to_vec()));
                w.flush();
            }
        });
        let (mut last, mut got) = (None, 0u64);
        loop {
            match r.read() {
                Ok(m) => {
                    let i = u32::from_be_bytes(m[..].try_into().unwrap());
                    assert!(last < Some(i), "only newer messages: {last:?} then {i}");
                    last = Some(i);
                    got += 1;
                }
                Err(ReadState::Closed) => break,
                Err(ReadState::Empty) => park_expecting_a_wake(&format!("{last:?}")),
            }
        }
        writer.join().unwrap();
        assert_eq!(last, Some(n - 1), "the latest is never lost");
        assert_eq!(
            got + r.conflated(),
            u64::from(n),
            "each message read or counted"
        );
    }

    #[test]
    fn queued_counts_what_the_reader_did_not_take() {
        let (mut w, mut r) = pipe(Queue::Hwm(0), no_waker(), no_waker());
        for _ in 0..3 {
            w.write(Msg::from("a").with_more(true));
            w.write(Msg::from("b"));
        }
        w.write(Msg::from("unfinished").with_more(true));
        assert_eq!(w.queued(), 3, "counted before flush, whole messages only");
        w.flush();
        r.read().unwrap();
        assert_eq!(w.queued(), 3, "half a message read is not read");
        r.read().unwrap();
        assert_eq!(w.queued(), 2);
        drop(r);
        w.write(Msg::from("end"));
        w.write(Msg::from("lost"));
        assert_eq!(w.queued(), 4, "written after the reader left: lost too");
    }
}
