//! The conflating pipe (CONFLATE): one slot holding the latest frame.
//!
//! Every frame written replaces the one in the slot if the reader has not
//! taken it yet, and the reader takes whatever is there. There is no
//! high-water mark: the writer never waits. A replaced frame that ended a
//! message counts as one conflated message (a multipart message's earlier
//! frames replaced by its later ones are not a lost message).
//!
//! Like libzmq's, the slot keeps frames, not messages: CONFLATE does not
//! support multipart messages, and of a multipart message left unread only
//! its last frame is delivered. Unlike libzmq's, the slot keeps the latest
//! message readable after the writer goes away (libzmq's end-of-pipe marker
//! replaces it, so a conflating receiver whose sender disconnects loses the
//! message it had not read yet).
//!
//! A mutex guards the slot: conflation is for a low message rate, where a
//! lock costs nothing next to the syscalls around it, and it keeps this
//! code free of `unsafe`.
#![deny(unsafe_code)]

use super::{lock, End, ReadState, Waker};
use crate::msg::Msg;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

struct State {
    /// The latest frame, not read yet.
    latest: Option<Msg>,
    /// The reader found the slot empty: the next flush must wake it.
    reader_waiting: bool,
    writer_closed: bool,
    reader_closed: bool,
    reader_waker: Waker,
    /// Kept for [`SlotWriter::set_waker`]; never called, since the writer
    /// never waits.
    writer_waker: Waker,
}

struct Slot {
    state: Mutex<State>,
    /// Whole messages replaced before the reader took them. Written by the
    /// writer (maybe on an I/O thread), read by the socket for its stats.
    conflated: AtomicU64,
}

/// Creates a conflating pipe whose replacements `counted_by` reports.
pub(super) fn slot(
    counted_by: End,
    reader_waker: Waker,
    writer_waker: Waker,
) -> (SlotWriter, SlotReader) {
    let slot = Arc::new(Slot {
        state: Mutex::new(State {
            latest: None,
            // A new reader may already be waiting without having looked.
            reader_waiting: true,
            writer_closed: false,
            reader_closed: false,
            reader_waker,
            writer_waker,
        }),
        conflated: AtomicU64::new(0),
    });
    (
        SlotWriter {
            slot: slot.clone(),
            counts: counted_by == End::Writer,
            written: 0,
            lost: 0,
        },
        SlotReader {
            slot,
            counts: counted_by == End::Reader,
            mid_message: false,
            read: 0,
        },
    )
}

/// The writing end of a conflating pipe.
pub(super) struct SlotWriter {
    slot: Arc<Slot>,
    /// This end reports the conflated count.
    counts: bool,
    /// Whole messages written (replaced ones too).
    written: u64,
    /// Whole messages written after the reader went away.
    lost: u64,
}

impl SlotWriter {
    /// Puts `msg` in the slot, replacing (and dropping) an unread frame.
    pub(super) fn write(&mut self, msg: Msg) {
        self.written += u64::from(!msg.more());
        let replaced = {
            let mut state = lock(&self.slot.state);
            if state.reader_closed {
                // Nobody will read: drop it, but remember it was lost.
                self.lost += u64::from(!msg.more());
                return;
            }
            state.latest.replace(msg)
        };
        // Dropped outside the lock, the frame's memory is freed there too.
        if replaced.is_some_and(|old| !old.more()) {
            self.slot.conflated.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Wakes the reader if it was waiting and there is something to read.
    pub(super) fn flush(&mut self) {
        let waker = {
            let mut state = lock(&self.slot.state);
            if !state.reader_waiting || state.latest.is_none() {
                return;
            }
            state.reader_waiting = false;
            state.reader_waker.clone()
        };
        waker.wake();
    }

    /// Drops the slot's frame if it starts or continues a message whose
    /// last frame will never come (libzmq leaves it, and its reader then
    /// glues it to whatever comes next).
    pub(super) fn rollback(&mut self) {
        let unfinished = {
            let mut state = lock(&self.slot.state);
            if state.latest.as_ref().is_some_and(Msg::more) {
                state.latest.take()
            } else {
                None
            }
        };
        drop(unfinished);
    }

    pub(super) fn is_reader_closed(&self) -> bool {
        lock(&self.slot.state).reader_closed
    }

    pub(super) fn set_waker(&self, waker: Waker) {
        lock(&self.slot.state).writer_waker = waker;
    }

    /// The message in the slot (if whole) plus those written after the
    /// reader left.
    pub(super) fn queued(&self) -> u64 {
        let state = lock(&self.slot.state);
        u64::from(state.latest.as_ref().is_some_and(|m| !m.more())) + self.lost
    }

    pub(super) fn conflated(&self) -> u64 {
        if self.counts {
            self.slot.conflated.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    pub(super) fn written(&self) -> u64 {
        self.written
    }
}

impl Drop for SlotWriter {
    fn drop(&mut self) {
        self.rollback();
        let waker = {
            let mut state = lock(&self.slot.state);
            state.writer_closed = true;
            // The latest message stays readable; a reader waiting on an
            // empty slot must learn that nothing more will come.
            std::mem::take(&mut state.reader_waiting).then(|| state.reader_waker.clone())
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The reading end of a conflating pipe.
pub(super) struct SlotReader {
    slot: Arc<Slot>,
    /// This end reports the conflated count.
    counts: bool,
    mid_message: bool,
    /// Whole messages read.
    read: u64,
}

impl SlotReader {
    /// Takes the frame in the slot.
    pub(super) fn read(&mut self) -> Result<Msg, ReadState> {
        let mut state = lock(&self.slot.state);
        match state.latest.take() {
            Some(msg) => {
                drop(state);
                self.mid_message = msg.more();
                self.read += u64::from(!self.mid_message);
                Ok(msg)
            }
            None if state.writer_closed => Err(ReadState::Closed),
            None => {
                state.reader_waiting = true;
                Err(ReadState::Empty)
            }
        }
    }

    /// Whether a frame is in the slot; if not, the next flush wakes us.
    pub(super) fn check_read(&mut self) -> bool {
        let mut state = lock(&self.slot.state);
        if state.latest.is_some() {
            return true;
        }
        state.reader_waiting = true;
        false
    }

    pub(super) fn mid_message(&self) -> bool {
        self.mid_message
    }

    pub(super) fn messages_read(&self) -> u64 {
        self.read
    }

    pub(super) fn set_waker(&self, waker: Waker) {
        lock(&self.slot.state).reader_waker = waker;
    }

    /// True when the writer closed and the slot is empty.
    pub(super) fn is_closed(&mut self) -> bool {
        let mut state = lock(&self.slot.state);
        if state.latest.is_some() {
            return false;
        }
        state.reader_waiting = true;
        state.writer_closed
    }

    pub(super) fn conflated(&self) -> u64 {
        if self.counts {
            self.slot.conflated.load(Ordering::Relaxed)
        } else {
            0
        }
    }
}

impl Drop for SlotReader {
    fn drop(&mut self) {
        // The writer never waits, so there is nobody to wake. An unread
        // frame stays (counted by the writer's `queued`) until the writer
        // goes too.
        lock(&self.slot.state).reader_closed = true;
    }
}
