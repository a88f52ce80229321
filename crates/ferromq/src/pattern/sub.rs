//! PLACEHOLDER: being written.

use super::{Pattern, PipeId, PipeSet, SendError};
use crate::error::{Error, ErrorKind, Result};
use crate::msg::Msg;

#[derive(Default)]
pub(crate) struct Sub;

impl Pattern for Sub {
    fn attach(&mut self, _id: PipeId, _pipes: &mut PipeSet) {}
    fn detach(&mut self, _id: PipeId) {}
    fn send(&mut self, msg: Msg, _pipes: &mut PipeSet) -> Result<(), SendError> {
        Err(SendError::new(ErrorKind::ENOTSUP, "not yet", msg))
    }
    fn recv(&mut self, _pipes: &mut PipeSet) -> Result<Msg> {
        Err(Error::new(ErrorKind::ENOTSUP, "not yet"))
    }
    fn has_in(&mut self, _pipes: &mut PipeSet) -> bool {
        false
    }
    fn has_out(&mut self, _pipes: &mut PipeSet) -> bool {
        false
    }
}
