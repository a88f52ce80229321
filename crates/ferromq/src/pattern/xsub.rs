//! XSUB: a SUB whose subscriptions are messages (RFC 29). Everything the
//! publishers send is fair-queued up without filtering. A sent message
//! whose first frame is `0x01 topic` / `0x00 topic` is a subscription /
//! cancel: it is recorded (counted) and passed to every publisher; any
//! other message is sent to every publisher as it is.
//!
//! As in libzmq, every subscription is passed on but a cancel only when
//! it removes the topic's last subscription: publishers keep one entry
//! per topic and peer. Subscriptions are written whatever the pipe's
//! high-water mark (libzmq drops them when the pipe is full, silently
//! losing the subscription); plain upstream messages are dropped for a
//! full pipe. A new pipe, and a pipe whose peer reconnected, gets every
//! subscribed topic once.
//!
//! SUB is the same machinery with filtering on (see [`super::sub`]).

use super::dist::Distributor;
use super::fq::FairQueue;
use super::trie::PrefixSet;
use super::xpub::parse_subscription;
use super::{Pattern, PipeId, PipeSet, SendError};
use crate::error::Result;
use crate::msg::Msg;

#[derive(Default)]
pub(crate) struct Xsub {
    fq: FairQueue,
    dist: Distributor,
    subscriptions: PrefixSet,
    /// Deliver only messages whose first frame matches a subscription.
    filter: bool,
    /// In the middle of delivering a message.
    more_recv: bool,
    /// The first frame of a matching message, read ahead by `has_in`.
    prefetched: Option<Msg>,
    /// Dropping the rest of a message that did not match.
    discarding: bool,
    /// In the middle of a message from the application.
    more_send: bool,
    /// Dropping the frames after a subscription frame.
    dropping_send: bool,
    /// Pipes that reconnected while a message was going to them; their
    /// subscriptions are sent again once it is complete.
    resend: Vec<PipeId>,
}

impl Xsub {
    /// The SUB flavour: filtering on.
    pub(crate) fn subscriber() -> Xsub {
        Xsub {
            filter: true,
            ..Xsub::default()
        }
    }

    /// Records a subscription or cancel for `topic` and passes it on to
    /// every publisher (a cancel only when it was the topic's last).
    pub(crate) fn subscribe(&mut self, topic: &[u8], subscribe: bool, pipes: &mut PipeSet) {
        if subscribe {
            self.subscriptions.add(topic);
        } else if !self.subscriptions.remove(topic) {
            return;
        }
        for &id in self.dist.pipes() {
            if let Some(pipe) = pipes.get_mut(id) {
                pipe.writer.write(Msg::subscription(topic, subscribe));
                pipe.writer.flush();
            }
        }
    }

    /// Sends every subscribed topic, once, to one pipe.
    fn send_subscriptions(&self, id: PipeId, pipes: &mut PipeSet) {
        let Some(pipe) = pipes.get_mut(id) else {
            return;
        };
        for topic in self.subscriptions.topics() {
            pipe.writer.write(Msg::subscription(topic, true));
        }
        pipe.writer.flush();
    }

    /// The first frame of the next message to deliver.
    fn next_message(&mut self, pipes: &mut PipeSet) -> Result<Msg> {
        loop {
            let msg = self.fq.recv(pipes)?;
            if self.discarding {
                self.discarding = msg.more();
                continue;
            }
            if !self.filter || self.subscriptions.matches(&msg) {
                return Ok(msg);
            }
            self.discarding = msg.more();
        }
    }
}

impl Pattern for Xsub {
    fn attach(&mut self, id: PipeId, pipes: &mut PipeSet) {
        self.fq.attach(id);
        self.dist.attach(id);
        self.send_subscriptions(id, pipes);
    }

    fn peer_ready(&mut self, id: PipeId, pipes: &mut PipeSet, reconnected: bool) {
        if !reconnected {
            // The subscriptions queued at attach go out on this connection.
            return;
        }
        if self.dist.is_target(id) {
            self.resend.push(id);
        } else {
            self.send_subscriptions(id, pipes);
        }
    }

    fn detach(&mut self, id: PipeId) {
        self.fq.detach(id);
        self.dist.detach(id);
        self.resend.retain(|&p| p != id);
    }

    fn send(&mut self, msg: Msg, pipes: &mut PipeSet) -> Result<(), SendError> {
        let first = !self.more_send;
        self.more_send = msg.more();
        if first {
            self.dropping_send = false;
            if let Some((subscribe, topic)) = parse_subscription(&msg) {
                self.subscribe(topic, subscribe, pipes);
                self.dropping_send = msg.more();
                return Ok(());
            }
        } else if self.dropping_send {
            return Ok(());
        }
        let more = msg.more();
        self.dist.send_to_all(msg, pipes)?;
        if !more {
            for id in std::mem::take(&mut self.resend) {
                self.send_subscriptions(id, pipes);
            }
        }
        Ok(())
    }

    fn recv(&mut self, pipes: &mut PipeSet) -> Result<Msg> {
        let msg = match self.prefetched.take() {
            Some(msg) => msg,
            None if self.more_recv => self.fq.recv(pipes)?,
            None => self.next_message(pipes)?,
        };
        self.more_recv = msg.more();
        Ok(msg)
    }

    fn has_in(&mut self, pipes: &mut PipeSet) -> bool {
        if self.more_recv || self.prefetched.is_some() {
            return true;
        }
        match self.next_message(pipes) {
            Ok(msg) => {
                self.prefetched = Some(msg);
                true
            }
            Err(_) => false,
        }
    }

    fn last_recv_pipe(&self) -> Option<PipeId> {
        self.fq.last_pipe()
    }

    fn has_out(&mut self, _pipes: &mut PipeSet) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::dist::testing::*;
    use super::*;

    /// The subscriptions a peer received, as (subscribe, topic).
    fn subs(peer: &mut Peer) -> Vec<(bool, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(msg) = peer.recv_msgs() {
            for m in msg {
                assert!(m.is_subscribe() || m.is_cancel(), "{m:?}");
                out.push((m.is_subscribe(), m.to_vec()));
            }
        }
        out
    }

    fn sub(topic: &[u8]) -> (bool, Vec<u8>) {
        (true, topic.to_vec())
    }

    fn cancel(topic: &[u8]) -> (bool, Vec<u8>) {
        (false, topic.to_vec())
    }

    #[test]
    fn receives_everything_unfiltered() {
        let mut pipes = PipeSet::default();
        let mut x = Xsub::default();
        let mut a = attach_peer(&mut x, &mut pipes, 1, 0);
        assert!(!x.has_in(&mut pipes));
        a.send(&[b"any", b"thing"]);
        assert!(x.has_in(&mut pipes));
        assert_eq!(recv(&mut x, &mut pipes).unwrap(), v(&[b"any", b"thing"]));
        assert!(x.has_out(&mut pipes));
    }

    #[test]
    fn subscriptions_are_recorded_and_forwarded() {
        let mut pipes = PipeSet::default();
        let mut x = Xsub::default();
        let mut a = attach_peer(&mut x, &mut pipes, 1, 0);
        let mut b = attach_peer(&mut x, &mut pipes, 2, 0);
        send(&mut x, &mut pipes, &[b"\x01A"]).unwrap();
        send(&mut x, &mut pipes, &[b"\x01A"]).unwrap();
        send(&mut x, &mut pipes, &[b"\x00A"]).unwrap();
        send(&mut x, &mut pipes, &[b"\x00nope"]).unwrap();
        for p in [&mut a, &mut b] {
            assert_eq!(subs(p), vec![sub(b"A"), sub(b"A")]);
        }
        send(&mut x, &mut pipes, &[b"\x00A"]).unwrap();
        for p in [&mut a, &mut b] {
            assert_eq!(subs(p), vec![cancel(b"A")]);
        }
    }

    #[test]
    fn other_messages_go_upstream_to_every_publisher() {
        let mut pipes = PipeSet::default();
        let mut x = Xsub::default();
        let mut a = attach_peer(&mut x, &mut pipes, 1, 0);
        let mut b = attach_peer(&mut x, &mut pipes, 2, 1);
        send(&mut x, &mut pipes, &[b"up", b"\x01not a subscription"]).unwrap();
        send(&mut x, &mut pipes, &[b"second"]).unwrap();
        assert_eq!(
            a.recv_all(),
            vec![v(&[b"up", b"\x01not a subscription"]), v(&[b"second"])]
        );
        // b (HWM 1) was full for the second message: it missed it, and
        // that counts.
        assert_eq!(b.recv_all(), vec![v(&[b"up", b"\x01not a subscription"])]);
        assert_eq!(pipes.drops.hwm, 1);
        // The frames after a subscription frame are dropped.
        send(&mut x, &mut pipes, &[b"\x01T", b"extra"]).unwrap();
        assert_eq!(subs(&mut a), vec![sub(b"T")]);
    }

    #[test]
    fn subscriptions_ignore_the_high_water_mark() {
        let mut pipes = PipeSet::default();
        let mut x = Xsub::default();
        let mut a = attach_peer(&mut x, &mut pipes, 1, 1);
        for t in [&b"\x011"[..], b"\x012", b"\x013"] {
            send(&mut x, &mut pipes, &[t]).unwrap();
        }
        assert_eq!(subs(&mut a), vec![sub(b"1"), sub(b"2"), sub(b"3")]);
        assert_eq!(pipes.drops.total(), 0);
    }

    #[test]
    fn new_and_reconnected_pipes_get_every_topic_once() {
        let mut pipes = PipeSet::default();
        let mut x = Xsub::default();
        send(&mut x, &mut pipes, &[b"\x01A"]).unwrap();
        send(&mut x, &mut pipes, &[b"\x01A"]).unwrap();
        send(&mut x, &mut pipes, &[b"\x01B"]).unwrap();
        let mut a = attach_peer(&mut x, &mut pipes, 1, 0);
        let mut got = subs(&mut a);
        got.sort();
        assert_eq!(got, vec![sub(b"A"), sub(b"B")]);
        x.peer_ready(1, &mut pipes, false);
        assert!(subs(&mut a).is_empty());
        x.peer_ready(1, &mut pipes, true);
        let mut got = subs(&mut a);
        got.sort();
        assert_eq!(got, vec![sub(b"A"), sub(b"B")]);
    }

    #[test]
    fn resend_waits_for_a_message_in_progress() {
        let mut pipes = PipeSet::default();
        let mut x = Xsub::default();
        send(&mut x, &mut pipes, &[b"\x01A"]).unwrap();
        let mut a = attach_peer(&mut x, &mut pipes, 1, 0);
        assert_eq!(subs(&mut a), vec![sub(b"A")]);
        x.send(Msg::from("part").with_more(true), &mut pipes)
            .ok()
            .unwrap();
        x.peer_ready(1, &mut pipes, true);
        x.send(Msg::from("end"), &mut pipes).ok().unwrap();
        let got = a.recv_msgs().unwrap();
        assert_eq!(
            got,
            vec![Msg::from("part").with_more(true), Msg::from("end")]
        );
        assert_eq!(subs(&mut a), vec![sub(b"A")]);
        // A pipe that goes away is forgotten.
        x.send(Msg::from("part").with_more(true), &mut pipes)
            .ok()
            .unwrap();
        x.peer_ready(1, &mut pipes, true);
        assert_eq!(x.resend, vec![1]);
        remove_peer(&mut x, &mut pipes, 1);
        assert!(x.resend.is_empty());
        x.send(Msg::from("end"), &mut pipes).ok().unwrap();
    }
}
