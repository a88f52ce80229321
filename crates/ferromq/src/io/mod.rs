//! I/O threads: a mio reactor per thread running listeners, connecters and
//! engines. Sockets talk to it through a command queue; pipes wake it by
//! token when they change state.

pub(crate) mod engine;
pub(crate) mod ipc;
pub(crate) mod stream;
pub(crate) mod tcp;

use crate::endpoint::IpcAddr;
use crate::error::{Error, Result};
use crate::options::Options;
use crate::pattern::{PipeId, SocketPipe};
use crate::pipe::{self, PipeReader, PipeWriter, Wake, Waker};
use crate::socket::{SocketCmd, SocketLink};
use engine::{Closed, Engine, Progress};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
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
    },
    Connect {
        id: EndpointId,
        socket: Arc<SocketLink>,
        options: Options,
        target: ConnectTarget,
        pipe_id: PipeId,
        pipes: EnginePipes,
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

/// Wakes the reactor to service one engine.
struct TokenWake {
    shared: Arc<IoShared>,
    token: Token,
}

impl Wake for TokenWake {
    fn wake(&self) {
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
            timers: Vec::new(),
            again: Vec::new(),
            scratch: vec![0; READ_CHUNK],
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
        options: Options,
        pipe_id: Option<PipeId>,
    },
    Connected {
        connecter: EndpointId,
    },
}

enum Entry {
    Listener {
        listener: Listener,
        id: EndpointId,
        socket: Arc<SocketLink>,
        options: Options,
    },
    Engine {
        engine: Box<Engine>,
        origin: Origin,
    },
}

struct Connecter {
    socket: Arc<SocketLink>,
    options: Options,
    target: ConnectTarget,
    pipe_id: PipeId,
    /// The pipes while no engine holds them.
    pipes: Option<EnginePipes>,
    engine: Option<Token>,
    ivl: Duration,
    connected_before: bool,
    /// The socket closed: connect only to deliver what is queued.
    closing: bool,
}

enum Timer {
    Reconnect(EndpointId),
    Linger(u64),
}

struct Reactor {
    poll: Poll,
    shared: Arc<IoShared>,
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    connecters: HashMap<EndpointId, Connecter>,
    timers: Vec<(Instant, Timer)>,
    /// Engines that hit their fairness cap and want more service.
    again: Vec<Token>,
    scratch: Vec<u8>,
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
                self.on_io(event.token(), readable, writable);
            }
            self.run_commands();
            let mut ready = std::mem::take(&mut *lock(&self.shared.ready));
            ready.append(&mut self.again);
            ready.sort_unstable();
            ready.dedup();
            for token in ready {
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
        let now = Instant::now();
        self.timers
            .iter()
            .map(|(at, _)| at.saturating_duration_since(now))
            .min()
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

    fn waker_for(&self, token: Token) -> Waker {
        Arc::new(TokenWake {
            shared: self.shared.clone(),
            token,
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
                        });
                        debug_assert_eq!(got, token);
                    }
                }
                IoCmd::Connect {
                    id,
                    socket,
                    options,
                    target,
                    pipe_id,
                    pipes,
                } => {
                    let ivl = Duration::from_millis(options.reconnect_ivl.max(0) as u64);
                    self.connecters.insert(
                        id,
                        Connecter {
                            socket,
                            options,
                            target,
                            pipe_id,
                            pipes: Some(pipes),
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
                            self.close_engine(token, false);
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
                if let Some(Entry::Listener { mut listener, .. }) = self.remove(token) {
                    let _ = self.poll.registry().deregister(&mut listener);
                }
            } else {
                self.close_engine(token, false);
            }
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
                Some(Entry::Engine { engine, .. }) if engine.socket.id == socket_id => {
                    engines.push(Token(i + 1))
                }
                _ => {}
            }
        }
        for token in listeners {
            if let Some(Entry::Listener { mut listener, .. }) = self.remove(token) {
                let _ = self.poll.registry().deregister(&mut listener);
            }
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
            if c.engine.is_none() && (discard || !has_pending) {
                self.connecters.remove(&id);
            }
        }
        for token in engines {
            let pending_handshake = matches!(
                self.entries.get(token_index(token)),
                Some(Some(Entry::Engine { engine, .. })) if engine.pipes.is_none()
            );
            if discard || pending_handshake {
                self.close_engine(token, false);
            } else if let Some(Some(Entry::Engine { engine, .. })) =
                self.entries.get_mut(token_index(token))
            {
                engine.draining = true;
                self.again.push(token);
            }
        }
        if let Some(d) = linger.filter(|d| !d.is_zero()) {
            self.timers
                .push((Instant::now() + d, Timer::Linger(socket_id)));
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
                Some(Entry::Engine { engine, .. }) if engine.socket.id == socket_id => {
                    Some(Token(i + 1))
                }
                _ => None,
            })
            .collect();
        for token in engines {
            self.close_engine(token, false);
        }
    }

    fn run_timers(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.timers)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.timers = later;
        for (_, timer) in due {
            match timer {
                Timer::Reconnect(id) => self.start_connect(id),
                Timer::Linger(socket_id) => self.linger_expired(socket_id),
            }
        }
    }

    fn schedule_reconnect(&mut self, id: EndpointId) {
        let Some(c) = self.connecters.get_mut(&id) else {
            return;
        };
        if c.options.reconnect_ivl < 0 {
            return;
        }
        let wait = c.ivl;
        let max = Duration::from_millis(c.options.reconnect_ivl_max.max(0) as u64);
        if max > wait {
            c.ivl = (wait * 2).min(max);
        }
        self.timers
            .push((Instant::now() + wait, Timer::Reconnect(id)));
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
                .ok()
                .and_then(|addr| TcpStream::connect(addr).ok())
                .map(|stream| {
                    tcp::tune_stream(&stream, &c.options);
                    Stream::Tcp(stream)
                }),
            ConnectTarget::Ipc(addr) => ipc::connect(addr).ok(),
        };
        let Some(mut stream) = started else {
            return self.schedule_reconnect(id);
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
        let waker = self.waker_for(token);
        let Some(c) = self.connecters.get_mut(&id) else {
            return;
        };
        let pipes = c.pipes.take();
        if let Some(p) = &pipes {
            p.to_socket.set_waker(waker.clone());
            p.from_socket.set_waker(waker);
        }
        let mut engine = Engine::new(stream, c.socket.clone(), &c.options, pipes, true);
        // A socket closed while this peer was unreachable: deliver what it
        // queued, then stop.
        engine.draining = c.closing;
        c.engine = Some(token);
        let got = self.insert(Entry::Engine {
            engine: Box::new(engine),
            origin: Origin::Connected { connecter: id },
        });
        debug_assert_eq!(got, token);
    }

    fn on_io(&mut self, token: Token, readable: bool, writable: bool) {
        match self.entries.get_mut(token_index(token)) {
            Some(Some(Entry::Listener { .. })) => self.accept(token),
            Some(Some(Entry::Engine { engine, .. })) => {
                if engine.connecting {
                    if !writable && !readable {
                        return;
                    }
                    let failed = engine.stream.take_error().ok().flatten().is_some()
                        || !engine.stream.is_connected();
                    if failed {
                        self.close_engine(token, true);
                        return;
                    }
                    engine.connecting = false;
                }
                engine.set_ready(readable, writable);
                self.service(token);
            }
            _ => {}
        }
    }

    fn on_wake(&mut self, token: Token) {
        if let Some(Some(Entry::Engine { engine, .. })) = self.entries.get_mut(token_index(token)) {
            if engine.connecting {
                return;
            }
            engine.unblock();
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
            })) = self.entries.get_mut(token_index(token))
            else {
                return;
            };
            let mut stream = match listener.accept() {
                Ok(s) => s,
                // WouldBlock: all accepted. Other errors (EMFILE, aborted
                // connections) must not kill the listener: try again later.
                Err(_) => return,
            };
            let (listener_id, socket, options) = (*id, socket.clone(), options.clone());
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
            let engine = Engine::new(stream, socket, &options, None, false);
            let got = self.insert(Entry::Engine {
                engine: Box::new(engine),
                origin: Origin::Accepted {
                    listener: listener_id,
                    options,
                    pipe_id: None,
                },
            });
            debug_assert_eq!(got, new_token);
        }
    }

    fn service(&mut self, token: Token) {
        loop {
            let Some(Some(Entry::Engine { engine, .. })) = self.entries.get_mut(token_index(token))
            else {
                return;
            };
            match engine.service(&mut self.scratch) {
                Ok(Progress::Idle) => return,
                Ok(Progress::More) => {
                    self.again.push(token);
                    return;
                }
                Ok(Progress::HandshakeDone(peer)) => self.handshake_done(token, peer),
                Err(Closed::Drained) => return self.close_engine(token, false),
                Err(Closed::Disconnected(_reason)) => return self.close_engine(token, true),
            }
        }
    }

    fn handshake_done(&mut self, token: Token, peer: ferromq_proto::PeerInfo) {
        let waker = self.waker_for(token);
        let Some(Some(Entry::Engine { engine, origin })) = self.entries.get_mut(token_index(token))
        else {
            return;
        };
        let routing_id = peer.identity();
        match origin {
            Origin::Accepted {
                options, pipe_id, ..
            } => {
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
                    from_socket: out_r,
                });
                *pipe_id = Some(id);
                engine.socket.mailbox.send(SocketCmd::Attach {
                    id,
                    pipe: SocketPipe {
                        reader: in_r,
                        writer: out_w,
                        routing_id,
                        notice: None,
                    },
                });
            }
            Origin::Connected { connecter } => {
                if let Some(c) = self.connecters.get_mut(connecter) {
                    c.ivl = Duration::from_millis(c.options.reconnect_ivl.max(0) as u64);
                    engine.socket.mailbox.send(SocketCmd::PeerReady {
                        id: c.pipe_id,
                        routing_id,
                        reconnected: c.connected_before,
                    });
                    c.connected_before = true;
                }
            }
        }
    }

    fn close_engine(&mut self, token: Token, may_reconnect: bool) {
        let Some(Entry::Engine { mut engine, origin }) = self.remove(token) else {
            return;
        };
        engine.flush_before_close();
        let _ = self.poll.registry().deregister(&mut engine.stream);
        match origin {
            Origin::Accepted { pipe_id, .. } => {
                if let Some(id) = pipe_id {
                    engine.socket.mailbox.send(SocketCmd::Detach { id });
                }
            }
            Origin::Connected { connecter } => {
                let pipes = engine.take_pipes();
                let Some(c) = self.connecters.get_mut(&connecter) else {
                    return;
                };
                c.engine = None;
                c.pipes = pipes;
                let socket_gone = c.pipes.as_mut().is_none_or(|p| p.from_socket.is_closed());
                if c.closing && socket_gone {
                    self.connecters.remove(&connecter);
                } else if may_reconnect || c.closing {
                    self.schedule_reconnect(connecter);
                }
            }
        }
    }
}
