//! Distributor: sends each message to a set of pipes (PUB/XPUB fan-out,
//! XSUB upstream messages).
//!
//! The targets of a message are fixed at its first frame: the pipes the
//! caller selects (subscribers whose topics match, or all) that can take a
//! message now. A pipe at its high-water mark at that moment misses the
//! whole message while the others get it; a pipe attached in the middle of
//! a message gets none of it. Every frame goes to exactly the same pipes.

use super::{PipeId, PipeSet, SendError, SocketPipe};
use crate::msg::Msg;
use crate::stats::DropReason;

#[derive(Default)]
pub(crate) struct Distributor {
    pipes: Vec<PipeId>,
    /// The pipes the message being sent goes to.
    targets: Vec<PipeId>,
    /// A message is being sent (its last frame is still to come).
    more: bool,
}

impl Distributor {
    pub(crate) fn attach(&mut self, id: PipeId) {
        self.pipes.push(id);
    }

    pub(crate) fn detach(&mut self, id: PipeId) {
        self.pipes.retain(|&p| p != id);
        self.targets.retain(|&p| p != id);
    }

    /// Every attached pipe, in attach order.
    pub(crate) fn pipes(&self) -> &[PipeId] {
        &self.pipes
    }

    /// True between the first and the last frame of a message.
    pub(crate) fn in_message(&self) -> bool {
        self.more
    }

    /// True if `id` receives the message currently being sent.
    pub(crate) fn is_target(&self, id: PipeId) -> bool {
        self.more && self.targets.contains(&id)
    }

    /// Sends one frame. At the first frame of a message, `select` fills in
    /// the candidate pipes (attached ones, duplicates allowed); those that
    /// have room become the targets. When `lossless` is set and some
    /// candidate is full, nothing is sent and the frame is handed back with
    /// `EAGAIN` (XPUB_NODROP) instead of dropping it for that pipe.
    pub(crate) fn send(
        &mut self,
        msg: Msg,
        pipes: &mut PipeSet,
        lossless: bool,
        select: impl FnOnce(&mut Vec<PipeId>),
    ) -> Result<(), SendError> {
        let more = msg.more();
        if !self.more {
            self.targets.clear();
            select(&mut self.targets);
            self.targets.sort_unstable();
            self.targets.dedup();
            if lossless
                && self
                    .targets
                    .iter()
                    .any(|&id| pipes.get(id).is_some_and(|p| !p.writer.check_write()))
            {
                self.targets.clear();
                return Err(SendError::again(
                    msg,
                    "a subscriber is at its high-water mark",
                ));
            }
            // One pass over the candidates: look each pipe up once, check
            // its room and write to it; those that took the frame become
            // the targets of the rest of the message. (Checking all of
            // them first, then looking each up again to write, cost a PUB
            // two pipe-set lookups per subscriber per message.) The first
            // pipe with room is written last, with the frame itself: the
            // others get clones, and a frame that only one pipe takes is
            // never cloned (a clone of a large body shares it, which
            // allocates its reference count).
            let selected = self.targets.len();
            let mut kept = 0;
            let mut first = None;
            for i in 0..selected {
                let id = self.targets[i];
                let Some(pipe) = pipes.get_mut(id) else {
                    continue;
                };
                // A lossless send found room in every one above; others
                // drop for a full pipe, so room counts from the first read.
                if !pipe.writer.check_write_or_drop() {
                    continue;
                }
                if first.is_none() {
                    first = Some(id);
                } else {
                    deliver(pipe, msg.clone(), more);
                }
                self.targets[kept] = id;
                kept += 1;
            }
            self.targets.truncate(kept);
            let full = (selected - kept) as u64;
            if full > 0 {
                pipes.drops.add(DropReason::Hwm, full);
            }
            if let Some(pipe) = first.and_then(|id| pipes.get_mut(id)) {
                deliver(pipe, msg, more);
            }
        } else {
            let mut msg = Some(msg);
            let n = self.targets.len();
            for (i, &id) in self.targets.iter().enumerate() {
                let Some(pipe) = pipes.get_mut(id) else {
                    continue;
                };
                let frame = if i + 1 == n {
                    msg.take().unwrap_or_default()
                } else {
                    msg.clone().unwrap_or_default()
                };
                deliver(pipe, frame, more);
            }
        }
        self.more = more;
        if !more {
            self.targets.clear();
        }
        Ok(())
    }

    /// Sends one frame to every attached pipe that has room.
    pub(crate) fn send_to_all(&mut self, msg: Msg, pipes: &mut PipeSet) -> Result<(), SendError> {
        let all = &self.pipes;
        let mut candidates = Vec::new();
        if !self.more {
            candidates.extend_from_slice(all);
        }
        self.send(msg, pipes, false, |t| *t = candidates)
    }
}

/// Writes one frame of a message to `pipe`; the last frame publishes the
/// whole message to the reader.
#[inline]
fn deliver(pipe: &mut SocketPipe, frame: Msg, more: bool) {
    pipe.writer.write(frame);
    if !more {
        pipe.writer.flush();
    }
}

/// Helpers for the pattern tests: peers built from real pipes.
#[cfg(test)]
pub(crate) mod testing {
    use crate::error::Result;
    use crate::msg::Msg;
    use crate::pattern::{Pattern, PipeId, PipeSet, SocketPipe};
    use crate::pipe::{no_waker, pipe, PipeReader, PipeWriter, Queue};

    /// The far end of a socket's pipe pair, as an engine would hold it.
    pub(crate) struct Peer {
        pub(crate) to_socket: PipeWriter,
        pub(crate) from_socket: PipeReader,
    }

    /// Creates a pipe pair for `id` and adds the socket's end to `pipes`
    /// (without attaching it to a pattern). `hwm` limits the socket ->
    /// peer direction; the other direction is unlimited.
    pub(crate) fn add_peer(pipes: &mut PipeSet, id: PipeId, hwm: u64) -> Peer {
        add_peer_with(pipes, id, Queue::Hwm(0), Queue::Hwm(hwm))
    }

    /// Like [`add_peer`], with the kind of each pipe given: `inbound` from
    /// the peer to the socket, `outbound` from the socket to the peer.
    pub(crate) fn add_peer_with(
        pipes: &mut PipeSet,
        id: PipeId,
        inbound: Queue,
        outbound: Queue,
    ) -> Peer {
        let (to_socket, reader) = pipe(inbound, no_waker(), no_waker());
        let (writer, from_socket) = pipe(outbound, no_waker(), no_waker());
        pipes.insert(
            id,
            SocketPipe {
                reader,
                writer,
                routing_id: bytes::Bytes::new(),
                notice: None,
                peer: crate::stats::PeerShared::new("test"),
                properties: None,
            },
        );
        Peer {
            to_socket,
            from_socket,
        }
    }

    /// Like [`add_peer`], then attaches the pipe to `pattern`.
    pub(crate) fn attach_peer(
        pattern: &mut dyn Pattern,
        pipes: &mut PipeSet,
        id: PipeId,
        hwm: u64,
    ) -> Peer {
        let peer = add_peer(pipes, id, hwm);
        pattern.attach(id, pipes);
        peer
    }

    /// Removes a pipe the way the runtime does: detach, then drop it.
    pub(crate) fn remove_peer(pattern: &mut dyn Pattern, pipes: &mut PipeSet, id: PipeId) {
        pipes.remove(id);
        pattern.detach(id);
    }

    /// Builds the frames of one message.
    pub(crate) fn frames(parts: &[&[u8]]) -> Vec<Msg> {
        let n = parts.len();
        parts
            .iter()
            .enumerate()
            .map(|(i, p)| Msg::from(*p).with_more(i + 1 < n))
            .collect()
    }

    impl Peer {
        /// Sends a whole message to the socket.
        pub(crate) fn send(&mut self, parts: &[&[u8]]) {
            for f in frames(parts) {
                self.to_socket.write(f);
            }
            self.to_socket.flush();
        }

        /// Sends one raw frame (e.g. a flagged subscription) to the socket.
        pub(crate) fn send_msg(&mut self, msg: Msg) {
            self.to_socket.write(msg);
            self.to_socket.flush();
        }

        /// Receives the next whole message from the socket, as raw frames.
        pub(crate) fn recv_msgs(&mut self) -> Option<Vec<Msg>> {
            let mut out = Vec::new();
            loop {
                let m = self.from_socket.read().ok()?;
                let more = m.more();
                out.push(m);
                if !more {
                    return Some(out);
                }
            }
        }

        /// Receives the next whole message from the socket.
        pub(crate) fn recv(&mut self) -> Option<Vec<Vec<u8>>> {
            self.recv_msgs()
                .map(|m| m.into_iter().map(|f| f.to_vec()).collect())
        }

        /// Everything the socket sent, message by message.
        pub(crate) fn recv_all(&mut self) -> Vec<Vec<Vec<u8>>> {
            std::iter::from_fn(|| self.recv()).collect()
        }
    }

    /// Sends a whole message through `pattern`, stopping at the first error.
    pub(crate) fn send(
        pattern: &mut dyn Pattern,
        pipes: &mut PipeSet,
        parts: &[&[u8]],
    ) -> Result<()> {
        for f in frames(parts) {
            pattern.send(f, pipes).map_err(|e| e.error)?;
        }
        Ok(())
    }

    /// Receives a whole message from `pattern`.
    pub(crate) fn recv(pattern: &mut dyn Pattern, pipes: &mut PipeSet) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        loop {
            let m = pattern.recv(pipes)?;
            out.push(m.to_vec());
            if !m.more() {
                return Ok(out);
            }
        }
    }

    /// `parts` as owned frames, for comparing with received messages.
    pub(crate) fn v(parts: &[&[u8]]) -> Vec<Vec<u8>> {
        parts.iter().map(|p| p.to_vec()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    fn all(d: &Distributor) -> Vec<PipeId> {
        d.pipes().to_vec()
    }

    fn send(d: &mut Distributor, pipes: &mut PipeSet, parts: &[&[u8]], to: &[PipeId]) {
        for f in frames(parts) {
            let to = to.to_vec();
            assert!(d.send(f, pipes, false, |t| *t = to).is_ok());
        }
    }

    #[test]
    fn every_selected_pipe_gets_every_frame() {
        let mut pipes = PipeSet::default();
        let mut d = Distributor::default();
        let mut peers: Vec<Peer> = (1..=3).map(|id| add_peer(&mut pipes, id, 0)).collect();
        for id in 1..=3 {
            d.attach(id);
        }
        send(&mut d, &mut pipes, &[b"a", b"b"], &[1, 3, 3, 1]);
        assert_eq!(peers[0].recv_all(), vec![v(&[b"a", b"b"])]);
        assert!(peers[1].recv().is_none());
        assert_eq!(peers[2].recv_all(), vec![v(&[b"a", b"b"])]);
        let everyone = all(&d);
        send(&mut d, &mut pipes, &[b"c"], &everyone);
        for p in &mut peers {
            assert_eq!(p.recv_all(), vec![v(&[b"c"])]);
        }
    }

    #[test]
    fn a_full_pipe_misses_the_message_others_get_it() {
        let mut pipes = PipeSet::default();
        let mut d = Distributor::default();
        let mut slow = add_peer(&mut pipes, 1, 1);
        let mut fast = add_peer(&mut pipes, 2, 1);
        d.attach(1);
        d.attach(2);
        d.send_to_all(Msg::from("m1"), &mut pipes).ok().unwrap();
        assert_eq!(fast.recv_all(), vec![v(&[b"m1"])]);
        // slow is now at its HWM of 1: it misses m2 (both frames), fast
        // gets it.
        d.send_to_all(Msg::from("m2a").with_more(true), &mut pipes)
            .ok()
            .unwrap();
        assert!(d.in_message());
        d.send_to_all(Msg::from("m2b"), &mut pipes).ok().unwrap();
        assert!(!d.in_message());
        assert_eq!(fast.recv_all(), vec![v(&[b"m2a", b"m2b"])]);
        assert_eq!(slow.recv_all(), vec![v(&[b"m1"])]);
        d.send_to_all(Msg::from("m3"), &mut pipes).ok().unwrap();
        assert_eq!(slow.recv_all(), vec![v(&[b"m3"])]);
        assert_eq!(fast.recv_all(), vec![v(&[b"m3"])]);
    }

    #[test]
    fn targets_are_fixed_at_the_first_frame() {
        let mut pipes = PipeSet::default();
        let mut d = Distributor::default();
        let mut a = add_peer(&mut pipes, 1, 0);
        d.attach(1);
        d.send_to_all(Msg::from("x").with_more(true), &mut pipes)
            .ok()
            .unwrap();
        assert!(d.is_target(1));
        // Joins mid-message: gets nothing of it.
        let mut b = add_peer(&mut pipes, 2, 0);
        d.attach(2);
        assert!(!d.is_target(2));
        d.send_to_all(Msg::from("y"), &mut pipes).ok().unwrap();
        assert!(!d.is_target(1));
        assert_eq!(a.recv_all(), vec![v(&[b"x", b"y"])]);
        assert!(b.recv().is_none());
        // A pipe detached mid-message is forgotten.
        d.send_to_all(Msg::from("p").with_more(true), &mut pipes)
            .ok()
            .unwrap();
        pipes.remove(1);
        d.detach(1);
        d.send_to_all(Msg::from("q"), &mut pipes).ok().unwrap();
        assert_eq!(b.recv_all(), vec![v(&[b"p", b"q"])]);
    }

    #[test]
    fn lossless_refuses_when_a_selected_pipe_is_full() {
        let mut pipes = PipeSet::default();
        let mut d = Distributor::default();
        let mut a = add_peer(&mut pipes, 1, 1);
        let mut b = add_peer(&mut pipes, 2, 1);
        d.attach(1);
        d.attach(2);
        assert!(d
            .send(Msg::from("1"), &mut pipes, true, |t| t.push(1))
            .is_ok());
        // Only pipe 1 is full; a message for pipe 2 alone still goes.
        assert!(d
            .send(Msg::from("2"), &mut pipes, true, |t| t.push(2))
            .is_ok());
        a.recv_all();
        let err = d
            .send(Msg::from("3"), &mut pipes, true, |t| t.extend([1, 2]))
            .err()
            .unwrap();
        assert_eq!(err.error.kind(), crate::error::ErrorKind::EAGAIN);
        assert_eq!(&err.msg[..], b"3");
        assert_eq!(b.recv_all(), vec![v(&[b"2"])]);
        assert!(d
            .send(err.msg, &mut pipes, true, |t| t.extend([1, 2]))
            .is_ok());
        assert_eq!(a.recv_all(), vec![v(&[b"3"])]);
        assert_eq!(b.recv_all(), vec![v(&[b"3"])]);
    }
}
