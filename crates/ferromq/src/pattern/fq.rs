//! Fair queue: round-robin over pipes with messages, taking every frame of
//! a message from the pipe its first frame came from.

use super::{PipeId, PipeSet};
use crate::error::{Error, Result};
use crate::msg::Msg;

#[derive(Default)]
pub(crate) struct FairQueue {
    pipes: Vec<PipeId>,
    next: usize,
    /// The pipe the message being received comes from.
    current: Option<PipeId>,
}

impl FairQueue {
    pub(crate) fn attach(&mut self, id: PipeId) {
        self.pipes.push(id);
    }

    pub(crate) fn detach(&mut self, id: PipeId) {
        if let Some(pos) = self.pipes.iter().position(|&p| p == id) {
            self.pipes.remove(pos);
            if self.next > pos || self.next >= self.pipes.len() {
                self.next = self
                    .next
                    .saturating_sub(1)
                    .min(self.pipes.len().saturating_sub(1));
            }
        }
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
                    return Ok((msg, id));
                }
            }
            self.current = None;
        }
        let n = self.pipes.len();
        for i in 0..n {
            let idx = (self.next + i) % n;
            let id = self.pipes[idx];
            let Some(pipe) = pipes.get_mut(id) else {
                continue;
            };
            if let Ok(msg) = pipe.reader.read() {
                if msg.more() {
                    self.current = Some(id);
                }
                self.next = (idx + 1) % n;
                return Ok((msg, id));
            }
        }
        Err(Error::again("no message available"))
    }

    pub(crate) fn recv(&mut self, pipes: &mut PipeSet) -> Result<Msg> {
        self.recv_with_pipe(pipes).map(|(m, _)| m)
    }

    pub(crate) fn has_in(&mut self, pipes: &mut PipeSet) -> bool {
        if self.current.is_some() {
            return true;
        }
        self.pipes
            .iter()
            .any(|&id| pipes.get_mut(id).is_some_and(|p| p.reader.check_read()))
    }
}
