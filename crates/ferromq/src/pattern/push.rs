//! PUSH: round-robins messages to connected PULL peers; blocks when every
//! peer is at its high-water mark (RFC 30).

use super::lb::LoadBalancer;
use super::{Pattern, PipeId, PipeSet, SendError};
use crate::error::{Error, ErrorKind, Result};
use crate::msg::Msg;

#[derive(Default)]
pub(crate) struct Push {
    lb: LoadBalancer,
}

impl Pattern for Push {
    fn attach(&mut self, id: PipeId, _pipes: &mut PipeSet) {
        self.lb.attach(id);
    }

    fn detach(&mut self, id: PipeId) {
        self.lb.detach(id);
    }

    fn send(&mut self, msg: Msg, pipes: &mut PipeSet) -> Result<(), SendError> {
        self.lb.send(msg, pipes)
    }

    fn recv(&mut self, _pipes: &mut PipeSet) -> Result<Msg> {
        Err(Error::new(
            ErrorKind::ENOTSUP,
            "PUSH sockets cannot receive",
        ))
    }

    fn has_in(&mut self, _pipes: &mut PipeSet) -> bool {
        false
    }

    fn has_out(&mut self, pipes: &mut PipeSet) -> bool {
        self.lb.has_out(pipes)
    }
}
