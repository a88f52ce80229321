//! DEALER: round-robins outgoing messages over its peers and fair-queues
//! incoming ones, leaving every frame as it is (RFC 28).

use super::fq::FairQueue;
use super::lb::LoadBalancer;
use super::{Pattern, PipeId, PipeSet, SendError};
use crate::error::Result;
use crate::msg::Msg;

#[derive(Default)]
pub(crate) struct Dealer {
    lb: LoadBalancer,
    fq: FairQueue,
}

impl Pattern for Dealer {
    fn attach(&mut self, id: PipeId, _pipes: &mut PipeSet) {
        self.lb.attach(id);
        self.fq.attach(id);
    }

    fn detach(&mut self, id: PipeId) {
        self.lb.detach(id);
        self.fq.detach(id);
    }

    fn send(&mut self, msg: Msg, pipes: &mut PipeSet) -> Result<(), SendError> {
        self.lb.send(msg, pipes)
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

    fn has_out(&mut self, pipes: &mut PipeSet) -> bool {
        self.lb.has_out(pipes)
    }
}

#[cfg(test)]
mod tests {
    use super::super::dist::testing::*;
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn round_robin_out_whole_messages() {
        let mut pipes = PipeSet::default();
        let mut d = Dealer::default();
        let mut a = attach_peer(&mut d, &mut pipes, 1, 0);
        let mut b = attach_peer(&mut d, &mut pipes, 2, 0);
        assert!(d.has_out(&mut pipes));
        send(&mut d, &mut pipes, &[b"", b"m1"]).unwrap();
        send(&mut d, &mut pipes, &[b"m2", b"x", b"y"]).unwrap();
        send(&mut d, &mut pipes, &[b"m3"]).unwrap();
        assert_eq!(a.recv_all(), vec![v(&[b"", b"m1"]), v(&[b"m3"])]);
        assert_eq!(b.recv_all(), vec![v(&[b"m2", b"x", b"y"])]);
    }

    #[test]
    fn fair_queue_in_unchanged() {
        let mut pipes = PipeSet::default();
        let mut d = Dealer::default();
        let mut a = attach_peer(&mut d, &mut pipes, 1, 0);
        let mut b = attach_peer(&mut d, &mut pipes, 2, 0);
        assert!(!d.has_in(&mut pipes));
        a.send(&[b"a1", b"a1b"]);
        a.send(&[b"a2"]);
        b.send(&[b"", b"b1"]);
        assert!(d.has_in(&mut pipes));
        let mut got = vec![
            recv(&mut d, &mut pipes).unwrap(),
            recv(&mut d, &mut pipes).unwrap(),
            recv(&mut d, &mut pipes).unwrap(),
        ];
        assert_eq!(
            recv(&mut d, &mut pipes).unwrap_err().kind(),
            ErrorKind::EAGAIN
        );
        // Round-robin: a1, b1, a2.
        assert_eq!(got[1], v(&[b"", b"b1"]));
        got.remove(1);
        assert_eq!(got, vec![v(&[b"a1", b"a1b"]), v(&[b"a2"])]);
    }

    #[test]
    fn blocks_when_every_peer_is_full() {
        let mut pipes = PipeSet::default();
        let mut d = Dealer::default();
        assert!(!d.has_out(&mut pipes));
        let mut a = attach_peer(&mut d, &mut pipes, 1, 1);
        send(&mut d, &mut pipes, &[b"1"]).unwrap();
        assert!(!d.has_out(&mut pipes));
        let err = d.send(Msg::from("2"), &mut pipes).err().unwrap();
        assert_eq!(err.error.kind(), ErrorKind::EAGAIN);
        assert_eq!(a.recv_all(), vec![v(&[b"1"])]);
        assert!(d.has_out(&mut pipes));
        d.send(err.msg, &mut pipes).ok().unwrap();
        assert_eq!(a.recv_all(), vec![v(&[b"2"])]);
        remove_peer(&mut d, &mut pipes, 1);
        assert!(!d.has_out(&mut pipes));
    }
}
