//! PULL: fair-queues messages from connected PUSH peers (RFC 30).

use super::fq::FairQueue;
use super::{Pattern, PipeId, PipeSet, SendError};
use crate::error::{ErrorKind, Result};
use crate::msg::Msg;

#[derive(Default)]
pub(crate) struct Pull {
    fq: FairQueue,
}

impl Pattern for Pull {
    fn attach(&mut self, id: PipeId, _pipes: &mut PipeSet) {
        self.fq.attach(id);
    }

    fn detach(&mut self, id: PipeId) {
        self.fq.detach(id);
    }

    fn send(&mut self, msg: Msg, _pipes: &mut PipeSet) -> Result<(), SendError> {
        Err(SendError::new(
            ErrorKind::ENOTSUP,
            "PULL sockets cannot send",
            msg,
        ))
    }

    fn recv(&mut self, pipes: &mut PipeSet) -> Result<Msg> {
        self.fq.recv(pipes)
    }

    fn has_in(&mut self, pipes: &mut PipeSet) -> bool {
        self.fq.has_in(pipes)
    }

    fn last_recv_pipe(&self) -> Option<PipeId> {
        self.fq.last_pipe()
    }

    fn has_out(&mut self, _pipes: &mut PipeSet) -> bool {
        false
    }
}
