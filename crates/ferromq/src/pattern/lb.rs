//! Load balancer: round-robin over pipes that have room, keeping every
//! frame of a message on the pipe its first frame went to.

use super::ring::Ring;
use super::{PipeId, PipeSet, SendError};
use crate::msg::Msg;

#[derive(Default)]
pub(crate) struct LoadBalancer {
    ring: Ring,
    /// The pipe the current multipart message is going to.
    current: Option<PipeId>,
    /// The current message's pipe died: drop its remaining frames.
    dropping: bool,
}

impl LoadBalancer {
    pub(crate) fn attach(&mut self, id: PipeId) {
        self.ring.attach(id);
    }

    pub(crate) fn detach(&mut self, id: PipeId) {
        self.ring.detach(id);
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
        self.ring
            .pick(|id| {
                pipes
                    .get(id)
                    .is_some_and(|p| p.writer.check_write())
                    .then_some(())
            })
            .map(|(id, ())| id)
    }

    pub(crate) fn has_out(&mut self, pipes: &mut PipeSet) -> bool {
        if self.current.is_some() || self.dropping {
            return true;
        }
        self.ring
            .any(|&id| pipes.get(id).is_some_and(|p| p.writer.check_write()))
    }
}
