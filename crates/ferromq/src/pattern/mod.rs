//! Socket types. Each file implements [`Pattern`] for one socket type on
//! top of the shared routing helpers: load balancer ([`lb`]), fair queue
//! ([`fq`]), distributor ([`dist`]) and subscription trie ([`trie`]).

pub(crate) mod dealer;
pub(crate) mod dist;
pub(crate) mod fq;
pub(crate) mod lb;
pub(crate) mod pair;
pub(crate) mod publ;
pub(crate) mod pull;
pub(crate) mod push;
pub(crate) mod rep;
pub(crate) mod req;
mod ring;
pub(crate) mod router;
pub(crate) mod sub;
pub(crate) mod trie;
pub(crate) mod xpub;
pub(crate) mod xsub;

use crate::error::{Error, ErrorKind, Result};
use crate::msg::Msg;
use crate::pipe::{PipeReader, PipeWriter};
use crate::stats::{DropCounts, DropReason};
use bytes::Bytes;
use ferromq_proto::SocketType;
use std::collections::HashMap;

/// Identifies one pipe pair of a socket (unique per context).
pub(crate) type PipeId = u64;

/// The socket's end of one peer connection: frames in, frames out.
pub(crate) struct SocketPipe {
    pub(crate) reader: PipeReader,
    pub(crate) writer: PipeWriter,
    /// The peer's routing id: its Identity property, or one the socket
    /// generated (ROUTER); empty until the peer is identified.
    pub(crate) routing_id: Bytes,
    /// inproc only: tells the peer socket when this end goes away (over
    /// tcp and ipc the engine does that).
    pub(crate) notice: Option<crate::inproc::PeerNotice>,
    /// The connection's counters, for [`crate::Socket::stats`].
    pub(crate) peer: std::sync::Arc<crate::stats::PeerShared>,
    /// What the peer told in its handshake (tcp and ipc), for
    /// [`crate::Socket::recv_with_properties`].
    pub(crate) properties: Option<std::sync::Arc<crate::msg::MessageProperties>>,
}

/// Sockets with more pipes than this never spin for a reply: deciding
/// would cost a look at every pipe.
const SPIN_PIPES: usize = 8;

/// Hashes pipe ids, which are unique counters: one multiply spreads them,
/// where SipHash (the default) cost a visible share of every send and
/// receive.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by pipe id.
pub(crate) type IdMap<V> = HashMap<PipeId, V, std::hash::BuildHasherDefault<IdHasher>>;

/// All pipes of a socket, by id. Patterns keep their own ordered lists of
/// ids; this map owns the pipes.
pub(crate) struct PipeSet {
    pipes: IdMap<SocketPipe>,
    active: std::sync::Arc<crate::socket::ActivePipes>,
    /// Messages dropped, by reason (see [`crate::stats`]): by the pattern,
    /// and by pipes that have left the set. [`drop_counts`](Self::drop_counts)
    /// adds those of the pipes still here.
    pub(crate) drops: DropCounts,
}

impl Default for PipeSet {
    fn default() -> PipeSet {
        PipeSet::new(std::sync::Arc::new(crate::socket::ActivePipes::untracked()))
    }
}

impl PipeSet {
    pub(crate) fn new(active: std::sync::Arc<crate::socket::ActivePipes>) -> PipeSet {
        PipeSet {
            pipes: IdMap::default(),
            active,
            drops: DropCounts::default(),
        }
    }

    /// The pipes that turned readable since the last call. Returns false
    /// when the set does not track that (socket types other than PUB and
    /// XPUB, and unit tests): the caller must look at every pipe.
    pub(crate) fn take_active(&self, into: &mut Vec<PipeId>) -> bool {
        self.active.take(into)
    }

    /// Counts a message the pattern dropped.
    pub(crate) fn note_drop(&mut self, reason: DropReason) {
        self.drops.note(reason);
    }

    /// Every message dropped so far, by reason: [`drops`](Self::drops) plus
    /// what conflating pipes still in the set replaced. (Their ends may be
    /// written on an I/O thread: the counts are the pipes' atomics, read now.)
    pub(crate) fn drop_counts(&self) -> DropCounts {
        let mut counts = self.drops;
        let conflated = self
            .pipes
            .values()
            .map(|p| p.reader.conflated() + p.writer.conflated())
            .sum();
        counts.add(DropReason::Conflated, conflated);
        counts
    }

    pub(crate) fn insert(&mut self, id: PipeId, pipe: SocketPipe) {
        self.pipes.insert(id, pipe);
    }

    /// Removes a pipe; what it conflated stays counted.
    pub(crate) fn remove(&mut self, id: PipeId) -> Option<SocketPipe> {
        let pipe = self.pipes.remove(&id)?;
        let conflated = pipe.reader.conflated() + pipe.writer.conflated();
        self.drops.add(DropReason::Conflated, conflated);
        Some(pipe)
    }

    /// Removes a pipe whose peer has gone: the messages still queued for
    /// the peer (or written after it left) are lost with it, and counted
    /// as [`DropReason::PeerGone`].
    pub(crate) fn remove_gone(&mut self, id: PipeId) -> Option<SocketPipe> {
        let pipe = self.remove(id)?;
        self.drops.add(DropReason::PeerGone, pipe.writer.queued());
        Some(pipe)
    }

    pub(crate) fn get_mut(&mut self, id: PipeId) -> Option<&mut SocketPipe> {
        self.pipes.get_mut(&id)
    }

    pub(crate) fn get(&self, id: PipeId) -> Option<&SocketPipe> {
        self.pipes.get(&id)
    }

    /// Whether every pipe is an inproc one (and there is at least one,
    /// and few): only then can an answer come within a spin. Over tcp and
    /// ipc it crosses two I/O threads and the kernel, tens of µs at best,
    /// and a spinning thread takes the CPU those threads need.
    pub(crate) fn all_inproc(&self) -> bool {
        (1..=SPIN_PIPES).contains(&self.pipes.len())
            && self.pipes.values().all(|p| p.notice.is_some())
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = PipeId> + '_ {
        self.pipes.keys().copied()
    }
}

/// A frame that could not be sent now, handed back to the caller.
pub(crate) struct SendError {
    pub(crate) error: Error,
    pub(crate) msg: Msg,
}

impl SendError {
    pub(crate) fn again(msg: Msg, what: &'static str) -> SendError {
        SendError {
            error: Error::again(what),
            msg,
        }
    }

    pub(crate) fn new(kind: ErrorKind, what: &'static str, msg: Msg) -> SendError {
        SendError {
            error: Error::new(kind, what),
            msg,
        }
    }
}

/// The behaviour of one socket type.
///
/// Frames are sent and received one at a time; `msg.more()` says whether
/// more frames of the same message follow. A pattern guarantees atomicity:
/// once the first frame of a message went to (or came from) a pipe, the
/// rest go to (or come from) the same pipe.
pub(crate) trait Pattern: Send {
    /// A new pipe joined. Its peer may not have completed a handshake yet
    /// (pipes of `connect` exist before the connection does).
    fn attach(&mut self, id: PipeId, pipes: &mut PipeSet);

    /// The peer behind `id` completed a handshake; `reconnected` is true
    /// when this is not the pipe's first connection (subscriptions must be
    /// sent again).
    fn peer_ready(&mut self, id: PipeId, pipes: &mut PipeSet, reconnected: bool) {
        let _ = (id, pipes, reconnected);
    }

    /// A pipe left (it is already removed from the set).
    fn detach(&mut self, id: PipeId);

    /// Sends one frame. `EAGAIN` (with the frame handed back) means "not
    /// now, try again when woken".
    fn send(&mut self, msg: Msg, pipes: &mut PipeSet) -> Result<(), SendError>;

    /// Receives one frame, `EAGAIN` when none is available.
    fn recv(&mut self, pipes: &mut PipeSet) -> Result<Msg>;

    /// Whether [`recv`](Pattern::recv) would return a frame now.
    fn has_in(&mut self, pipes: &mut PipeSet) -> bool;

    /// The pipe the frame last returned by [`recv`](Pattern::recv) came
    /// from, where the type tracks it (for message properties).
    fn last_recv_pipe(&self) -> Option<PipeId> {
        None
    }

    /// Whether [`send`](Pattern::send) would accept a frame now.
    fn has_out(&mut self, pipes: &mut PipeSet) -> bool;

    /// Sets a socket-type specific option; `Ok(false)` if it is not one.
    fn set_option(&mut self, option: i32, value: &[u8], pipes: &mut PipeSet) -> Result<bool> {
        let _ = (option, value, pipes);
        Ok(false)
    }

    /// Reads a socket-type specific option.
    fn get_option(&self, option: i32) -> Option<Vec<u8>> {
        let _ = option;
        None
    }
}

/// A random-ish 32-bit number, to seed counters (libzmq starts its
/// generated routing ids and request ids at random values too).
pub(crate) fn random_u32() -> u32 {
    use std::hash::BuildHasher;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::collections::hash_map::RandomState::new().hash_one(nanos) as u32
}

/// The pattern implementing `socket_type`.
pub(crate) fn new_pattern(socket_type: SocketType) -> Result<Box<dyn Pattern>> {
    Ok(match socket_type {
        SocketType::Pair => Box::new(pair::Pair::default()),
        SocketType::Push => Box::new(push::Push::default()),
        SocketType::Pull => Box::new(pull::Pull::default()),
        SocketType::Req => Box::new(req::Req::default()),
        SocketType::Rep => Box::new(rep::Rep::default()),
        SocketType::Dealer => Box::new(dealer::Dealer::default()),
        SocketType::Router => Box::new(router::Router::default()),
        SocketType::Pub => Box::new(publ::Pub::default()),
        SocketType::Sub => Box::new(sub::Sub::default()),
        SocketType::Xpub => Box::new(xpub::Xpub::default()),
        SocketType::Xsub => Box::new(xsub::Xsub::default()),
        other => {
            return Err(Error::new(
                ErrorKind::EINVAL,
                format!("socket type {other} is not supported yet"),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::dist::testing::*;
    use super::*;
    use crate::pipe::{End, Queue};

    #[test]
    fn a_pipe_removed_as_gone_counts_what_its_peer_never_read() {
        let mut pipes = PipeSet::default();
        let mut peer = add_peer(&mut pipes, 1, 0);
        let writer = &mut pipes.get_mut(1).unwrap().writer;
        for i in 0..5u8 {
            writer.write(Msg::from(vec![i]).with_more(true));
            writer.write(Msg::from("end"));
        }
        writer.write(Msg::from("unfinished").with_more(true));
        writer.flush();
        peer.recv().unwrap();
        peer.recv().unwrap();
        // The connection ends with three whole messages unread.
        drop(peer);
        assert!(pipes.remove_gone(1).is_some());
        assert_eq!(pipes.drop_counts().peer_gone, 3);
        assert!(pipes.remove_gone(1).is_none());
        assert_eq!(pipes.drop_counts().total(), 3);
    }

    #[test]
    fn conflated_counts_are_summed_and_survive_the_pipe() {
        let mut pipes = PipeSet::default();
        let mut peer = add_peer_with(
            &mut pipes,
            1,
            Queue::Conflate(End::Reader),
            Queue::Conflate(End::Writer),
        );
        for _ in 0..3 {
            peer.send(&[b"in"]);
        }
        let writer = &mut pipes.get_mut(1).unwrap().writer;
        for _ in 0..4 {
            writer.write(Msg::from("out"));
            writer.flush();
        }
        assert_eq!(pipes.drop_counts().conflated, 2 + 3);
        assert_eq!(pipes.drops.conflated, 0, "read from the pipes, not stored");
        pipes.remove(1);
        assert_eq!(pipes.drop_counts().conflated, 5);
    }

    #[test]
    fn only_a_few_inproc_pipes_are_worth_a_spin() {
        let mut pipes = PipeSet::default();
        assert!(!pipes.all_inproc(), "no pipe: nothing to spin for");
        let _engine = add_peer_with(&mut pipes, 1, Queue::Hwm(0), Queue::Hwm(0));
        // A pipe without an inproc notice stands for tcp or ipc.
        assert!(!pipes.all_inproc());
    }
}
