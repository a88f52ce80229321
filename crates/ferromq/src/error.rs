//! The error type: every failure carries a libzmq errno kind and a message
//! saying what was wrong.

use std::borrow::Cow;
use std::fmt;

/// libzmq's private errno base (`ZMQ_HAUSNUMERO`).
const HAUSNUMERO: i32 = 156_384_712;

/// The kind of an error, one per libzmq errno value. [`ErrorKind::errno`]
/// gives the number the C ABI reports (Linux values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Non-blocking mode was requested and the operation cannot complete now,
    /// or a timeout expired.
    EAGAIN,
    /// Invalid argument (bad option value, bad endpoint, ...).
    EINVAL,
    /// The operation is not valid in the socket's current state (REQ/REP
    /// alternation).
    EFSM,
    /// The context was terminated.
    ETERM,
    /// The message cannot be routed (ROUTER_MANDATORY, unknown peer).
    EHOSTUNREACH,
    /// The transport protocol is not supported.
    EPROTONOSUPPORT,
    /// The transport is not compatible with the socket type.
    ENOCOMPATPROTO,
    /// The address is already in use.
    EADDRINUSE,
    /// The requested address is not local.
    EADDRNOTAVAIL,
    /// No such device / endpoint could not be resolved.
    ENODEV,
    /// The endpoint is not bound or connected (unbind/disconnect).
    ENOENT,
    /// The operation is not supported by this socket type.
    ENOTSUP,
    /// The socket was closed or is invalid.
    ENOTSOCK,
    /// The call was interrupted.
    EINTR,
    /// Message too large.
    EMSGSIZE,
    /// Too many open sockets or files.
    EMFILE,
    /// Out of memory.
    ENOMEM,
    /// Connection refused.
    ECONNREFUSED,
    /// A name (an ipc path) is too long.
    ENAMETOOLONG,
    /// Any other operating-system error (its errno).
    Os(i32),
}

impl ErrorKind {
    /// The errno value libzmq reports for this kind (Linux numbering).
    pub fn errno(self) -> i32 {
        match self {
            ErrorKind::EAGAIN => 11,
            ErrorKind::EINVAL => 22,
            ErrorKind::EFSM => HAUSNUMERO + 51,
            ErrorKind::ENOCOMPATPROTO => HAUSNUMERO + 52,
            ErrorKind::ETERM => HAUSNUMERO + 53,
            ErrorKind::EHOSTUNREACH => 113,
            ErrorKind::EPROTONOSUPPORT => 93,
            ErrorKind::EADDRINUSE => 98,
            ErrorKind::EADDRNOTAVAIL => 99,
            ErrorKind::ENODEV => 19,
            ErrorKind::ENOENT => 2,
            ErrorKind::ENOTSUP => 95,
            ErrorKind::ENOTSOCK => 88,
            ErrorKind::EINTR => 4,
            ErrorKind::EMSGSIZE => 90,
            ErrorKind::EMFILE => 24,
            ErrorKind::ENOMEM => 12,
            ErrorKind::ECONNREFUSED => 111,
            ErrorKind::ENAMETOOLONG => 36,
            ErrorKind::Os(code) => code,
        }
    }

    /// The kind for an errno value.
    pub fn from_errno(errno: i32) -> ErrorKind {
        const KNOWN: [ErrorKind; 19] = [
            ErrorKind::EAGAIN,
            ErrorKind::EINVAL,
            ErrorKind::EFSM,
            ErrorKind::ENOCOMPATPROTO,
            ErrorKind::ETERM,
            ErrorKind::EHOSTUNREACH,
            ErrorKind::EPROTONOSUPPORT,
            ErrorKind::EADDRINUSE,
            ErrorKind::EADDRNOTAVAIL,
            ErrorKind::ENODEV,
            ErrorKind::ENOENT,
            ErrorKind::ENOTSUP,
            ErrorKind::ENOTSOCK,
            ErrorKind::EINTR,
            ErrorKind::EMSGSIZE,
            ErrorKind::EMFILE,
            ErrorKind::ENOMEM,
            ErrorKind::ECONNREFUSED,
            ErrorKind::ENAMETOOLONG,
        ];
        KNOWN
            .into_iter()
            .find(|k| k.errno() == errno)
            .unwrap_or(ErrorKind::Os(errno))
    }
}

/// A ferromq error: a libzmq errno kind plus a message saying what was wrong.
///
/// ```
/// use ferromq::{Context, ErrorKind, SocketType};
/// let ctx = Context::new();
/// let sock = ctx.socket(SocketType::Push).unwrap();
/// let err = sock.bind("tcp://127.0.0.1").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::EINVAL);
/// assert!(err.to_string().contains("port"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: Cow<'static, str>,
}

impl Error {
    /// An error of `kind` with an explanation.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The errno kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The errno value (as `zmq_errno()` would report it).
    pub fn errno(&self) -> i32 {
        self.kind.errno()
    }

    /// The explanation.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn again(what: &'static str) -> Error {
        Error::new(ErrorKind::EAGAIN, what)
    }

    pub(crate) fn term() -> Error {
        Error::new(ErrorKind::ETERM, "the context was terminated")
    }

    pub(crate) fn inval(message: impl Into<Cow<'static, str>>) -> Error {
        Error::new(ErrorKind::EINVAL, message)
    }

    pub(crate) fn from_io(err: &std::io::Error, context: &str) -> Error {
        let kind = err
            .raw_os_error()
            .map_or(ErrorKind::Os(0), ErrorKind::from_errno);
        Error::new(kind, format!("{context}: {err}"))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.message, self.kind)
    }
}

impl std::error::Error for Error {}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_values_match_libzmq_on_linux() {
        assert_eq!(ErrorKind::EFSM.errno(), 156_384_763);
        assert_eq!(ErrorKind::ETERM.errno(), 156_384_765);
        assert_eq!(ErrorKind::EAGAIN.errno(), 11);
        assert_eq!(ErrorKind::EHOSTUNREACH.errno(), 113);
        for kind in [ErrorKind::EFSM, ErrorKind::EADDRINUSE, ErrorKind::Os(7)] {
            assert_eq!(ErrorKind::from_errno(kind.errno()), kind);
        }
    }
}
