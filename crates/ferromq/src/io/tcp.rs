//! TCP specifics: binding, resolving, socket options.

use crate::endpoint::{Endpoint, Port};
use crate::error::{Error, ErrorKind, Result};
use crate::options::{Options, TcpOptions};
use socket2::{Domain, Protocol, Socket as RawSocket, Type};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, ToSocketAddrs};
use std::time::Duration;

fn resolve(host: &str, port: u16, ipv6: bool, for_bind: bool) -> Result<SocketAddr> {
    if host == "*" {
        let ip = if ipv6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        return Ok(SocketAddr::new(ip, port));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        if ip.is_ipv6() && !ipv6 {
            return Err(Error::new(
                ErrorKind::EINVAL,
                format!("{host} is an IPv6 address but the IPV6 option is off"),
            ));
        }
        return Ok(SocketAddr::new(ip, port));
    }
    let addrs = (host, port).to_socket_addrs().map_err(|e| {
        Error::new(
            if for_bind {
                ErrorKind::ENODEV
            } else {
                ErrorKind::EINVAL
            },
            format!("cannot resolve {host:?}: {e}"),
        )
    })?;
    let addrs: Vec<SocketAddr> = addrs.collect();
    // IPv4 first, like libzmq; IPv6 only when allowed.
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.iter().find(|a| ipv6 && a.is_ipv6()))
        .copied()
        .ok_or_else(|| {
            Error::new(
                ErrorKind::ENODEV,
                format!("{host:?} has no usable address (IPV6 is {ipv6})"),
            )
        })
}

/// Resolves a connect target.
pub(crate) fn resolve_connect(host: &str, port: u16, options: &Options) -> Result<SocketAddr> {
    resolve(host, port, options.ipv6, false)
}

/// Binds a listening socket for `endpoint` with the socket's options.
pub(crate) fn bind(endpoint: &Endpoint, options: &Options) -> Result<TcpListener> {
    let Endpoint::Tcp { host, port } = endpoint else {
        return Err(Error::inval(format!("{endpoint} is not a tcp endpoint")));
    };
    let port = match port {
        Port::Any => 0,
        Port::Number(n) => *n,
    };
    let addr = resolve(host, port, options.ipv6, true)?;
    let domain = Domain::for_address(addr);
    let sock = RawSocket::new(domain, Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| Error::from_io(&e, "cannot create a tcp socket"))?;
    if addr.is_ipv6() && host == "*" {
        // Dual-stack when binding the wildcard with IPV6 on, as libzmq does.
        let _ = sock.set_only_v6(false);
    }
    sock.set_reuse_address(true)
        .map_err(|e| Error::from_io(&e, "cannot set SO_REUSEADDR"))?;
    apply_buffers(&sock, options);
    sock.bind(&addr.into()).map_err(|e| {
        let mut err = Error::from_io(&e, &format!("cannot bind {endpoint}"));
        if e.kind() == std::io::ErrorKind::AddrInUse {
            err = Error::new(
                ErrorKind::EADDRINUSE,
                format!("{endpoint} is already in use"),
            );
        }
        err
    })?;
    sock.listen(options.backlog.max(1))
        .map_err(|e| Error::from_io(&e, &format!("cannot listen on {endpoint}")))?;
    sock.set_nonblocking(true)
        .map_err(|e| Error::from_io(&e, "cannot make the listener non-blocking"))?;
    Ok(sock.into())
}

/// The LAST_ENDPOINT string of a bound listener (`tcp://0.0.0.0:41234`).
pub(crate) fn listener_endpoint(listener: &TcpListener) -> Result<String> {
    let addr = listener
        .local_addr()
        .map_err(|e| Error::from_io(&e, "cannot read the bound address"))?;
    Ok(match addr {
        SocketAddr::V4(a) => format!("tcp://{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("tcp://[{}]:{}", a.ip(), a.port()),
    })
}

fn apply_buffers(sock: &RawSocket, options: &Options) {
    // Failures here only mean the OS default stays: not worth failing for.
    if options.sndbuf > 0 {
        let _ = sock.set_send_buffer_size(options.sndbuf as usize);
    }
    if options.rcvbuf > 0 {
        let _ = sock.set_recv_buffer_size(options.rcvbuf as usize);
    }
}

/// Prepares a connected stream: no Nagle delay (ZeroMQ batches itself),
/// buffer sizes from the options.
pub(crate) fn tune_stream(stream: &mio::net::TcpStream, options: &Options) {
    let _ = stream.set_nodelay(true);
    let sock = socket2::SockRef::from(stream);
    if options.sndbuf > 0 {
        let _ = sock.set_send_buffer_size(options.sndbuf as usize);
    }
    if options.rcvbuf > 0 {
        let _ = sock.set_recv_buffer_size(options.rcvbuf as usize);
    }
    apply_tcp_options(&sock, &options.tcp);
}

/// TOS, keepalive and TCP_MAXRT, where set (libzmq's tune_tcp_*). As
/// with the buffer sizes, a setting the OS refuses leaves its default.
fn apply_tcp_options(sock: &socket2::SockRef<'_>, tcp: &TcpOptions) {
    if tcp.tos > 0 {
        let _ = sock.set_tos(tcp.tos as u32);
    }
    if tcp.keepalive != -1 {
        let _ = sock.set_keepalive(tcp.keepalive == 1);
    }
    if tcp.keepalive == 1 {
        let mut keepalive = socket2::TcpKeepalive::new();
        if tcp.keepalive_idle > 0 {
            keepalive = keepalive.with_time(Duration::from_secs(tcp.keepalive_idle as u64));
        }
        if tcp.keepalive_intvl > 0 {
            keepalive = keepalive.with_interval(Duration::from_secs(tcp.keepalive_intvl as u64));
        }
        if tcp.keepalive_cnt > 0 {
            keepalive = keepalive.with_retries(tcp.keepalive_cnt as u32);
        }
        let _ = sock.set_tcp_keepalive(&keepalive);
    }
    if tcp.maxrt > 0 {
        let _ = sock.set_tcp_user_timeout(Some(Duration::from_millis(tcp.maxrt as u64)));
    }
}
