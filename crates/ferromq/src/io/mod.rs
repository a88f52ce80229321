//! I/O threads: a mio reactor per thread running listeners, connecters and
//! engines. Sockets talk to it through a command queue; pipes wake it by
//! token when they change state.

pub(crate) mod engine;
pub(crate) mod ipc;
pub(crate) mod stream;
pub(crate) mod tcp;

use crate::endpoint::IpcAddr;
use crate::error::{Error, Result};
use crate::monitor::event;
use crate::msg::{MessageProperties, Msg};
use crate::options::reconnect_stop;
use crate::options::Options;
use crate::pattern::{PipeId, SocketPipe};
use crate::pipe::{self, PipeReader, PipeWriter, Wake, Waker};
use crate::socket::{SocketCmd, SocketLink};
use crate::stats::PeerShared;
use engine::{Closed, Engine, Progress};
use ferromq_proto::SocketType;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use stream::{Listener, Stream};

/// Identifies a bind or connect of a socket.
pub(crate) type EndpointId = u64;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A process-wide unique id (sockets, pipes, endpoints).
pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

const WAKER: Token = Token(0);
const READ_CHUNK: usize = 64 * 1024;

/// The engine's ends of a connection's pipes.
pub(crate) struct EnginePipes {
    pub(crate) to_socket: PipeWriter,
    pub(crate) from_socket: PipeReader,
}

/// Where a connecter connects to.
pub(crate) enum ConnectTarget {
    Tcp { host: String, port: u16 },
    Ipc(IpcAddr),
}

/// Work for an I/O thread.
pub(crate) enum IoCmd {
    Bind {
        id: EndpointId,
        socket: Arc<SocketLink>,
        options: Options,
        listener: Listener,
        /// As bound (LAST_ENDPOINT form), for monitor events.
        endpoint: String,
    },
    Connect {
        id: EndpointId,
        socket: Arc<SocketLink>,
        options: Options,
        target: ConnectTarget,
        /// As given, for monitor events.
        endpoint: String,
        pipe_id: PipeId,
        /// The connection's pipes, kept across reconnects; `None` with
        /// IMMEDIATE, where each connection gets new ones once its
        /// handshake completes.
        pipes: Option<EnginePipes>,
        /// The counters of this endpoint's connections.
        peer: Arc<PeerShared>,
    },
    Unbind {
        id: EndpointId,
    },
    Disconnect {
        id: EndpointId,
    },
    SocketClosed {
        socket_id: u64,
        linger: Option<Duration>,
    },
}

struct IoShared {
    commands: Mutex<VecDeque<IoCmd>>,
    ready: Mutex<Vec<Token>>,
    stop: std::sync::atomic::AtomicBool,
    waker: mio::Waker,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An engine, shared with the threads of the socket it serves so that
/// they can write through it (see [`Engine::write_through`]).
struct EngineCell {
    engine: Mutex<Engine>,
    /// The reactor is in [`Reactor::service`] for this engine: it looks at
    /// `write_wanted` once it lets go of the engine.
    in_service: AtomicBool,
    /// A socket thread found the engine locked by a service and left its
    /// write to the reactor. Without this, a REQ sending its next request
    /// while the reactor was still finishing the service that delivered
    /// the reply (about half the round trips) woke the reactor through
    /// its eventfd.
    write_wanted: AtomicBool,
}

type SharedEngine = Arc<EngineCell>;

impl EngineCell {
    fn new(engine: Engine) -> SharedEngine {
        Arc::new(EngineCell {
            engine: Mutex::new(engine),
            in_service: AtomicBool::new(false),
            write_wanted: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Engine> {
        lock(&self.engine)
    }
}

/// Wakes the reactor to service one engine.
struct TokenWake {
    shared: Arc<IoShared>,
    token: Token,
    /// Set for engines that write through: the socket's thread writes its
    /// message itself when it can, and wakes the reactor only when not.
    write_through: Option<Weak<EngineCell>>,
}

impl TokenWake {
    /// Writes what the socket queued from the calling thread. False when
    /// the reactor must do it: the engine is busy there, or needs more
    /// than a write.
    fn write_through(&self) -> bool {
        let Some(cell) = self.write_through.as_ref().and_then(Weak::upgrade) else {
            return false;
        };
        let Ok(mut engine) = cell.engine.try_lock() else {
            // SeqCst pairs with the reactor's clearing of `in_service` and
            // its swap of `write_wanted`: either it sees our flag, or we
            // see it out of the service and wake it.
            cell.write_wanted.store(true, Ordering::SeqCst);
            return cell.in_service.load(Ordering::SeqCst);
        };
        engine.write_through()
    }
}

impl Wake for TokenWake {
    fn wake(&self) {
        if self.write_through() {
            return;
        }
        let mut ready = lock(&self.shared.ready);
        let was_empty = ready.is_empty();
        ready.push(self.token);
        drop(ready);
        if was_empty {
            let _ = self.shared.waker.wake();
        }
    }
}

/// Handle to one I/O thread.
pub(crate) struct IoThread {
    shared: Arc<IoShared>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl IoThread {
    pub(crate) fn spawn(index: usize) -> Result<IoThread> {
        let poll = Poll::new().map_err(|e| Error::from_io(&e, "cannot create a poller"))?;
        let waker = mio::Waker::new(poll.registry(), WAKER)
            .map_err(|e| Error::from_io(&e, "cannot create a waker"))?;
        let shared = Arc::new(IoShared {
            commands: Mutex::new(VecDeque::new()),
            ready: Mutex::new(Vec::new()),
            stop: std::sync::atomic::AtomicBool::new(false),
            waker,
        });
        let reactor = Reactor {
            poll,
            shared: shared.clone(),
            entries: Vec::new(),
            free: Vec::new(),
            connecters: HashMap::new(),
            timers: BinaryHeap::new(),
            again: Vec::new(),
            scratch: vec![0; READ_CHUNK],
            rng: u64::from(crate::pattern::random_u32()) | 1,
            woken_in: Vec::new(),
            wake_round: 0,
        };
        let handle = std::thread::Builder::new()
            .name(format!("ferromq-io-{index}"))
            .spawn(move || reactor.run())
            .map_err(|e| Error::from_io(&e, "cannot start an I/O thread"))?;
        Ok(IoThread {
            shared,
            handle: Mutex::new(Some(handle)),
        })
    }

    pub(crate) fn send(&self, cmd: IoCmd) {
        lock(&self.shared.commands).push_back(cmd);
        let _ = self.shared.waker.wake();
    }

    /// Asks the thread to exit once its lingering connections are done, and
    /// waits for it.
    pub(crate) fn stop_and_join(&self) {
        self.shared.stop.store(true, Ordering::Release);
        let _ = self.shared.waker.wake();
        let handle = lock(&self.handle).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

enum Origin {
    Accepted {
        listener: EndpointId,
        options: Box<Options>,
        pipe_id: Option<PipeId>,
    },
    Connected {
        connecter: EndpointId,
        /// IMMEDIATE: this connection's own pipe, once attached.
        pipe_id: Option<PipeId>,
    },
}

enum Entry {
    Listener {
        listener: Listener,
        id: EndpointId,
        socket: Arc<SocketLink>,
        options: Options,
        endpoint: Arc<str>,
    },
    Engine {
        engine: SharedEngine,
        origin: Origin,
    },
    /// A ZAP request on its way to the handler bound at
    /// inproc://zeromq.zap.01: a DEALER of the context, watched through
    /// its file descriptor, for the engine at `engine`.
    Zap {
        socket: crate::Socket,
        engine: Token,
        serial: u64,
    },
}

struct Connecter {
    socket: Arc<SocketLink>,
    options: Options,
    target: ConnectTarget,
    endpoint: Arc<str>,
    peer: Arc<PeerShared>,
    pipe_id: PipeId,
    /// The pipes while no engine holds them.
    pipes: Option<EnginePipes>,
    engine: Option<Token>,
    ivl: Duration,
    connected_before: bool,
    /// The socket closed: connect only to deliver what is queued.
    closing: bool,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Reconnect(EndpointId),
    Linger(u64),
    /// The engine at this token (with this serial) must have finished
    /// its handshake.
    Handshake(Token, u64),
    /// Time to send a heartbeat PING.
    Heartbeat(Token, u64),
    /// The engine's heartbeat deadline may have passed.
    Deadline(Token, u64),
    /// The engine's TCP connect must have completed (CONNECT_TIMEOUT).
    Connect(Token, u64),
}

const ECONNREFUSED: i32 = 111;
const EFAULT: u32 = 14;
const EINPROGRESS: u32 = 115;
const ETIMEDOUT: u32 = 110;

struct Reactor {
    poll: Poll,
    shared: Arc<IoShared>,
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    connecters: HashMap<EndpointId, Connecter>,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    /// Engines that hit their fairness cap and want more service.
    again: Vec<Token>,
    scratch: Vec<u8>,
    /// For reconnect jitter.
    rng: u64,
    /// The wake round in which each entry was last serviced (by token
    /// index), to service an entry once per round without reordering.
    woken_in: Vec<u64>,
    wake_round: u64,
}

fn token_index(token: Token) -> usize {
    token.0 - 1
}

impl Reactor {
    fn run(mut self) {
        let mut events = Events::with_capacity(256);
        loop {
            let timeout = if self.again.is_empty() {
                self.next_timeout()
            } else {
                Some(Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    // A broken poller cannot be recovered from.
                    return;
                }
            }
            for event in events.iter() {
                if event.token() == WAKER {
                    continue;
                }
                let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                let writable = event.is_writable() || event.is_write_closed() || event.is_error();
                let read_closed = event.is_read_closed() || event.is_error();
                self.on_io(event.token(), readable, writable, read_closed);
            }
            self.run_commands();
            let mut ready = std::mem::take(&mut *lock(&self.shared.ready));
            ready.append(&mut self.again);
            // In the order the wakes came, each engine once: a peer that
            // was written to first is flushed first, as libzmq's command
            // queue keeps order (a subscription made before a message
            // reaches the network before it).
            self.wake_round = self.wake_round.wrapping_add(1);
            for token in ready {
                let index = token_index(token);
                if index >= self.woken_in.len() {
                    self.woken_in.resize(index + 1, 0);
                }
                if self.woken_in[index] == self.wake_round {
                    continue;
                }
                self.woken_in[index] = self.wake_round;
                self.on_wake(token);
            }
            self.run_timers();
            if self.shared.stop.load(Ordering::Acquire) && self.idle() {
                return;
            }
        }
    }

    /// Nothing is left to deliver: no engines and no connecters.
    fn idle(&self) -> bool {
        self.connecters.is_empty()
            && self
                .entries
                .iter()
                .all(|e| !matches!(e, Some(Entry::Engine { .. })))
    }

    fn next_timeout(&self) -> Option<Duration> {
        let Reverse((at, _)) = self.timers.peek()?;
        Some(at.saturating_duration_since(Instant::now()))
    }

    fn add_timer(&mut self, at: Instant, timer: Timer) {
        self.timers.push(Reverse((at, timer)));
    }

    /// The engine at `token`, locked, if it is still the one a timer was
    /// set for.
    fn lock_engine(&self, token: Token, serial: u64) -> Option<MutexGuard<'_, Engine>> {
        match self.entries.get(token_index(token)) {
            Some(Some(Entry::Engine { engine, .. })) => {
                let engine = engine.lock();
                (engine.serial == serial).then_some(engine)
            }
            _ => None,
        }
    }

    /// The engine at `token`, shared.
    fn shared_engine(&self, token: Token) -> Option<SharedEngine> {
        match self.entries.get(token_index(token)) {
            Some(Some(Entry::Engine { engine, .. })) => Some(engine.clone()),
            _ => None,
        }
    }

    /// Arms the handshake timer of a new engine (HANDSHAKE_IVL).
    fn start_handshake_timer(&mut self, token: Token, serial: u64, options: &Options) {
        if options.handshake_ivl > 0 {
            let at = Instant::now() + Duration::from_millis(options.handshake_ivl as u64);
            self.add_timer(at, Timer::Handshake(token, serial));
        }
    }

    fn insert(&mut self, entry: Entry) -> Token {
        match self.free.pop() {
            Some(i) => {
                self.entries[i] = Some(entry);
                Token(i + 1)
            }
            None => {
                self.entries.push(Some(entry));
                Token(self.entries.len())
            }
        }
    }

    fn remove(&mut self, token: Token) -> Option<Entry> {
        let entry = self.entries.get_mut(token_index(token))?.take()?;
        self.free.push(token_index(token));
        Some(entry)
    }

    /// The waker of the pipes of the engine at `token`, for a socket of
    /// `socket_type`.
    fn waker_for(&self, token: Token, engine: &SharedEngine, socket_type: SocketType) -> Waker {
        Arc::new(TokenWake {
            shared: self.shared.clone(),
            token,
            write_through: engine::writes_through(socket_type).then(|| Arc::downgrade(engine)),
        })
    }

    fn run_commands(&mut self) {
        let commands = std::mem::take(&mut *lock(&self.shared.commands));
        for cmd in commands {
            match cmd {
                IoCmd::Bind {
                    id,
                    socket,
                    options,
                    mut listener,
                    endpoint,
                } => {
                    let token = Token(self.free.last().map_or(self.entries.len() + 1, |i| i + 1));
                    if self
                        .poll
                        .registry()
                        .register(&mut listener, token, Interest::READABLE)
                        .is_ok()
                    {
                        let got = self.insert(Entry::Listener {
                            listener,
                            id,
                            socket,
                            options,
                            endpoint: endpoint.into(),
                        });
                        debug_assert_eq!(got, token);
                    }
                }
                IoCmd::Connect {
                    id,
                    socket,
                    options,
                    target,
                    endpoint,
                    pipe_id,
                    pipes,
                    peer,
                } => {
                    let ivl = Duration::from_millis(options.reconnect_ivl.max(0) as u64);
                    self.connecters.insert(
                        id,
                        Connecter {
                            socket,
                            options,
                            target,
                            endpoint: endpoint.into(),
                            peer,
                            pipe_id,
                            pipes,
                            engine: None,
                            ivl,
                            connected_before: false,
                            closing: false,
                        },
                    );
                    self.start_connect(id);
                }
                IoCmd::Unbind { id } => self.unbind(id),
                IoCmd::Disconnect { id } => {
                    if let Some(c) = self.connecters.remove(&id) {
                        if let Some(token) = c.engine {
                            self.close_engine(token, Closed::Local);
                        }
                    }
                }
                IoCmd::SocketClosed { socket_id, linger } => self.socket_closed(socket_id, linger),
            }
        }
    }

    fn unbind(&mut self, id: EndpointId) {
        let mut doomed = Vec::new();
        for (i, entry) in self.entries.iter().enumerate() {
            match entry {
                Some(Entry::Listener { id: lid, .. }) if *lid == id => {
                    doomed.push((Token(i + 1), true))
                }
                Some(Entry::Engine {
                    origin: Origin::Accepted { listener, .. },
                    ..
                }) if *listener == id => doomed.push((Token(i + 1), false)),
                _ => {}
            }
        }
        for (token, is_listener) in doomed {
            if is_listener {
                self.close_listener(token);
            } else {
                self.close_engine(token, Closed::Local);
            }
        }
    }

    fn close_listener(&mut self, token: Token) {
        if let Some(Entry::Listener {
            mut listener,
            socket,
            endpoint,
            ..
        }) = self.remove(token)
        {
            let _ = self.poll.registry().deregister(&mut listener);
            socket
                .monitor
                .emit(event::CLOSED, listener.raw_fd(), &endpoint, None);
        }
    }

    fn socket_closed(&mut self, socket_id: u64, linger: Option<Duration>) {
        let mut listeners = Vec::new();
        let mut engines = Vec::new();
        for (i, entry) in self.entries.iter().enumerate() {
            match entry {
                Some(Entry::Listener { socket, .. }) if socket.id == socket_id => {
                    listeners.push(Token(i + 1))
                }
                Some(Entry::Engine { engine, .. }) if engine.lock().socket.id == socket_id => {
                    engines.push(Token(i + 1))
                }
                _ => {}
            }
        }
        for token in listeners {
            self.close_listener(token);
        }
        let discard = linger == Some(Duration::ZERO);
        let connecter_ids: Vec<EndpointId> = self
            .connecters
            .iter()
            .filter(|(_, c)| c.socket.id == socket_id)
            .map(|(&id, _)| id)
            .collect();
        for id in connecter_ids {
            if discard {
                // Engines are closed below; with nothing to deliver there
                // is nothing to reconnect for.
                self.connecters.remove(&id);
                continue;
            }
            let Some(c) = self.connecters.get_mut(&id) else {
                continue;
            };
            c.closing = true;
            let has_pending = c.pipes.as_mut().is_some_and(|p| !p.from_socket.is_closed());
            if c.engine.is_none() && !has_pending {
                self.connecters.remove(&id);
            }
        }
        for token in engines {
            let pending_handshake = matches!(
                self.entries.get(token_index(token)),
                Some(Some(Entry::Engine { engine, .. })) if engine.lock().pipes.is_none()
            );
            if discard || pending_handshake {
                self.close_engine(token, Closed::Local);
            } else if let Some(Some(Entry::Engine { engine, .. })) =
                self.entries.get_mut(token_index(token))
            {
                engine.lock().draining = true;
                self.again.push(token);
            }
        }
        if let Some(d) = linger.filter(|d| !d.is_zero()) {
            self.add_timer(Instant::now() + d, Timer::Linger(socket_id));
        }
    }

    fn linger_expired(&mut self, socket_id: u64) {
        // Remove the connecters first so closing their engines does not
        // schedule another attempt.
        self.connecters.retain(|_, c| c.socket.id != socket_id);
        let engines: Vec<Token> = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Some(Entry::Engine { engine, .. }) if engine.lock().socket.id == socket_id => {
                    Some(Token(i + 1))
                }
                _ => None,
            })
            .collect();
        for token in engines {
            self.close_engine(token, Closed::Local);
        }
    }

    fn run_timers(&mut self) {
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            if let Some(Reverse((_, timer))) = self.timers.pop() {
                due.push(timer);
            }
        }
        for timer in due {
            match timer {
                Timer::Reconnect(id) => self.start_connect(id),
                Timer::Linger(socket_id) => self.linger_expired(socket_id),
                Timer::Handshake(token, serial) => {
                    if self
                        .lock_engine(token, serial)
                        .is_some_and(|e| e.peer.is_none())
                    {
                        self.close_engine(token, Closed::Timeout);
                    }
                }
                Timer::Heartbeat(token, serial) => {
                    let Some(mut engine) = self.lock_engine(token, serial) else {
                        continue;
                    };
                    engine.send_ping();
                    let next = now + Duration::from_millis(engine.heartbeat_ivl);
                    drop(engine);
                    self.add_timer(next, Timer::Heartbeat(token, serial));
                    self.service(token);
                }
                Timer::Deadline(token, serial) => {
                    if self
                        .lock_engine(token, serial)
                        .is_some_and(|e| e.deadline_passed(now))
                    {
                        self.close_engine(token, Closed::Timeout);
                    }
                }
                Timer::Connect(token, serial) => {
                    if self
                        .lock_engine(token, serial)
                        .is_some_and(|e| e.connecting)
                    {
                        // As a failed attempt: reconnect after the interval.
                        self.close_engine(token, Closed::Io(ETIMEDOUT as i32));
                    }
                }
            }
        }
    }

    /// A little xorshift randomness for reconnect jitter.
    fn random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Schedules the next attempt, as libzmq does: after the current
    /// interval plus a random jitter of up to RECONNECT_IVL (so peers
    /// that lost a server together do not return in lockstep), doubling
    /// the interval up to RECONNECT_IVL_MAX. RECONNECT_IVL <= 0: never.
    fn schedule_reconnect(&mut self, id: EndpointId) {
        let jitter = self.random();
        let Some(c) = self.connecters.get_mut(&id) else {
            return;
        };
        if c.options.reconnect_ivl <= 0 {
            return;
        }
        let base = c.options.reconnect_ivl as u64;
        let wait = c.ivl + Duration::from_millis(jitter % base);
        let max = c.options.reconnect_ivl_max.max(0) as u64;
        if max > base {
            c.ivl = (c.ivl * 2).min(Duration::from_millis(max));
        }
        c.socket.monitor.emit(
            event::CONNECT_RETRIED,
            u32::try_from(wait.as_millis()).unwrap_or(u32::MAX),
            &c.endpoint,
            None,
        );
        self.add_timer(Instant::now() + wait, Timer::Reconnect(id));
    }

    /// Stops connecting to `id` for good (RECONNECT_STOP, or a protocol
    /// error, which libzmq does not retry either). The socket learns its
    /// pipe is gone; what it queued there is dropped.
    fn give_up(&mut self, id: EndpointId) {
        let Some(c) = self.connecters.remove(&id) else {
            return;
        };
        if c.pipes.is_some() {
            c.socket.mailbox.send(SocketCmd::Detach { id: c.pipe_id });
        }
    }

    /// Whether a refused connect ends the connecter, per RECONNECT_STOP.
    fn stops_on_refusal(c: &Connecter) -> bool {
        let flags = c.options.reconnect_stop;
        flags & reconnect_stop::CONN_REFUSED != 0
            || (flags & reconnect_stop::AFTER_DISCONNECT != 0
                && c.socket.disconnected.load(Ordering::Relaxed))
    }

    fn start_connect(&mut self, id: EndpointId) {
        let Some(c) = self.connecters.get_mut(&id) else {
            return;
        };
        if c.engine.is_some() {
            return;
        }
        let started = match &c.target {
            ConnectTarget::Tcp { host, port } => tcp::resolve_connect(host, *port, &c.options)
                .and_then(|addr| {
                    TcpStream::connect(addr).map_err(|e| Error::from_io(&e, "cannot connect"))
                })
                .map(|stream| {
                    tcp::tune_stream(&stream, &c.options);
                    Stream::Tcp(stream)
                })
                .map_err(|e| e.errno()),
            ConnectTarget::Ipc(addr) => {
                ipc::connect(addr).map_err(|e| e.raw_os_error().unwrap_or(0))
            }
        };
        let mut stream = match started {
            Ok(stream) => stream,
            Err(errno) => {
                // As libzmq reports every failed attempt: CLOSED, then
                // CONNECT_RETRIED (the fd is already gone: -1).
                c.socket
                    .monitor
                    .emit(event::CLOSED, u32::MAX, &c.endpoint, None);
                if errno == ECONNREFUSED && Self::stops_on_refusal(c) {
                    return self.give_up(id);
                }
                return self.schedule_reconnect(id);
            }
        };
        let token = Token(self.free.last().map_or(self.entries.len() + 1, |i| i + 1));
        if self
            .poll
            .registry()
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .is_err()
        {
            return self.schedule_reconnect(id);
        }
        let Some(c) = self.connecters.get_mut(&id) else {
            return;
        };
        if matches!(stream, Stream::Tcp(_)) {
            c.socket
                .monitor
                .emit(event::CONNECT_DELAYED, EINPROGRESS, &c.endpoint, None);
        }
        let pipes = c.pipes.take();
        let mut engine = Engine::new(
            stream,
            c.socket.clone(),
            &c.options,
            pipes,
            true,
            c.endpoint.clone(),
        );
        // A socket closed while this peer was unreachable: deliver what it
        // queued, then stop.
        engine.draining = c.closing;
        engine.peer_counters = Some(c.peer.clone());
        c.engine = Some(token);
        let (serial, options) = (engine.serial, c.options.clone());
        let socket_type = engine.socket.socket_type;
        let engine = EngineCell::new(engine);
        let waker = self.waker_for(token, &engine, socket_type);
        if let Some(p) = &engine.lock().pipes {
            p.to_socket.set_waker(waker.clone());
            p.from_socket.set_waker(waker);
        }
        let got = self.insert(Entry::Engine {
            engine,
            origin: Origin::Connected {
                connecter: id,
                pipe_id: None,
            },
        });
        debug_assert_eq!(got, token);
        self.start_handshake_timer(token, serial, &options);
        if options.connect_timeout > 0 {
            let at = Instant::now() + Duration::from_millis(options.connect_timeout as u64);
            self.add_timer(at, Timer::Connect(token, serial));
        }
    }

    fn on_io(&mut self, token: Token, readable: bool, writable: bool, read_closed: bool) {
        match self.entries.get_mut(token_index(token)) {
            Some(Some(Entry::Listener { .. })) => self.accept(token),
            Some(Some(Entry::Zap { .. })) => self.zap_ready(token),
            Some(Some(Entry::Engine { engine, .. })) => {
                let mut engine = engine.lock();
                if engine.connecting {
                    if !writable && !readable {
                        return;
                    }
                    let error = engine.stream.take_error().ok().flatten();
                    if error.is_some() || !engine.stream.is_connected() {
                        let errno = error.and_then(|e| e.raw_os_error()).unwrap_or(ECONNREFUSED);
                        drop(engine);
                        self.close_engine(token, Closed::Io(errno));
                        return;
                    }
                    engine.connecting = false;
                    let peer = engine.peer_address();
                    engine.socket.monitor.emit(
                        event::CONNECTED,
                        engine.stream.raw_fd(),
                        &engine.endpoint,
                        peer.as_deref(),
                    );
                }
                engine.set_ready(readable, writable, read_closed);
                drop(engine);
                self.service(token);
            }
            _ => {}
        }
    }

    fn on_wake(&mut self, token: Token) {
        if let Some(Some(Entry::Engine { engine, .. })) = self.entries.get_mut(token_index(token)) {
            let mut engine = engine.lock();
            if engine.connecting {
                return;
            }
            engine.unblock();
            drop(engine);
            self.service(token);
        }
    }

    fn accept(&mut self, token: Token) {
        loop {
            let Some(Some(Entry::Listener {
                listener,
                id,
                socket,
                options,
                endpoint,
            })) = self.entries.get_mut(token_index(token))
            else {
                return;
            };
            let mut stream = match listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                // Other errors (EMFILE, aborted connections) must not kill
                // the listener: try again later.
                Err(e) => {
                    let errno = e.raw_os_error().unwrap_or(0) as u32;
                    socket
                        .monitor
                        .emit(event::ACCEPT_FAILED, errno, endpoint, None);
                    return;
                }
            };
            let (listener_id, socket, options, endpoint) =
                (*id, socket.clone(), options.clone(), endpoint.clone());
            if let Stream::Tcp(tcp) = &stream {
                tcp::tune_stream(tcp, &options);
            }
            let new_token = Token(self.free.last().map_or(self.entries.len() + 1, |i| i + 1));
            if self
                .poll
                .registry()
                .register(
                    &mut stream,
                    new_token,
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_err()
            {
                continue;
            }
            let peer = stream.peer_address();
            socket
                .monitor
                .emit(event::ACCEPTED, stream.raw_fd(), &endpoint, peer.as_deref());
            let mut engine = Engine::new(stream, socket, &options, None, false, endpoint);
            // From the start, so the handshake's bytes count too.
            engine.peer_counters = Some(PeerShared::new(&*engine.endpoint));
            let serial = engine.serial;
            let got = self.insert(Entry::Engine {
                engine: EngineCell::new(engine),
                origin: Origin::Accepted {
                    listener: listener_id,
                    options: Box::new(options.clone()),
                    pipe_id: None,
                },
            });
            debug_assert_eq!(got, new_token);
            self.start_handshake_timer(new_token, serial, &options);
        }
    }

    fn service(&mut self, token: Token) {
        let mut woken = false;
        loop {
            let Some(Some(Entry::Engine { engine: cell, .. })) =
                self.entries.get_mut(token_index(token))
            else {
                return;
            };
            cell.in_service.store(true, Ordering::SeqCst);
            let mut engine = cell.lock();
            if std::mem::take(&mut woken) {
                // As `on_wake`: the wake may have been for room in the
                // inbound pipe.
                engine.unblock();
            }
            let outcome = engine.service(&mut self.scratch);
            let deadline = std::mem::take(&mut engine.deadline_armed)
                .then_some(engine.deadline)
                .flatten()
                .map(|at| (at, engine.serial));
            drop(engine);
            cell.in_service.store(false, Ordering::SeqCst);
            let write_wanted = cell.write_wanted.swap(false, Ordering::SeqCst);
            if let Some((at, serial)) = deadline {
                self.add_timer(at, Timer::Deadline(token, serial));
            }
            match outcome {
                Ok(Progress::Idle) if write_wanted => woken = true,
                Ok(Progress::Idle) => return,
                Ok(Progress::More) => {
                    self.again.push(token);
                    return;
                }
                Ok(Progress::HandshakeDone(peer)) => self.handshake_done(token, peer),
                Ok(Progress::Zap(request)) => return self.start_zap(token, request),
                Err(why) => return self.close_engine(token, why),
            }
        }
    }

    /// Gives a connection that just completed its handshake new pipes to
    /// the socket (bind side, and connect side with IMMEDIATE), and tells
    /// the socket about them. Returns the new pipe's id.
    fn attach_new_pipes(
        engine: &mut Engine,
        options: &Options,
        waker: Waker,
        routing_id: bytes::Bytes,
        properties: Arc<MessageProperties>,
    ) -> PipeId {
        let peer = engine
            .peer_counters
            .get_or_insert_with(|| PeerShared::new(&*engine.endpoint))
            .clone();
        let id = next_id();
        let socket_type = engine.socket.socket_type;
        let (in_w, in_r) = pipe::pipe(
            pipe::Queue::inbound(options, socket_type),
            engine.socket.reader_waker(id),
            waker.clone(),
        );
        let (out_w, out_r) = pipe::pipe(
            pipe::Queue::outbound(options, socket_type),
            waker,
            engine.socket.waker(),
        );
        engine.pipes = Some(EnginePipes {
            to_socket: in_w,
            from_socket: out_r.for_engine(),
        });
        engine.socket.mailbox.send(SocketCmd::Attach {
            id,
            pipe: SocketPipe {
                reader: in_r,
                writer: out_w,
                routing_id,
                notice: None,
                peer,
                properties: Some(properties),
            },
        });
        id
    }

    /// What zmq_msg_gets reports for messages from this peer: its
    /// handshake metadata, and its IP as Peer-Address (tcp).
    fn peer_properties(peer: &ferromq_proto::PeerInfo, stream: &Stream) -> Arc<MessageProperties> {
        let mut props = MessageProperties::new();
        for (name, value) in peer.metadata.iter() {
            props.insert(name, value);
        }
        if let Stream::Tcp(tcp) = stream {
            if let Ok(addr) = tcp.peer_addr() {
                props.insert("Peer-Address", addr.ip().to_string().as_bytes());
            }
        }
        Arc::new(props)
    }

    fn handshake_done(&mut self, token: Token, peer: ferromq_proto::PeerInfo) {
        let Some(shared) = self.shared_engine(token) else {
            return;
        };
        let waker = self.waker_for(token, &shared, shared.lock().socket.socket_type);
        let Some(Some(Entry::Engine { engine, origin })) = self.entries.get_mut(token_index(token))
        else {
            return;
        };
        let mut engine = engine.lock();
        let routing_id = peer.identity();
        let properties = Self::peer_properties(&peer, &engine.stream);
        let peer_address = engine.peer_address();
        let endpoint = engine.endpoint.clone();
        let counters = engine
            .peer_counters
            .get_or_insert_with(|| PeerShared::new(&*endpoint));
        *counters.address.lock().unwrap_or_else(|e| e.into_inner()) = peer_address.clone();
        counters.set_connected(true);
        engine.socket.monitor.emit(
            event::HANDSHAKE_SUCCEEDED,
            0,
            &engine.endpoint,
            peer_address.as_deref(),
        );
        match origin {
            Origin::Accepted {
                options, pipe_id, ..
            } => {
                *pipe_id = Some(Self::attach_new_pipes(
                    &mut engine,
                    options,
                    waker,
                    routing_id,
                    properties,
                ));
            }
            Origin::Connected { connecter, pipe_id } => {
                if let Some(c) = self.connecters.get_mut(connecter) {
                    c.ivl = Duration::from_millis(c.options.reconnect_ivl.max(0) as u64);
                    if c.connected_before {
                        c.socket.reconnects.fetch_add(1, Ordering::Relaxed);
                        c.peer.reconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    if engine.pipes.is_none() {
                        // IMMEDIATE: only now does the socket see a peer.
                        *pipe_id = Some(Self::attach_new_pipes(
                            &mut engine,
                            &c.options,
                            waker,
                            routing_id,
                            properties,
                        ));
                    } else {
                        engine.socket.mailbox.send(SocketCmd::PeerReady {
                            id: c.pipe_id,
                            routing_id,
                            reconnected: c.connected_before,
                            properties: Some(properties),
                        });
                    }
                    c.connected_before = true;
                }
            }
        }
        let (heartbeat_ivl, serial) = (engine.heartbeat_ivl, engine.serial);
        drop(engine);
        if heartbeat_ivl > 0 {
            let at = Instant::now() + Duration::from_millis(heartbeat_ivl);
            self.add_timer(at, Timer::Heartbeat(token, serial));
        }
    }

    /// Sends a mechanism's ZAP request to the handler bound in the
    /// context, or answers it at once when there is none (libzmq then lets
    /// the peer in, unless ZAP_ENFORCE_DOMAIN; its PLAIN server refuses).
    fn start_zap(&mut self, token: Token, request: ferromq_proto::ZapRequest) {
        let Some(shared) = self.shared_engine(token) else {
            return;
        };
        let mut engine = shared.lock();
        let ctx = engine.socket.ctx.upgrade();
        let handler = ctx.as_ref().is_some_and(|c| {
            let name = ferromq_proto::ZAP_ENDPOINT.trim_start_matches("inproc://");
            c.inproc().is_bound(name)
        });
        let serial = engine.serial;
        let sent = match ctx {
            Some(ctx) if handler => Self::send_zap_request(ctx, &request),
            _ => {
                let verdict = if engine.zap_enforce {
                    Err(Closed::Protocol(ferromq_proto::ProtocolError::NoZapHandler))
                } else {
                    engine.zap_reply(ferromq_proto::ZapReply::no_handler())
                };
                drop(engine);
                return match verdict {
                    Ok(()) => self.service(token),
                    Err(why) => self.close_engine(token, why),
                };
            }
        };
        drop(engine);
        let Ok((socket, fd)) = sent else {
            // The handler went away (or the context is ending): as libzmq
            // when its ZAP request cannot be sent, drop the connection.
            return self.close_engine(token, Closed::Local);
        };
        let zap_token = Token(self.free.last().map_or(self.entries.len() + 1, |i| i + 1));
        if self
            .poll
            .registry()
            .register(&mut mio::unix::SourceFd(&fd), zap_token, Interest::READABLE)
            .is_err()
        {
            return self.close_engine(token, Closed::Local);
        }
        let got = self.insert(Entry::Zap {
            socket,
            engine: token,
            serial,
        });
        debug_assert_eq!(got, zap_token);
        shared.lock().zap_token = Some(zap_token);
        // The reply may be there already.
        self.zap_ready(zap_token);
    }

    /// A DEALER connected to the ZAP handler, with the request sent (its
    /// first frame is the empty delimiter REP expects), and its descriptor.
    fn send_zap_request(
        ctx: Arc<crate::context::CtxShared>,
        request: &ferromq_proto::ZapRequest,
    ) -> Result<(crate::Socket, std::os::fd::RawFd)> {
        let socket = crate::Socket::new(ctx, ferromq_proto::SocketType::Dealer)?;
        socket.set_linger(0)?;
        socket.connect(ferromq_proto::ZAP_ENDPOINT)?;
        let frames = request.to_frames(ferromq_proto::ZAP_REQUEST_ID);
        socket.send_multipart(frames, crate::DONTWAIT)?;
        let fd = socket.fd()?;
        Ok((socket, fd))
    }

    /// The ZAP handler may have answered: hand its verdict to the engine.
    fn zap_ready(&mut self, zap_token: Token) {
        let Some(Some(Entry::Zap { socket, .. })) = self.entries.get_mut(token_index(zap_token))
        else {
            return;
        };
        let frames = match socket.recv_multipart_msgs(crate::DONTWAIT) {
            Ok(frames) => frames,
            Err(e) if e.kind() == crate::ErrorKind::EAGAIN => return,
            Err(_) => Vec::new(),
        };
        let Some(Entry::Zap { engine, serial, .. }) = self.take_zap(zap_token) else {
            return;
        };
        let Some(mut e) = self.lock_engine(engine, serial) else {
            return;
        };
        e.zap_token = None;
        // As REP sends it back: the empty delimiter, then the reply.
        let frames: Vec<bytes::Bytes> = frames.into_iter().map(Msg::into_bytes).collect();
        let reply = ferromq_proto::ZapReply::parse(&frames, ferromq_proto::ZAP_REQUEST_ID);
        let verdict = match reply {
            Ok(reply) => e.zap_reply(reply),
            Err(err) => Err(Closed::Protocol(err)),
        };
        drop(e);
        match verdict {
            Ok(()) => self.service(engine),
            Err(why) => self.close_engine(engine, why),
        }
    }

    /// Removes a ZAP entry and stops watching its socket.
    fn take_zap(&mut self, zap_token: Token) -> Option<Entry> {
        let entry = self.remove(zap_token)?;
        if let Entry::Zap { socket, .. } = &entry {
            if let Ok(fd) = socket.fd() {
                let _ = self
                    .poll
                    .registry()
                    .deregister(&mut mio::unix::SourceFd(&fd));
            }
        }
        Some(entry)
    }

    /// An engine closed while its ZAP request was out: forget it.
    fn drop_zap(&mut self, zap_token: Token) {
        drop(self.take_zap(zap_token));
    }

    /// Reports why a connection ended to the socket's monitor, as libzmq
    /// does: a failed connect closes its fd; a connection that ends fails
    /// its handshake first if it had not finished it.
    fn report_close(engine: &Engine, why: &Closed) {
        let monitor = &engine.socket.monitor;
        let fd = engine.stream.raw_fd();
        let endpoint = &*engine.endpoint;
        match why {
            Closed::Local | Closed::Drained => {}
            _ if engine.connecting => monitor.emit(event::CLOSED, fd, endpoint, None),
            _ => {
                let peer = engine.peer_address();
                if engine.peer.is_none() {
                    let (ev, value) = match why {
                        Closed::Protocol(e) if e.auth_status().is_some() => (
                            event::HANDSHAKE_FAILED_AUTH,
                            u32::from(e.auth_status().unwrap_or_default()),
                        ),
                        // libzmq's PLAIN server without a ZAP handler.
                        Closed::Protocol(ferromq_proto::ProtocolError::NoZapHandler) => {
                            (event::HANDSHAKE_FAILED_NO_DETAIL, EFAULT)
                        }
                        Closed::Protocol(e) => (event::HANDSHAKE_FAILED_PROTOCOL, e.zmtp_code()),
                        Closed::Io(errno) => (event::HANDSHAKE_FAILED_NO_DETAIL, *errno as u32),
                        _ => (event::HANDSHAKE_FAILED_NO_DETAIL, ETIMEDOUT),
                    };
                    monitor.emit(ev, value, endpoint, peer.as_deref());
                }
                monitor.emit(event::DISCONNECTED, fd, endpoint, peer.as_deref());
            }
        }
    }

    fn close_engine(&mut self, token: Token, why: Closed) {
        let Some(Entry::Engine { engine, origin }) = self.remove(token) else {
            return;
        };
        // Out of the table, so no other lock of it can come from here; a
        // socket thread writing through it holds it briefly.
        let mut engine = engine.lock();
        if let Some(zap) = engine.zap_token.take() {
            self.drop_zap(zap);
        }
        if matches!(why, Closed::Timeout) {
            engine.stream.abort_on_close();
        } else {
            engine.flush_before_close();
        }
        let _ = self.poll.registry().deregister(&mut engine.stream);
        if let Some(counters) = &engine.peer_counters {
            counters.set_connected(false);
        }
        Self::report_close(&engine, &why);
        match origin {
            Origin::Accepted { pipe_id, .. } => {
                if let Some(id) = pipe_id {
                    engine.socket.mailbox.send(SocketCmd::Detach { id });
                }
            }
            Origin::Connected { connecter, pipe_id } => {
                if let Some(id) = pipe_id {
                    // IMMEDIATE: this connection's pipe leaves with it.
                    engine.socket.mailbox.send(SocketCmd::Detach { id });
                    drop(engine.pipes.take());
                }
                let pipes = engine.take_pipes();
                let Some(c) = self.connecters.get_mut(&connecter) else {
                    return;
                };
                c.engine = None;
                c.pipes = pipes;
                let socket_gone = c.pipes.as_mut().is_none_or(|p| p.from_socket.is_closed());
                if c.closing && socket_gone {
                    self.connecters.remove(&connecter);
                    return;
                }
                let handshake_failed = engine.peer.is_none() && !engine.connecting;
                let flags = c.options.reconnect_stop;
                let retry = match why {
                    Closed::Local | Closed::Drained => c.closing,
                    Closed::Io(errno) if engine.connecting => {
                        !(errno == ECONNREFUSED && Self::stops_on_refusal(c))
                    }
                    // libzmq does not retry a peer that broke the protocol.
                    Closed::Protocol(_) => false,
                    Closed::Io(_) | Closed::Timeout => {
                        !(handshake_failed && flags & reconnect_stop::HANDSHAKE_FAILED != 0)
                    }
                };
                if retry {
                    self.schedule_reconnect(connecter);
                } else {
                    self.give_up(connecter);
                }
            }
        }
    }
}
