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
}

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
    /// Messages the pattern dropped, by reason (see [`crate::stats`]).
    pub(crate) drops: crate::stats::DropCounts,
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
            drops: crate::stats::DropCounts::default(),
        }
    }

    /// The pipes that turned readable since the last call. Returns false
    /// when the set does not track that (socket types other than PUB and
    /// XPUB, and unit tests): the caller must look at every pipe.
    pub(crate) fn take_active(&self, into: &mut Vec<PipeId>) -> bool {
        self.active.take(into)
    }

    /// Counts a message the pattern dropped.
    pub(crate) fn note_drop(&mut self, reason: crate::stats::DropReason) {
        self.drops.note(reason);
    }

    pub(crate) fn insert(&mut self, id: PipeId, pipe: SocketPipe) {
        self.pipes.insert(id, pipe);
    }

    pub(crate) fn remove(&mut self, id: PipeId) -> Option<SocketPipe> {
        self.pipes.remove(&id)
    }

    pub(crate) fn get_mut(&mut self, id: PipeId) -> Option<&mut SocketPipe> {
        self.pipes.get_mut(&id)
    }

    pub(crate) fn get(&self, id: PipeId) -> Option<&SocketPipe> {
        self.pipes.get(&id)
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
