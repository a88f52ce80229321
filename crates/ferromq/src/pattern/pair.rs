//! PAIR: exactly one peer at a time, both directions (RFC 31). A second
//! peer is refused while the first is attached.

use super::{Pattern, PipeId, PipeSet, SendError};
use crate::error::{Error, Result};
use crate::msg::Msg;

#[derive(Default)]
pub(crate) struct Pair {
    peer: Option<PipeId>,
    /// Pipes that arrived while another was attached: ignored.
    refused: Vec<PipeId>,
}

impl Pattern for Pair {
    fn attach(&mut self, id: PipeId, _pipes: &mut PipeSet) {
        if self.peer.is_none() {
            self.peer = Some(id);
        } else {
            self.refused.push(id);
        }
    }

    fn detach(&mut self, id: PipeId) {
        if self.peer == Some(id) {
            self.peer = None;
        }
        self.refused.retain(|&p| p != id);
    }

    fn send(&mut self, msg: Msg, pipes: &mut PipeSet) -> Result<(), SendError> {
        let Some(pipe) = self.peer.and_then(|id| pipes.get_mut(id)) else {
            return Err(SendError::again(msg, "PAIR has no peer"));
        };
        if !pipe.writer.check_write() {
            return Err(SendError::again(msg, "PAIR peer is at its high-water mark"));
        }
        let more = msg.more();
        pipe.writer.write(msg);
        if !more {
            pipe.writer.flush();
        }
        Ok(())
    }

    fn recv(&mut self, pipes: &mut PipeSet) -> Result<Msg> {
        let Some(pipe) = self.peer.and_then(|id| pipes.get_mut(id)) else {
            return Err(Error::again("PAIR has no peer"));
        };
        pipe.reader
            .read()
            .map_err(|_| Error::again("no message available"))
    }

    fn has_in(&mut self, pipes: &mut PipeSet) -> bool {
        self.peer
            .and_then(|id| pipes.get_mut(id))
            .is_some_and(|p| p.reader.check_read())
    }

    fn last_recv_pipe(&self) -> Option<PipeId> {
        self.peer
    }

    fn has_out(&mut self, pipes: &mut PipeSet) -> bool {
        self.peer
            .and_then(|id| pipes.get_mut(id))
            .is_some_and(|p| p.writer.check_write())
    }
}
