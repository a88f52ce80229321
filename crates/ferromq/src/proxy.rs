//! Proxies: [`proxy`] (zmq_proxy), [`proxy_steerable`]
//! (zmq_proxy_steerable) and the old devices ([`device`], zmq_device).
//!
//! A proxy joins a frontend socket to a backend socket in the calling
//! thread and moves whole multipart messages between them, both ways, for
//! as long as it runs. The socket types decide the shape:
//!
//! | frontend | backend | shape |
//! |---|---|---|
//! | ROUTER | DEALER | shared queue: requests fair-queued from clients, load-balanced to workers; replies find their way back through the ROUTER's envelope |
//! | XSUB | XPUB | forwarder: messages flow down, subscriptions (and cancels) flow back up |
//! | PULL | PUSH | streamer: one direction only |
//!
//! The proxy respects the high-water marks on both sides: it reads from a
//! side only while the other side can take a message, so a slow consumer
//! slows the producers down (their sends block or fail with `EAGAIN`) and
//! the proxy itself never holds more than one message per direction.
//! Messages move in batches of up to [`BATCH`] per direction per wake-up.
//!
//! Semantics follow libzmq 4.3.5 (`zmq_proxy(3)`, `zmq_proxy_steerable(3)`,
//! `zmq_device(3)`); where 4.3.5 has a defect that libzmq fixed right after
//! (PAUSE and RESUME swapped, replies on non-REP control sockets), the
//! documented behaviour is followed instead. See [`proxy_steerable`].

use crate::error::{Error, ErrorKind, Result};
use crate::msg::Msg;
use crate::options::{POLLIN, POLLOUT};
use crate::poll::{poll, PollItem};
use crate::socket::{Socket, DONTWAIT, SNDMORE};
use ferromq_proto::SocketType;

/// Most whole messages moved in one direction before the proxy looks at
/// the other direction and the control socket again (libzmq's burst size).
pub const BATCH: usize = 1000;

/// Runs a proxy between `frontend` and `backend` in the calling thread,
/// like zmq_proxy: every message received on one is sent, whole, on the
/// other. If `capture` is given, every frame that passes (in both
/// directions) is also sent to it, with its MORE flag, as libzmq does; a
/// capture socket that cannot take a frame (a PUSH or PAIR nobody reads)
/// blocks the proxy, so use a PUB, or read it.
///
/// Set options and bind or connect the sockets before calling. The proxy
/// returns only on error: when the context is terminated it returns the
/// `ETERM` error (see [`Context::shutdown`](crate::Context::shutdown)).
///
/// ```
/// use ferromq::{proxy::proxy, Context, ErrorKind, SocketType};
/// let ctx = Context::new();
/// let frontend = ctx.socket(SocketType::Pull)?;
/// frontend.bind("inproc://tasks")?;
/// let backend = ctx.socket(SocketType::Push)?;
/// backend.bind("inproc://workers")?;
/// let running = std::thread::spawn(move || proxy(&frontend, &backend, None));
///
/// let producer = ctx.socket(SocketType::Push)?;
/// producer.connect("inproc://tasks")?;
/// let worker = ctx.socket(SocketType::Pull)?;
/// worker.connect("inproc://workers")?;
/// producer.send_multipart(["job", "42"], 0)?;
/// assert_eq!(worker.recv_multipart(0)?, vec![b"job".to_vec(), b"42".to_vec()]);
///
/// ctx.shutdown(); // ends the proxy with ETERM
/// let ended = running.join().unwrap();
/// assert_eq!(ended.unwrap_err().kind(), ErrorKind::ETERM);
/// # Ok::<(), ferromq::Error>(())
/// ```
pub fn proxy(frontend: &Socket, backend: &Socket, capture: Option<&Socket>) -> Result<()> {
    Proxy::new(frontend, backend, capture, None).run()
}

/// Like [`proxy`], steered through a `control` socket (zmq_proxy_steerable).
/// Each message received on `control` is a command:
///
/// - `PAUSE`: stop moving messages (they wait in the sockets' queues, up
///   to their high-water marks);
/// - `RESUME`: move them again;
/// - `TERMINATE`: return `Ok(())`;
/// - `STATISTICS`: reply on `control` with eight frames, each a `u64` in
///   native byte order: frames received by the frontend, bytes received by
///   the frontend, frames sent by the frontend, bytes sent by the frontend,
///   then the same four for the backend ([`ProxyStats`] reads them). As in
///   libzmq, each part of a multipart message counts, routing-id frames
///   included.
///
/// The control socket is a REP or a PAIR (or anything that can receive,
/// and send for STATISTICS). A REP gets an empty reply to every command
/// but STATISTICS, to keep its send/receive alternation; other types get
/// no reply to PAUSE, RESUME and TERMINATE. Other commands are ignored
/// (a REP still gets its empty reply). Control messages are not captured.
///
/// libzmq 4.3.5 differs in two ways that libzmq fixed after that release
/// (zeromq/libzmq#4600): it swaps PAUSE and RESUME, and it sends the empty
/// reply on every control socket type, not only REP.
///
/// Without a control socket this is [`proxy`].
///
/// ```
/// use ferromq::{proxy::{proxy_steerable, ProxyStats}, Context, SocketType};
/// let ctx = Context::new();
/// let frontend = ctx.socket(SocketType::Pull)?;
/// frontend.bind("inproc://in")?;
/// let backend = ctx.socket(SocketType::Push)?;
/// backend.bind("inproc://out")?;
/// let control = ctx.socket(SocketType::Pair)?;
/// control.bind("inproc://control")?;
/// let running = std::thread::spawn(move || {
///     proxy_steerable(&frontend, &backend, None, Some(&control))
/// });
///
/// let producer = ctx.socket(SocketType::Push)?;
/// producer.connect("inproc://in")?;
/// let consumer = ctx.socket(SocketType::Pull)?;
/// consumer.connect("inproc://out")?;
/// producer.send("hello", 0)?;
/// assert_eq!(&consumer.recv(0)?[..], b"hello");
///
/// let steer = ctx.socket(SocketType::Pair)?;
/// steer.connect("inproc://control")?;
/// steer.send("STATISTICS", 0)?;
/// let stats = ProxyStats::from_frames(&steer.recv_multipart(0)?)?;
/// assert_eq!(stats.frontend.frames_received, 1);
/// assert_eq!(stats.backend.bytes_sent, 5);
///
/// steer.send("TERMINATE", 0)?;
/// running.join().unwrap()?;
/// # Ok::<(), ferromq::Error>(())
/// ```
pub fn proxy_steerable(
    frontend: &Socket,
    backend: &Socket,
    capture: Option<&Socket>,
    control: Option<&Socket>,
) -> Result<()> {
    Proxy::new(frontend, backend, capture, control).run()
}

/// The old device types of zmq_device, with libzmq's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// ZMQ_STREAMER (1): PULL frontend, PUSH backend.
    Streamer = 1,
    /// ZMQ_FORWARDER (2): SUB (or XSUB) frontend, PUB (or XPUB) backend.
    Forwarder = 2,
    /// ZMQ_QUEUE (3): ROUTER frontend, DEALER backend.
    Queue = 3,
}

impl DeviceKind {
    /// The kind with libzmq's number `raw` (ZMQ_STREAMER 1, ZMQ_FORWARDER
    /// 2, ZMQ_QUEUE 3).
    pub fn from_raw(raw: i32) -> Option<DeviceKind> {
        match raw {
            1 => Some(DeviceKind::Streamer),
            2 => Some(DeviceKind::Forwarder),
            3 => Some(DeviceKind::Queue),
            _ => None,
        }
    }

    /// libzmq's number for this kind.
    pub fn to_raw(self) -> i32 {
        self as i32
    }
}

/// Runs an old-style device (zmq_device). As in libzmq, the kind only
/// documents intent: this is [`proxy`]`(frontend, backend, None)`, and
/// returns only on error (`ETERM` when the context is terminated).
///
/// A forwarder with a SUB frontend forwards only what the SUB subscribed
/// to (subscribe to `""` for everything); with XSUB/XPUB subscriptions
/// flow upstream instead.
///
/// ```
/// use ferromq::{proxy::{device, DeviceKind}, Context, ErrorKind, SocketType};
/// let ctx = Context::new();
/// let frontend = ctx.socket(SocketType::Router)?;
/// frontend.bind("inproc://clients")?;
/// let backend = ctx.socket(SocketType::Dealer)?;
/// backend.bind("inproc://services")?;
/// let running =
///     std::thread::spawn(move || device(DeviceKind::Queue, &frontend, &backend));
///
/// let client = ctx.socket(SocketType::Req)?;
/// client.connect("inproc://clients")?;
/// let service = ctx.socket(SocketType::Rep)?;
/// service.connect("inproc://services")?;
/// client.send("ping", 0)?;
/// assert_eq!(&service.recv(0)?[..], b"ping");
/// service.send("pong", 0)?;
/// assert_eq!(&client.recv(0)?[..], b"pong");
///
/// ctx.shutdown();
/// assert_eq!(running.join().unwrap().unwrap_err().kind(), ErrorKind::ETERM);
/// # Ok::<(), ferromq::Error>(())
/// ```
pub fn device(kind: DeviceKind, frontend: &Socket, backend: &Socket) -> Result<()> {
    let _ = kind;
    proxy(frontend, backend, None)
}

/// One side's counts in a STATISTICS reply (see [`proxy_steerable`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SideStats {
    /// Frames received by this side's socket (libzmq's man page says
    /// "messages", but counts each part of a multipart message).
    pub frames_received: u64,
    /// Bytes received by this side's socket (bodies of those frames).
    pub bytes_received: u64,
    /// Frames sent by this side's socket.
    pub frames_sent: u64,
    /// Bytes sent by this side's socket.
    pub bytes_sent: u64,
}

/// A proxy's STATISTICS reply: what its frontend and backend received and
/// sent since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// The frontend socket's counts.
    pub frontend: SideStats,
    /// The backend socket's counts.
    pub backend: SideStats,
}

impl ProxyStats {
    /// The eight values in reply order.
    pub fn values(&self) -> [u64; 8] {
        let (f, b) = (&self.frontend, &self.backend);
        [
            f.frames_received,
            f.bytes_received,
            f.frames_sent,
            f.bytes_sent,
            b.frames_received,
            b.bytes_received,
            b.frames_sent,
            b.bytes_sent,
        ]
    }

    /// Reads a STATISTICS reply: eight frames of eight bytes each, native
    /// byte order. Anything else is `EINVAL`.
    pub fn from_frames<T: AsRef<[u8]>>(frames: &[T]) -> Result<ProxyStats> {
        if frames.len() != 8 {
            return Err(Error::inval(format!(
                "a STATISTICS reply has 8 frames, got {}",
                frames.len()
            )));
        }
        let mut v = [0u64; 8];
        for (value, frame) in v.iter_mut().zip(frames) {
            let bytes: [u8; 8] = frame.as_ref().try_into().map_err(|_| {
                Error::inval(format!(
                    "a STATISTICS value is 8 bytes, got {}",
                    frame.as_ref().len()
                ))
            })?;
            *value = u64::from_ne_bytes(bytes);
        }
        let side = |i: usize| SideStats {
            frames_received: v[i],
            bytes_received: v[i + 1],
            frames_sent: v[i + 2],
            bytes_sent: v[i + 3],
        };
        Ok(ProxyStats {
            frontend: side(0),
            backend: side(4),
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    Paused,
}

/// Which way a message goes: frontend to backend, or back.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    Forth,
    Back,
}

struct Proxy<'a> {
    frontend: &'a Socket,
    backend: &'a Socket,
    capture: Option<&'a Socket>,
    control: Option<&'a Socket>,
    /// frontend and backend are one socket (libzmq allows it): one
    /// direction only, and no POLLOUT check, as in libzmq.
    same: bool,
    state: State,
    stats: ProxyStats,
    /// Per direction, the first frame of a message that was read when the
    /// destination had room but then refused it (its last peer left in
    /// between): sent first, once the destination has room again. The rest
    /// of that message waits in the source socket.
    held: [Option<Msg>; 2],
    /// A held frame was refused again although its destination reported
    /// room (a ROUTER with ROUTER_MANDATORY whose one full peer is not the
    /// one with room): readiness cannot tell when to retry, so the proxy
    /// retries every millisecond instead of spinning.
    stalled: bool,
}

/// What the destination's readiness allows, seen at the top of a round.
#[derive(Clone, Copy)]
struct Ready {
    frontend: i32,
    backend: i32,
}

impl<'a> Proxy<'a> {
    fn new(
        frontend: &'a Socket,
        backend: &'a Socket,
        capture: Option<&'a Socket>,
        control: Option<&'a Socket>,
    ) -> Proxy<'a> {
        Proxy {
            frontend,
            backend,
            capture,
            control,
            same: std::ptr::eq(frontend, backend),
            state: State::Active,
            stats: ProxyStats::default(),
            held: [None, None],
            stalled: false,
        }
    }

    fn ends(&self, way: Way) -> (&'a Socket, &'a Socket) {
        match way {
            Way::Forth => (self.frontend, self.backend),
            Way::Back => (self.backend, self.frontend),
        }
    }

    fn ways(&self) -> &'static [Way] {
        if self.same {
            &[Way::Forth]
        } else {
            &[Way::Forth, Way::Back]
        }
    }

    fn run(mut self) -> Result<()> {
        loop {
            if self.steer()? {
                return Ok(());
            }
            let ready = Ready {
                frontend: self.frontend.events()?,
                backend: if self.same { 0 } else { self.backend.events()? },
            };
            if self.state == State::Active {
                let mut moved = false;
                for &way in self.ways() {
                    moved |= self.forward(way, ready)?;
                }
                if moved {
                    // More may be waiting: look again before sleeping.
                    continue;
                }
            }
            self.wait(ready)?;
        }
    }

    /// Whether `way`'s destination can take a message, by `ready`.
    fn can_send(&self, way: Way, ready: Ready) -> bool {
        if self.same {
            return true;
        }
        let to = match way {
            Way::Forth => ready.backend,
            Way::Back => ready.frontend,
        };
        to & POLLOUT != 0
    }

    fn can_recv(&self, way: Way, ready: Ready) -> bool {
        let from = match way {
            Way::Forth => ready.frontend,
            Way::Back => ready.backend,
        };
        from & POLLIN != 0
    }

    /// Moves up to [`BATCH`] whole messages one way; true if any moved.
    fn forward(&mut self, way: Way, ready: Ready) -> Result<bool> {
        if !self.can_send(way, ready) {
            return Ok(false);
        }
        let (from, to) = self.ends(way);
        let mut moved = 0;
        if let Some(first) = self.held[way as usize].take() {
            if !self.pass_first(way, first)? {
                self.stalled = true;
                return Ok(false);
            }
            self.stalled = false;
            moved += 1;
        } else if !self.can_recv(way, ready) {
            return Ok(false);
        }
        while moved < BATCH {
            // Read only what the destination can take now.
            if moved > 0 && !self.same && to.events()? & POLLOUT == 0 {
                break;
            }
            let first = match from.recv(DONTWAIT) {
                Ok(first) => first,
                Err(e) if e.kind() == ErrorKind::EAGAIN => break,
                Err(e) => return Err(e),
            };
            self.count_in(way, &first);
            self.capture(&first)?;
            if !self.pass_first(way, first)? {
                break;
            }
            moved += 1;
        }
        Ok(moved > 0)
    }

    /// Sends a message's first frame (already counted and captured) and
    /// then the rest of it. False if the destination refused the first
    /// frame: it is held for later.
    fn pass_first(&mut self, way: Way, first: Msg) -> Result<bool> {
        let (from, to) = self.ends(way);
        let more = first.more();
        let len = first.len() as u64;
        // A clone is a small copy or a reference-count bump; it is kept
        // in case the destination refuses after all.
        match to.send_msg(first.clone(), DONTWAIT | if more { SNDMORE } else { 0 }) {
            Ok(()) => self.count_out(way, len),
            Err(e) if e.kind() == ErrorKind::EAGAIN => {
                self.held[way as usize] = Some(first);
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
        let mut more = more;
        while more {
            // The rest of a message is already in the source: frames
            // arrive whole.
            let frame = from.recv(0)?;
            more = frame.more();
            self.count_in(way, &frame);
            self.capture(&frame)?;
            let len = frame.len() as u64;
            match to.send_msg(frame, DONTWAIT | if more { SNDMORE } else { 0 }) {
                Ok(()) => self.count_out(way, len),
                // After the first frame a destination refuses only if the
                // peer taking the message left mid-way (PAIR): the message
                // is lost with that peer, so drop the rest of it.
                Err(e) if e.kind() == ErrorKind::EAGAIN => {
                    while more {
                        let frame = from.recv(0)?;
                        more = frame.more();
                        self.count_in(way, &frame);
                        self.capture(&frame)?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    fn count_in(&mut self, way: Way, frame: &Msg) {
        let side = match way {
            Way::Forth => &mut self.stats.frontend,
            Way::Back => &mut self.stats.backend,
        };
        side.frames_received += 1;
        side.bytes_received += frame.len() as u64;
    }

    fn count_out(&mut self, way: Way, len: u64) {
        let side = match way {
            Way::Forth => &mut self.stats.backend,
            Way::Back => &mut self.stats.frontend,
        };
        side.frames_sent += 1;
        side.bytes_sent += len;
    }

    /// A copy of `frame`, with its MORE flag, to the capture socket.
    fn capture(&self, frame: &Msg) -> Result<()> {
        match self.capture {
            Some(capture) => {
                capture.send_msg(frame.clone(), if frame.more() { SNDMORE } else { 0 })
            }
            None => Ok(()),
        }
    }

    /// Sleeps until something can move, or a command arrives: for each
    /// direction, the source's POLLIN when the destination has room, else
    /// the destination's POLLOUT.
    fn wait(&self, ready: Ready) -> Result<()> {
        let (mut front, mut back) = (0, 0);
        if self.state == State::Active {
            for &way in self.ways() {
                let blocked = self.held[way as usize].is_some() || !self.can_send(way, ready);
                let (source, destination) = match way {
                    Way::Forth => (&mut front, &mut back),
                    Way::Back => (&mut back, &mut front),
                };
                if blocked {
                    *destination |= POLLOUT;
                } else {
                    *source |= POLLIN;
                }
            }
        }
        if self.same {
            front |= back;
            back = 0;
        }
        let mut items = Vec::with_capacity(3);
        if front != 0 {
            items.push(PollItem::new(self.frontend, front));
        }
        if back != 0 {
            items.push(PollItem::new(self.backend, back));
        }
        if let Some(control) = self.control {
            items.push(PollItem::new(control, POLLIN));
        }
        if items.is_empty() {
            // Paused with no way to resume cannot happen (pausing needs a
            // control socket); never spin if it did.
            return Err(Error::inval("proxy has nothing to wait for"));
        }
        let timeout = if self.stalled { 1 } else { -1 };
        poll(&mut items, timeout).map(|_| ())
    }

    /// Handles every command waiting on the control socket; true on
    /// TERMINATE.
    fn steer(&mut self) -> Result<bool> {
        let Some(control) = self.control else {
            return Ok(false);
        };
        loop {
            let command = match control.recv_multipart_msgs(DONTWAIT) {
                Ok(parts) => parts,
                Err(e) if e.kind() == ErrorKind::EAGAIN => return Ok(false),
                Err(e) => return Err(e),
            };
            let word: &[u8] = match command.as_slice() {
                [one] => one,
                _ => b"",
            };
            let mut terminate = false;
            match word {
                b"PAUSE" => self.state = State::Paused,
                b"RESUME" => self.state = State::Active,
                b"TERMINATE" => terminate = true,
                b"STATISTICS" => {
                    let values = self.stats.values();
                    for (i, v) in values.iter().enumerate() {
                        let flags = if i + 1 < values.len() { SNDMORE } else { 0 };
                        control.send(&v.to_ne_bytes(), flags)?;
                    }
                    continue;
                }
                _ => {}
            }
            if control.socket_type() == SocketType::Rep {
                control.send(Msg::new(), 0)?;
            }
            if terminate {
                return Ok(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_round_trip_in_reply_order() {
        let stats = ProxyStats {
            frontend: SideStats {
                frames_received: 1,
                bytes_received: 2,
                frames_sent: 3,
                bytes_sent: 4,
            },
            backend: SideStats {
                frames_received: 5,
                bytes_received: 6,
                frames_sent: 7,
                bytes_sent: 8,
            },
        };
        assert_eq!(stats.values(), [1, 2, 3, 4, 5, 6, 7, 8]);
        let frames: Vec<[u8; 8]> = stats.values().iter().map(|v| v.to_ne_bytes()).collect();
        assert_eq!(ProxyStats::from_frames(&frames).unwrap(), stats);
        assert_eq!(
            ProxyStats::from_frames(&frames[..7]).unwrap_err().kind(),
            ErrorKind::EINVAL
        );
        let mut short = frames.iter().map(|f| f.to_vec()).collect::<Vec<_>>();
        short[3].pop();
        assert_eq!(
            ProxyStats::from_frames(&short).unwrap_err().kind(),
            ErrorKind::EINVAL
        );
    }

    #[test]
    fn device_kinds_have_libzmq_numbers() {
        for (kind, raw) in [
            (DeviceKind::Streamer, 1),
            (DeviceKind::Forwarder, 2),
            (DeviceKind::Queue, 3),
        ] {
            assert_eq!(kind.to_raw(), raw);
            assert_eq!(DeviceKind::from_raw(raw), Some(kind));
        }
        assert_eq!(DeviceKind::from_raw(0), None);
        assert_eq!(DeviceKind::from_raw(4), None);
    }
}
