//! SUB: receives, fair-queued, the messages of its publishers that match
//! one of its subscriptions (RFC 29). SUBSCRIBE / UNSUBSCRIBE (the value
//! is the topic; empty = everything) are counted, and passed on to every
//! publisher as ZMTP 3.1 SUBSCRIBE / CANCEL; the socket filters on its own
//! side too, since an XPUB upstream may send anything. SUB cannot send.
//!
//! This is [`Xsub`] with filtering on and subscriptions set by options.

use super::xsub::Xsub;
use super::{Pattern, PipeId, PipeSet, SendError};
use crate::error::{ErrorKind, Result};
use crate::msg::Msg;
use crate::options::id;

pub(crate) struct Sub {
    inner: Xsub,
}

impl Default for Sub {
    fn default() -> Sub {
        Sub {
            inner: Xsub::subscriber(),
        }
    }
}

impl Pattern for Sub {
    fn attach(&mut self, id: PipeId, pipes: &mut PipeSet) {
        self.inner.attach(id, pipes);
    }

    fn peer_ready(&mut self, id: PipeId, pipes: &mut PipeSet, reconnected: bool) {
        self.inner.peer_ready(id, pipes, reconnected);
    }

    fn detach(&mut self, id: PipeId) {
        self.inner.detach(id);
    }

    fn send(&mut self, msg: Msg, _pipes: &mut PipeSet) -> Result<(), SendError> {
        Err(SendError::new(
            ErrorKind::ENOTSUP,
            "SUB sockets cannot send",
            msg,
        ))
    }

    fn recv(&mut self, pipes: &mut PipeSet) -> Result<Msg> {
        self.inner.recv(pipes)
    }

    fn has_in(&mut self, pipes: &mut PipeSet) -> bool {
        self.inner.has_in(pipes)
    }

    fn last_recv_pipe(&self) -> Option<PipeId> {
        self.inner.last_recv_pipe()
    }

    fn has_out(&mut self, _pipes: &mut PipeSet) -> bool {
        false
    }

    fn set_option(&mut self, option: i32, value: &[u8], pipes: &mut PipeSet) -> Result<bool> {
        let subscribe = match option {
            id::SUBSCRIBE => true,
            id::UNSUBSCRIBE => false,
            _ => return Ok(false),
        };
        self.inner.subscribe(value, subscribe, pipes);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::super::dist::testing::*;
    use super::*;

    fn subscribe(s: &mut Sub, pipes: &mut PipeSet, topic: &[u8]) {
        assert!(s.set_option(id::SUBSCRIBE, topic, pipes).unwrap());
    }

    fn unsubscribe(s: &mut Sub, pipes: &mut PipeSet, topic: &[u8]) {
        assert!(s.set_option(id::UNSUBSCRIBE, topic, pipes).unwrap());
    }

    /// What a publisher peer received: every frame must be a subscription.
    fn subs(peer: &mut Peer) -> Vec<Msg> {
        let mut out = Vec::new();
        while let Some(frames) = peer.recv_msgs() {
            out.extend(frames);
        }
        out
    }

    fn recv_all(s: &mut Sub, pipes: &mut PipeSet) -> Vec<Vec<Vec<u8>>> {
        std::iter::from_fn(|| recv(s, pipes).ok()).collect()
    }

    #[test]
    fn filters_by_prefix() {
        let mut pipes = PipeSet::default();
        let mut s = Sub::default();
        let mut p = attach_peer(&mut s, &mut pipes, 1, 0);
        p.send(&[b"before any subscription"]);
        assert!(!s.has_in(&mut pipes));
        subscribe(&mut s, &mut pipes, b"news");
        p.send(&[b"news.uk", b"body"]);
        p.send(&[b"weather", b"dropped", b"whole"]);
        p.send(&[b"new"]);
        p.send(&[b"newsflash"]);
        assert!(s.has_in(&mut pipes));
        assert_eq!(
            recv_all(&mut s, &mut pipes),
            vec![v(&[b"news.uk", b"body"]), v(&[b"newsflash"])]
        );
        assert!(!s.has_out(&mut pipes));
        let err = s.send(Msg::from("x"), &mut pipes).err().unwrap();
        assert_eq!(err.error.kind(), ErrorKind::ENOTSUP);
        // Messages nobody subscribed to were not for this socket: filtering
        // them out is not dropping them.
        assert_eq!(pipes.drops.total(), 0);
    }

    #[test]
    fn empty_subscription_matches_everything() {
        let mut pipes = PipeSet::default();
        let mut s = Sub::default();
        let mut p = attach_peer(&mut s, &mut pipes, 1, 0);
        subscribe(&mut s, &mut pipes, b"");
        p.send(&[b""]);
        p.send(&[b"anything", b"at all"]);
        assert_eq!(
            recv_all(&mut s, &mut pipes),
            vec![v(&[b""]), v(&[b"anything", b"at all"])]
        );
    }

    #[test]
    fn subscriptions_reach_every_publisher_and_cancels_are_counted() {
        let mut pipes = PipeSet::default();
        let mut s = Sub::default();
        let mut a = attach_peer(&mut s, &mut pipes, 1, 0);
        let mut b = attach_peer(&mut s, &mut pipes, 2, 0);
        subscribe(&mut s, &mut pipes, b"T");
        subscribe(&mut s, &mut pipes, b"T");
        unsubscribe(&mut s, &mut pipes, b"T");
        unsubscribe(&mut s, &mut pipes, b"never subscribed");
        for p in [&mut a, &mut b] {
            let got = subs(p);
            assert_eq!(got, vec![Msg::subscription(b"T", true); 2]);
        }
        // Still subscribed once.
        a.send(&[b"T1"]);
        assert_eq!(recv_all(&mut s, &mut pipes), vec![v(&[b"T1"])]);
        unsubscribe(&mut s, &mut pipes, b"T");
        for p in [&mut a, &mut b] {
            assert_eq!(subs(p), vec![Msg::subscription(b"T", false)]);
        }
        a.send(&[b"T2"]);
        assert!(!s.has_in(&mut pipes));
    }

    #[test]
    fn attach_and_reconnect_send_current_subscriptions() {
        let mut pipes = PipeSet::default();
        let mut s = Sub::default();
        subscribe(&mut s, &mut pipes, b"A");
        subscribe(&mut s, &mut pipes, b"A");
        subscribe(&mut s, &mut pipes, b"");
        let mut p = attach_peer(&mut s, &mut pipes, 1, 0);
        let mut got: Vec<Vec<u8>> = subs(&mut p).iter().map(|m| m.to_vec()).collect();
        got.sort();
        assert_eq!(got, vec![b"".to_vec(), b"A".to_vec()]);
        s.peer_ready(1, &mut pipes, false);
        assert!(subs(&mut p).is_empty());
        unsubscribe(&mut s, &mut pipes, b"");
        assert_eq!(subs(&mut p), vec![Msg::subscription(b"", false)]);
        s.peer_ready(1, &mut pipes, true);
        assert_eq!(subs(&mut p), vec![Msg::subscription(b"A", true)]);
    }

    #[test]
    fn fair_queues_between_publishers() {
        let mut pipes = PipeSet::default();
        let mut s = Sub::default();
        let mut a = attach_peer(&mut s, &mut pipes, 1, 0);
        let mut b = attach_peer(&mut s, &mut pipes, 2, 0);
        subscribe(&mut s, &mut pipes, b"");
        a.send(&[b"a1", b"more"]);
        a.send(&[b"a2"]);
        b.send(&[b"b1"]);
        assert_eq!(
            recv_all(&mut s, &mut pipes),
            vec![v(&[b"a1", b"more"]), v(&[b"b1"]), v(&[b"a2"])]
        );
        remove_peer(&mut s, &mut pipes, 1);
        b.send(&[b"b2"]);
        assert_eq!(recv_all(&mut s, &mut pipes), vec![v(&[b"b2"])]);
        assert!(!s.set_option(id::ROUTER_MANDATORY, b"", &mut pipes).unwrap());
    }
}
