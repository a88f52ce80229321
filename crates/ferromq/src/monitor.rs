//! Socket monitoring: connection lifecycle events with libzmq's event set
//! and numbers, as a [`Monitor`] queue or as libzmq's inproc PAIR stream.
//!
//! ```
//! use ferromq::{monitor::event, Context, SocketType};
//! use std::time::Duration;
//! let ctx = Context::new();
//! let rep = ctx.socket(SocketType::Rep)?;
//! let events = rep.monitor(event::ALL)?;
//! rep.bind("tcp://127.0.0.1:*")?;
//! let first = events.recv_timeout(Duration::from_secs(5)).expect("an event");
//! assert_eq!(first.event, event::LISTENING);
//! assert_eq!(first.endpoint, rep.last_endpoint()?);
//! # Ok::<(), ferromq::Error>(())
//! ```

use crate::socket::Socket;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// libzmq's `ZMQ_EVENT_*` numbers.
pub mod event {
    /// A connect completed (value: the fd).
    pub const CONNECTED: u16 = 0x0001;
    /// A connect is in progress (value: the errno, EINPROGRESS).
    pub const CONNECT_DELAYED: u16 = 0x0002;
    /// A reconnect is scheduled (value: the interval in ms).
    pub const CONNECT_RETRIED: u16 = 0x0004;
    /// A bind succeeded (value: the listening fd).
    pub const LISTENING: u16 = 0x0008;
    /// A bind failed (value: the errno).
    pub const BIND_FAILED: u16 = 0x0010;
    /// A connection was accepted (value: the fd).
    pub const ACCEPTED: u16 = 0x0020;
    /// Accepting a connection failed (value: the errno).
    pub const ACCEPT_FAILED: u16 = 0x0040;
    /// A listener or a failed connect's fd was closed (value: the fd, or
    /// -1 as `u32` when the connect failed before an fd was kept).
    pub const CLOSED: u16 = 0x0080;
    /// Closing an fd failed (value: the errno).
    pub const CLOSE_FAILED: u16 = 0x0100;
    /// A connection ended (value: the fd).
    pub const DISCONNECTED: u16 = 0x0200;
    /// Monitoring stopped: the last event of a monitor.
    pub const MONITOR_STOPPED: u16 = 0x0400;
    /// The handshake failed without a protocol reason: the connection
    /// dropped or timed out (value: the errno).
    pub const HANDSHAKE_FAILED_NO_DETAIL: u16 = 0x0800;
    /// The ZMTP handshake completed.
    pub const HANDSHAKE_SUCCEEDED: u16 = 0x1000;
    /// The peer broke the protocol during the handshake (value: a
    /// `ZMQ_PROTOCOL_ERROR_ZMTP_*` code, see [`ferromq_proto::zmtp_code`]).
    pub const HANDSHAKE_FAILED_PROTOCOL: u16 = 0x2000;
    /// Authentication failed (value: the ZAP status code).
    pub const HANDSHAKE_FAILED_AUTH: u16 = 0x4000;
    /// Every event.
    pub const ALL: u16 = 0xFFFF;

    /// The libzmq name of an event number (`"CONNECTED"`), if it is one.
    pub fn name(event: u16) -> Option<&'static str> {
        Some(match event {
            CONNECTED => "CONNECTED",
            CONNECT_DELAYED => "CONNECT_DELAYED",
            CONNECT_RETRIED => "CONNECT_RETRIED",
            LISTENING => "LISTENING",
            BIND_FAILED => "BIND_FAILED",
            ACCEPTED => "ACCEPTED",
            ACCEPT_FAILED => "ACCEPT_FAILED",
            CLOSED => "CLOSED",
            CLOSE_FAILED => "CLOSE_FAILED",
            DISCONNECTED => "DISCONNECTED",
            MONITOR_STOPPED => "MONITOR_STOPPED",
            HANDSHAKE_FAILED_NO_DETAIL => "HANDSHAKE_FAILED_NO_DETAIL",
            HANDSHAKE_SUCCEEDED => "HANDSHAKE_SUCCEEDED",
            HANDSHAKE_FAILED_PROTOCOL => "HANDSHAKE_FAILED_PROTOCOL",
            HANDSHAKE_FAILED_AUTH => "HANDSHAKE_FAILED_AUTH",
            _ => return None,
        })
    }
}

/// One monitor event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorEvent {
    /// The event number (see [`event`]).
    pub event: u16,
    /// The event's value, as libzmq gives it: an fd, an errno, an interval
    /// or a protocol error code (see each event).
    pub value: u32,
    /// The endpoint: as bound (resolved) for listeners and accepted
    /// connections, as given to `connect` for connections made.
    pub endpoint: String,
    /// The remote address of the connection (`tcp://10.0.0.2:41234`) when
    /// the event concerns one and the transport tells it.
    pub peer_address: Option<String>,
}

impl MonitorEvent {
    /// The event's libzmq name.
    pub fn name(&self) -> &'static str {
        event::name(self.event).unwrap_or("UNKNOWN")
    }
}

/// Events kept for a [`Monitor`] that is not read; past this the oldest
/// are dropped (and counted), so an unread monitor cannot grow without
/// bound.
pub const MONITOR_QUEUE_LIMIT: usize = 10_000;

struct Queue {
    events: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Default)]
struct QueueState {
    events: VecDeque<MonitorEvent>,
    dropped: u64,
    stopped: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.events.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, ev: MonitorEvent) {
        let mut state = self.lock();
        if state.stopped {
            return;
        }
        if state.events.len() >= MONITOR_QUEUE_LIMIT {
            state.events.pop_front();
            state.dropped += 1;
        }
        state.stopped = ev.event == event::MONITOR_STOPPED;
        state.events.push_back(ev);
        drop(state);
        self.ready.notify_all();
    }
}

/// The events of one socket, from [`Socket::monitor`].
///
/// Events queue up (at most [`MONITOR_QUEUE_LIMIT`]) until read. The last
/// one is always MONITOR_STOPPED, sent when the socket closes or another
/// monitor replaces this one. A `Monitor` is `Send` and `Sync`: it can be
/// read from any thread.
pub struct Monitor {
    queue: Arc<Queue>,
}

impl Monitor {
    /// Waits up to `timeout` for the next event.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<MonitorEvent> {
        let until = Instant::now() + timeout;
        let mut state = self.queue.lock();
        loop {
            if let Some(ev) = state.events.pop_front() {
                return Some(ev);
            }
            let now = Instant::now();
            if now >= until || state.stopped {
                return None;
            }
            state = self
                .queue
                .ready
                .wait_timeout(state, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The next event if one is queued.
    pub fn try_recv(&self) -> Option<MonitorEvent> {
        self.queue.lock().events.pop_front()
    }

    /// Waits up to `timeout` for an event numbered `wanted`, discarding
    /// the others; returns it, or `None` at the deadline.
    pub fn wait_for(&self, wanted: u16, timeout: Duration) -> Option<MonitorEvent> {
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let ev = self.recv_timeout(left)?;
            if ev.event == wanted {
                return Some(ev);
            }
        }
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.queue.lock().dropped
    }
}

enum Sink {
    Queue(Arc<Queue>),
    /// libzmq's format on a PAIR socket bound to an inproc endpoint.
    Pair(Box<Socket>),
}

impl Sink {
    fn deliver(&self, ev: MonitorEvent) {
        match self {
            Sink::Queue(q) => q.push(ev),
            Sink::Pair(pair) => {
                // Frame 1: the event number (16 bits) and value (32 bits),
                // native-endian as libzmq writes them; frame 2: the endpoint.
                let mut head = [0u8; 6];
                head[..2].copy_from_slice(&ev.event.to_ne_bytes());
                head[2..].copy_from_slice(&ev.value.to_ne_bytes());
                let flags = crate::socket::DONTWAIT;
                // A monitor that is not read loses events at its HWM
                // rather than stalling the I/O thread, as in libzmq.
                if pair.send(&head[..], flags | crate::socket::SNDMORE).is_ok() {
                    let _ = pair.send(ev.endpoint.as_bytes(), flags);
                }
            }
        }
    }
}

/// A socket's monitor, if any: shared by the socket and the I/O threads
/// that report its connections' events.
#[derive(Default)]
pub(crate) struct MonitorHub {
    /// The events wanted (0 when nobody listens): checked without the lock
    /// so an unmonitored socket pays one atomic load per event.
    mask: AtomicU32,
    sink: Mutex<Option<Sink>>,
}

impl MonitorHub {
    fn lock(&self) -> MutexGuard<'_, Option<Sink>> {
        self.sink.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True if `event` is being watched.
    pub(crate) fn wants(&self, event: u16) -> bool {
        self.mask.load(Ordering::Relaxed) & u32::from(event) != 0
    }

    /// Reports an event if it is watched.
    pub(crate) fn emit(&self, event: u16, value: u32, endpoint: &str, peer: Option<&str>) {
        if !self.wants(event) {
            return;
        }
        let sink = self.lock();
        if let Some(sink) = &*sink {
            sink.deliver(MonitorEvent {
                event,
                value,
                endpoint: endpoint.to_owned(),
                peer_address: peer.map(str::to_owned),
            });
        }
    }

    /// Starts a queue monitor, stopping any previous one.
    pub(crate) fn start_queue(&self, events: u16) -> Monitor {
        let queue = Arc::new(Queue {
            events: Mutex::new(QueueState::default()),
            ready: Condvar::new(),
        });
        self.replace(Some(Sink::Queue(queue.clone())), events);
        Monitor { queue }
    }

    /// Starts a PAIR-socket monitor, stopping any previous one.
    pub(crate) fn start_pair(&self, pair: Socket, events: u16) {
        self.replace(Some(Sink::Pair(Box::new(pair))), events);
    }

    /// Stops monitoring (MONITOR_STOPPED goes to the old monitor). The
    /// old sink is dropped here, in the caller's thread: a PAIR sink is a
    /// socket, which must not be closed on an I/O thread.
    pub(crate) fn stop(&self) {
        self.replace(None, 0);
    }

    fn replace(&self, new: Option<Sink>, events: u16) {
        let (old, old_mask) = {
            let mut sink = self.lock();
            let mask = if new.is_some() { u32::from(events) } else { 0 };
            let old_mask = self.mask.swap(mask, Ordering::Relaxed);
            (std::mem::replace(&mut *sink, new), old_mask)
        };
        // As in libzmq, MONITOR_STOPPED is sent only to a monitor that
        // asked for it.
        let wanted_stop = old_mask & u32::from(event::MONITOR_STOPPED) != 0;
        let Some(old) = old else {
            return;
        };
        if wanted_stop {
            old.deliver(MonitorEvent {
                event: event::MONITOR_STOPPED,
                value: 0,
                endpoint: String::new(),
                peer_address: None,
            });
        }
        if let Sink::Queue(q) = &old {
            q.lock().stopped = true;
            q.ready.notify_all();
        }
    }
}
