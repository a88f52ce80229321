//! The engine: one tcp or ipc stream driven through a ferromq-proto `Connection`,
//! moving messages between the stream and the socket's pipes in batches.

use super::EnginePipes;
use crate::msg::Msg;
use crate::options::MechanismKind;
use crate::options::Options;
use crate::pipe::ReadState;
use crate::socket::SocketLink;
use crate::stats::PeerShared;
use ferromq_proto::{
    Command, Connection, ConnectionOptions, CurveClient, CurveKeyPair, CurveServer, Event,
    LocalProperties, Mechanism, NullMechanism, PeerInfo, PlainClient, PlainServer, SocketType,
    ZapContext, ZapReply, ZapRequest, MAX_HEADER_LEN, MAX_READ_CHUNK, ZERO_COPY_THRESHOLD,
};
use std::io::{IoSlice, Read, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Output is flushed to the kernel once this much is queued.
const OUTPUT_BATCH: usize = 256 * 1024;
/// Messages shorter than this are copied straight out of the read buffer
/// (short frames only, whose size fits the one-byte header).
const SMALL_MESSAGE: usize = 256;
/// A frame body at least this large makes the next reads go straight into
/// the connection's buffer (see `Engine::large_reads`).
const LARGE_FRAME: usize = 32 * 1024;
/// The most room made for a next large frame before it has arrived. The
/// frame it is sized on did arrive whole (a peer cannot make us reserve
/// what it has not sent); a larger one grows the buffer as it comes.
const LARGE_READ_CAP: usize = 4 * MAX_READ_CHUNK;
/// Work done per wake-up before yielding to other engines.
const ROUNDS_PER_SERVICE: usize = 16;

/// Whether the engines of a socket of this type write through (see
/// [`Engine::write_through`]): REQ and REP, which send one message and
/// then wait for the answer, so nothing queued behind it could share its
/// write.
pub(crate) fn writes_through(socket_type: SocketType) -> bool {
    matches!(socket_type, SocketType::Req | SocketType::Rep)
}

/// Why an engine stopped.
#[derive(Debug)]
pub(crate) enum Closed {
    /// The connection failed or the peer closed it (the errno; EPIPE when
    /// the peer closed).
    Io(i32),
    /// The peer broke the protocol.
    Protocol(ferromq_proto::ProtocolError),
    /// The handshake or a heartbeat did not come in time.
    Timeout,
    /// The socket is gone and everything it queued was written.
    Drained,
    /// Closed on our side (unbind, disconnect, close, linger expiry).
    Local,
}

const EPIPE: i32 = 32;
const EIO: i32 = 5;

fn io_error(e: &std::io::Error) -> Closed {
    Closed::Io(e.raw_os_error().unwrap_or(EIO))
}

pub(crate) struct Engine {
    pub(crate) stream: super::stream::Stream,
    conn: Connection,
    pub(crate) socket: Arc<SocketLink>,
    /// Present once the handshake completed (bind side) or from the start
    /// (connect side).
    pub(crate) pipes: Option<EnginePipes>,
    /// Waiting for the non-blocking connect to finish.
    pub(crate) connecting: bool,
    readable: bool,
    writable: bool,
    /// The peer's FIN (or an error) was reported: read until the stream
    /// says so, as no further readiness edge will come for it.
    read_closed: bool,
    /// The socket's inbound pipe is at its HWM: stop reading.
    input_blocked: bool,
    /// Inbound message in progress (its first frame passed the HWM check).
    mid_message_in: bool,
    pub(crate) peer: Option<PeerInfo>,
    /// The socket closed: finish writing what it queued, then stop.
    pub(crate) draining: bool,
    /// Distinguishes this engine from a later one reusing its token, so a
    /// timer set for it never fires on another.
    pub(crate) serial: u64,
    /// The endpoint, for monitor events: as bound, or as given to connect.
    pub(crate) endpoint: Arc<str>,
    /// Heartbeat settings (ms; 0 = off) and the TTL to announce in PINGs.
    pub(crate) heartbeat_ivl: u64,
    heartbeat_timeout: u64,
    heartbeat_ttl_ds: u16,
    /// When the peer must have sent something by (after our PING, or per
    /// the TTL of its PING); anything received clears it.
    pub(crate) deadline: Option<Instant>,
    /// A deadline was set since the reactor last looked: it must arm a
    /// timer for it.
    pub(crate) deadline_armed: bool,
    /// The connection's counters, once it has a pipe to the socket.
    pub(crate) peer_counters: Option<Arc<PeerShared>>,
    /// The reactor entry of this engine's ZAP request, while it waits.
    pub(crate) zap_token: Option<mio::Token>,
    /// ZAP_ENFORCE_DOMAIN: refuse peers when no ZAP handler is bound.
    pub(crate) zap_enforce: bool,
    /// Why a write-through failed, for the reactor's next service.
    failed: Option<Closed>,
    /// The room to make for each read while large frames arrive (the last
    /// one's size with its header, at most `LARGE_READ_CAP`), or 0. Their
    /// reads then go straight into the connection's buffer, with room for
    /// a whole frame like the last: through the scratch buffer, every octet
    /// of a 64 KiB frame was copied once more, and the buffer's growth to
    /// the frame's size copied the first read's octets again. Small frames
    /// go back to the scratch buffer, so an idle connection keeps no large
    /// buffer.
    large_reads: usize,
}

/// The security mechanism the socket's options ask for, in its role.
fn mechanism_for(
    options: &Options,
    local: LocalProperties,
    stream: &super::stream::Stream,
) -> Box<dyn Mechanism> {
    let sec = &options.security;
    // ZAP's Address: the peer's IP for tcp, empty for ipc (as libzmq).
    let zap = || {
        let address = match stream {
            super::stream::Stream::Tcp(s) => s
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default(),
            super::stream::Stream::Unix(_) => String::new(),
        };
        ZapContext::new(sec.zap_domain.clone(), address)
    };
    match (sec.mechanism, sec.as_server) {
        // libzmq asks ZAP about NULL peers once a ZAP domain is set.
        (MechanismKind::Null, _) if !sec.zap_domain.is_empty() => {
            Box::new(NullMechanism::new(local).with_zap(zap()))
        }
        (MechanismKind::Null, _) => Box::new(NullMechanism::new(local)),
        (MechanismKind::Plain, true) => Box::new(PlainServer::new(local).with_zap(zap())),
        (MechanismKind::Plain, false) => {
            // The options accept at most 255 bytes each: what PLAIN takes.
            match PlainClient::new(
                local.clone(),
                sec.plain_username.clone(),
                sec.plain_password.clone(),
            ) {
                Ok(m) => Box::new(m),
                Err(_) => Box::new(NullMechanism::new(local)),
            }
        }
        (MechanismKind::Curve, true) => Box::new(
            CurveServer::new(local, CurveKeyPair::from_secret(sec.curve_secret)).with_zap(zap()),
        ),
        (MechanismKind::Curve, false) => Box::new(CurveClient::new(
            local,
            CurveKeyPair::from_parts(sec.curve_public, sec.curve_secret),
            sec.curve_server_key,
        )),
    }
}

/// What the reactor must do after servicing an engine.
pub(crate) enum Progress {
    /// Nothing more until the next readiness event or wake.
    Idle,
    /// Work remains: service again soon (fairness cap was hit).
    More,
    /// The handshake just completed.
    HandshakeDone(PeerInfo),
    /// The mechanism asks the ZAP handler about the peer; the reactor
    /// answers with [`Engine::zap_reply`].
    Zap(ZapRequest),
}

impl Engine {
    pub(crate) fn new(
        stream: super::stream::Stream,
        socket: Arc<SocketLink>,
        options: &Options,
        pipes: Option<EnginePipes>,
        connecting: bool,
        endpoint: Arc<str>,
    ) -> Engine {
        let local = LocalProperties {
            socket_type: socket.socket_type,
            identity: options.routing_id.clone(),
            extra: Default::default(),
        };
        let mechanism = mechanism_for(options, local, &stream);
        let conn = Connection::new(
            mechanism,
            ConnectionOptions {
                max_frame_size: u64::try_from(options.maxmsgsize).ok(),
            },
        );
        Engine {
            stream,
            conn,
            socket,
            pipes,
            connecting,
            readable: false,
            writable: false,
            read_closed: false,
            input_blocked: false,
            mid_message_in: false,
            peer: None,
            draining: false,
            serial: super::next_id(),
            endpoint,
            heartbeat_ivl: options.heartbeat_ivl.max(0) as u64,
            heartbeat_timeout: match options.heartbeat_timeout {
                -1 => options.heartbeat_ivl.max(0) as u64,
                t => t.max(0) as u64,
            },
            heartbeat_ttl_ds: (options.heartbeat_ttl.max(0) / 100).min(i32::from(u16::MAX)) as u16,
            deadline: None,
            deadline_armed: false,
            peer_counters: None,
            zap_token: None,
            zap_enforce: options.security.zap_enforce_domain,
            failed: None,
            large_reads: 0,
        }
    }

    /// The ZAP handler's verdict (or [`ZapReply::no_handler`]) on the
    /// request this engine's mechanism made.
    pub(crate) fn zap_reply(&mut self, reply: ZapReply) -> Result<(), Closed> {
        self.conn.zap_reply(reply).map_err(Closed::Protocol)
    }

    /// Sends a heartbeat PING, and expects to hear from the peer within
    /// HEARTBEAT_TIMEOUT.
    pub(crate) fn send_ping(&mut self) {
        let ping = Command::Ping {
            ttl: self.heartbeat_ttl_ds,
            context: Default::default(),
        };
        if self.conn.send_command(&ping).is_ok() && self.heartbeat_timeout > 0 {
            self.expect_by(Instant::now() + Duration::from_millis(self.heartbeat_timeout));
        }
    }

    fn expect_by(&mut self, at: Instant) {
        if self.deadline.is_none_or(|d| at < d) {
            self.deadline = Some(at);
            self.deadline_armed = true;
        }
    }

    /// The heartbeat deadline passed without a word from the peer.
    pub(crate) fn deadline_passed(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| d <= now)
    }

    /// The remote address as a URI (`tcp://10.0.0.2:5555`), if known.
    pub(crate) fn peer_address(&self) -> Option<String> {
        self.stream.peer_address()
    }

    /// Readiness from the poller (edge-triggered). `read_closed`: the
    /// peer shut its side, or the stream has an error.
    pub(crate) fn set_ready(&mut self, readable: bool, writable: bool, read_closed: bool) {
        self.readable |= readable;
        self.writable |= writable;
        self.read_closed |= read_closed;
    }

    /// The pipe from the socket has something (or the inbound one has
    /// room again).
    pub(crate) fn unblock(&mut self) {
        self.input_blocked = false;
    }

    /// Moves data both ways until nothing more can be done now.
    pub(crate) fn service(&mut self, scratch: &mut [u8]) -> Result<Progress, Closed> {
        if let Some(why) = self.failed.take() {
            return Err(why);
        }
        for _ in 0..ROUNDS_PER_SERVICE {
            let mut progressed = false;
            if let Some(peer) = self.process_input()? {
                // The caller attaches pipes, then services us again.
                return Ok(Progress::HandshakeDone(peer));
            }
            if self.peer.is_none() {
                if let Some(request) = self.conn.zap_request() {
                    return Ok(Progress::Zap(request));
                }
            }
            if self.readable && !self.input_blocked {
                progressed |= self.read_some(scratch)?;
            }
            progressed |= self.fill_output()?;
            progressed |= self.write_some()?;
            if self.draining && self.conn.output().is_empty() && self.socket_side_done() {
                return Err(Closed::Drained);
            }
            if !progressed {
                return Ok(Progress::Idle);
            }
        }
        Ok(Progress::More)
    }

    /// Encodes and writes what the socket queued, on the socket's thread,
    /// for an engine idle in the reactor. A request or reply then reaches
    /// the kernel without waking the I/O thread: per round trip and side,
    /// one eventfd write, one return from epoll_wait and one thread
    /// wake-up fewer. Returns false when the reactor must be woken instead:
    /// the engine is not one that writes through, is not past its
    /// handshake, has input to resume, or could not write all (the kernel
    /// buffer is full, the pipe closed, the write failed; a failure is
    /// kept for the reactor's next service).
    pub(crate) fn write_through(&mut self) -> bool {
        if !writes_through(self.socket.socket_type)
            || self.peer.is_none()
            || self.connecting
            || self.draining
            || self.input_blocked
            || !self.writable
            || self.failed.is_some()
        {
            return false;
        }
        let written = self.fill_output().and_then(|_| self.write_some());
        if let Err(why) = written {
            self.failed = Some(why);
            return false;
        }
        self.conn.output().is_empty() && !self.socket_side_done()
    }

    fn socket_side_done(&mut self) -> bool {
        match &mut self.pipes {
            Some(p) => p.from_socket.is_closed(),
            None => true,
        }
    }

    fn read_some(&mut self, scratch: &mut [u8]) -> Result<bool, Closed> {
        let hint = if self.large_reads > 0 {
            // The rest of the frame in progress (room for it was made with
            // its first read), or room for a next frame like the last.
            match self.conn.frame_missing() {
                0 => self.large_reads,
                missing => missing.min(MAX_READ_CHUNK),
            }
        } else {
            self.conn.read_hint()
        };
        let (read, asked) = if hint > scratch.len() || self.large_reads > 0 {
            (self.read_large(hint), hint)
        } else {
            // Reads go through the I/O thread's one scratch buffer, so an
            // idle connection keeps no read buffer of its own.
            let read = self.stream.read(scratch).inspect(|&n| {
                self.conn.recv_buf().extend_from_slice(&scratch[..n]);
            });
            (read, scratch.len())
        };
        match read {
            Ok(0) => Err(Closed::Io(EPIPE)),
            Ok(n) => {
                // The peer is alive: heartbeat deadlines are met.
                self.deadline = None;
                if let Some(c) = &self.peer_counters {
                    c.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                }
                // A short read emptied the kernel's buffer: data arriving
                // later raises a new edge, so the read that would only say
                // EAGAIN (a syscall per message in request/reply) is
                // skipped, as libzmq's level-triggered poller reads once.
                // Not after a FIN: its edge is spent, and only reading on
                // finds the end of the stream.
                if n < asked && !self.read_closed {
                    self.readable = false;
                }
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                self.readable = false;
                Ok(false)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(io_error(&e)),
        }
    }

    /// Reads part of a frame larger than the scratch buffer straight into
    /// the connection's buffer, which must hold the whole frame anyway:
    /// room for `hint` octets (the rest of the frame, at most a bounded
    /// chunk) is made once, and no octet is copied after the kernel's copy.
    /// Going through the scratch buffer cost a 1 MiB message one more copy
    /// of every octet plus the copies of growing the buffer step by step.
    #[allow(unsafe_code)]
    fn read_large(&mut self, hint: usize) -> std::io::Result<usize> {
        let buf = self.conn.recv_buf();
        buf.reserve(hint);
        let n = self
            .stream
            .read_uninit(&mut buf.spare_capacity_mut()[..hint])?;
        let filled = buf.len() + n;
        // SAFETY: `read_uninit` initialised the first `n` octets of the
        // spare capacity it was given (recv(2) wrote them), and `reserve`
        // made that capacity at least `hint` >= `n` octets, so the buffer's
        // first `filled` octets are initialised and within its capacity.
        unsafe { buf.set_len(filled) };
        Ok(n)
    }

    /// Turns buffered input into pipe messages, stopping at the HWM.
    /// Returns the peer's info when the handshake completes.
    fn process_input(&mut self) -> Result<Option<PeerInfo>, Closed> {
        loop {
            if let Some(pipes) = &mut self.pipes {
                if self.peer.is_some() && !self.mid_message_in && !pipes.to_socket.check_write() {
                    self.input_blocked = true;
                    pipes.to_socket.flush();
                    return Ok(None);
                }
            }
            if self.peer.is_some() {
                if let Some(pipes) = &mut self.pipes {
                    let mid_message = &mut self.mid_message_in;
                    let blocked = &mut self.input_blocked;
                    let large_reads = &mut self.large_reads;
                    let taken = self.conn.take_small_messages(SMALL_MESSAGE, |body, more| {
                        if !*mid_message && !pipes.to_socket.check_write() {
                            *blocked = true;
                            return false;
                        }
                        *large_reads = 0;
                        pipes.to_socket.write(Msg::copy_with_more(body, more));
                        *mid_message = more;
                        true
                    });
                    match taken {
                        Ok(false) => {}
                        Ok(true) => {
                            pipes.to_socket.flush();
                            return Ok(None);
                        }
                        Err(e) => {
                            pipes.to_socket.flush();
                            return Err(Closed::Protocol(e));
                        }
                    }
                }
            }
            let event = match self.conn.poll_event() {
                Ok(Some(ev)) => ev,
                Ok(None) => break,
                Err(e) => {
                    if let Some(p) = &mut self.pipes {
                        p.to_socket.flush();
                    }
                    return Err(Closed::Protocol(e));
                }
            };
            let msg = match event {
                Event::HandshakeComplete(peer) => {
                    self.peer = Some(peer.clone());
                    return Ok(Some(peer));
                }
                Event::Message(frame) => {
                    let more = frame.kind.more();
                    let len = frame.body.len();
                    self.large_reads = if len >= LARGE_FRAME {
                        // Room for the header too: a frame that overflowed
                        // the room by its header moved the whole frame.
                        (len + MAX_HEADER_LEN).min(LARGE_READ_CAP)
                    } else {
                        0
                    };
                    // A small body gets its own allocation: left as a slice
                    // of the read buffer, its drop in the application thread
                    // would bounce that buffer's refcount between threads on
                    // every message (and pin 64 KiB for a few bytes). A body
                    // that already has one (decrypted by CURVE) is kept.
                    if frame.body.len() < ZERO_COPY_THRESHOLD && !frame.body.is_unique() {
                        Msg::copy_with_more(&frame.body, more)
                    } else {
                        Msg::from(frame.body).with_more(more)
                    }
                }
                Event::Subscribe(topic) => Msg::subscription(&topic, true),
                Event::Cancel(topic) => Msg::subscription(&topic, false),
                // The PONG is already queued by the connection. A TTL asks
                // us to drop the peer if it then goes quiet that long.
                Event::Ping { ttl } => {
                    if ttl > 0 {
                        self.expect_by(
                            Instant::now() + Duration::from_millis(u64::from(ttl) * 100),
                        );
                    }
                    continue;
                }
                Event::Pong { .. } | Event::Command(_) => continue,
            };
            self.mid_message_in = msg.more();
            match &mut self.pipes {
                Some(pipes) => pipes.to_socket.write(msg),
                None => continue,
            }
        }
        if let Some(p) = &mut self.pipes {
            p.to_socket.flush();
        }
        Ok(None)
    }

    /// Pulls queued messages from the socket into the output batch.
    fn fill_output(&mut self) -> Result<bool, Closed> {
        if !self.conn.is_ready() {
            return Ok(false);
        }
        let Some(pipes) = &mut self.pipes else {
            return Ok(false);
        };
        let mut moved = false;
        while self.conn.output().len() < OUTPUT_BATCH {
            let msg = match pipes.from_socket.read() {
                Ok(m) => m,
                Err(ReadState::Empty | ReadState::Closed) => break,
            };
            moved = true;
            let result = if msg.is_subscribe() || msg.is_cancel() {
                self.conn.send_subscription(&msg, msg.is_subscribe())
            } else if let Some(shared) = msg.shared().filter(|b| b.len() >= ZERO_COPY_THRESHOLD) {
                // Only large bodies go by reference; cloning a small one
                // would just allocate a refcount to copy it anyway.
                self.conn.send_message_shared(shared.clone(), msg.more())
            } else {
                self.conn.send_message(&msg, msg.more())
            };
            result.map_err(Closed::Protocol)?;
        }
        Ok(moved)
    }

    fn write_some(&mut self) -> Result<bool, Closed> {
        if !self.writable || self.conn.output().is_empty() {
            return Ok(false);
        }
        let out = self.conn.output();
        let mut slices = [IoSlice::new(&[]); 64];
        let n = out.io_slices(&mut slices);
        match self.stream.write_vectored(&slices[..n]) {
            Ok(0) => Err(Closed::Io(EPIPE)),
            Ok(written) => {
                out.advance(written);
                if let Some(c) = &self.peer_counters {
                    c.bytes_out.fetch_add(written as u64, Ordering::Relaxed);
                }
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                self.writable = false;
                Ok(false)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(io_error(&e)),
        }
    }

    /// Best effort: push out whatever is queued (an ERROR command telling
    /// the peer why it is being dropped) before closing.
    pub(crate) fn flush_before_close(&mut self) {
        let out = self.conn.output();
        if !out.is_empty() {
            let chunk = out.first_chunk().to_vec();
            let _ = self.stream.write(&chunk);
        }
    }

    /// Takes the pipes back (connect side, to keep them across reconnects),
    /// dropping the unfinished inbound message.
    pub(crate) fn take_pipes(&mut self) -> Option<EnginePipes> {
        let mut pipes = self.pipes.take()?;
        // Frames of a message half-written to the dead connection: the rest
        // must not start the next connection's stream.
        pipes.from_socket.skip_partial();
        pipes.to_socket.rollback();
        pipes.to_socket.flush();
        Some(pipes)
    }
}
