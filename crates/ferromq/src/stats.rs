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
    /// A peer sent something the socket type does not take at that point:
    /// a request without an envelope delimiter (REP), a reply that is
    /// malformed or answers no request in progress (REQ: late replies to
    /// abandoned requests, duplicates), data sent up to a PUB.
    Unexpected,
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
    /// See [`DropReason::Unexpected`].
    pub unexpected: u64,
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
            DropReason::Unexpected => &mut self.unexpected,
        };
        *slot += count;
    }

    /// Every dropped message, whatever the reason.
    pub fn total(&self) -> u64 {
        self.hwm + self.unroutable + self.peer_gone + self.conflated + self.unexpected
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
    /// One entry per peer: each connection, and each connect endpoint
    /// (which keeps its queue while it has no connection).
    pub peers: Vec<PeerStats>,
}

/// One connection's counters, shared by the socket and the engine (or,
/// for inproc, both sockets).
#[derive(Debug, Default)]
pub(crate) struct PeerShared {
    /// As bound or as given to connect (`inproc://name` for inproc).
    pub(crate) endpoint: String,
    pub(crate) address: std::sync::Mutex<Option<String>>,
    pub(crate) connected: std::sync::atomic::AtomicBool,
    /// Bytes on the wire (tcp and ipc; inproc moves no bytes).
    pub(crate) bytes_in: std::sync::atomic::AtomicU64,
    pub(crate) bytes_out: std::sync::atomic::AtomicU64,
    pub(crate) reconnects: std::sync::atomic::AtomicU64,
}

impl PeerShared {
    pub(crate) fn new(endpoint: impl Into<String>) -> std::sync::Arc<PeerShared> {
        std::sync::Arc::new(PeerShared {
            endpoint: endpoint.into(),
            ..PeerShared::default()
        })
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        self.connected
            .store(connected, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A snapshot of one peer of a socket (one connection, or one connect
/// endpoint waiting for its connection), from
/// [`SocketStats::peers`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PeerStats {
    /// The endpoint: as bound (for accepted connections) or as given to
    /// connect.
    pub endpoint: String,
    /// The remote address (`tcp://10.0.0.2:41234`), once connected over
    /// tcp or ipc.
    pub peer_address: Option<String>,
    /// The peer's routing id (announced, or generated by a ROUTER).
    pub routing_id: Vec<u8>,
    /// Whether a connection to the peer is up now.
    pub connected: bool,
    /// Messages the socket queued for this peer.
    pub messages_out: u64,
    /// Messages the socket received from this peer.
    pub messages_in: u64,
    /// Bytes written to the connection (ZMTP framing included; 0 for
    /// inproc).
    pub bytes_out: u64,
    /// Bytes read from the connection (ZMTP framing included; 0 for
    /// inproc).
    pub bytes_in: u64,
    /// Messages queued for the peer that it has not taken yet.
    pub queued_out: u64,
    /// Times the connection to this peer was re-made.
    pub reconnects: u64,
}
