//! Load balancer: round-robin over pipes that have room, keeping every
//! frame of a message on the pipe its first frame went to.

use super::{PipeId, PipeSet, SendError};
use crate::msg::Msg;

#[derive(Default)]
pub(crate) struct LoadBalancer {
    pipes: Vec<PipeId>,
    next: usize,
    /// The pipe the current multipart message is going to.
    current: Option<PipeId>,
    /// The current message's pipe died: drop its remaining frames.
    dropping: bool,
}

impl LoadBalancer {
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
            self.current = None;
            self.dropping = true;
        }
    }

    /// Sends one frame to the next pipe with room. `EAGAIN` if none has.
    pub(crate) fn send(&mut self, msg: Msg, pipes: &mut PipeSet) -> Result<(), SendError> {
        self.send_returning_pipe(msg, pipes).map(|_| ())
    }

    /// Like [`send`](LoadBalancer::send), telling which pipe took the frame
    /// (`None` when it was dropped because its pipe died mid-message).
    pub(crate) fn send_returning_pipe(
        &mut self,
        msg: Msg,
        pipes: &mut PipeSet,
    ) -> Result<Option<PipeId>, SendError> {
        if self.dropping {
            self.dropping = msg.more();
            return Ok(None);
        }
        let id = match self.current {
            Some(id) => id,
            None => match self.pick(pipes) {
                Some(id) => id,
                None => return Err(SendError::again(msg, "no peer can take a message now")),
            },
        };
        let more = msg.more();
        let Some(pipe) = pipes.get_mut(id) else {
            self.dropping = more;
            self.current = None;
            return Ok(None);
        };
        pipe.writer.write(msg);
        if more {
            self.current = Some(id);
        } else {
            pipe.writer.flush();
            self.current = None;
        }
        Ok(Some(id))
    }

    fn pick(&mut self, pipes: &mut PipeSet) -> Option<PipeId> {
        let n = self.pipes.len();
        for i in 0..n {
            let idx = (self.next + i) % n;
            let id = self.pipes[idx];
            if pipes.get(id).is_some_and(|p| p.writer.check_write()) {
                self.next = (idx + 1) % n;
                return Some(id);
            }
        }
        None
    }

    pub(crate) fn has_out(&mut self, pipes: &mut PipeSet) -> bool {
        if self.current.is_some() || self.dropping {
            return true;
        }
        self.pipes
            .iter()
            .any(|&id| pipes.get(id).is_some_and(|p| p.writer.check_write()))
    }
}
