//! Fair queue: round-robin over pipes with messages, taking every frame of
//! a message from the pipe its first frame came from.

use super::ring::Ring;
use super::{PipeId, PipeSet};
use crate::error::{Error, Result};
use crate::msg::Msg;

#[derive(Default)]
pub(crate) struct FairQueue {
    ring: Ring,
    /// The pipe the message being received comes from.
    current: Option<PipeId>,
    /// The pipe the last frame came from (for message properties).
    last: Option<PipeId>,
}

impl FairQueue {
    pub(crate) fn attach(&mut self, id: PipeId) {
        self.ring.attach(id);
    }

    pub(crate) fn detach(&mut self, id: PipeId) {
        self.ring.detach(id);
        if self.current == Some(id) {
            // Only whole messages are ever published to a pipe, so a pipe
            // cannot vanish mid-message unless the socket dropped it.
            self.current = None;
        }
    }

    /// Receives one frame, telling which pipe it came from.
    pub(crate) fn recv_with_pipe(&mut self, pipes: &mut PipeSet) -> Result<(Msg, PipeId)> {
        if let Some(id) = self.current {
            if let Some(pipe) = pipes.get_mut(id) {
                if let Ok(msg) = pipe.reader.read() {
                    if !msg.more() {
                        self.current = None;
                    }
                    self.last = Some(id);
                    return Ok((msg, id));
                }
            }
            self.current = None;
        }
        let picked = self
            .ring
            .pick(|id| pipes.get_mut(id).and_then(|p| p.reader.read().ok()));
        if let Some((id, msg)) = picked {
            if msg.more() {
                self.current = Some(id);
            }
            self.last = Some(id);
            return Ok((msg, id));
        }
        Err(Error::again("no message available"))
    }

    /// The pipe the last frame received came from.
    pub(crate) fn last_pipe(&self) -> Option<PipeId> {
        self.last
    }

    pub(crate) fn recv(&mut self, pipes: &mut PipeSet) -> Result<Msg> {
        self.recv_with_pipe(pipes).map(|(m, _)| m)
    }

    pub(crate) fn has_in(&mut self, pipes: &mut PipeSet) -> bool {
        if self.current.is_some() {
            return true;
        }
        self.ring
            .any(|&id| pipes.get_mut(id).is_some_and(|p| p.reader.check_read()))
    }
}
