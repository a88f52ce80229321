//! A file descriptor that turns readable when raised: the socket's
//! ZMQ_FD, and a poller's wake-up. Made of a Unix socket pair, so it is
//! plain safe std; raising writes a byte, clearing reads them all.

use crate::pipe::Wake;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};

pub(crate) struct FdSignal {
    reader: UnixStream,
    writer: UnixStream,
    /// A byte may be waiting: lets `raise` and `clear` skip their syscall
    /// when they would change nothing.
    raised: AtomicBool,
}

impl FdSignal {
    pub(crate) fn new() -> std::io::Result<FdSignal> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        Ok(FdSignal {
            reader,
            writer,
            raised: AtomicBool::new(false),
        })
    }

    /// The descriptor to poll for readability.
    pub(crate) fn fd(&self) -> RawFd {
        self.reader.as_raw_fd()
    }

    /// Makes the descriptor readable.
    pub(crate) fn raise(&self) {
        if !self.raised.swap(true, Ordering::AcqRel) {
            // A full buffer means it is readable already.
            let _ = (&self.writer).write(&[1]);
        }
    }

    /// Makes the descriptor not readable (until the next raise).
    pub(crate) fn clear(&self) {
        if self.raised.swap(false, Ordering::AcqRel) {
            let mut sink = [0u8; 64];
            while matches!((&self.reader).read(&mut sink), Ok(n) if n > 0) {}
        }
    }
}

impl Wake for FdSignal {
    fn wake(&self) {
        self.raise();
    }
}
