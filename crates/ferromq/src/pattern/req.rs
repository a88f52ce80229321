//! REQ: the client of request-reply (RFC 28). Each request goes to the
//! next peer in turn, prefixed with an empty delimiter frame; then the
//! socket waits for the reply from that same peer, strips the delimiter
//! and hands back the body. Sending twice without receiving, or receiving
//! before sending, is `EFSM`.
//!
//! Options: REQ_RELAXED lets a new request abandon the one still awaiting
//! its reply; REQ_CORRELATE prefixes each request with a 4-byte request id
//! (libzmq: native byte order) and accepts only the reply carrying it.

use super::fq::FairQueue;
use super::lb::LoadBalancer;
use super::{random_u32, Pattern, PipeId, PipeSet, SendError};
use crate::error::{Error, ErrorKind, Result};
use crate::msg::Msg;
use crate::options::{flag_value, id};
use crate::stats::DropReason;

pub(crate) struct Req {
    lb: LoadBalancer,
    fq: FairQueue,
    /// A request was sent; its reply is awaited.
    receiving_reply: bool,
    /// The next frame sent or received starts a message.
    message_begins: bool,
    /// The pipe the current request went to: replies come only from it.
    reply_pipe: Option<PipeId>,
    strict: bool,
    correlate: bool,
    request_id: u32,
}

impl Default for Req {
    fn default() -> Req {
        Req {
            lb: LoadBalancer::default(),
            fq: FairQueue::default(),
            receiving_reply: false,
            message_begins: true,
            reply_pipe: None,
            strict: true,
            correlate: false,
            request_id: random_u32(),
        }
    }
}

impl Req {
    /// Receives the next frame that came from the reply pipe, dropping
    /// frames from any other pipe (late replies to abandoned requests).
    fn recv_from_reply_pipe(&mut self, pipes: &mut PipeSet) -> Result<Msg> {
        loop {
            let (msg, pipe) = self.fq.recv_with_pipe(pipes)?;
            if Some(pipe) == self.reply_pipe {
                return Ok(msg);
            }
            if !msg.more() {
                pipes.note_drop(DropReason::Unexpected);
            }
        }
    }

    /// Drops a malformed or stale reply whose first frame (from the reply
    /// pipe) was `msg`, and the rest of it.
    fn skip_rest(&mut self, mut msg: Msg, pipes: &mut PipeSet) {
        pipes.note_drop(DropReason::Unexpected);
        while msg.more() {
            match self.recv_from_reply_pipe(pipes) {
                Ok(m) => msg = m,
                Err(_) => return,
            }
        }
    }

    /// Consumes the reply's envelope (request id if correlating, then the
    /// empty delimiter), skipping malformed or stale messages, so that the
    /// next frame is the body's first.
    fn read_envelope(&mut self, pipes: &mut PipeSet) -> Result<()> {
        while self.message_begins {
            if self.correlate {
                let msg = self.recv_from_reply_pipe(pipes)?;
                if !msg.more() || msg[..] != self.request_id.to_ne_bytes() {
                    self.skip_rest(msg, pipes);
                    continue;
                }
            }
            let msg = self.recv_from_reply_pipe(pipes)?;
            if !msg.more() || !msg.is_empty() {
                self.skip_rest(msg, pipes);
                continue;
            }
            self.message_begins = false;
        }
        Ok(())
    }

    fn start_request(&mut self, msg: Msg, pipes: &mut PipeSet) -> Result<Msg, SendError> {
        self.reply_pipe = None;
        let mut prefix = Vec::with_capacity(2);
        if self.correlate {
            self.request_id = self.request_id.wrapping_add(1);
            prefix.push(Msg::from(&self.request_id.to_ne_bytes()).with_more(true));
        }
        prefix.push(Msg::new().with_more(true));
        for frame in prefix {
            match self.lb.send_returning_pipe(frame, pipes) {
                Ok(Some(pipe)) => self.reply_pipe = Some(pipe),
                Ok(None) => {}
                Err(e) => {
                    // Only the first prefix frame can fail (no peer has
                    // room); later frames follow it to the same pipe.
                    return Err(SendError {
                        error: e.error,
                        msg,
                    });
                }
            }
        }
        self.message_begins = false;
        // Replies that arrived before this request was sent are stale
        // (answers to abandoned requests, or duplicates): drop them.
        while let Ok(frame) = self.fq.recv(pipes) {
            if !frame.more() {
                pipes.note_drop(DropReason::Unexpected);
            }
        }
        Ok(msg)
    }
}

impl Pattern for Req {
    fn attach(&mut self, id: PipeId, _pipes: &mut PipeSet) {
        self.lb.attach(id);
        self.fq.attach(id);
    }

    fn detach(&mut self, id: PipeId) {
        self.lb.detach(id);
        self.fq.detach(id);
        // A request whose pipe went away gets no reply: unless relaxed,
        // the socket keeps waiting. (libzmq then accepts a reply from any
        // peer; only stale ones could come, so this waits instead.)
    }

    fn send(&mut self, msg: Msg, pipes: &mut PipeSet) -> Result<(), SendError> {
        if self.receiving_reply {
            if self.strict {
                return Err(SendError::new(
                    ErrorKind::EFSM,
                    "REQ must receive the reply before sending another request",
                    msg,
                ));
            }
            self.receiving_reply = false;
            self.message_begins = true;
        }
        let msg = if self.message_begins {
            self.start_request(msg, pipes)?
        } else {
            msg
        };
        let more = msg.more();
        self.lb.send(msg, pipes)?;
        if !more {
            self.receiving_reply = true;
            self.message_begins = true;
        }
        Ok(())
    }

    fn recv(&mut self, pipes: &mut PipeSet) -> Result<Msg> {
        if !self.receiving_reply {
            return Err(Error::new(
                ErrorKind::EFSM,
                "REQ must send a request before receiving",
            ));
        }
        self.read_envelope(pipes)?;
        let msg = self.recv_from_reply_pipe(pipes)?;
        if !msg.more() {
            self.receiving_reply = false;
            self.message_begins = true;
        }
        Ok(msg)
    }

    fn has_in(&mut self, pipes: &mut PipeSet) -> bool {
        self.receiving_reply && self.read_envelope(pipes).is_ok()
    }

    fn last_recv_pipe(&self) -> Option<PipeId> {
        self.fq.last_pipe()
    }

    fn has_out(&mut self, pipes: &mut PipeSet) -> bool {
        if self.receiving_reply && self.strict {
            return false;
        }
        self.lb.has_out(pipes)
    }

    fn set_option(&mut self, option: i32, value: &[u8], _pipes: &mut PipeSet) -> Result<bool> {
        match option {
            id::REQ_RELAXED => self.strict = !flag_value(option, value)?,
            id::REQ_CORRELATE => self.correlate = flag_value(option, value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::super::dist::testing::*;
    use super::*;

    fn on(option: i32, req: &mut Req, pipes: &mut PipeSet) {
        assert!(req.set_option(option, &1i32.to_ne_bytes(), pipes).unwrap());
    }

    #[test]
    fn request_gets_delimiter_and_reply_loses_it() {
        let mut pipes = PipeSet::default();
        let mut req = Req::default();
        let mut rep = attach_peer(&mut req, &mut pipes, 1, 0);
        assert!(req.has_out(&mut pipes));
        assert!(!req.has_in(&mut pipes));
        send(&mut req, &mut pipes, &[b"hello", b"world"]).unwrap();
        assert!(!req.has_out(&mut pipes));
        assert_eq!(rep.recv_all(), vec![v(&[b"", b"hello", b"world"])]);
        assert!(!req.has_in(&mut pipes));
        assert_eq!(
            recv(&mut req, &mut pipes).unwrap_err().kind(),
            ErrorKind::EAGAIN
        );
        rep.send(&[b"", b"re", b"ply"]);
        assert!(req.has_in(&mut pipes));
        assert_eq!(recv(&mut req, &mut pipes).unwrap(), v(&[b"re", b"ply"]));
        assert!(req.has_out(&mut pipes));
        assert!(!req.has_in(&mut pipes));
    }

    #[test]
    fn strict_alternation_is_efsm() {
        let mut pipes = PipeSet::default();
        let mut req = Req::default();
        let mut rep = attach_peer(&mut req, &mut pipes, 1, 0);
        assert_eq!(
            recv(&mut req, &mut pipes).unwrap_err().kind(),
            ErrorKind::EFSM
        );
        send(&mut req, &mut pipes, &[b"1"]).unwrap();
        let err = req.send(Msg::from("2"), &mut pipes).err().unwrap();
        assert_eq!(err.error.kind(), ErrorKind::EFSM);
        assert_eq!(&err.msg[..], b"2");
        rep.recv_all();
        rep.send(&[b"", b"r1"]);
        assert_eq!(recv(&mut req, &mut pipes).unwrap(), v(&[b"r1"]));
        assert_eq!(
            recv(&mut req, &mut pipes).unwrap_err().kind(),
            ErrorKind::EFSM
        );
    }

    #[test]
    fn no_peer_hands_the_request_back() {
        let mut pipes = PipeSet::default();
        let mut req = Req::default();
        let err = req.send(Msg::from("q"), &mut pipes).err().unwrap();
        assert_eq!(err.error.kind(), ErrorKind::EAGAIN);
        assert_eq!(&err.msg[..], b"q");
        // Still able to send once a peer arrives; nothing half-sent.
        let mut rep = attach_peer(&mut req, &mut pipes, 1, 0);
        req.send(err.msg, &mut pipes).ok().unwrap();
        assert_eq!(rep.recv_all(), vec![v(&[b"", b"q"])]);
    }

    #[test]
    fn requests_round_robin_and_replies_only_from_that_peer() {
        let mut pipes = PipeSet::default();
        let mut req = Req::default();
        let mut a = attach_peer(&mut req, &mut pipes, 1, 0);
        let mut b = attach_peer(&mut req, &mut pipes, 2, 0);
        send(&mut req, &mut pipes, &[b"q1"]).unwrap();
        assert_eq!(a.recv_all(), vec![v(&[b"", b"q1"])]);
        // b was not asked: its message is ignored.
        b.send(&[b"", b"bogus"]);
        assert!(!req.has_in(&mut pipes));
        a.send(&[b"", b"r1"]);
        assert_eq!(recv(&mut req, &mut pipes).unwrap(), v(&[b"r1"]));
        send(&mut req, &mut pipes, &[b"q2"]).unwrap();
        assert_eq!(b.recv_all(), vec![v(&[b"", b"q2"])]);
        b.send(&[b"", b"r2"]);
        assert_eq!(recv(&mut req, &mut pipes).unwrap(), v(&[b"r2"]));
        assert_eq!(pipes.drops.unexpected, 1, "b's unasked-for message");
        assert_eq!(pipes.drops.total(), 1);
    }

    #[test]
    fn malformed_replies_are_dropped() {
        let mut pipes = PipeSet::default();
        let mut req = Req::default();
        let mut rep = attach_peer(&mut req, &mut pipes, 1, 0);
        send(&mut req, &mut pipes, &[b"q"]).unwrap();
        rep.send(&[b"no delimiter"]);
        rep.send(&[b"x", b"", b"body"]);
        rep.send(&[b""]);
        assert!(!req.has_in(&mut pipes));
        rep.send(&[b"", b"good"]);
        assert_eq!(recv(&mut req, &mut pipes).unwrap(), v(&[b"good"]));
        assert_eq!(pipes.drops.unexpected, 3);
        assert_eq!(pipes.drops.total(), 3);
    }

    #[test]
    fn stale_replies_are_dropped_when_a_request_is_sent() {
        let mut pipes = PipeSet::default();
        let mut req = Req::default();
        on(id::REQ_RELAXED, &mut req, &mut pipes);
        let mut a = attach_peer(&mut req, &mut pipes, 1, 0);
        send(&mut req, &mut pipes, &[b"q1"]).unwrap();
        // Relaxed: the unanswered request is abandoned.
        assert!(req.has_out(&mut pipes));
        send(&mut req, &mut pipes, &[b"q2"]).unwrap();
        assert_eq!(a.recv_all(), vec![v(&[b"", b"q1"]), v(&[b"", b"q2"])]);
        a.send(&[b"", b"r2"]);
        assert_eq!(recv(&mut req, &mut pipes).unwrap(), v(&[b"r2"]));
        // A late reply that is already queued when the next request goes
        // out is dropped.
        send(&mut req, &mut pipes, &[b"q3"]).unwrap();
        a.send(&[b"", b"late"]);
        send(&mut req, &mut pipes, &[b"q4"]).unwrap();
        assert!(!req.has_in(&mut pipes));
        a.send(&[b"", b"r4"]);
        assert_eq!(recv(&mut req, &mut pipes).unwrap(), v(&[b"r4"]));
        assert_eq!(pipes.drops.unexpected, 1, "the late reply");
    }

    #[test]
    fn correlate_prefixes_and_checks_the_request_id() {
        let mut pipes = PipeSet::default();
        let mut req = Req::default();
        on(id::REQ_CORRELATE, &mut req, &mut pipes);
        on(id::REQ_RELAXED, &mut req, &mut pipes);
        let mut a = attach_peer(&mut req, &mut pipes, 1, 0);
        send(&mut req, &mut pipes, &[b"q1"]).unwrap();
        let first = a.recv().unwrap();
        assert_eq!(first.len(), 3);
        assert_eq!(first[0].len(), 4);
        assert_eq!(first[1], b"");
        send(&mut req, &mut pipes, &[b"q2"]).unwrap();
        let second = a.recv().unwrap();
        assert_ne!(first[0], second[0]);
        // The reply to q1 arrives after q2 went out: wrong id, dropped.
        a.send(&[&first[0], b"", b"r1"]);
        assert!(!req.has_in(&mut pipes));
        a.send(&[&second[0], b"", b"r2"]);
        assert_eq!(recv(&mut req, &mut pipes).unwrap(), v(&[b"r2"]));
        assert_eq!(pipes.drops.unexpected, 1, "the reply to q1");
    }

    #[test]
    fn options_validate_values() {
        let mut pipes = PipeSet::default();
        let mut req = Req::default();
        let err = req
            .set_option(id::REQ_RELAXED, &(-1i32).to_ne_bytes(), &mut pipes)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::EINVAL);
        assert!(req.set_option(id::REQ_RELAXED, &[1], &mut pipes).is_err());
        assert!(!req
            .set_option(id::ROUTER_MANDATORY, &1i32.to_ne_bytes(), &mut pipes)
            .unwrap());
        assert!(req.strict && !req.correlate);
        on(id::REQ_CORRELATE, &mut req, &mut pipes);
        assert!(req.correlate);
    }
}
