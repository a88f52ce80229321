//! PUB: sends each message to every subscriber whose subscriptions match
//! its first frame (RFC 29). A subscriber at its high-water mark misses
//! the message; the others still get it. PUB cannot receive: the
//! subscriptions its peers send (ZMTP 3.1 commands or legacy `0x01`/`0x00`
//! frames) update their filters, anything else they send is dropped.
//!
//! This is [`Xpub`] with nothing passed up to the application.

use super::xpub::Xpub;
use super::{Pattern, PipeId, PipeSet, SendError};
use crate::error::{Error, ErrorKind, Result};
use crate::msg::Msg;

pub(crate) struct Pub {
    inner: Xpub,
}

impl Default for Pub {
    fn default() -> Pub {
        Pub {
            inner: Xpub::publisher(),
        }
    }
}

impl Pattern for Pub {
    fn attach(&mut self, id: PipeId, pipes: &mut PipeSet) {
        self.inner.attach(id, pipes);
    }

    fn peer_ready(&mut self, id: PipeId, pipes: &mut PipeSet, reconnected: bool) {
        self.inner.peer_ready(id, pipes, reconnected);
    }

    fn detach(&mut self, id: PipeId) {
        self.inner.detach(id);
    }

    fn send(&mut self, msg: Msg, pipes: &mut PipeSet) -> Result<(), SendError> {
        self.inner.send(msg, pipes)
    }

    fn recv(&mut self, _pipes: &mut PipeSet) -> Result<Msg> {
        Err(Error::new(ErrorKind::ENOTSUP, "PUB sockets cannot receive"))
    }

    fn has_in(&mut self, pipes: &mut PipeSet) -> bool {
        // Reads pending subscriptions; PUB never has anything to receive.
        self.inner.has_in(pipes)
    }

    fn has_out(&mut self, pipes: &mut PipeSet) -> bool {
        self.inner.has_out(pipes)
    }

    fn set_option(&mut self, option: i32, value: &[u8], pipes: &mut PipeSet) -> Result<bool> {
        // libzmq's PUB takes the XPUB options too (NODROP, WELCOME_MSG).
        self.inner.set_option(option, value, pipes)
    }
}

#[cfg(test)]
mod tests {
    use super::super::dist::testing::*;
    use super::*;
    use crate::options::id::XPUB_NODROP;

    #[test]
    fn filters_by_prefix_and_cannot_receive() {
        let mut pipes = PipeSet::default();
        let mut p = Pub::default();
        let mut a = attach_peer(&mut p, &mut pipes, 1, 0);
        let mut b = attach_peer(&mut p, &mut pipes, 2, 0);
        // No subscriptions yet: nothing goes out.
        send(&mut p, &mut pipes, &[b"early"]).unwrap();
        a.send_msg(Msg::subscription(b"A", true));
        b.send(&[b"\x01B"]);
        assert!(p.has_out(&mut pipes));
        assert!(!p.has_in(&mut pipes));
        send(&mut p, &mut pipes, &[b"Apple", b"2"]).unwrap();
        send(&mut p, &mut pipes, &[b"Banana"]).unwrap();
        send(&mut p, &mut pipes, &[b"Cherry"]).unwrap();
        assert_eq!(a.recv_all(), vec![v(&[b"Apple", b"2"])]);
        assert_eq!(b.recv_all(), vec![v(&[b"Banana"])]);
        assert_eq!(
            recv(&mut p, &mut pipes).unwrap_err().kind(),
            ErrorKind::ENOTSUP
        );
    }

    #[test]
    fn other_upstream_messages_are_dropped() {
        let mut pipes = PipeSet::default();
        let mut p = Pub::default();
        let mut a = attach_peer(&mut p, &mut pipes, 1, 0);
        a.send(&[b"junk", b"\x01X"]);
        a.send(&[b"\x01Y"]);
        assert!(!p.has_in(&mut pipes));
        send(&mut p, &mut pipes, &[b"X"]).unwrap();
        send(&mut p, &mut pipes, &[b"Y"]).unwrap();
        assert_eq!(a.recv_all(), vec![v(&[b"Y"])]);
        // The data message is dropped and counted; the subscription, with
        // the frame after it, is not data.
        assert_eq!(pipes.drops.unexpected, 1);
        assert_eq!(pipes.drops.total(), 1);
    }

    #[test]
    fn one_slow_subscriber_does_not_stop_the_others() {
        let mut pipes = PipeSet::default();
        let mut p = Pub::default();
        let mut slow = attach_peer(&mut p, &mut pipes, 1, 3);
        let mut fast = attach_peer(&mut p, &mut pipes, 2, 3);
        slow.send(&[b"\x01"]);
        fast.send(&[b"\x01"]);
        let mut fast_count = 0;
        for i in 0..100u32 {
            let n = i.to_be_bytes();
            send(&mut p, &mut pipes, &[b"", &n, b"end"]).unwrap();
            for m in fast.recv_all() {
                assert_eq!(m, v(&[b"", &n, b"end"]), "whole messages, in order");
                fast_count += 1;
            }
        }
        assert_eq!(fast_count, 100);
        let slow_got = slow.recv_all();
        assert_eq!(slow_got.len(), 3);
        assert!(slow_got.iter().all(|m| m.len() == 3));
        // Once it caught up it gets messages again.
        send(&mut p, &mut pipes, &[b"again"]).unwrap();
        assert_eq!(slow.recv_all(), vec![v(&[b"again"])]);
    }

    #[test]
    fn duplicate_subscriptions_from_one_peer_are_one() {
        // libzmq's SUB sends every SUBSCRIBE but only the last cancel, so
        // on the PUB side a peer's subscriptions are a set.
        let mut pipes = PipeSet::default();
        let mut p = Pub::default();
        let mut a = attach_peer(&mut p, &mut pipes, 1, 0);
        a.send(&[b"\x01T"]);
        a.send(&[b"\x01T"]);
        send(&mut p, &mut pipes, &[b"T1"]).unwrap();
        a.send(&[b"\x00T"]);
        send(&mut p, &mut pipes, &[b"T2"]).unwrap();
        assert_eq!(a.recv_all(), vec![v(&[b"T1"])]);
    }

    #[test]
    fn reconnect_clears_the_peer_subscriptions() {
        let mut pipes = PipeSet::default();
        let mut p = Pub::default();
        let mut a = attach_peer(&mut p, &mut pipes, 1, 0);
        a.send(&[b"\x01"]);
        send(&mut p, &mut pipes, &[b"1"]).unwrap();
        p.peer_ready(1, &mut pipes, true);
        send(&mut p, &mut pipes, &[b"2"]).unwrap();
        a.send(&[b"\x01"]);
        send(&mut p, &mut pipes, &[b"3"]).unwrap();
        assert_eq!(a.recv_all(), vec![v(&[b"1"]), v(&[b"3"])]);
    }

    #[test]
    fn takes_xpub_nodrop() {
        let mut pipes = PipeSet::default();
        let mut p = Pub::default();
        assert!(p
            .set_option(XPUB_NODROP, &1i32.to_ne_bytes(), &mut pipes)
            .unwrap());
        let mut a = attach_peer(&mut p, &mut pipes, 1, 1);
        a.send(&[b"\x01"]);
        send(&mut p, &mut pipes, &[b"1"]).unwrap();
        let err = p.send(Msg::from("2"), &mut pipes).err().unwrap();
        assert_eq!(err.error.kind(), ErrorKind::EAGAIN);
        remove_peer(&mut p, &mut pipes, 1);
        p.send(err.msg, &mut pipes).ok().unwrap();
    }
}
