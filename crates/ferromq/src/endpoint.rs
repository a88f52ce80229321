//! Endpoint strings: `transport://address`, for tcp, ipc and inproc.

use crate::error::{Error, ErrorKind, Result};
use std::fmt;

/// A parsed endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `tcp://host:port`; `host` may be `*`, an IPv4/IPv6 literal or a name.
    Tcp { host: String, port: Port },
    /// `ipc://path`, `ipc://@abstract-name` or `ipc://*`.
    Ipc(IpcAddr),
    /// `inproc://name`: sockets of one context, joined without I/O.
    Inproc(String),
}

/// Where an ipc endpoint lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IpcAddr {
    /// A filesystem path, absolute or relative to the working directory.
    Path(String),
    /// A Linux abstract-namespace name (`ipc://@name`, without the `@`).
    Abstract(String),
    /// `ipc://*`: bind to a fresh path in a new temporary directory.
    Wildcard,
}

/// The longest ipc address: `sun_path` is 108 bytes with its terminator
/// (for an abstract name, the leading NUL takes the `@`'s place).
pub(crate) const MAX_IPC_PATH: usize = 107;

/// A tcp port, or "any" (`*` / 0) for an ephemeral one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Port {
    Any,
    Number(u16),
}

impl Endpoint {
    pub(crate) fn parse(endpoint: &str) -> Result<Endpoint> {
        let Some((scheme, address)) = endpoint.split_once("://") else {
            return Err(Error::inval(format!(
                "endpoint {endpoint:?} is not of the form transport://address"
            )));
        };
        if address.is_empty() {
            return Err(Error::inval(format!(
                "endpoint {endpoint:?} has an empty address"
            )));
        }
        match scheme {
            "tcp" => parse_tcp(endpoint, address),
            "ipc" => parse_ipc(endpoint, address),
            "inproc" => Ok(Endpoint::Inproc(address.to_owned())),
            "pgm" | "epgm" | "vmci" | "udp" | "ws" | "wss" | "tipc" | "norm" => Err(Error::new(
                ErrorKind::EPROTONOSUPPORT,
                format!("transport {scheme:?} is not supported (yet) in {endpoint:?}"),
            )),
            _ => Err(Error::new(
                ErrorKind::EPROTONOSUPPORT,
                format!("unknown transport {scheme:?} in {endpoint:?}"),
            )),
        }
    }
}

fn parse_ipc(endpoint: &str, address: &str) -> Result<Endpoint> {
    let addr = match address {
        "*" => IpcAddr::Wildcard,
        _ => match address.strip_prefix('@') {
            Some("") => {
                return Err(Error::inval(format!(
                    "empty abstract ipc name in {endpoint:?}"
                )))
            }
            Some(name) => IpcAddr::Abstract(name.to_owned()),
            None => IpcAddr::Path(address.to_owned()),
        },
    };
    if address.len() > MAX_IPC_PATH {
        return Err(Error::new(
            ErrorKind::ENAMETOOLONG,
            format!(
                "ipc path in {endpoint:?} is {} bytes; at most {MAX_IPC_PATH} fit in a unix socket address",
                address.len()
            ),
        ));
    }
    if address.contains('\0') {
        return Err(Error::inval(format!(
            "ipc path in {endpoint:?} contains a NUL byte"
        )));
    }
    Ok(Endpoint::Ipc(addr))
}

fn parse_tcp(endpoint: &str, address: &str) -> Result<Endpoint> {
    // A connect endpoint may name a source address first: "src;dest".
    // Not supported yet; say so rather than mis-parse.
    if address.contains(';') {
        return Err(Error::inval(format!(
            "source-address syntax in {endpoint:?} is not supported"
        )));
    }
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let Some((host, tail)) = rest.split_once(']') else {
            return Err(Error::inval(format!(
                "unterminated IPv6 literal in {endpoint:?}"
            )));
        };
        let Some(port) = tail.strip_prefix(':') else {
            return Err(Error::inval(format!("missing port in {endpoint:?}")));
        };
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(Error::inval(format!(
                "bad IPv6 address {host:?} in {endpoint:?}"
            )));
        }
        (host, port)
    } else {
        let Some((host, port)) = address.rsplit_once(':') else {
            return Err(Error::inval(format!(
                "missing port in {endpoint:?} (expected tcp://host:port)"
            )));
        };
        if host.contains(':') {
            return Err(Error::inval(format!(
                "IPv6 address must be in brackets in {endpoint:?}"
            )));
        }
        (host, port)
    };
    if host.is_empty() {
        return Err(Error::inval(format!("missing host in {endpoint:?}")));
    }
    let port = match port {
        "*" | "0" => Port::Any,
        p => match p.parse::<u16>() {
            Ok(n) => Port::Number(n),
            Err(_) => {
                return Err(Error::inval(format!("bad port {p:?} in {endpoint:?}")));
            }
        },
    };
    Ok(Endpoint::Tcp {
        host: host.to_owned(),
        port,
    })
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port } => {
                let host_fmt = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.clone()
                };
                match port {
                    Port::Any => write!(f, "tcp://{host_fmt}:*"),
                    Port::Number(n) => write!(f, "tcp://{host_fmt}:{n}"),
                }
            }
            Endpoint::Ipc(IpcAddr::Path(path)) => write!(f, "ipc://{path}"),
            Endpoint::Ipc(IpcAddr::Abstract(name)) => write!(f, "ipc://@{name}"),
            Endpoint::Ipc(IpcAddr::Wildcard) => write!(f, "ipc://*"),
            Endpoint::Inproc(name) => write!(f, "inproc://{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_tcp_endpoints() {
        for (s, host, port) in [
            ("tcp://*:5555", "*", Port::Number(5555)),
            ("tcp://0.0.0.0:5555", "0.0.0.0", Port::Number(5555)),
            ("tcp://127.0.0.1:*", "127.0.0.1", Port::Any),
            ("tcp://127.0.0.1:0", "127.0.0.1", Port::Any),
            ("tcp://[::1]:5555", "::1", Port::Number(5555)),
            ("tcp://localhost:5555", "localhost", Port::Number(5555)),
        ] {
            assert_eq!(
                Endpoint::parse(s).unwrap(),
                Endpoint::Tcp {
                    host: host.into(),
                    port
                },
                "{s}"
            );
        }
    }

    #[test]
    fn malformed_endpoints() {
        for (s, kind) in [
            ("tcp://127.0.0.1", ErrorKind::EINVAL),
            ("tcp://:5555", ErrorKind::EINVAL),
            ("tcp://127.0.0.1:99999", ErrorKind::EINVAL),
            ("tcp://127.0.0.1:x", ErrorKind::EINVAL),
            ("tcp://[::1:5555", ErrorKind::EINVAL),
            ("tcp://[zz::1]:5555", ErrorKind::EINVAL),
            ("tcp://::1:5555", ErrorKind::EINVAL),
            ("127.0.0.1:5555", ErrorKind::EINVAL),
            ("tcp://", ErrorKind::EINVAL),
            ("tcp://127.0.0.1:", ErrorKind::EINVAL),
            ("tcp://[::1]", ErrorKind::EINVAL),
            ("tcp://[::1]5555", ErrorKind::EINVAL),
            ("ipc://", ErrorKind::EINVAL),
            ("ipc://@", ErrorKind::EINVAL),
            ("ipc://a\0b", ErrorKind::EINVAL),
            ("inproc://", ErrorKind::EINVAL),
            ("foo://bar", ErrorKind::EPROTONOSUPPORT),
            ("pgm://eth0;239.192.1.1:5555", ErrorKind::EPROTONOSUPPORT),
            ("ws://127.0.0.1:80", ErrorKind::EPROTONOSUPPORT),
        ] {
            assert_eq!(Endpoint::parse(s).unwrap_err().kind(), kind, "{s}");
        }
    }

    #[test]
    fn valid_ipc_and_inproc_endpoints() {
        for (s, want) in [
            (
                "ipc:///tmp/feeds/0",
                Endpoint::Ipc(IpcAddr::Path("/tmp/feeds/0".into())),
            ),
            (
                "ipc://weather.ipc",
                Endpoint::Ipc(IpcAddr::Path("weather.ipc".into())),
            ),
            (
                "ipc://@feeds",
                Endpoint::Ipc(IpcAddr::Abstract("feeds".into())),
            ),
            ("ipc://*", Endpoint::Ipc(IpcAddr::Wildcard)),
            ("inproc://workers", Endpoint::Inproc("workers".into())),
            ("inproc://a/b:c", Endpoint::Inproc("a/b:c".into())),
            ("inproc://*", Endpoint::Inproc("*".into())),
        ] {
            let parsed = Endpoint::parse(s).unwrap();
            assert_eq!(parsed, want, "{s}");
            assert_eq!(parsed.to_string(), s, "round trip of {s}");
        }
    }

    #[test]
    fn ipc_paths_must_fit_a_unix_socket_address() {
        let longest = format!("ipc:///{}", "a".repeat(MAX_IPC_PATH - 1));
        assert!(Endpoint::parse(&longest).is_ok());
        let too_long = format!("ipc:///{}", "a".repeat(MAX_IPC_PATH));
        let err = Endpoint::parse(&too_long).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ENAMETOOLONG);
        assert!(err.to_string().contains("at most 107"), "{err}");
        let abstract_too_long = format!("ipc://@{}", "a".repeat(MAX_IPC_PATH));
        assert_eq!(
            Endpoint::parse(&abstract_too_long).unwrap_err().kind(),
            ErrorKind::ENAMETOOLONG
        );
    }
}
