//! `Socket`: what every socket type shares — options, pipes, blocking
//! send/recv with timeouts, bind/connect, close with linger.

use crate::context::CtxShared;
use crate::endpoint::{Endpoint, Port};
use crate::error::{Error, ErrorKind, Result};
use crate::inproc::{self, PeerOptions};
use crate::io::stream::Listener;
use crate::io::{ConnectTarget, EndpointId, EnginePipes, IoCmd};
use crate::mailbox::Mailbox;
use crate::monitor::{event, Monitor, MonitorHub};
use crate::msg::Msg;
use crate::options::{self, id, Options};
use crate::pattern::{new_pattern, Pattern, PipeId, PipeSet, SendError, SocketPipe};
use crate::pipe::{self, Waker};
use crate::signal::FdSignal;
use crate::stats::{PeerShared, PeerStats, SocketStats};
use bytes::Bytes;
use ferromq_proto::SocketType;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Send/recv flag: fail with `EAGAIN` instead of blocking.
pub const DONTWAIT: i32 = 1;
/// Send flag: more frames of this message follow.
pub const SNDMORE: i32 = 2;

/// Commands an I/O thread sends to a socket.
pub(crate) enum SocketCmd {
    /// A bound endpoint accepted a connection whose handshake completed.
    Attach { id: PipeId, pipe: SocketPipe },
    /// The peer behind a connect-side pipe completed a handshake.
    PeerReady {
        id: PipeId,
        routing_id: Bytes,
        reconnected: bool,
        /// None over inproc, which has no handshake.
        properties: Option<Arc<crate::msg::MessageProperties>>,
    },
    /// A bind-side connection ended: its pipe is gone.
    Detach { id: PipeId },
}

/// What the I/O threads know of a socket.
pub(crate) struct SocketLink {
    pub(crate) id: u64,
    pub(crate) socket_type: SocketType,
    pub(crate) mailbox: Arc<Mailbox<SocketCmd>>,
    /// Pipes that became readable, for patterns that want to know which
    /// (see [`ActivePipes`]).
    pub(crate) active: Arc<ActivePipes>,
    /// Where connection events go, if the socket is monitored.
    pub(crate) monitor: MonitorHub,
    /// The socket has disconnected an endpoint (RECONNECT_STOP's
    /// AFTER_DISCONNECT).
    pub(crate) disconnected: AtomicBool,
    /// Connections re-made after a loss.
    pub(crate) reconnects: AtomicU64,
    /// The context, for the I/O threads' own sockets (ZAP requests).
    pub(crate) ctx: std::sync::Weak<CtxShared>,
}

impl SocketLink {
    pub(crate) fn waker(&self) -> Waker {
        self.mailbox.clone()
    }

    /// The waker for the reading end of pipe `id`: wakes the socket, and
    /// notes the pipe as readable when the socket type tracks that.
    pub(crate) fn reader_waker(&self, id: PipeId) -> Waker {
        if !self.active.tracking {
            return self.waker();
        }
        Arc::new(PipeWake {
            id,
            active: self.active.clone(),
            mailbox: self.mailbox.clone(),
        })
    }
}

/// The pipes that turned readable since a pattern last asked (libzmq's
/// per-pipe "activate read"), so that PUB/XPUB look only at peers that
/// sent something instead of every peer on every send. Each pipe wakes its
/// reader once per empty-to-readable transition, and the pattern reads
/// a listed pipe until it is empty, so the list holds each pipe at most once.
pub(crate) struct ActivePipes {
    tracking: bool,
    list: std::sync::Mutex<Vec<PipeId>>,
    /// Set after a pipe is added to `list`: a PUB looks at the list before
    /// every message, and locking it each time (nearly always to find it
    /// empty) was 9% of a PUB's time under perf. A hint only: a pipe added
    /// just as it is cleared is taken at the next look.
    noted: std::sync::atomic::AtomicBool,
}

impl ActivePipes {
    /// For pipe sets outside a socket (unit tests): nothing is noted.
    pub(crate) fn untracked() -> ActivePipes {
        ActivePipes {
            tracking: false,
            list: std::sync::Mutex::new(Vec::new()),
            noted: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn new(socket_type: SocketType) -> ActivePipes {
        ActivePipes {
            tracking: matches!(socket_type, SocketType::Pub | SocketType::Xpub),
            list: std::sync::Mutex::new(Vec::new()),
            noted: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Takes the pipes noted since the last call into `into`; false if
    /// nothing is tracked.
    pub(crate) fn take(&self, into: &mut Vec<PipeId>) -> bool {
        if !self.tracking {
            return false;
        }
        if !self.noted.load(std::sync::atomic::Ordering::Acquire) {
            return true;
        }
        // Cleared before the list is taken: a pipe noted after this store
        // sets the flag again, so it is found now or at the next look.
        self.noted
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        into.append(&mut list);
        true
    }
}

struct PipeWake {
    id: PipeId,
    active: Arc<ActivePipes>,
    mailbox: Arc<Mailbox<SocketCmd>>,
}

impl pipe::Wake for PipeWake {
    fn wake(&self) {
        self.active
            .list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(self.id);
        self.active
            .noted
            .store(true, std::sync::atomic::Ordering::Release);
        pipe::Wake::wake(&*self.mailbox);
    }
}

enum EndpointKind {
    Bound,
    Connected { pipe: PipeId },
}

struct EndpointRecord {
    /// As the user gave it.
    given: String,
    /// As resolved (LAST_ENDPOINT form).
    resolved: String,
    id: EndpointId,
    /// The I/O thread serving it; `None` for inproc, which needs none.
    io: Option<usize>,
    kind: EndpointKind,
}

struct Inner {
    ctx: Arc<CtxShared>,
    link: Arc<SocketLink>,
    options: Options,
    pattern: Box<dyn Pattern>,
    pipes: PipeSet,
    rcvmore: bool,
    last_endpoint: String,
    endpoints: Vec<EndpointRecord>,
    /// I/O threads this socket has handed work to (told when it closes).
    io_used: Vec<usize>,
    /// Pipes whose connection ended but which still hold received
    /// messages: they leave once those are read, so nothing received is lost.
    zombies: Vec<PipeId>,
    /// A message went out since the last wait: a reply may be coming (see
    /// [`Mailbox::wait`]).
    sent_since_wait: bool,
    /// Messages and bytes through the application side.
    counts: Traffic,
    /// ZMQ_FD, once asked for (see [`Socket::fd`]).
    fd_signal: Option<Arc<FdSignal>>,
}

/// Sent and received counts, kept by the socket's own thread.
#[derive(Default)]
struct Traffic {
    messages_sent: u64,
    bytes_sent: u64,
    messages_received: u64,
    bytes_received: u64,
}

/// A ZeroMQ socket. Created by [`Context::socket`](crate::Context::socket).
///
/// A socket belongs to one thread at a time: it is `Send` (move it to
/// another thread) but not `Sync`.
///
/// ```
/// use ferromq::{Context, SocketType};
/// let ctx = Context::new();
/// let pull = ctx.socket(SocketType::Pull)?;
/// pull.bind("tcp://127.0.0.1:*")?;
/// let push = ctx.socket(SocketType::Push)?;
/// push.connect(&pull.last_endpoint()?)?;
/// push.send_multipart(["job", "42"], 0)?;
/// let parts = pull.recv_multipart(0)?;
/// assert_eq!(parts, vec![b"job".to_vec(), b"42".to_vec()]);
/// # Ok::<(), ferromq::Error>(())
/// ```
pub struct Socket {
    inner: RefCell<Inner>,
}

fn deadline(timeout_ms: i32, flags: i32) -> Option<Option<Instant>> {
    // None = do not wait at all; Some(None) = wait forever.
    if flags & DONTWAIT != 0 || timeout_ms == 0 {
        None
    } else if timeout_ms < 0 {
        Some(None)
    } else {
        Some(Some(
            Instant::now() + Duration::from_millis(timeout_ms as u64),
        ))
    }
}

impl Socket {
    pub(crate) fn new(ctx: Arc<CtxShared>, socket_type: SocketType) -> Result<Socket> {
        let pattern = new_pattern(socket_type)?;
        let link = Arc::new(SocketLink {
            id: ctx.next_id(),
            socket_type,
            mailbox: Arc::new(Mailbox::new()),
            active: Arc::new(ActivePipes::new(socket_type)),
            monitor: MonitorHub::default(),
            disconnected: AtomicBool::new(false),
            reconnects: AtomicU64::new(0),
            ctx: Arc::downgrade(&ctx),
        });
        ctx.register_socket(link.clone())?;
        let pipes = PipeSet::new(link.active.clone());
        Ok(Socket {
            inner: RefCell::new(Inner {
                ctx,
                link,
                options: Options::for_type(socket_type),
                pattern,
                pipes,
                rcvmore: false,
                last_endpoint: String::new(),
                endpoints: Vec::new(),
                io_used: Vec::new(),
                zombies: Vec::new(),
                sent_since_wait: false,
                counts: Traffic::default(),
                fd_signal: None,
            }),
        })
    }

    /// The socket type.
    pub fn socket_type(&self) -> SocketType {
        self.inner.borrow().link.socket_type
    }

    /// Accepts connections on `endpoint`: `tcp://interface:port` (port `*`
    /// or 0 for an ephemeral one), `ipc://path` (or `ipc://@name` in the
    /// abstract namespace, or `ipc://*` for a generated path), or
    /// `inproc://name`. [`last_endpoint`](Socket::last_endpoint) tells
    /// what was bound.
    pub fn bind(&self, endpoint: &str) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        inner.check_term()?;
        let bound = match Endpoint::parse(endpoint)? {
            Endpoint::Inproc(name) => return inner.bind_inproc(endpoint, &name),
            parsed @ Endpoint::Tcp { .. } => crate::io::tcp::bind(&parsed, &inner.options)
                .and_then(|listener| {
                    let resolved = crate::io::tcp::listener_endpoint(&listener)?;
                    Ok((
                        Listener::Tcp(mio::net::TcpListener::from_std(listener)),
                        resolved,
                    ))
                }),
            Endpoint::Ipc(addr) => crate::io::ipc::bind(&addr),
        };
        let (listener, resolved) = match bound {
            Ok(bound) => bound,
            Err(e) => {
                let errno = e.errno() as u32;
                inner
                    .link
                    .monitor
                    .emit(event::BIND_FAILED, errno, endpoint, None);
                return Err(e);
            }
        };
        inner
            .link
            .monitor
            .emit(event::LISTENING, listener.raw_fd(), &resolved, None);
        let id = inner.ctx.next_id();
        let io = inner.ctx.choose_io(inner.options.affinity);
        inner.ctx.io(io).send(IoCmd::Bind {
            id,
            socket: inner.link.clone(),
            options: inner.options.clone(),
            listener,
            endpoint: resolved.clone(),
        });
        inner.note_io(io);
        inner.last_endpoint = resolved.clone();
        inner.endpoints.push(EndpointRecord {
            given: endpoint.to_owned(),
            resolved,
            id,
            io: Some(io),
            kind: EndpointKind::Bound,
        });
        Ok(())
    }

    /// Connects to `endpoint` (any form [`bind`](Socket::bind) takes, with
    /// a real address or name). Returns at once: the connection is made
    /// (and remade after failures) in the background, and messages sent
    /// meanwhile are queued up to the high-water mark. An inproc connect
    /// may come before the bind.
    pub fn connect(&self, endpoint: &str) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        inner.check_term()?;
        let target = match Endpoint::parse(endpoint)? {
            Endpoint::Inproc(name) => return inner.connect_inproc(endpoint, &name),
            Endpoint::Tcp { host, port } => {
                let Port::Number(port) = port else {
                    return Err(Error::inval(format!(
                        "cannot connect to a wildcard port in {endpoint:?}"
                    )));
                };
                if host == "*" {
                    return Err(Error::inval(format!(
                        "cannot connect to a wildcard host in {endpoint:?}"
                    )));
                }
                ConnectTarget::Tcp { host, port }
            }
            Endpoint::Ipc(crate::endpoint::IpcAddr::Wildcard) => {
                return Err(Error::inval(format!(
                    "cannot connect to a wildcard ipc path in {endpoint:?}"
                )));
            }
            Endpoint::Ipc(addr) => ConnectTarget::Ipc(addr),
        };
        let io = inner.ctx.choose_io(inner.options.affinity);
        let pipe_id = inner.ctx.next_id();
        let id = inner.ctx.next_id();
        let peer = PeerShared::new(endpoint);
        // With IMMEDIATE the socket gets a pipe only once a connection
        // completes its handshake, so nothing queues for an absent peer.
        let engine_pipes = if inner.options.immediate {
            None
        } else {
            let (engine_pipes, socket_pipe) = inner.pipe_pair(pipe_id, peer.clone());
            inner.pipes.insert(pipe_id, socket_pipe);
            let Inner { pattern, pipes, .. } = &mut *inner;
            pattern.attach(pipe_id, pipes);
            Some(engine_pipes)
        };
        inner.ctx.io(io).send(IoCmd::Connect {
            id,
            socket: inner.link.clone(),
            options: inner.options.clone(),
            target,
            endpoint: endpoint.to_owned(),
            pipe_id,
            pipes: engine_pipes,
            peer,
        });
        inner.note_io(io);
        inner.last_endpoint = endpoint.to_owned();
        inner.endpoints.push(EndpointRecord {
            given: endpoint.to_owned(),
            resolved: endpoint.to_owned(),
            id,
            io: Some(io),
            kind: EndpointKind::Connected { pipe: pipe_id },
        });
        Ok(())
    }

    /// Stops accepting on an endpoint given to [`bind`](Socket::bind) (as
    /// given, or as [`last_endpoint`](Socket::last_endpoint) reported it)
    /// and closes the connections accepted through it.
    pub fn unbind(&self, endpoint: &str) -> Result<()> {
        self.remove_endpoint(endpoint, true)
    }

    /// Stops connecting to an endpoint given to [`connect`](Socket::connect)
    /// and closes that connection.
    pub fn disconnect(&self, endpoint: &str) -> Result<()> {
        self.remove_endpoint(endpoint, false)
    }

    fn remove_endpoint(&self, endpoint: &str, bound: bool) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        inner.check_term()?;
        // A wildcard bind is unbound by the address it resolved to
        // (LAST_ENDPOINT), as zmq_unbind documents: "tcp://*:*" names no
        // one endpoint.
        let wildcard = endpoint.contains('*');
        let Some(pos) = inner.endpoints.iter().position(|e| {
            matches!(e.kind, EndpointKind::Bound) == bound
                && ((e.given == endpoint && !wildcard) || e.resolved == endpoint)
        }) else {
            Endpoint::parse(endpoint)?;
            return Err(Error::new(
                ErrorKind::ENOENT,
                format!(
                    "{endpoint:?} is not {} this socket",
                    if bound { "bound on" } else { "connected from" }
                ),
            ));
        };
        let record = inner.endpoints.remove(pos);
        if !bound {
            inner.link.disconnected.store(true, Ordering::Relaxed);
        }
        if let EndpointKind::Connected { pipe } = record.kind {
            if inner.pipes.remove(pipe).is_some() {
                inner.pattern.detach(pipe);
            }
        }
        let Some(io) = record.io else {
            let name = record.resolved.trim_start_matches("inproc://");
            let ctx = inner.ctx.clone();
            match record.kind {
                EndpointKind::Bound => {
                    ctx.inproc().unbind(name, inner.link.id);
                }
                EndpointKind::Connected { pipe } => {
                    let parked = ctx.inproc().cancel_pending(name, pipe);
                    drop(parked);
                }
            }
            return Ok(());
        };
        let cmd = if bound {
            IoCmd::Unbind { id: record.id }
        } else {
            IoCmd::Disconnect { id: record.id }
        };
        inner.ctx.io(io).send(cmd);
        Ok(())
    }

    /// Sends one frame; `flags` may hold [`SNDMORE`] and [`DONTWAIT`].
    /// Blocks while no peer can take it (up to SNDTIMEO), unless DONTWAIT.
    pub fn send(&self, data: impl Into<Msg>, flags: i32) -> Result<()> {
        self.send_msg(data.into(), flags)
    }

    /// Sends one [`Msg`] (see [`send`](Socket::send)).
    pub fn send_msg(&self, msg: Msg, flags: i32) -> Result<()> {
        self.send_msg_or_return(msg, flags)
            .map_err(|(error, _)| error)
    }

    /// Like [`send_msg`](Socket::send_msg), but a message that could not
    /// be sent comes back with the error, still the caller's, as
    /// zmq_msg_send leaves it (to retry it, or send it elsewhere).
    ///
    /// ```
    /// use ferromq::{Context, ErrorKind, Msg, SocketType, DONTWAIT};
    /// let ctx = Context::new();
    /// let push = ctx.socket(SocketType::Push)?; // no peer yet
    /// let (err, back) = push.send_msg_or_return(Msg::from("job"), DONTWAIT).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::EAGAIN);
    /// assert_eq!(&back[..], b"job");
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    pub fn send_msg_or_return(&self, msg: Msg, flags: i32) -> Result<(), (Error, Msg)> {
        let mut inner = self.inner.borrow_mut();
        let result = inner.send_msg(msg, flags);
        inner.after_call();
        result
    }

    /// Sends every part as one multipart message.
    pub fn send_multipart<I, T>(&self, parts: I, flags: i32) -> Result<()>
    where
        I: IntoIterator<Item = T>,
        T: Into<Msg>,
    {
        let mut parts = parts.into_iter().peekable();
        if parts.peek().is_none() {
            return Err(Error::inval("a message needs at least one part"));
        }
        while let Some(part) = parts.next() {
            let more = if parts.peek().is_some() { SNDMORE } else { 0 };
            self.send_msg(part.into(), (flags & !SNDMORE) | more)?;
        }
        Ok(())
    }

    /// Receives one frame. Blocks until one arrives (up to RCVTIMEO), unless
    /// [`DONTWAIT`]. [`Msg::more`] (or [`get_rcvmore`](Socket::get_rcvmore))
    /// tells whether more frames of the message follow.
    pub fn recv(&self, flags: i32) -> Result<Msg> {
        let mut inner = self.inner.borrow_mut();
        let result = inner.recv(flags);
        inner.after_call();
        result
    }

    /// Like [`recv`](Socket::recv), also giving the properties of the
    /// connection the frame came in on (see
    /// [`MessageProperties`](crate::MessageProperties)); None
    /// for inproc peers and for frames the socket made itself.
    pub fn recv_with_properties(
        &self,
        flags: i32,
    ) -> Result<(Msg, Option<Arc<crate::msg::MessageProperties>>)> {
        let mut inner = self.inner.borrow_mut();
        let result = inner.recv(flags).map(|msg| {
            let props = inner
                .pattern
                .last_recv_pipe()
                .and_then(|id| inner.pipes.get_mut(id))
                .and_then(|pipe| pipe.properties.clone());
            (msg, props)
        });
        inner.after_call();
        result
    }

    /// Receives a whole multipart message, as byte vectors.
    pub fn recv_multipart(&self, flags: i32) -> Result<Vec<Vec<u8>>> {
        Ok(self
            .recv_multipart_msgs(flags)?
            .into_iter()
            .map(|m| m.to_vec())
            .collect())
    }

    /// Receives a whole multipart message, as frames (no copies).
    pub fn recv_multipart_msgs(&self, flags: i32) -> Result<Vec<Msg>> {
        let mut parts = vec![self.recv(flags)?];
        // The rest of a message is already here: frames arrive whole.
        while parts.last().is_some_and(Msg::more) {
            parts.push(self.recv(flags & !DONTWAIT)?);
        }
        Ok(parts)
    }

    /// Whether the last frame received had more frames following.
    pub fn get_rcvmore(&self) -> Result<bool> {
        Ok(self.inner.borrow().rcvmore)
    }

    /// The endpoint last bound or connected; for a bind to port `*`, the
    /// real port (`tcp://127.0.0.1:41234`).
    pub fn last_endpoint(&self) -> Result<String> {
        Ok(self.inner.borrow().last_endpoint.clone())
    }

    /// [`POLLIN`](crate::POLLIN) | [`POLLOUT`](crate::POLLOUT) readiness
    /// (ZMQ_EVENTS).
    pub fn events(&self) -> Result<i32> {
        let mut inner = self.inner.borrow_mut();
        inner.check_term()?;
        inner.process_commands();
        let Inner { pattern, pipes, .. } = &mut *inner;
        let mut events = 0;
        if pattern.has_in(pipes) {
            events |= options::POLLIN;
        }
        if pattern.has_out(pipes) {
            events |= options::POLLOUT;
        }
        inner.after_call();
        Ok(events)
    }

    /// A file descriptor for event loops (ZMQ_FD): poll it for
    /// readability (epoll, mio, tokio's `AsyncFd`) and you will not miss
    /// work on this socket. The rule, stronger than libzmq's:
    ///
    /// - While a message is waiting to be received, the descriptor is
    ///   readable. Every [`recv`](Socket::recv), [`send`](Socket::send)
    ///   and [`events`](Socket::events) clears it and sets it again at
    ///   once if a message is still waiting, so reading one message and
    ///   going back to the loop is safe: no edge is ever lost to messages
    ///   that arrived while you were not looking.
    /// - After a send failed with `EAGAIN`, the descriptor turns readable
    ///   when the socket may have room again.
    /// - It may be readable with nothing to do (call `events()` to know);
    ///   never read from or write to it yourself.
    ///
    /// ```
    /// use ferromq::{Context, SocketType, DONTWAIT};
    /// let ctx = Context::new();
    /// let pull = ctx.socket(SocketType::Pull)?;
    /// pull.bind("inproc://fd-doc")?;
    /// let fd = pull.fd()?; // register with epoll / AsyncFd for READABLE
    /// let push = ctx.socket(SocketType::Push)?;
    /// push.connect("inproc://fd-doc")?;
    /// push.send("hello", 0)?;
    /// // ... the loop sees `fd` readable, then:
    /// while let Ok(msg) = pull.recv(DONTWAIT) {
    ///     assert_eq!(&msg[..], b"hello");
    /// }
    /// # let _ = fd;
    /// # Ok::<(), ferromq::Error>(())
    /// ```
    pub fn fd(&self) -> Result<std::os::fd::RawFd> {
        let mut inner = self.inner.borrow_mut();
        inner.check_term()?;
        if inner.fd_signal.is_none() {
            let signal = Arc::new(
                FdSignal::new().map_err(|e| Error::from_io(&e, "cannot create the socket's fd"))?,
            );
            inner.link.mailbox.watch(signal.clone());
            inner.fd_signal = Some(signal);
            inner.process_commands();
            inner.after_call();
        }
        Ok(inner.fd_signal.as_ref().map_or(-1, |s| s.fd()))
    }

    /// Sets an option by its libzmq number and raw value (ints are 4 bytes
    /// native-endian, MAXMSGSIZE 8 bytes). A wrong size or value is EINVAL.
    pub fn set_option_raw(&self, option: i32, value: &[u8]) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        inner.check_term()?;
        if inner.options.set_raw(option, value)? {
            return Ok(());
        }
        inner.process_commands();
        let Inner { pattern, pipes, .. } = &mut *inner;
        if pattern.set_option(option, value, pipes)? {
            return Ok(());
        }
        Err(Error::inval(format!(
            "option {option} is not supported by {} sockets",
            inner.link.socket_type
        )))
    }

    /// Reads an option by its libzmq number, in its raw encoding.
    pub fn get_option_raw(&self, option: i32) -> Result<Vec<u8>> {
        if option == id::EVENTS {
            return Ok(self.events()?.to_ne_bytes().to_vec());
        }
        if option == id::FD {
            return Ok(self.fd()?.to_ne_bytes().to_vec());
        }
        let inner = self.inner.borrow();
        let int = |v: i32| Ok(v.to_ne_bytes().to_vec());
        match option {
            id::TYPE => return int(inner.link.socket_type.to_raw()),
            id::RCVMORE => return int(i32::from(inner.rcvmore)),
            id::LAST_ENDPOINT => {
                let mut v = inner.last_endpoint.clone().into_bytes();
                v.push(0);
                return Ok(v);
            }
            _ => {}
        }
        if let Some(v) = inner.options.get_raw(option) {
            return Ok(v);
        }
        inner.pattern.get_option(option).ok_or_else(|| {
            Error::inval(format!(
                "option {option} is not supported by {} sockets",
                inner.link.socket_type
            ))
        })
    }

    fn set_int(&self, option: i32, value: i32) -> Result<()> {
        self.set_option_raw(option, &value.to_ne_bytes())
    }

    fn get_int(&self, option: i32) -> Result<i32> {
        let raw = self.get_option_raw(option)?;
        options::int_value(option, &raw)
    }

    /// SNDHWM: most whole messages queued per peer for sending (0 = no limit).
    pub fn set_sndhwm(&self, value: i32) -> Result<()> {
        self.set_int(id::SNDHWM, value)
    }
    /// See [`set_sndhwm`](Socket::set_sndhwm).
    pub fn sndhwm(&self) -> Result<i32> {
        self.get_int(id::SNDHWM)
    }
    /// RCVHWM: most whole messages queued per peer on receipt (0 = no limit).
    pub fn set_rcvhwm(&self, value: i32) -> Result<()> {
        self.set_int(id::RCVHWM, value)
    }
    /// See [`set_rcvhwm`](Socket::set_rcvhwm).
    pub fn rcvhwm(&self) -> Result<i32> {
        self.get_int(id::RCVHWM)
    }
    /// CONFLATE: keep only the latest message in each queue, ignoring the
    /// HWMs (PUSH, PULL, PUB, SUB, DEALER; other types accept it to no
    /// effect). Multipart messages are not supported: of an unread one only
    /// the last frame is kept. Set it before `bind` and `connect`: endpoints
    /// bound or connected earlier keep queueing.
    pub fn set_conflate(&self, value: bool) -> Result<()> {
        self.set_int(id::CONFLATE, i32::from(value))
    }
    /// See [`set_conflate`](Socket::set_conflate).
    pub fn conflate(&self) -> Result<bool> {
        Ok(self.get_int(id::CONFLATE)? != 0)
    }
    /// LINGER in ms: how long close waits for queued messages to leave
    /// (-1 forever, the default; 0 discard at once).
    pub fn set_linger(&self, value: i32) -> Result<()> {
        self.set_int(id::LINGER, value)
    }
    /// See [`set_linger`](Socket::set_linger).
    pub fn linger(&self) -> Result<i32> {
        self.get_int(id::LINGER)
    }
    /// RCVTIMEO in ms (-1 block forever, 0 never block).
    pub fn set_rcvtimeo(&self, value: i32) -> Result<()> {
        self.set_int(id::RCVTIMEO, value)
    }
    /// See [`set_rcvtimeo`](Socket::set_rcvtimeo).
    pub fn rcvtimeo(&self) -> Result<i32> {
        self.get_int(id::RCVTIMEO)
    }
    /// SNDTIMEO in ms (-1 block forever, 0 never block).
    pub fn set_sndtimeo(&self, value: i32) -> Result<()> {
        self.set_int(id::SNDTIMEO, value)
    }
    /// See [`set_sndtimeo`](Socket::set_sndtimeo).
    pub fn sndtimeo(&self) -> Result<i32> {
        self.get_int(id::SNDTIMEO)
    }
    /// ROUTING_ID announced to peers (1-255 bytes, not starting with 0).
    pub fn set_routing_id(&self, value: &[u8]) -> Result<()> {
        self.set_option_raw(id::ROUTING_ID, value)
    }
    /// See [`set_routing_id`](Socket::set_routing_id).
    pub fn routing_id(&self) -> Result<Vec<u8>> {
        self.get_option_raw(id::ROUTING_ID)
    }
    /// SUB/XSUB: subscribe to messages starting with `prefix` ("" = all).
    pub fn set_subscribe(&self, prefix: &[u8]) -> Result<()> {
        self.set_option_raw(id::SUBSCRIBE, prefix)
    }
    /// SUB/XSUB: cancel one subscription to `prefix`.
    pub fn set_unsubscribe(&self, prefix: &[u8]) -> Result<()> {
        self.set_option_raw(id::UNSUBSCRIBE, prefix)
    }
    /// RECONNECT_IVL in ms (-1 = never reconnect).
    pub fn set_reconnect_ivl(&self, value: i32) -> Result<()> {
        self.set_int(id::RECONNECT_IVL, value)
    }
    /// RECONNECT_IVL_MAX in ms (0 = no exponential back-off).
    pub fn set_reconnect_ivl_max(&self, value: i32) -> Result<()> {
        self.set_int(id::RECONNECT_IVL_MAX, value)
    }
    /// MAXMSGSIZE: largest frame accepted from a peer (-1 = no limit); a peer
    /// sending more is disconnected.
    pub fn set_maxmsgsize(&self, value: i64) -> Result<()> {
        self.set_option_raw(id::MAXMSGSIZE, &value.to_ne_bytes())
    }
    /// ROUTER: fail unroutable sends with EHOSTUNREACH instead of dropping.
    pub fn set_router_mandatory(&self, value: bool) -> Result<()> {
        self.set_int(id::ROUTER_MANDATORY, i32::from(value))
    }
    /// SNDBUF: kernel send buffer size in bytes (-1 = OS default).
    pub fn set_sndbuf(&self, value: i32) -> Result<()> {
        self.set_int(id::SNDBUF, value)
    }
    /// RCVBUF: kernel receive buffer size in bytes (-1 = OS default).
    pub fn set_rcvbuf(&self, value: i32) -> Result<()> {
        self.set_int(id::RCVBUF, value)
    }
    /// BACKLOG: pending-connection queue length of bound endpoints.
    pub fn set_backlog(&self, value: i32) -> Result<()> {
        self.set_int(id::BACKLOG, value)
    }
    /// IPV6: allow IPv6 (binding `*` then listens on both stacks).
    pub fn set_ipv6(&self, value: bool) -> Result<()> {
        self.set_int(id::IPV6, i32::from(value))
    }
    /// XPUB_VERBOSE: pass every subscription up, not only new ones.
    pub fn set_xpub_verbose(&self, value: bool) -> Result<()> {
        self.set_int(id::XPUB_VERBOSE, i32::from(value))
    }

    /// A snapshot of the socket's counters: messages and bytes sent and
    /// received, and messages dropped with the reason (see [`crate::stats`]).
    pub fn stats(&self) -> Result<SocketStats> {
        let mut inner = self.inner.borrow_mut();
        inner.process_commands();
        let c = &inner.counts;
        let mut stats = SocketStats {
            messages_sent: c.messages_sent,
            bytes_sent: c.bytes_sent,
            messages_received: c.messages_received,
            bytes_received: c.bytes_received,
            ..SocketStats::default()
        };
        stats.dropped = inner.pipes.drop_counts();
        stats.reconnects = inner.link.reconnects.load(Ordering::Relaxed);
        let ids: Vec<PipeId> = inner.pipes.ids().collect();
        for id in ids {
            let Some(pipe) = inner.pipes.get_mut(id) else {
                continue;
            };
            let (messages_out, queued_out) = pipe.writer.message_counts();
            let peer = &pipe.peer;
            let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
            let p = PeerStats {
                endpoint: peer.endpoint.clone(),
                peer_address: peer
                    .address
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone(),
                routing_id: pipe.routing_id.to_vec(),
                connected: peer.connected.load(Ordering::Relaxed)
                    && !pipe.writer.is_reader_closed(),
                messages_out,
                messages_in: pipe.reader.messages_read(),
                queued_in: pipe.reader.waiting(),
                bytes_out: load(&peer.bytes_out),
                bytes_in: load(&peer.bytes_in),
                queued_out,
                reconnects: load(&peer.reconnects),
            };
            stats.peers.push(p);
        }
        stats.peers.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        Ok(stats)
    }

    /// Starts monitoring the socket's connection events (a mask of
    /// [`event`](crate::monitor::event) numbers) and returns their queue.
    /// A socket has one monitor at a time: a new one (or
    /// [`monitor_stop`](Socket::monitor_stop)) ends the previous one,
    /// whose last event is MONITOR_STOPPED if it asked for that.
    pub fn monitor(&self, events: u16) -> Result<Monitor> {
        let inner = self.inner.borrow();
        inner.check_term()?;
        Ok(inner.link.monitor.start_queue(events))
    }

    /// Like zmq_socket_monitor: publishes the socket's events (a mask of
    /// [`event`](crate::monitor::event) numbers) on a PAIR socket bound to
    /// `endpoint`, which must be `inproc://`. Each event is two frames:
    /// 6 bytes (the 16-bit event number and its 32-bit value, native
    /// endian), then the endpoint. Connect a PAIR socket to read them.
    pub fn monitor_to(&self, endpoint: &str, events: u16) -> Result<()> {
        let inner = self.inner.borrow();
        inner.check_term()?;
        if !endpoint.contains("://") {
            return Err(Error::inval(format!(
                "a monitor endpoint must be inproc://name, got {endpoint:?}"
            )));
        }
        if !endpoint.starts_with("inproc://") {
            return Err(Error::new(
                ErrorKind::EPROTONOSUPPORT,
                format!("a monitor endpoint must be inproc://, got {endpoint:?}"),
            ));
        }
        let pair = Socket::new(inner.ctx.clone(), SocketType::Pair)?;
        pair.bind(endpoint)?;
        inner.link.monitor.start_pair(pair, events);
        Ok(())
    }

    /// Stops monitoring (see [`monitor`](Socket::monitor)).
    pub fn monitor_stop(&self) {
        self.inner.borrow().link.monitor.stop();
    }

    /// For an async receive that found nothing: if this socket sent since
    /// it last waited and its peers are inproc (a reply may be µs away),
    /// watches for a wake-up for a few µs, as a blocking receive does
    /// before it sleeps; true if one came, so receiving again is worth it.
    pub(crate) fn spin_for_reply(&self) -> bool {
        let mut inner = self.inner.borrow_mut();
        std::mem::take(&mut inner.sent_since_wait)
            && inner.may_spin()
            && inner.link.mailbox.spin_for_next_wake()
    }

    pub(crate) fn watch(&self, waker: Waker) {
        self.inner.borrow().link.mailbox.watch(waker);
    }

    pub(crate) fn unwatch(&self, waker: &Waker) {
        self.inner.borrow().link.mailbox.unwatch(waker);
    }

    /// Closes the socket (same as dropping it): queued messages keep
    /// leaving for up to LINGER.
    pub fn close(self) {}
}

impl Inner {
    /// Whether waiting for a reply may spin first (see
    /// [`PipeSet::all_inproc`]).
    fn may_spin(&self) -> bool {
        self.pipes.all_inproc()
    }

    /// See [`Socket::send_msg`].
    fn send_msg(&mut self, mut msg: Msg, flags: i32) -> Result<(), (Error, Msg)> {
        let inner = self;
        if let Err(error) = inner.check_term() {
            return Err((error, msg));
        }
        msg.set_more(flags & SNDMORE != 0);
        let (len, last) = (msg.len() as u64, !msg.more());
        inner.process_commands();
        // The deadline is computed at the first wait: reading the clock on
        // every call showed in the profile.
        let mut wait = None;
        loop {
            let Inner { pattern, pipes, .. } = &mut *inner;
            match pattern.send(msg, pipes) {
                Ok(()) => {
                    inner.sent_since_wait = true;
                    inner.counts.bytes_sent += len;
                    inner.counts.messages_sent += u64::from(last);
                    return Ok(());
                }
                Err(SendError { error, msg: back }) => {
                    if error.kind() != ErrorKind::EAGAIN {
                        return Err((error, back));
                    }
                    let timeout = inner.options.sndtimeo;
                    let Some(until) = *wait.get_or_insert_with(|| deadline(timeout, flags)) else {
                        return Err((error, back));
                    };
                    msg = back;
                    if let Err(error) = inner.wait(until, false, "send timed out (SNDTIMEO)") {
                        return Err((error, msg));
                    }
                }
            }
        }
    }

    /// See [`Socket::recv`].
    fn recv(&mut self, flags: i32) -> Result<Msg> {
        let inner = self;
        inner.check_term()?;
        inner.process_commands();
        let mut wait = None;
        loop {
            let Inner { pattern, pipes, .. } = &mut *inner;
            match pattern.recv(pipes) {
                Ok(msg) => {
                    inner.rcvmore = msg.more();
                    inner.counts.bytes_received += msg.len() as u64;
                    inner.counts.messages_received += u64::from(!msg.more());
                    return Ok(msg);
                }
                Err(error) => {
                    if error.kind() != ErrorKind::EAGAIN {
                        return Err(error);
                    }
                    let timeout = inner.options.rcvtimeo;
                    let Some(until) = *wait.get_or_insert_with(|| deadline(timeout, flags)) else {
                        return Err(error);
                    };
                    inner.wait(until, true, "receive timed out (RCVTIMEO)")?;
                }
            }
        }
    }

    /// Keeps the ZMQ_FD rule (see [`Socket::fd`]): after every call the
    /// descriptor is readable exactly when a message is waiting (or
    /// something woke the socket since).
    fn after_call(&mut self) {
        let Some(signal) = &self.fd_signal else {
            return;
        };
        signal.clear();
        let Inner { pattern, pipes, .. } = self;
        if pattern.has_in(pipes) {
            signal.raise();
        }
    }

    /// What an inproc peer learns of this socket.
    fn peer_options(&self) -> PeerOptions {
        PeerOptions {
            socket_type: self.link.socket_type,
            sndhwm: self.options.sndhwm,
            rcvhwm: self.options.rcvhwm,
            conflate: self.options.conflate,
            routing_id: self.options.routing_id.clone(),
        }
    }

    fn bind_inproc(&mut self, endpoint: &str, name: &str) -> Result<()> {
        let ctx = self.ctx.clone();
        let accepted = ctx
            .inproc()
            .bind(name, &self.link, self.peer_options(), || ctx.next_id())
            .map_err(|()| {
                Error::new(
                    ErrorKind::EADDRINUSE,
                    format!("{endpoint} is already bound in this context"),
                )
            })?;
        for (id, accepted) in accepted {
            self.pipes.insert(id, accepted.pipe);
            self.pattern.attach(id, &mut self.pipes);
            self.pattern.peer_ready(id, &mut self.pipes, false);
            if accepted.connector_gone {
                self.zombies.push(id);
            }
        }
        self.record_inproc(endpoint, EndpointKind::Bound);
        Ok(())
    }

    fn connect_inproc(&mut self, endpoint: &str, name: &str) -> Result<()> {
        let ctx = self.ctx.clone();
        let pipe_id = ctx.next_id();
        let outcome = ctx.inproc().connect(
            name,
            &self.link,
            self.peer_options(),
            pipe_id,
            ctx.next_id(),
        );
        match outcome {
            inproc::Connected::Joined(pipe) => {
                self.pipes.insert(pipe_id, pipe);
                self.pattern.attach(pipe_id, &mut self.pipes);
                self.pattern.peer_ready(pipe_id, &mut self.pipes, false);
            }
            inproc::Connected::Waiting(pipe) => {
                self.pipes.insert(pipe_id, pipe);
                self.pattern.attach(pipe_id, &mut self.pipes);
            }
            inproc::Connected::Incompatible => {}
        }
        self.record_inproc(endpoint, EndpointKind::Connected { pipe: pipe_id });
        Ok(())
    }

    fn record_inproc(&mut self, endpoint: &str, kind: EndpointKind) {
        self.last_endpoint = endpoint.to_owned();
        self.endpoints.push(EndpointRecord {
            given: endpoint.to_owned(),
            resolved: endpoint.to_owned(),
            id: self.ctx.next_id(),
            io: None,
            kind,
        });
    }

    fn check_term(&self) -> Result<()> {
        if self.ctx.is_terminated() {
            return Err(Error::term());
        }
        Ok(())
    }

    fn note_io(&mut self, io: usize) {
        if !self.io_used.contains(&io) {
            self.io_used.push(io);
        }
    }

    /// Waits for a wake-up, then processes commands. EAGAIN on timeout,
    /// ETERM if the context was terminated meanwhile.
    /// `receiving`: the wait is for a message (not for room to send); after
    /// a send that may be a reply on its way, worth a brief spin.
    fn wait(
        &mut self,
        until: Option<Instant>,
        receiving: bool,
        timeout_msg: &'static str,
    ) -> Result<()> {
        let expecting_reply =
            receiving && std::mem::take(&mut self.sent_since_wait) && self.may_spin();
        if !self.link.mailbox.wait(until, expecting_reply) {
            return Err(Error::new(ErrorKind::EAGAIN, timeout_msg));
        }
        self.check_term()?;
        self.process_commands();
        Ok(())
    }

    /// Pipes for a new connection: the engine's ends and the socket's.
    fn pipe_pair(&self, id: PipeId, peer: Arc<PeerShared>) -> (EnginePipes, SocketPipe) {
        let (in_w, in_r) = pipe::pipe(
            pipe::Queue::inbound(&self.options, self.link.socket_type),
            self.link.reader_waker(id),
            pipe::no_waker(),
        );
        let (out_w, out_r) = pipe::pipe(
            pipe::Queue::outbound(&self.options, self.link.socket_type),
            pipe::no_waker(),
            self.link.waker(),
        );
        (
            EnginePipes {
                to_socket: in_w,
                from_socket: out_r.for_engine(),
            },
            SocketPipe {
                reader: in_r,
                writer: out_w,
                routing_id: Bytes::new(),
                notice: None,
                peer,
                properties: None,
            },
        )
    }

    /// Applies queued commands and lets drained pipes go. Called on every
    /// send and receive: the common case (nothing queued, no zombies) is
    /// two loads here, where iterating an empty queue showed up as about
    /// 60 instructions per message.
    #[inline]
    fn process_commands(&mut self) {
        if self.link.mailbox.has_commands() || !self.zombies.is_empty() {
            self.process_commands_now();
        }
    }

    #[inline(never)]
    fn process_commands_now(&mut self) {
        for cmd in self.link.mailbox.take_commands() {
            match cmd {
                SocketCmd::Attach { id, pipe } => {
                    self.pipes.insert(id, pipe);
                    self.pattern.attach(id, &mut self.pipes);
                    self.pattern.peer_ready(id, &mut self.pipes, false);
                }
                SocketCmd::PeerReady {
                    id,
                    routing_id,
                    reconnected,
                    properties,
                } => {
                    if let Some(pipe) = self.pipes.get_mut(id) {
                        pipe.routing_id = routing_id;
                        pipe.properties = properties;
                        self.pattern.peer_ready(id, &mut self.pipes, reconnected);
                    }
                }
                SocketCmd::Detach { id } => self.zombies.push(id),
            }
        }
        if !self.zombies.is_empty() {
            let pipes = &mut self.pipes;
            let pattern = &mut self.pattern;
            self.zombies.retain(|&id| {
                let drained = pipes.get_mut(id).is_none_or(|p| p.reader.is_closed());
                if drained && pipes.remove_gone(id).is_some() {
                    pattern.detach(id);
                }
                !drained
            });
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let inner = self.inner.get_mut();
        let linger = match inner.options.linger {
            l if l < 0 => None,
            l => Some(Duration::from_millis(l as u64)),
        };
        // Dropping our pipe ends lets the engines drain what is queued and
        // then close; the I/O threads enforce the linger deadline.
        let ids: Vec<PipeId> = inner.pipes.ids().collect();
        for id in ids {
            inner.pipes.remove(id);
        }
        // Before the I/O threads hear of the close, so a pipe attached in
        // the meantime is released rather than left in the mailbox.
        inner.link.mailbox.close();
        // Here, not on an I/O thread: a PAIR monitor is a socket.
        inner.link.monitor.stop();
        inner.ctx.inproc().socket_closed(inner.link.id);
        for &io in &inner.io_used {
            inner.ctx.io(io).send(IoCmd::SocketClosed {
                socket_id: inner.link.id,
                linger,
            });
        }
        inner.ctx.unregister_socket(inner.link.id);
    }
}
