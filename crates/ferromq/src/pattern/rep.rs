//! REP: the server of request-reply (RFC 28). Requests are fair-queued;
//! each one's envelope (every frame up to and including the empty
//! delimiter) is kept back, and the reply goes to the pipe the request came
//! from with that envelope in front. Sending before receiving, or receiving
//! while a reply is owed, is `EFSM`.

use super::fq::FairQueue;
use super::{Pattern, PipeId, PipeSet, SendError};
use crate::error::{Error, ErrorKind, Result};
use crate::msg::Msg;
use crate::stats::DropReason;

#[derive(Default)]
pub(crate) struct Rep {
    fq: FairQueue,
    /// A whole request was received; the application owes the reply.
    sending_reply: bool,
    /// The current request's envelope was consumed; its body is next.
    in_request: bool,
    /// The envelope of the current request (or the part read so far).
    envelope: Vec<Msg>,
    /// The pipe the current request came from.
    request_pipe: Option<PipeId>,
    /// The reply has started; its frames go to `reply_to`.
    replying: bool,
    /// Where the reply in progress goes; `None` drops it (the requester is
    /// gone or cannot take it).
    reply_to: Option<PipeId>,
    /// The reply's pipe went away after its first frames went out: the
    /// rest is dropped, and the reply counted as lost at its last frame.
    reply_lost: bool,
}

impl Rep {
    /// Reads frames up to and including the next request's delimiter,
    /// dropping messages that have none.
    fn read_envelope(&mut self, pipes: &mut PipeSet) -> Result<()> {
        while !self.in_request {
            let (msg, pipe) = self.fq.recv_with_pipe(pipes)?;
            if self.request_pipe != Some(pipe) {
                // A message from another pipe starts: whatever was read
                // belonged to a pipe that went away mid-message.
                if !self.envelope.is_empty() {
                    pipes.note_drop(DropReason::PeerGone);
                }
                self.envelope.clear();
                self.request_pipe = Some(pipe);
            }
            if !msg.more() {
                // The message ended before any delimiter: malformed.
                pipes.note_drop(DropReason::Unexpected);
                self.envelope.clear();
                self.request_pipe = None;
                continue;
            }
            let delimiter = msg.is_empty();
            self.envelope.push(msg);
            if delimiter {
                self.in_request = true;
            }
        }
        Ok(())
    }
}

impl Pattern for Rep {
    fn attach(&mut self, id: PipeId, _pipes: &mut PipeSet) {
        self.fq.attach(id);
    }

    fn detach(&mut self, id: PipeId) {
        self.fq.detach(id);
        if self.reply_to == Some(id) {
            self.reply_to = None;
            self.reply_lost = true;
        }
    }

    fn send(&mut self, msg: Msg, pipes: &mut PipeSet) -> Result<(), SendError> {
        if !self.sending_reply {
            return Err(SendError::new(
                ErrorKind::EFSM,
                "REP must receive a request before sending a reply",
                msg,
            ));
        }
        if !self.replying {
            self.replying = true;
            let envelope = std::mem::take(&mut self.envelope);
            // A requester that cannot take the reply does not get it (REP
            // never blocks on one peer): it is dropped, and counted.
            let target = self.request_pipe.take();
            let lost = match target.and_then(|id| pipes.get(id)) {
                None => Some(DropReason::PeerGone),
                Some(p) if p.writer.is_reader_closed() => Some(DropReason::PeerGone),
                Some(p) if !p.writer.check_write_or_drop() => Some(DropReason::Hwm),
                Some(_) => None,
            };
            match lost {
                Some(reason) => pipes.note_drop(reason),
                None => self.reply_to = target,
            }
            if let Some(pipe) = self.reply_to.and_then(|id| pipes.get_mut(id)) {
                for frame in envelope {
                    pipe.writer.write(frame);
                }
            }
        }
        let more = msg.more();
        if let Some(pipe) = self.reply_to.and_then(|id| pipes.get_mut(id)) {
            pipe.writer.write(msg);
            if !more {
                pipe.writer.flush();
            }
        }
        if !more {
            if std::mem::take(&mut self.reply_lost) {
                pipes.note_drop(DropReason::PeerGone);
            }
            self.replying = false;
            self.reply_to = None;
            self.sending_reply = false;
        }
        Ok(())
    }

    fn recv(&mut self, pipes: &mut PipeSet) -> Result<Msg> {
        if self.sending_reply {
            return Err(Error::new(
                ErrorKind::EFSM,
                "REP must send the reply before receiving another request",
            ));
        }
        self.read_envelope(pipes)?;
        let (msg, _) = self.fq.recv_with_pipe(pipes)?;
        if !msg.more() {
            self.in_request = false;
            self.sending_reply = true;
        }
        Ok(msg)
    }

    fn has_in(&mut self, pipes: &mut PipeSet) -> bool {
        !self.sending_reply && self.read_envelope(pipes).is_ok()
    }

    fn last_recv_pipe(&self) -> Option<PipeId> {
        self.fq.last_pipe()
    }

    fn has_out(&mut self, _pipes: &mut PipeSet) -> bool {
        self.sending_reply
    }
}

#[cfg(test)]
mod tests {
    use super::super::dist::testing::*;
    use super::*;

    #[test]
    fn envelope_is_stripped_and_prepended_to_the_reply() {
        let mut pipes = PipeSet::default();
        let mut rep = Rep::default();
        let mut a = attach_peer(&mut rep, &mut pipes, 1, 0);
        assert!(!rep.has_in(&mut pipes));
        assert!(!rep.has_out(&mut pipes));
        // As through a ROUTER/DEALER chain: two address frames.
        a.send(&[b"addr1", b"addr2", b"", b"body1", b"body2"]);
        assert!(rep.has_in(&mut pipes));
        assert_eq!(
            recv(&mut rep, &mut pipes).unwrap(),
            v(&[b"body1", b"body2"])
        );
        assert!(!rep.has_in(&mut pipes));
        assert!(rep.has_out(&mut pipes));
        send(&mut rep, &mut pipes, &[b"re", b"ply"]).unwrap();
        assert_eq!(
            a.recv_all(),
            vec![v(&[b"addr1", b"addr2", b"", b"re", b"ply"])]
        );
        assert!(!rep.has_out(&mut pipes));
    }

    #[test]
    fn alternation_is_enforced() {
        let mut pipes = PipeSet::default();
        let mut rep = Rep::default();
        let mut a = attach_peer(&mut rep, &mut pipes, 1, 0);
        let err = rep.send(Msg::from("early"), &mut pipes).err().unwrap();
        assert_eq!(err.error.kind(), ErrorKind::EFSM);
        a.send(&[b"", b"q1"]);
        a.send(&[b"", b"q2"]);
        assert_eq!(recv(&mut rep, &mut pipes).unwrap(), v(&[b"q1"]));
        assert_eq!(
            recv(&mut rep, &mut pipes).unwrap_err().kind(),
            ErrorKind::EFSM
        );
        assert!(!rep.has_in(&mut pipes), "a reply is owed");
        send(&mut rep, &mut pipes, &[b"r1"]).unwrap();
        assert_eq!(recv(&mut rep, &mut pipes).unwrap(), v(&[b"q2"]));
        send(&mut rep, &mut pipes, &[b"r2"]).unwrap();
        assert_eq!(a.recv_all(), vec![v(&[b"", b"r1"]), v(&[b"", b"r2"])]);
    }

    #[test]
    fn replies_go_back_to_the_requesting_pipe() {
        let mut pipes = PipeSet::default();
        let mut rep = Rep::default();
        let mut a = attach_peer(&mut rep, &mut pipes, 1, 0);
        let mut b = attach_peer(&mut rep, &mut pipes, 2, 0);
        a.send(&[b"", b"from a"]);
        b.send(&[b"", b"from b"]);
        for _ in 0..2 {
            let req = recv(&mut rep, &mut pipes).unwrap();
            let reply = [b"re: ".as_slice(), &req[0]].concat();
            send(&mut rep, &mut pipes, &[&reply]).unwrap();
        }
        assert_eq!(a.recv_all(), vec![v(&[b"", b"re: from a"])]);
        assert_eq!(b.recv_all(), vec![v(&[b"", b"re: from b"])]);
    }

    #[test]
    fn requests_without_delimiter_are_dropped() {
        let mut pipes = PipeSet::default();
        let mut rep = Rep::default();
        let mut a = attach_peer(&mut rep, &mut pipes, 1, 0);
        a.send(&[b"no", b"delimiter"]);
        a.send(&[b""]);
        assert!(!rep.has_in(&mut pipes));
        a.send(&[b"", b"ok"]);
        assert_eq!(recv(&mut rep, &mut pipes).unwrap(), v(&[b"ok"]));
        send(&mut rep, &mut pipes, &[b"r"]).unwrap();
        assert_eq!(a.recv_all(), vec![v(&[b"", b"r"])]);
        assert_eq!(pipes.drops.unexpected, 2);
        assert_eq!(pipes.drops.total(), 2);
    }

    #[test]
    fn reply_to_a_vanished_or_full_peer_is_dropped() {
        let mut pipes = PipeSet::default();
        let mut rep = Rep::default();
        let mut a = attach_peer(&mut rep, &mut pipes, 1, 0);
        a.send(&[b"", b"q"]);
        assert_eq!(recv(&mut rep, &mut pipes).unwrap(), v(&[b"q"]));
        remove_peer(&mut rep, &mut pipes, 1);
        send(&mut rep, &mut pipes, &[b"lost", b"reply"]).unwrap();
        assert!(a.recv().is_none());
        assert_eq!(pipes.drops.peer_gone, 1);

        // Full requester: the reply is dropped, the socket moves on.
        let mut b = attach_peer(&mut rep, &mut pipes, 2, 1);
        b.send(&[b"", b"q1"]);
        b.send(&[b"", b"q2"]);
        b.send(&[b"", b"q3"]);
        recv(&mut rep, &mut pipes).unwrap();
        send(&mut rep, &mut pipes, &[b"r1"]).unwrap();
        recv(&mut rep, &mut pipes).unwrap();
        send(&mut rep, &mut pipes, &[b"r2"]).unwrap();
        assert_eq!(recv(&mut rep, &mut pipes).unwrap(), v(&[b"q3"]));
        assert_eq!(b.recv_all(), vec![v(&[b"", b"r1"])]);
        send(&mut rep, &mut pipes, &[b"r3"]).unwrap();
        assert_eq!(b.recv_all(), vec![v(&[b"", b"r3"])]);
        assert_eq!((pipes.drops.hwm, pipes.drops.peer_gone), (1, 1));
        assert_eq!(pipes.drops.total(), 2);
    }

    #[test]
    fn reply_to_a_requester_whose_end_closed_is_counted_as_peer_gone() {
        // The connection ended but the socket has not removed the pipe yet.
        let mut pipes = PipeSet::default();
        let mut rep = Rep::default();
        let mut a = attach_peer(&mut rep, &mut pipes, 1, 0);
        a.send(&[b"", b"q"]);
        recv(&mut rep, &mut pipes).unwrap();
        drop(a);
        send(&mut rep, &mut pipes, &[b"r"]).unwrap();
        assert_eq!(pipes.drops.peer_gone, 1);
        let gone = pipes.remove_gone(1).unwrap();
        rep.detach(1);
        assert_eq!(gone.writer.queued(), 0, "nothing was written to it");
        assert_eq!(pipes.drops.total(), 1, "counted once");
    }

    #[test]
    fn a_reply_cut_short_by_its_pipe_going_away_counts_once() {
        let mut pipes = PipeSet::default();
        let mut rep = Rep::default();
        let mut a = attach_peer(&mut rep, &mut pipes, 1, 0);
        let mut b = attach_peer(&mut rep, &mut pipes, 2, 0);
        a.send(&[b"", b"q"]);
        recv(&mut rep, &mut pipes).unwrap();
        rep.send(Msg::from("half").with_more(true), &mut pipes)
            .ok()
            .unwrap();
        remove_peer(&mut rep, &mut pipes, 1);
        rep.send(Msg::from("rest").with_more(true), &mut pipes)
            .ok()
            .unwrap();
        assert_eq!(pipes.drops.total(), 0, "counted at the end of the reply");
        rep.send(Msg::from("end"), &mut pipes).ok().unwrap();
        assert_eq!(pipes.drops.peer_gone, 1);
        assert!(a.recv().is_none());
        // The next request and reply are unaffected.
        b.send(&[b"", b"q2"]);
        recv(&mut rep, &mut pipes).unwrap();
        send(&mut rep, &mut pipes, &[b"r2"]).unwrap();
        assert_eq!(b.recv_all(), vec![v(&[b"", b"r2"])]);
        assert_eq!(pipes.drops.total(), 1);
    }
}
