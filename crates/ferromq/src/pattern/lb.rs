//! Load balancer: round-robin over pipes that have room, keeping every
//! frame of a message on the pipe its first frame went to.

use super::ring::Ring;
use super::{PipeId, PipeSet, SendError};
use crate::msg::Msg;
use crate::stats::DropReason;

#[derive(Default)]
pub(crate) struct LoadBalancer {
    ring: Ring,
    /// The pipe the current multipart message is going to.
    current: Option<PipeId>,
    /// The current message's pipe died: drop its remaining frames (the
    /// message counts as [`DropReason::PeerGone`] at its last frame).
    dropping: bool,
}

impl LoadBalancer {
    pub(crate) fn attach(&mut self, id: PipeId) {
        self.ring.attach(id);
    }

    pub(crate) fn detach(&mut self, id: PipeId) {
        self.ring.detach(id);
        if self.current == Some(id) {
            self.current = None;
            self.dropping = true;
        }
    }

    /// Sends one frame to the next pipe with room. `EAGAIN` if none has.
    pub(crate) fn send(&mut self, msg: Msg, pipes: &mut PipeSet) -> Result<(), SendError> {
        self.send_returning_pipe(msg, pipes).map(|_| ())
    }

    /// Like [`send`](LoadBalancer::send), telling which pipe took the frame
    /// (`None` when it was dropped because its pipe died mid-message).
    pub(crate) fn send_returning_pipe(
        &mut self,
        msg: Msg,
        pipes: &mut PipeSet,
    ) -> Result<Option<PipeId>, SendError> {
        if self.dropping {
            self.drop_frame(&msg, pipes);
            return Ok(None);
        }
        let id = match self.current {
            Some(id) => id,
            None => match self.pick(pipes) {
                Some(id) => id,
                None => return Err(SendError::again(msg, "no peer can take a message now")),
            },
        };
        let more = msg.more();
        let Some(pipe) = pipes.get_mut(id) else {
            self.current = None;
            self.drop_frame(&msg, pipes);
            return Ok(None);
        };
        pipe.writer.write(msg);
        if more {
            self.current = Some(id);
        } else {
            pipe.writer.flush();
            self.current = None;
        }
        Ok(Some(id))
    }

    /// Drops a frame of a message whose pipe is gone; the message's first
    /// frames went down with the pipe, so it counts once, at its end.
    fn drop_frame(&mut self, msg: &Msg, pipes: &mut PipeSet) {
        self.dropping = msg.more();
        if !self.dropping {
            pipes.note_drop(DropReason::PeerGone);
        }
    }

    fn pick(&mut self, pipes: &mut PipeSet) -> Option<PipeId> {
        self.ring
            .pick(|id| {
                pipes
                    .get(id)
                    .is_some_and(|p| p.writer.check_write())
                    .then_some(())
            })
            .map(|(id, ())| id)
    }

    pub(crate) fn has_out(&mut self, pipes: &mut PipeSet) -> bool {
        if self.current.is_some() || self.dropping {
            return true;
        }
        self.ring
            .any(|&id| pipes.get(id).is_some_and(|p| p.writer.check_write()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::dist::testing::*;
    use super::*;

    fn lb_with(pipes: &mut PipeSet, ids: &[PipeId]) -> (LoadBalancer, Vec<Peer>) {
        let mut lb = LoadBalancer::default();
        let peers = ids
            .iter()
            .map(|&id| {
                lb.attach(id);
                add_peer(pipes, id, 0)
            })
            .collect();
        (lb, peers)
    }

    fn send_all(lb: &mut LoadBalancer, pipes: &mut PipeSet, parts: &[&[u8]]) {
        for f in frames(parts) {
            lb.send(f, pipes).ok().unwrap();
        }
    }

    #[test]
    fn the_rest_of_a_message_whose_pipe_died_is_dropped_and_counted_once() {
        let mut pipes = PipeSet::default();
        let (mut lb, mut peers) = lb_with(&mut pipes, &[1, 2]);
        lb.send(Msg::from("a").with_more(true), &mut pipes)
            .ok()
            .unwrap();
        // The pipe taking the message goes away in its middle.
        pipes.remove(1);
        lb.detach(1);
        lb.send(Msg::from("b").with_more(true), &mut pipes)
            .ok()
            .unwrap();
        assert_eq!(pipes.drops.total(), 0, "counted at the message's end");
        lb.send(Msg::from("c"), &mut pipes).ok().unwrap();
        assert_eq!(pipes.drops.peer_gone, 1);
        // The next message goes whole to the pipe left.
        send_all(&mut lb, &mut pipes, &[b"x", b"y"]);
        assert_eq!(peers[1].recv_all(), vec![v(&[b"x", b"y"])]);
        assert!(peers[0].recv().is_none());
        assert_eq!(pipes.drops.total(), 1);
    }

    #[test]
    fn a_pipe_vanishing_without_detach_mid_message_counts_too() {
        let mut pipes = PipeSet::default();
        let (mut lb, _peers) = lb_with(&mut pipes, &[1]);
        lb.send(Msg::from("a").with_more(true), &mut pipes)
            .ok()
            .unwrap();
        pipes.remove(1);
        lb.send(Msg::from("b"), &mut pipes).ok().unwrap();
        assert_eq!(pipes.drops.peer_gone, 1);
        // No pipe left: the next message waits instead of being dropped.
        let err = lb.send(Msg::from("next"), &mut pipes).err().unwrap();
        assert_eq!(err.error.kind(), crate::error::ErrorKind::EAGAIN);
        assert_eq!(pipes.drops.total(), 1);
    }

    #[test]
    fn full_pipes_are_skipped_not_dropped() {
        let mut pipes = PipeSet::default();
        let mut lb = LoadBalancer::default();
        let mut slow = add_peer(&mut pipes, 1, 2);
        let mut fast = add_peer(&mut pipes, 2, 100);
        lb.attach(1);
        lb.attach(2);
        for i in 0..20u8 {
            lb.send(Msg::from(vec![i]), &mut pipes).ok().unwrap();
        }
        let got_slow = slow.recv_all();
        let got_fast = fast.recv_all();
        assert_eq!(got_slow.len(), 2, "its HWM");
        assert_eq!(got_slow.len() + got_fast.len(), 20);
        assert_eq!(pipes.drops.total(), 0);
    }
}
