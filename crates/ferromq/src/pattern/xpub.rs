//! XPUB: a PUB whose subscriptions are visible (RFC 29). Messages go to
//! every subscriber with a matching topic; the subscriptions and cancels
//! the peers send come up through `recv` as `0x01 topic` / `0x00 topic`
//! frames: only a topic's first subscription and its last cancel across
//! all peers, unless XPUB_VERBOSE (every subscription) or id::XPUB_VERBOSER
//! (every subscription and cancel) is set. Other messages peers send
//! upstream are delivered as they are.
//!
//! Only the first frame of a peer's message can be a subscription (libzmq,
//! unless ZMQ_ONLY_FIRST_SUBSCRIBE, looks at every frame, which can eat
//! data frames starting with 0x00/0x01); frames following a subscription
//! frame are dropped. A cancel for a topic the peer had not subscribed to
//! is never passed up (libzmq passes it, which through a proxy can cancel
//! another subscriber's topic upstream). A departing peer's topics are
//! cancelled, and so are those of a peer that reconnects (the new
//! connection subscribes afresh).
//!
//! PUB is the same machinery with nothing delivered upwards (see
//! [`super::publ`]). Both also take id::XPUB_NODROP (a full subscriber makes
//! `send` fail with `EAGAIN` instead of missing the message) and
//! id::XPUB_WELCOME_MSG (a message sent to every new subscriber).
//!
//! Sockets have no event for "a peer sent something", so the subscription
//! messages waiting in the pipes are read whenever the socket is used:
//! before each message is sent, and on `recv`, `has_in` and `has_out`.

use super::dist::Distributor;
use super::trie::{PrefixMap, Removed};
use super::{Pattern, PipeId, PipeSet, SendError};
use crate::error::{Error, Result};
use crate::msg::Msg;
use crate::options::flag_value;
use crate::options::id;
use crate::stats::DropReason;
use std::collections::VecDeque;

/// The subscription (`true`) or cancel (`false`) a frame carries, if it is
/// one: a ZMTP 3.1 command, or the legacy `0x01`/`0x00` + topic data frame.
pub(crate) fn parse_subscription(msg: &Msg) -> Option<(bool, &[u8])> {
    if msg.is_subscribe() {
        return Some((true, &msg[..]));
    }
    if msg.is_cancel() {
        return Some((false, &msg[..]));
    }
    match msg.first() {
        Some(1) => Some((true, &msg[1..])),
        Some(0) => Some((false, &msg[1..])),
        _ => None,
    }
}

/// A subscription as the application sees it: `0x01 topic` / `0x00 topic`.
fn notification(subscribe: bool, topic: &[u8]) -> Msg {
    let mut body = Vec::with_capacity(topic.len() + 1);
    body.push(u8::from(subscribe));
    body.extend_from_slice(topic);
    Msg::from(body)
}

#[derive(Default)]
pub(crate) struct Xpub {
    dist: Distributor,
    subscriptions: PrefixMap,
    /// Frames waiting for `recv`: notifications and upstream messages.
    pending: VecDeque<Msg>,
    /// Acting as PUB: nothing goes up to the application.
    is_pub: bool,
    verbose_subs: bool,
    verbose_unsubs: bool,
    lossless: bool,
    welcome: Option<Msg>,
    /// Reused buffer for the pipes matching a message.
    matching: Vec<PipeId>,
    /// Scratch list of the pipes to read (reused).
    active: Vec<PipeId>,
}

impl Xpub {
    /// The PUB flavour.
    pub(crate) fn publisher() -> Xpub {
        Xpub {
            is_pub: true,
            ..Xpub::default()
        }
    }

    /// Reads everything the peers sent: applies subscriptions, queues
    /// notifications and upstream messages.
    ///
    /// Only the pipes that turned readable since the last look are read
    /// (each was read until empty, so it is listed again when more comes):
    /// reading every peer on every send made a PUB's cost grow with its
    /// number of subscribers.
    fn process_upstream(&mut self, pipes: &mut PipeSet) {
        let mut active = std::mem::take(&mut self.active);
        if !pipes.take_active(&mut active) {
            active.extend_from_slice(self.dist.pipes());
        }
        for &id in &active {
            self.read_pipe(id, pipes);
        }
        active.clear();
        self.active = active;
    }

    fn read_pipe(&mut self, id: PipeId, pipes: &mut PipeSet) {
        let Some(pipe) = pipes.get_mut(id) else {
            return;
        };
        // Frames after a subscription frame in the same message are not
        // subscriptions nor data: they are dropped. A PUB takes nothing
        // else from its peers: their other messages are dropped, and
        // counted.
        let mut in_subscription = false;
        let mut unexpected = 0;
        loop {
            let first = !pipe.reader.mid_message();
            let Ok(msg) = pipe.reader.read() else { break };
            if first {
                in_subscription = false;
                if let Some((subscribe, topic)) = parse_subscription(&msg) {
                    self.apply(id, subscribe, topic);
                    in_subscription = msg.more();
                    continue;
                }
            }
            if in_subscription {
                continue;
            }
            if !self.is_pub {
                self.pending.push_back(msg);
            } else if !msg.more() {
                unexpected += 1;
            }
        }
        if unexpected > 0 {
            pipes.drops.add(DropReason::Unexpected, unexpected);
        }
    }

    /// Removes every subscription of `pipe`, passing up the cancels.
    fn forget_subscriptions(&mut self, pipe: PipeId) {
        let (pending, is_pub, verbose) = (&mut self.pending, self.is_pub, self.verbose_unsubs);
        self.subscriptions.remove_pipe(pipe, |topic, last| {
            if !is_pub && (last || verbose) {
                pending.push_back(notification(false, topic));
            }
        });
    }

    fn apply(&mut self, pipe: PipeId, subscribe: bool, topic: &[u8]) {
        let notify = if subscribe {
            self.subscriptions.add(topic, pipe) || self.verbose_subs
        } else {
            match self.subscriptions.remove(topic, pipe) {
                Removed::Last => true,
                Removed::OthersRemain => self.verbose_unsubs,
                // Passing on a cancel for a subscription that does not
                // exist could cancel another subscriber's topic upstream.
                Removed::NotFound => false,
            }
        };
        if notify && !self.is_pub {
            self.pending.push_back(notification(subscribe, topic));
        }
    }
}

impl Pattern for Xpub {
    fn attach(&mut self, id: PipeId, pipes: &mut PipeSet) {
        self.dist.attach(id);
        // Whatever the peer sent before the pipe was ours (an inproc
        // connect before the bind) woke nobody we would hear of.
        self.read_pipe(id, pipes);
        if let (Some(welcome), Some(pipe)) = (&self.welcome, pipes.get_mut(id)) {
            pipe.writer.write(welcome.clone());
            pipe.writer.flush();
        }
    }

    fn peer_ready(&mut self, id: PipeId, _pipes: &mut PipeSet, reconnected: bool) {
        if reconnected {
            // The peer behind this pipe is a new connection (maybe a
            // different subscriber): it sends its subscriptions afresh.
            // Whatever the pipe holds already was sent after the new
            // handshake, so it is kept.
            self.forget_subscriptions(id);
        }
    }

    fn detach(&mut self, id: PipeId) {
        self.dist.detach(id);
        self.forget_subscriptions(id);
    }

    fn send(&mut self, msg: Msg, pipes: &mut PipeSet) -> Result<(), SendError> {
        let mut matching = std::mem::take(&mut self.matching);
        matching.clear();
        if !self.dist.in_message() {
            self.process_upstream(pipes);
            self.subscriptions
                .for_each_match(&msg, |p| matching.push(p));
        }
        let result = self.dist.send(msg, pipes, self.lossless, |t| {
            t.extend_from_slice(&matching)
        });
        self.matching = matching;
        result
    }

    fn recv(&mut self, pipes: &mut PipeSet) -> Result<Msg> {
        self.process_upstream(pipes);
        self.pending
            .pop_front()
            .ok_or_else(|| Error::again("no subscription or message available"))
    }

    fn has_in(&mut self, pipes: &mut PipeSet) -> bool {
        self.process_upstream(pipes);
        !self.pending.is_empty()
    }

    fn has_out(&mut self, pipes: &mut PipeSet) -> bool {
        self.process_upstream(pipes);
        true
    }

    fn set_option(&mut self, option: i32, value: &[u8], _pipes: &mut PipeSet) -> Result<bool> {
        match option {
            id::XPUB_VERBOSE => self.verbose_subs = flag_value(option, value)?,
            id::XPUB_VERBOSER => {
                let on = flag_value(option, value)?;
                self.verbose_subs = on;
                self.verbose_unsubs = on;
            }
            id::XPUB_NODROP => self.lossless = flag_value(option, value)?,
            id::XPUB_WELCOME_MSG => {
                self.welcome = (!value.is_empty()).then(|| Msg::from(value));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::super::dist::testing::*;
    use super::*;
    use crate::error::ErrorKind;

    fn set(x: &mut Xpub, pipes: &mut PipeSet, option: i32, on: bool) {
        assert!(x
            .set_option(option, &i32::from(on).to_ne_bytes(), pipes)
            .unwrap());
    }

    fn recv_all(x: &mut Xpub, pipes: &mut PipeSet) -> Vec<Vec<Vec<u8>>> {
        std::iter::from_fn(|| recv(x, pipes).ok()).collect()
    }

    #[test]
    fn messages_go_to_matching_subscribers_only() {
        let mut pipes = PipeSet::default();
        let mut x = Xpub::default();
        let mut a = attach_peer(&mut x, &mut pipes, 1, 0);
        let mut b = attach_peer(&mut x, &mut pipes, 2, 0);
        let mut c = attach_peer(&mut x, &mut pipes, 3, 0);
        a.send_msg(Msg::subscription(b"weather", true));
        b.send(&[b"\x01news"]);
        c.send_msg(Msg::subscription(b"", true));
        send(&mut x, &mut pipes, &[b"weather.paris", b"20C"]).unwrap();
        send(&mut x, &mut pipes, &[b"news", b"x", b"y"]).unwrap();
        send(&mut x, &mut pipes, &[b"sports"]).unwrap();
        assert_eq!(a.recv_all(), vec![v(&[b"weather.paris", b"20C"])]);
        assert_eq!(b.recv_all(), vec![v(&[b"news", b"x", b"y"])]);
        assert_eq!(
            c.recv_all(),
            vec![
                v(&[b"weather.paris", b"20C"]),
                v(&[b"news", b"x", b"y"]),
                v(&[b"sports"])
            ]
        );
        // Cancels, both forms.
        a.send_msg(Msg::subscription(b"weather", false));
        b.send(&[b"\x00news"]);
        send(&mut x, &mut pipes, &[b"weather.paris"]).unwrap();
        send(&mut x, &mut pipes, &[b"news"]).unwrap();
        assert!(a.recv().is_none());
        assert!(b.recv().is_none());
        assert_eq!(c.recv_all().len(), 2);
    }

    #[test]
    fn overlapping_subscriptions_deliver_once() {
        let mut pipes = PipeSet::default();
        let mut x = Xpub::default();
        let mut a = attach_peer(&mut x, &mut pipes, 1, 0);
        a.send(&[b"\x01"]);
        a.send(&[b"\x01a"]);
        a.send(&[b"\x01ab"]);
        send(&mut x, &mut pipes, &[b"abc"]).unwrap();
        assert_eq!(a.recv_all(), vec![v(&[b"abc"])]);
    }

    #[test]
    fn non_verbose_passes_first_subscribe_and_last_cancel() {
        let mut pipes = PipeSet::default();
        let mut x = Xpub::default();
        let mut a = attach_peer(&mut x, &mut pipes, 1, 0);
        let mut b = attach_peer(&mut x, &mut pipes, 2, 0);
        assert!(!x.has_in(&mut pipes));
        a.send(&[b"\x01A"]);
        b.send_msg(Msg::subscription(b"A", true));
        a.send(&[b"\x01A"]);
        assert!(x.has_in(&mut pipes));
        assert_eq!(recv_all(&mut x, &mut pipes), vec![v(&[b"\x01A"])]);
        a.send(&[b"\x00A"]);
        a.send(&[b"\x00A"]);
        a.send(&[b"\x00never"]);
        assert!(!x.has_in(&mut pipes));
        b.send_msg(Msg::subscription(b"A", false));
        assert_eq!(recv_all(&mut x, &mut pipes), vec![v(&[b"\x00A"])]);
    }

    #[test]
    fn verbose_passes_every_subscribe() {
        let mut pipes = PipeSet::default();
        let mut x = Xpub::default();
        set(&mut x, &mut pipes, id::XPUB_VERBOSE, true);
        let mut peers = [
            attach_peer(&mut x, &mut pipes, 1, 0),
            attach_peer(&mut x, &mut pipes, 2, 0),
        ];
        // Pipes are read one after the other: make the order explicit.
        for (i, m) in [(0, b"\x01A"), (1, b"\x01A"), (0, b"\x00A"), (1, b"\x00A")] {
            peers[i].send(&[m]);
            x.has_in(&mut pipes);
        }
        assert_eq!(
            recv_all(&mut x, &mut pipes),
            vec![v(&[b"\x01A"]), v(&[b"\x01A"]), v(&[b"\x00A"])]
        );
    }

    #[test]
    fn verboser_passes_every_cancel_too() {
        let mut pipes = PipeSet::default();
        let mut x = Xpub::default();
        set(&mut x, &mut pipes, id::XPUB_VERBOSER, true);
        let mut peers = [
            attach_peer(&mut x, &mut pipes, 1, 0),
            attach_peer(&mut x, &mut pipes, 2, 0),
        ];
        for (i, m) in [
            (0, b"\x01A"),
            (1, b"\x01A"),
            (0, b"\x00A"),
            (0, b"\x00A"),
            (1, b"\x00A"),
        ] {
            peers[i].send(&[m]);
            x.has_in(&mut pipes);
        }
        assert_eq!(
            recv_all(&mut x, &mut pipes),
            vec![
                v(&[b"\x01A"]),
                v(&[b"\x01A"]),
                v(&[b"\x00A"]),
                v(&[b"\x00A"])
            ]
        );
    }

    #[test]
    fn a_departing_subscriber_cancels_its_topics() {
        let mut pipes = PipeSet::default();
        let mut x = Xpub::default();
        let mut a = attach_peer(&mut x, &mut pipes, 1, 0);
        let mut b = attach_peer(&mut x, &mut pipes, 2, 0);
        a.send(&[b"\x01A"]);
        a.send(&[b"\x01B"]);
        b.send(&[b"\x01B"]);
        assert_eq!(recv_all(&mut x, &mut pipes).len(), 2);
        remove_peer(&mut x, &mut pipes, 1);
        assert_eq!(recv_all(&mut x, &mut pipes), vec![v(&[b"\x00A"])]);
        send(&mut x, &mut pipes, &[b"B"]).unwrap();
        assert_eq!(b.recv_all(), vec![v(&[b"B"])]);
    }

    #[test]
    fn a_reconnected_peer_starts_without_subscriptions() {
        let mut pipes = PipeSet::default();
        let mut x = Xpub::default();
        let mut a = attach_peer(&mut x, &mut pipes, 1, 0);
        x.peer_ready(1, &mut pipes, false);
        a.send(&[b"\x01old"]);
        assert_eq!(recv_all(&mut x, &mut pipes), vec![v(&[b"\x01old"])]);
        // The new connection's subscriptions may already be queued.
        a.send(&[b"\x01new"]);
        x.peer_ready(1, &mut pipes, true);
        assert_eq!(
            recv_all(&mut x, &mut pipes),
            vec![v(&[b"\x00old"]), v(&[b"\x01new"])]
        );
        send(&mut x, &mut pipes, &[b"old"]).unwrap();
        send(&mut x, &mut pipes, &[b"new"]).unwrap();
        assert_eq!(a.recv_all(), vec![v(&[b"new"])]);
    }

    #[test]
    fn upstream_messages_are_delivered_as_they_are() {
        let mut pipes = PipeSet::default();
        let mut x = Xpub::default();
        let mut a = attach_peer(&mut x, &mut pipes, 1, 0);
        a.send(&[b"hello", b"\x01not a subscription"]);
        a.send(&[b""]);
        a.send(&[b"\x01T", b"trailing frame"]);
        assert_eq!(
            recv_all(&mut x, &mut pipes),
            vec![
                v(&[b"hello", b"\x01not a subscription"]),
                v(&[b""]),
                v(&[b"\x01T"])
            ]
        );
        send(&mut x, &mut pipes, &[b"T"]).unwrap();
        assert_eq!(a.recv_all(), vec![v(&[b"T"])]);
    }

    #[test]
    fn a_slow_subscriber_misses_messages_others_do_not() {
        let mut pipes = PipeSet::default();
        let mut x = Xpub::default();
        let mut slow = attach_peer(&mut x, &mut pipes, 1, 2);
        let mut fast = attach_peer(&mut x, &mut pipes, 2, 2);
        slow.send(&[b"\x01"]);
        fast.send(&[b"\x01"]);
        let mut fast_got = Vec::new();
        for i in 0..5u8 {
            send(&mut x, &mut pipes, &[&[i], b"two frames"]).unwrap();
            fast_got.extend(fast.recv_all());
        }
        assert_eq!(fast_got.len(), 5);
        let slow_got = slow.recv_all();
        assert_eq!(
            slow_got,
            vec![v(&[&[0], b"two frames"]), v(&[&[1], b"two frames"])]
        );
    }

    #[test]
    fn nodrop_refuses_instead_of_dropping() {
        let mut pipes = PipeSet::default();
        let mut x = Xpub::default();
        set(&mut x, &mut pipes, id::XPUB_NODROP, true);
        let mut a = attach_peer(&mut x, &mut pipes, 1, 1);
        a.send(&[b"\x01"]);
        send(&mut x, &mut pipes, &[b"1"]).unwrap();
        let err = x.send(Msg::from("2"), &mut pipes).err().unwrap();
        assert_eq!(err.error.kind(), ErrorKind::EAGAIN);
        assert_eq!(a.recv_all(), vec![v(&[b"1"])]);
        x.send(err.msg, &mut pipes).ok().unwrap();
        assert_eq!(a.recv_all(), vec![v(&[b"2"])]);
    }

    #[test]
    fn welcome_message_goes_to_each_new_peer() {
        let mut pipes = PipeSet::default();
        let mut x = Xpub::default();
        assert!(x
            .set_option(id::XPUB_WELCOME_MSG, b"WELCOME", &mut pipes)
            .unwrap());
        let mut a = attach_peer(&mut x, &mut pipes, 1, 0);
        assert_eq!(a.recv_all(), vec![v(&[b"WELCOME"])]);
        assert!(x.set_option(id::XPUB_WELCOME_MSG, b"", &mut pipes).unwrap());
        let mut b = attach_peer(&mut x, &mut pipes, 2, 0);
        assert!(b.recv().is_none());
        assert!(!x.set_option(id::SUBSCRIBE, b"", &mut pipes).unwrap());
        assert!(x.set_option(id::XPUB_NODROP, b"", &mut pipes).is_err());
    }

    #[test]
    fn parse_subscription_forms() {
        let sub = Msg::subscription(b"t", true);
        let cancel = Msg::subscription(b"", false);
        assert_eq!(parse_subscription(&sub), Some((true, &b"t"[..])));
        assert_eq!(parse_subscription(&cancel), Some((false, &b""[..])));
        assert_eq!(
            parse_subscription(&Msg::from(b"\x01")),
            Some((true, &b""[..]))
        );
        assert_eq!(
            parse_subscription(&Msg::from(b"\x00ab")),
            Some((false, &b"ab"[..]))
        );
        assert_eq!(parse_subscription(&Msg::from(b"\x02ab")), None);
        assert_eq!(parse_subscription(&Msg::new()), None);
    }
}
