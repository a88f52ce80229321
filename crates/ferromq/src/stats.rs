//! Counters beyond libzmq: what a socket sent, received and dropped, and
//! why, so "where did my messages go" has an answer.
//!
//! ```
//! use ferromq::{Context, SocketType};
//! let ctx = Context::new();
//! let pull = ctx.socket(SocketType::Pull)?;
//! pull.bind("inproc://stats-doc")?;
//! let push = ctx.socket(SocketType::Push)?;
//! push.connect("inproc://stats-doc")?;
//! push.send("hello", 0)?;
//! pull.recv(0)?;
//! assert_eq!(push.stats()?.messages_sent, 1);
//! assert_eq!(pull.stats()?.bytes_received, 5);
//! # Ok::<(), ferromq::Error>(())
//! ```

/// Why a socket dropped a message instead of delivering it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// The peer's queue was at its high-water mark and the socket type
    /// drops rather than blocks there (PUB, XPUB, ROUTER, REP replies).
    Hwm,
    /// ROUTER: no connected peer has the message's routing id (and
    /// ROUTER_MANDATORY is off).
    Unroutable,
    /// The peer went away while the message was queued for it or half
    /// sent to it.
    PeerGone,
    /// CONFLATE: a newer message replaced it before it was read.
    Conflated,
}

/// Messages dropped, by reason. Each counts whole messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DropCounts {
    /// See [`DropReason::Hwm`].
    pub hwm: u64,
    /// See [`DropReason::Unroutable`].
    pub unroutable: u64,
    /// See [`DropReason::PeerGone`].
    pub peer_gone: u64,
    /// See [`DropReason::Conflated`].
    pub conflated: u64,
}

impl DropCounts {
    pub(crate) fn note(&mut self, reason: DropReason) {
        self.add(reason, 1);
    }

    pub(crate) fn add(&mut self, reason: DropReason, count: u64) {
        let slot = match reason {
            DropReason::Hwm => &mut self.hwm,
            DropReason::Unroutable => &mut self.unroutable,
            DropReason::PeerGone => &mut self.peer_gone,
            DropReason::Conflated => &mut self.conflated,
        };
        *slot += count;
    }

    /// Every dropped message, whatever the reason.
    pub fn total(&self) -> u64 {
        self.hwm + self.unroutable + self.peer_gone + self.conflated
    }
}

/// A snapshot of one socket's counters, from [`Socket::stats`](crate::Socket::stats).
///
/// Messages are whole messages (a multipart message counts once); bytes
/// are the sum of frame bodies.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SocketStats {
    /// Messages the application sent on this socket.
    pub messages_sent: u64,
    /// Body bytes the application sent.
    pub bytes_sent: u64,
    /// Messages the application received from this socket.
    pub messages_received: u64,
    /// Body bytes the application received.
    pub bytes_received: u64,
    /// Messages the socket dropped, by reason.
    pub dropped: DropCounts,
    /// Connections this socket re-made after losing them.
    pub reconnects: u64,
}
