//! The byte streams an engine can run over (tcp and ipc) and the listeners
//! that accept them, behind one type each so the engine and the reactor do
//! not care which transport they drive.

use super::ipc::IpcCleanup;
use mio::event::Source;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Interest, Registry, Token};
use std::io::{self, IoSlice, Read, Write};
use std::mem::MaybeUninit;

/// A connected stream.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn source(&mut self) -> &mut dyn Source {
        match self {
            Stream::Tcp(s) => s,
            Stream::Unix(s) => s,
        }
    }

    /// The error a non-blocking connect ended with, if any.
    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Tcp(s) => s.take_error(),
            Stream::Unix(s) => s.take_error(),
        }
    }

    /// The remote address as a URI, as libzmq reports it.
    pub(crate) fn peer_address(&self) -> Option<String> {
        match self {
            Stream::Tcp(s) => s.peer_addr().ok().map(|a| format!("tcp://{a}")),
            Stream::Unix(s) => s
                .peer_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| format!("ipc://{}", p.display()))),
        }
    }

    /// The file descriptor, the value of several monitor events.
    pub(crate) fn raw_fd(&self) -> u32 {
        use std::os::fd::AsRawFd;
        let fd = match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        };
        fd as u32
    }

    /// Makes the coming close an abort (SO_LINGER 0: an RST, and unsent
    /// data discarded) for a connection given up as dead: otherwise the
    /// kernel keeps retransmitting what it took, and after a partition
    /// heals the peer would get those old messages after newer ones sent
    /// on the next connection.
    pub(crate) fn abort_on_close(&self) {
        if let Stream::Tcp(s) = self {
            let _ = socket2::SockRef::from(s).set_linger(Some(std::time::Duration::ZERO));
        }
    }

    /// Whether the non-blocking connect reached the peer.
    pub(crate) fn is_connected(&self) -> bool {
        match self {
            Stream::Tcp(s) => s.peer_addr().is_ok(),
            Stream::Unix(s) => s.peer_addr().is_ok(),
        }
    }
}

impl Stream {
    /// Reads into memory not yet initialised (a buffer's spare capacity),
    /// saving the caller from zeroing what the kernel overwrites anyway.
    pub(crate) fn read_uninit(&self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => socket2::SockRef::from(s).recv(buf),
            Stream::Unix(s) => socket2::SockRef::from(s).recv(buf),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A bound endpoint accepting streams.
pub(crate) enum Listener {
    Tcp(TcpListener),
    /// The cleanup removes the socket file (and a generated directory) when
    /// the endpoint is unbound or its socket closes, as libzmq does.
    Unix {
        listener: UnixListener,
        _cleanup: IpcCleanup,
    },
}

impl Listener {
    fn source(&mut self) -> &mut dyn Source {
        match self {
            Listener::Tcp(l) => l,
            Listener::Unix { listener, .. } => listener,
        }
    }

    /// The listening file descriptor (the value of LISTENING and CLOSED).
    pub(crate) fn raw_fd(&self) -> u32 {
        use std::os::fd::AsRawFd;
        let fd = match self {
            Listener::Tcp(l) => l.as_raw_fd(),
            Listener::Unix { listener, .. } => listener.as_raw_fd(),
        };
        fd as u32
    }

    pub(crate) fn accept(&self) -> io::Result<Stream> {
        match self {
            Listener::Tcp(l) => l.accept().map(|(s, _)| Stream::Tcp(s)),
            Listener::Unix { listener: l, .. } => l.accept().map(|(s, _)| Stream::Unix(s)),
        }
    }
}

/// Registers the transport-specific stream or listener inside.
macro_rules! source_via_inner {
    ($t:ty) => {
        impl Source for $t {
            fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
                self.source().register(r, t, i)
            }

            fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
                self.source().reregister(r, t, i)
            }

            fn deregister(&mut self, r: &Registry) -> io::Result<()> {
                self.source().deregister(r)
            }
        }
    };
}

source_via_inner!(Stream);
source_via_inner!(Listener);
