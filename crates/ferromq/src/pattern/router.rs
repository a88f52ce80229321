//! ROUTER: addresses peers by routing id (RFC 28). Every received message
//! is prefixed with a frame holding the routing id of the peer it came
//! from; the first frame of every sent message names the peer it goes to.
//!
//! A peer's routing id is the Identity it announced in its handshake, or,
//! if it announced none, one the socket makes up: a zero byte and a 4-byte
//! big-endian counter that starts at a random value. A pipe gets its id in
//! [`Pattern::peer_ready`]; before that it is neither routable nor read. A
//! peer announcing an Identity already in use is ignored (as libzmq does
//! without ROUTER_HANDOVER): it can't be routed to and its messages are
//! not read.
//!
//! Unroutable messages (unknown id, or the peer at its high-water mark)
//! are dropped silently, unless ROUTER_MANDATORY is set: then the first
//! frame fails with `EHOSTUNREACH` (unknown peer) or `EAGAIN` (full).

use super::fq::FairQueue;
use super::random_u32;
use super::{Pattern, PipeId, PipeSet, SendError, SocketPipe};
use crate::error::{ErrorKind, Result};
use crate::msg::Msg;
use crate::options::flag_value;
use crate::options::id;
use crate::stats::DropReason;
use bytes::Bytes;
use std::collections::HashMap;

/// The routing id of one identified pipe.
struct Entry {
    id: Bytes,
    /// The id was made up by this socket (the peer announced none).
    generated: bool,
}

pub(crate) struct Router {
    fq: FairQueue,
    /// Routing id -> pipe, for every routable pipe.
    by_id: HashMap<Bytes, PipeId>,
    /// Pipe -> routing id, for every routable pipe.
    peers: super::IdMap<Entry>,
    /// The next generated routing id.
    next_id: u32,
    mandatory: bool,
    /// A message was peeked by `has_in`: its routing id frame, then its
    /// first frame, are returned next.
    prefetched_id: Option<Msg>,
    prefetched: Option<Msg>,
    /// In the middle of receiving a message.
    more_in: bool,
    /// In the middle of sending a message (the routing id frame was sent).
    more_out: bool,
    /// Where the message being sent goes (`None`: dropped).
    current_out: Option<PipeId>,
}

impl Default for Router {
    fn default() -> Router {
        Router {
            fq: FairQueue::default(),
            by_id: HashMap::new(),
            peers: Default::default(),
            next_id: random_u32(),
            mandatory: false,
            prefetched_id: None,
            prefetched: None,
            more_in: false,
            more_out: false,
            current_out: None,
        }
    }
}

impl Router {
    /// A fresh routing id, not in use.
    fn generate_id(&mut self) -> Bytes {
        loop {
            let mut buf = [0u8; 5];
            buf[1..].copy_from_slice(&self.next_id.to_be_bytes());
            self.next_id = self.next_id.wrapping_add(1);
            if !self.by_id.contains_key(&buf[..]) {
                return Bytes::copy_from_slice(&buf);
            }
        }
    }

    fn map(&mut self, pipe: PipeId, id: Bytes, generated: bool, pipes: &mut PipeSet) {
        if let Some(p) = pipes.get_mut(pipe) {
            p.routing_id = id.clone();
        }
        self.by_id.insert(id.clone(), pipe);
        self.peers.insert(pipe, Entry { id, generated });
    }

    fn unmap(&mut self, pipe: PipeId) -> Option<Entry> {
        let peer = self.peers.remove(&pipe)?;
        self.by_id.remove(&peer.id);
        Some(peer)
    }

    /// The routing id frame for messages from `pipe`.
    fn id_frame(&self, pipe: PipeId) -> Msg {
        let id = self
            .peers
            .get(&pipe)
            .map(|p| p.id.clone())
            .unwrap_or_default();
        Msg::from(id).with_more(true)
    }
}

impl Pattern for Router {
    fn attach(&mut self, _id: PipeId, _pipes: &mut PipeSet) {
        // Not routable until the peer is identified (peer_ready).
    }

    fn peer_ready(&mut self, pipe: PipeId, pipes: &mut PipeSet, _reconnected: bool) {
        let Some(announced) = pipes.get(pipe).map(|p| p.routing_id.clone()) else {
            return;
        };
        match self.peers.get(&pipe) {
            // Reconnected with the same identity, or again without one
            // (keep the id it was given).
            Some(old) if old.id == announced || (announced.is_empty() && old.generated) => {
                let id = old.id.clone();
                if let Some(p) = pipes.get_mut(pipe) {
                    p.routing_id = id;
                }
                return;
            }
            Some(_) => {
                // Reconnected as a different peer: forget the old id.
                self.unmap(pipe);
            }
            None => self.fq.attach(pipe),
        }
        if announced.is_empty() {
            let id = self.generate_id();
            self.map(pipe, id, true, pipes);
        } else if self.by_id.contains_key(&announced) {
            // Duplicate identity: ignore this peer.
            self.fq.detach(pipe);
            if let Some(p) = pipes.get_mut(pipe) {
                p.routing_id = Bytes::new();
            }
        } else {
            self.map(pipe, announced, false, pipes);
        }
    }

    fn detach(&mut self, pipe: PipeId) {
        self.fq.detach(pipe);
        self.unmap(pipe);
        if self.current_out == Some(pipe) {
            self.current_out = None;
        }
    }

    fn send(&mut self, msg: Msg, pipes: &mut PipeSet) -> Result<(), SendError> {
        if !self.more_out {
            // The routing id frame. Without a frame after it there is no
            // message: ignore it (libzmq does the same).
            if !msg.more() {
                return Ok(());
            }
            self.current_out = None;
            match self.by_id.get(&msg[..]).copied() {
                Some(pipe) => match pipes.get(pipe) {
                    Some(p) if takes_message(p, self.mandatory) => self.current_out = Some(pipe),
                    Some(p) if self.mandatory && !p.writer.is_reader_closed() => {
                        return Err(SendError::again(msg, "the peer is at its high-water mark"));
                    }
                    _ if self.mandatory => {
                        return Err(SendError::new(
                            ErrorKind::EHOSTUNREACH,
                            "the peer is gone",
                            msg,
                        ));
                    }
                    Some(p) if !p.writer.is_reader_closed() => pipes.note_drop(DropReason::Hwm),
                    _ => pipes.note_drop(DropReason::PeerGone),
                },
                None if self.mandatory => {
                    return Err(SendError::new(
                        ErrorKind::EHOSTUNREACH,
                        "no peer has this routing id",
                        msg,
                    ));
                }
                None => pipes.note_drop(DropReason::Unroutable),
            }
            self.more_out = true;
            return Ok(());
        }
        self.more_out = msg.more();
        if let Some(pipe) = self.current_out.and_then(|id| pipes.get_mut(id)) {
            pipe.writer.write(msg);
            if !self.more_out {
                pipe.writer.flush();
            }
        }
        if !self.more_out {
            self.current_out = None;
        }
        Ok(())
    }

    fn recv(&mut self, pipes: &mut PipeSet) -> Result<Msg> {
        if let Some(id) = self.prefetched_id.take() {
            self.more_in = true;
            return Ok(id);
        }
        if let Some(msg) = self.prefetched.take() {
            self.more_in = msg.more();
            return Ok(msg);
        }
        let (msg, pipe) = self.fq.recv_with_pipe(pipes)?;
        if self.more_in {
            self.more_in = msg.more();
            return Ok(msg);
        }
        self.prefetched = Some(msg);
        self.more_in = true;
        Ok(self.id_frame(pipe))
    }

    fn has_in(&mut self, pipes: &mut PipeSet) -> bool {
        if self.more_in || self.prefetched.is_some() {
            return true;
        }
        match self.fq.recv_with_pipe(pipes) {
            Ok((msg, pipe)) => {
                self.prefetched_id = Some(self.id_frame(pipe));
                self.prefetched = Some(msg);
                true
            }
            Err(_) => false,
        }
    }

    fn last_recv_pipe(&self) -> Option<PipeId> {
        self.fq.last_pipe()
    }

    fn has_out(&mut self, pipes: &mut PipeSet) -> bool {
        !self.mandatory
            || self
                .peers
                .keys()
                .any(|&id| pipes.get(id).is_some_and(|p| p.writer.check_write()))
    }

    fn set_option(&mut self, option: i32, value: &[u8], _pipes: &mut PipeSet) -> Result<bool> {
        if option != id::ROUTER_MANDATORY {
            return Ok(false);
        }
        self.mandatory = flag_value(option, value)?;
        Ok(true)
    }
}

/// Whether `pipe` can take the message now. With MANDATORY the sender
/// waits for room (EAGAIN), and a peer that is gone does not count;
/// without it a message for a full pipe is dropped (and a write to a
/// closed pipe is a silent drop), so room counts from the peer's first
/// read rather than from the low-water mark.
fn takes_message(pipe: &SocketPipe, mandatory: bool) -> bool {
    if mandatory {
        pipe.writer.check_write() && !pipe.writer.is_reader_closed()
    } else {
        pipe.writer.check_write_or_drop()
    }
}

#[cfg(test)]
mod tests {
    use super::super::dist::testing::*;
    use super::*;

    /// Attaches a peer that announced `identity` (empty: none).
    fn ready_peer(
        r: &mut Router,
        pipes: &mut PipeSet,
        pipe: PipeId,
        identity: &[u8],
        hwm: u64,
    ) -> Peer {
        let peer = attach_peer(r, pipes, pipe, hwm);
        pipes.get_mut(pipe).unwrap().routing_id = Bytes::copy_from_slice(identity);
        r.peer_ready(pipe, pipes, false);
        peer
    }

    fn routing_id(pipes: &PipeSet, pipe: PipeId) -> Vec<u8> {
        pipes.get(pipe).unwrap().routing_id.to_vec()
    }

    #[test]
    fn received_messages_carry_the_peer_identity() {
        let mut pipes = PipeSet::default();
        let mut r = Router::default();
        let mut a = ready_peer(&mut r, &mut pipes, 1, b"alice", 0);
        assert!(!r.has_in(&mut pipes));
        a.send(&[b"", b"hi"]);
        assert!(r.has_in(&mut pipes));
        assert!(r.has_in(&mut pipes), "peeking twice keeps the message");
        assert_eq!(
            recv(&mut r, &mut pipes).unwrap(),
            v(&[b"alice", b"", b"hi"])
        );
        a.send(&[b"one"]);
        assert_eq!(recv(&mut r, &mut pipes).unwrap(), v(&[b"alice", b"one"]));
        assert_eq!(
            recv(&mut r, &mut pipes).unwrap_err().kind(),
            ErrorKind::EAGAIN
        );
    }

    #[test]
    fn anonymous_peers_get_generated_ids() {
        let mut pipes = PipeSet::default();
        let mut r = Router::default();
        let mut a = ready_peer(&mut r, &mut pipes, 1, b"", 0);
        let mut b = ready_peer(&mut r, &mut pipes, 2, b"", 0);
        let ida = routing_id(&pipes, 1);
        let idb = routing_id(&pipes, 2);
        assert_eq!(ida.len(), 5);
        assert_eq!(ida[0], 0);
        assert_eq!(idb[0], 0);
        let na = u32::from_be_bytes(ida[1..].try_into().unwrap());
        let nb = u32::from_be_bytes(idb[1..].try_into().unwrap());
        assert_eq!(nb, na.wrapping_add(1));
        b.send(&[b"from b"]);
        assert_eq!(
            recv(&mut r, &mut pipes).unwrap(),
            vec![idb.clone(), b"from b".to_vec()]
        );
        send(&mut r, &mut pipes, &[&ida, b"to", b"a"]).unwrap();
        send(&mut r, &mut pipes, &[&idb, b"to b"]).unwrap();
        assert_eq!(a.recv_all(), vec![v(&[b"to", b"a"])]);
        assert_eq!(b.recv_all(), vec![v(&[b"to b"])]);
    }

    #[test]
    fn unroutable_messages_are_dropped_whole() {
        let mut pipes = PipeSet::default();
        let mut r = Router::default();
        let mut a = ready_peer(&mut r, &mut pipes, 1, b"A", 0);
        assert!(r.has_out(&mut pipes));
        send(&mut r, &mut pipes, &[b"nobody", b"x", b"y"]).unwrap();
        // A lone routing id frame is no message.
        send(&mut r, &mut pipes, &[b"A"]).unwrap();
        send(&mut r, &mut pipes, &[b"A", b"z"]).unwrap();
        assert_eq!(a.recv_all(), vec![v(&[b"z"])]);
    }

    #[test]
    fn mandatory_reports_unknown_and_full_peers() {
        let mut pipes = PipeSet::default();
        let mut r = Router::default();
        assert!(r
            .set_option(id::ROUTER_MANDATORY, &1i32.to_ne_bytes(), &mut pipes)
            .unwrap());
        assert!(!r.has_out(&mut pipes), "no peer at all");
        let mut a = ready_peer(&mut r, &mut pipes, 1, b"A", 1);
        assert!(r.has_out(&mut pipes));
        let err = r
            .send(Msg::from("B").with_more(true), &mut pipes)
            .err()
            .unwrap();
        assert_eq!(err.error.kind(), ErrorKind::EHOSTUNREACH);
        assert_eq!(&err.msg[..], b"B");
        send(&mut r, &mut pipes, &[b"A", b"1"]).unwrap();
        assert!(!r.has_out(&mut pipes));
        let err = r
            .send(Msg::from("A").with_more(true), &mut pipes)
            .err()
            .unwrap();
        assert_eq!(err.error.kind(), ErrorKind::EAGAIN);
        // The failed first frame left no state behind.
        assert_eq!(a.recv_all(), vec![v(&[b"1"])]);
        send(&mut r, &mut pipes, &[b"A", b"2"]).unwrap();
        assert_eq!(a.recv_all(), vec![v(&[b"2"])]);
        // Without mandatory, the message for a full peer is dropped.
        r.set_option(id::ROUTER_MANDATORY, &0i32.to_ne_bytes(), &mut pipes)
            .unwrap();
        send(&mut r, &mut pipes, &[b"A", b"3"]).unwrap();
        send(&mut r, &mut pipes, &[b"A", b"4"]).unwrap();
        assert_eq!(a.recv_all(), vec![v(&[b"3"])]);
    }

    #[test]
    fn mandatory_to_a_gone_peer_is_hostunreach() {
        let mut pipes = PipeSet::default();
        let mut r = Router::default();
        r.set_option(id::ROUTER_MANDATORY, &1i32.to_ne_bytes(), &mut pipes)
            .unwrap();
        let a = ready_peer(&mut r, &mut pipes, 1, b"A", 1);
        drop(a);
        let err = r
            .send(Msg::from("A").with_more(true), &mut pipes)
            .err()
            .unwrap();
        assert_eq!(err.error.kind(), ErrorKind::EHOSTUNREACH);
        remove_peer(&mut r, &mut pipes, 1);
        let err = r
            .send(Msg::from("A").with_more(true), &mut pipes)
            .err()
            .unwrap();
        assert_eq!(err.error.kind(), ErrorKind::EHOSTUNREACH);
    }

    #[test]
    fn not_routable_or_read_before_peer_ready() {
        let mut pipes = PipeSet::default();
        let mut r = Router::default();
        let mut a = attach_peer(&mut r, &mut pipes, 1, 0);
        a.send(&[b"early"]);
        assert!(!r.has_in(&mut pipes));
        assert!(routing_id(&pipes, 1).is_empty());
        pipes.get_mut(1).unwrap().routing_id = Bytes::from_static(b"A");
        r.peer_ready(1, &mut pipes, false);
        assert_eq!(recv(&mut r, &mut pipes).unwrap(), v(&[b"A", b"early"]));
    }

    #[test]
    fn duplicate_identity_is_ignored() {
        let mut pipes = PipeSet::default();
        let mut r = Router::default();
        let mut first = ready_peer(&mut r, &mut pipes, 1, b"X", 0);
        let mut second = ready_peer(&mut r, &mut pipes, 2, b"X", 0);
        second.send(&[b"ignored"]);
        assert!(!r.has_in(&mut pipes));
        send(&mut r, &mut pipes, &[b"X", b"to X"]).unwrap();
        assert_eq!(first.recv_all(), vec![v(&[b"to X"])]);
        assert!(second.recv().is_none());
        // Once the first is gone, the id is free again, but the ignored
        // pipe only gets it by reconnecting.
        remove_peer(&mut r, &mut pipes, 1);
        send(&mut r, &mut pipes, &[b"X", b"lost"]).unwrap();
        assert!(second.recv().is_none());
        pipes.get_mut(2).unwrap().routing_id = Bytes::from_static(b"X");
        r.peer_ready(2, &mut pipes, true);
        assert_eq!(recv(&mut r, &mut pipes).unwrap(), v(&[b"X", b"ignored"]));
        send(&mut r, &mut pipes, &[b"X", b"now"]).unwrap();
        assert_eq!(second.recv_all(), vec![v(&[b"now"])]);
    }

    #[test]
    fn reconnect_updates_the_mapping() {
        let mut pipes = PipeSet::default();
        let mut r = Router::default();
        let mut a = ready_peer(&mut r, &mut pipes, 1, b"", 0);
        let generated = routing_id(&pipes, 1);
        // Reconnects, still anonymous: keeps its id.
        pipes.get_mut(1).unwrap().routing_id = Bytes::new();
        r.peer_ready(1, &mut pipes, true);
        assert_eq!(routing_id(&pipes, 1), generated);
        // Reconnects with an identity: now known by it.
        pipes.get_mut(1).unwrap().routing_id = Bytes::from_static(b"new");
        r.peer_ready(1, &mut pipes, true);
        assert_eq!(routing_id(&pipes, 1), b"new");
        send(&mut r, &mut pipes, &[&generated, b"old id"]).unwrap();
        send(&mut r, &mut pipes, &[b"new", b"new id"]).unwrap();
        assert_eq!(a.recv_all(), vec![v(&[b"new id"])]);
        a.send(&[b"m"]);
        assert_eq!(recv(&mut r, &mut pipes).unwrap(), v(&[b"new", b"m"]));
        // Reconnects as an anonymous peer: gets a fresh generated id.
        pipes.get_mut(1).unwrap().routing_id = Bytes::new();
        r.peer_ready(1, &mut pipes, true);
        let fresh = routing_id(&pipes, 1);
        assert_eq!(fresh.len(), 5);
        assert_ne!(fresh, generated);
        send(&mut r, &mut pipes, &[b"new", b"gone"]).unwrap();
        send(&mut r, &mut pipes, &[&fresh, b"fresh"]).unwrap();
        assert_eq!(a.recv_all(), vec![v(&[b"fresh"])]);
    }

    #[test]
    fn a_peer_vanishing_mid_message_drops_the_rest() {
        let mut pipes = PipeSet::default();
        let mut r = Router::default();
        let _a = ready_peer(&mut r, &mut pipes, 1, b"A", 0);
        let mut b = ready_peer(&mut r, &mut pipes, 2, b"B", 0);
        r.send(Msg::from("A").with_more(true), &mut pipes)
            .ok()
            .unwrap();
        r.send(Msg::from("part").with_more(true), &mut pipes)
            .ok()
            .unwrap();
        remove_peer(&mut r, &mut pipes, 1);
        r.send(Msg::from("end"), &mut pipes).ok().unwrap();
        send(&mut r, &mut pipes, &[b"B", b"next"]).unwrap();
        assert_eq!(b.recv_all(), vec![v(&[b"next"])]);
    }
}
