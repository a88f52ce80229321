//! Socket options: libzmq's numbers, defaults and type checks.

use crate::error::{Error, Result};
use bytes::Bytes;

/// libzmq option numbers (`ZMQ_*` in zmq.h), for raw access through
/// [`Socket::set_option_raw`](crate::Socket::set_option_raw).
#[allow(missing_docs)] // each constant is the libzmq option of the same name
pub mod id {
    pub const AFFINITY: i32 = 4;
    pub const ROUTING_ID: i32 = 5;
    pub const RATE: i32 = 8;
    pub const RECOVERY_IVL: i32 = 9;
    pub const MULTICAST_HOPS: i32 = 25;
    pub const IPV4ONLY: i32 = 31;
    pub const TCP_KEEPALIVE: i32 = 34;
    pub const TCP_KEEPALIVE_CNT: i32 = 35;
    pub const TCP_KEEPALIVE_IDLE: i32 = 36;
    pub const TCP_KEEPALIVE_INTVL: i32 = 37;
    pub const MECHANISM: i32 = 43;
    pub const PLAIN_SERVER: i32 = 44;
    pub const PLAIN_USERNAME: i32 = 45;
    pub const PLAIN_PASSWORD: i32 = 46;
    pub const CURVE_SERVER: i32 = 47;
    pub const CURVE_PUBLICKEY: i32 = 48;
    pub const CURVE_SECRETKEY: i32 = 49;
    pub const CURVE_SERVERKEY: i32 = 50;
    pub const ZAP_DOMAIN: i32 = 55;
    pub const TOS: i32 = 57;
    pub const INVERT_MATCHING: i32 = 74;
    pub const CONNECT_TIMEOUT: i32 = 79;
    pub const TCP_MAXRT: i32 = 80;
    pub const THREAD_SAFE: i32 = 81;
    pub const MULTICAST_MAXTPDU: i32 = 84;
    pub const USE_FD: i32 = 89;
    pub const ZAP_ENFORCE_DOMAIN: i32 = 93;
    pub const LOOPBACK_FASTPATH: i32 = 94;
    pub const MULTICAST_LOOP: i32 = 96;
    pub const SUBSCRIBE: i32 = 6;
    pub const UNSUBSCRIBE: i32 = 7;
    pub const SNDBUF: i32 = 11;
    pub const RCVBUF: i32 = 12;
    pub const RCVMORE: i32 = 13;
    pub const FD: i32 = 14;
    pub const EVENTS: i32 = 15;
    pub const TYPE: i32 = 16;
    pub const LINGER: i32 = 17;
    pub const RECONNECT_IVL: i32 = 18;
    pub const BACKLOG: i32 = 19;
    pub const RECONNECT_IVL_MAX: i32 = 21;
    pub const MAXMSGSIZE: i32 = 22;
    pub const SNDHWM: i32 = 23;
    pub const RCVHWM: i32 = 24;
    pub const RCVTIMEO: i32 = 27;
    pub const SNDTIMEO: i32 = 28;
    pub const LAST_ENDPOINT: i32 = 32;
    pub const ROUTER_MANDATORY: i32 = 33;
    pub const IMMEDIATE: i32 = 39;
    pub const XPUB_VERBOSE: i32 = 40;
    pub const IPV6: i32 = 42;
    pub const REQ_CORRELATE: i32 = 52;
    pub const REQ_RELAXED: i32 = 53;
    pub const CONFLATE: i32 = 54;
    pub const HANDSHAKE_IVL: i32 = 66;
    pub const HEARTBEAT_IVL: i32 = 75;
    pub const HEARTBEAT_TTL: i32 = 76;
    pub const HEARTBEAT_TIMEOUT: i32 = 77;
    pub const RECONNECT_STOP: i32 = 109;
    pub const XPUB_NODROP: i32 = 69;
    pub const XPUB_WELCOME_MSG: i32 = 72;
    pub const XPUB_VERBOSER: i32 = 78;
}

/// RECONNECT_STOP flags (libzmq's `ZMQ_RECONNECT_STOP_*`).
pub mod reconnect_stop {
    /// Stop when a connect is refused (nothing listens).
    pub const CONN_REFUSED: i32 = 0x1;
    /// Stop when a handshake fails (including a peer that drops or never
    /// answers during it).
    pub const HANDSHAKE_FAILED: i32 = 0x2;
    /// Stop a refused reconnect once the socket has disconnected any
    /// endpoint.
    pub const AFTER_DISCONNECT: i32 = 0x4;
}

/// `ZMQ_EVENTS` bit: a message can be received.
pub const POLLIN: i32 = 1;
/// `ZMQ_EVENTS` bit: a message can be sent.
pub const POLLOUT: i32 = 2;
/// Poll bit: an error condition on a raw file descriptor.
pub const POLLERR: i32 = 4;

/// Every option of a socket, with libzmq's defaults.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) sndhwm: i32,
    pub(crate) rcvhwm: i32,
    /// CONFLATE: keep only the latest message (see [`crate::pipe::conflates`]).
    pub(crate) conflate: bool,
    pub(crate) linger: i32,
    pub(crate) rcvtimeo: i32,
    pub(crate) sndtimeo: i32,
    pub(crate) routing_id: Bytes,
    pub(crate) reconnect_ivl: i32,
    pub(crate) reconnect_ivl_max: i32,
    pub(crate) maxmsgsize: i64,
    pub(crate) sndbuf: i32,
    pub(crate) rcvbuf: i32,
    pub(crate) backlog: i32,
    pub(crate) ipv6: bool,
    pub(crate) handshake_ivl: i32,
    pub(crate) heartbeat_ivl: i32,
    pub(crate) heartbeat_timeout: i32,
    pub(crate) heartbeat_ttl: i32,
    pub(crate) immediate: bool,
    pub(crate) reconnect_stop: i32,
    /// AFFINITY: the I/O threads (bit i = thread i) this socket's
    /// connections may use; 0 = any.
    pub(crate) affinity: u64,
    pub(crate) tcp: TcpOptions,
    /// CONNECT_TIMEOUT in ms (0 = the OS's own timeout).
    pub(crate) connect_timeout: i32,
    /// Options of the multicast transports (pgm, epgm, norm, udp), which
    /// libzmq keeps on every socket. None of those transports exists
    /// here, so they are kept and reported, and act on nothing.
    pub(crate) multicast: MulticastOptions,
    pub(crate) security: SecurityOptions,
}

/// The security mechanism a socket uses on its connections (ZMQ_MECHANISM
/// values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MechanismKind {
    Null = 0,
    Plain = 1,
    Curve = 2,
}

/// Security options, with libzmq's rules for how each one switches the
/// mechanism and the role (options.cpp): the last PLAIN/CURVE option set
/// decides.
#[derive(Debug, Clone)]
pub(crate) struct SecurityOptions {
    pub(crate) mechanism: MechanismKind,
    pub(crate) as_server: bool,
    pub(crate) plain_username: Bytes,
    pub(crate) plain_password: Bytes,
    pub(crate) curve_public: [u8; 32],
    pub(crate) curve_secret: [u8; 32],
    pub(crate) curve_server_key: [u8; 32],
    pub(crate) zap_domain: Bytes,
    pub(crate) zap_enforce_domain: bool,
}

impl Default for SecurityOptions {
    fn default() -> SecurityOptions {
        SecurityOptions {
            mechanism: MechanismKind::Null,
            as_server: false,
            plain_username: Bytes::new(),
            plain_password: Bytes::new(),
            curve_public: [0; 32],
            curve_secret: [0; 32],
            curve_server_key: [0; 32],
            zap_domain: Bytes::new(),
            zap_enforce_domain: false,
        }
    }
}

/// A CURVE key given as 32 raw bytes, or 40 Z85 characters (optionally
/// followed by a NUL), as libzmq accepts them.
fn curve_key(option: i32, value: &[u8]) -> Result<[u8; 32]> {
    let text = match value.len() {
        32 => return Ok(value.try_into().expect("32 bytes")),
        40 => value,
        41 if value[40] == 0 => &value[..40],
        n => {
            return Err(Error::inval(format!(
                "option {option} takes a CURVE key: 32 bytes or 40 Z85 characters, got {n} bytes"
            )))
        }
    };
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| ferromq_proto::z85::decode_key(t).ok())
        .ok_or_else(|| Error::inval(format!("option {option}: not a Z85-encoded CURVE key")))
}

/// PLAIN credentials: NULL/empty clears them (back to NULL security),
/// otherwise 1 to 255 bytes.
fn credential(option: i32, value: &[u8]) -> Result<Option<Bytes>> {
    match value.len() {
        0 => Ok(None),
        1..=255 => Ok(Some(Bytes::copy_from_slice(value))),
        n => Err(Error::inval(format!(
            "option {option}: PLAIN credentials are at most 255 bytes, got {n}"
        ))),
    }
}

/// TCP socket settings applied to every tcp connection of a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TcpOptions {
    /// TOS: the IP type-of-service byte (0 = leave as is).
    pub(crate) tos: i32,
    /// TCP_KEEPALIVE: -1 OS default, 0 off, 1 on.
    pub(crate) keepalive: i32,
    /// TCP_KEEPALIVE_CNT, _IDLE (s), _INTVL (s): -1 = OS default.
    pub(crate) keepalive_cnt: i32,
    pub(crate) keepalive_idle: i32,
    pub(crate) keepalive_intvl: i32,
    /// TCP_MAXRT (ms): how long unacknowledged data may wait before the
    /// connection is dropped (Linux TCP_USER_TIMEOUT); 0 = OS default.
    pub(crate) maxrt: i32,
}

/// See [`Options::multicast`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MulticastOptions {
    rate: i32,
    recovery_ivl: i32,
    hops: i32,
    maxtpdu: i32,
    loopback: i32,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            sndhwm: 1000,
            rcvhwm: 1000,
            conflate: false,
            linger: -1,
            rcvtimeo: -1,
            sndtimeo: -1,
            routing_id: Bytes::new(),
            reconnect_ivl: 100,
            reconnect_ivl_max: 0,
            maxmsgsize: -1,
            sndbuf: -1,
            rcvbuf: -1,
            backlog: 100,
            ipv6: false,
            handshake_ivl: 30_000,
            heartbeat_ivl: 0,
            heartbeat_timeout: -1,
            heartbeat_ttl: 0,
            immediate: false,
            reconnect_stop: 0,
            affinity: 0,
            tcp: TcpOptions {
                tos: 0,
                keepalive: -1,
                keepalive_cnt: -1,
                keepalive_idle: -1,
                keepalive_intvl: -1,
                maxrt: 0,
            },
            connect_timeout: 0,
            multicast: MulticastOptions {
                rate: 100,
                recovery_ivl: 10_000,
                hops: 1,
                maxtpdu: 1500,
                loopback: 1,
            },
            security: SecurityOptions::default(),
        }
    }
}

pub(crate) fn int_value(option: i32, value: &[u8]) -> Result<i32> {
    let raw: [u8; 4] = value.try_into().map_err(|_| {
        Error::inval(format!(
            "option {option} takes a 4-byte int, got {} bytes",
            value.len()
        ))
    })?;
    Ok(i32::from_ne_bytes(raw))
}

pub(crate) fn int64_value(option: i32, value: &[u8]) -> Result<i64> {
    let raw: [u8; 8] = value.try_into().map_err(|_| {
        Error::inval(format!(
            "option {option} takes an 8-byte int64, got {} bytes",
            value.len()
        ))
    })?;
    Ok(i64::from_ne_bytes(raw))
}

pub(crate) fn bool_value(option: i32, value: &[u8]) -> Result<bool> {
    match int_value(option, value)? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(Error::inval(format!(
            "option {option} takes 0 or 1, got {v}"
        ))),
    }
}

/// A non-negative int option read as a flag: libzmq's "relaxed" boolean
/// options (ROUTER_MANDATORY, XPUB_VERBOSE, ...) take any value >= 0.
pub(crate) fn flag_value(option: i32, value: &[u8]) -> Result<bool> {
    let v = int_value(option, value)?;
    if v < 0 {
        return Err(Error::inval(format!(
            "option {option} must be >= 0, got {v}"
        )));
    }
    Ok(v != 0)
}

fn at_least(option: &str, value: i32, min: i32) -> Result<i32> {
    if value < min {
        return Err(Error::inval(format!(
            "{option} must be >= {min}, got {value}"
        )));
    }
    Ok(value)
}

impl Options {
    /// libzmq's defaults for a socket of `socket_type`. SUB and XSUB start
    /// with LINGER 0, as in libzmq: closing them must not wait for pending
    /// subscriptions to reach a publisher.
    pub(crate) fn for_type(socket_type: ferromq_proto::SocketType) -> Options {
        use ferromq_proto::SocketType::{Sub, Xsub};
        let mut options = Options::default();
        if matches!(socket_type, Sub | Xsub) {
            options.linger = 0;
        }
        options
    }

    /// Sets a generic option from its raw libzmq encoding. Returns
    /// `Ok(false)` if the option is not a generic one (the socket type may
    /// know it).
    pub(crate) fn set_raw(&mut self, option: i32, value: &[u8]) -> Result<bool> {
        match option {
            id::SNDHWM => self.sndhwm = at_least("SNDHWM", int_value(option, value)?, 0)?,
            id::RCVHWM => self.rcvhwm = at_least("RCVHWM", int_value(option, value)?, 0)?,
            // Every socket type takes it, as in libzmq; it acts on some.
            id::CONFLATE => self.conflate = bool_value(option, value)?,
            id::LINGER => self.linger = at_least("LINGER", int_value(option, value)?, -1)?,
            id::RCVTIMEO => self.rcvtimeo = at_least("RCVTIMEO", int_value(option, value)?, -1)?,
            id::SNDTIMEO => self.sndtimeo = at_least("SNDTIMEO", int_value(option, value)?, -1)?,
            id::RECONNECT_IVL => {
                self.reconnect_ivl = at_least("RECONNECT_IVL", int_value(option, value)?, -1)?
            }
            id::RECONNECT_IVL_MAX => {
                self.reconnect_ivl_max =
                    at_least("RECONNECT_IVL_MAX", int_value(option, value)?, 0)?
            }
            id::SNDBUF => self.sndbuf = at_least("SNDBUF", int_value(option, value)?, -1)?,
            id::RCVBUF => self.rcvbuf = at_least("RCVBUF", int_value(option, value)?, -1)?,
            id::BACKLOG => self.backlog = at_least("BACKLOG", int_value(option, value)?, 0)?,
            id::HANDSHAKE_IVL => {
                self.handshake_ivl = at_least("HANDSHAKE_IVL", int_value(option, value)?, 0)?
            }
            id::HEARTBEAT_IVL => {
                self.heartbeat_ivl = at_least("HEARTBEAT_IVL", int_value(option, value)?, 0)?
            }
            id::HEARTBEAT_TIMEOUT => {
                self.heartbeat_timeout =
                    at_least("HEARTBEAT_TIMEOUT", int_value(option, value)?, 0)?
            }
            id::HEARTBEAT_TTL => {
                // Sent in deciseconds in a 16-bit field.
                let v = at_least("HEARTBEAT_TTL", int_value(option, value)?, 0)?;
                if v > i32::from(u16::MAX) * 100 {
                    return Err(Error::inval(format!(
                        "HEARTBEAT_TTL must be at most 6553500 ms, got {v}"
                    )));
                }
                self.heartbeat_ttl = v / 100 * 100;
            }
            id::IMMEDIATE => self.immediate = bool_value(option, value)?,
            id::RECONNECT_STOP => {
                self.reconnect_stop = at_least("RECONNECT_STOP", int_value(option, value)?, 0)?
            }
            id::IPV6 => self.ipv6 = bool_value(option, value)?,
            id::IPV4ONLY => self.ipv6 = !bool_value(option, value)?,
            id::AFFINITY => self.affinity = int64_value(option, value)? as u64,
            id::TOS => self.tcp.tos = at_least("TOS", int_value(option, value)?, 0)?,
            id::TCP_KEEPALIVE => {
                let v = int_value(option, value)?;
                if !(-1..=1).contains(&v) {
                    return Err(Error::inval(format!(
                        "TCP_KEEPALIVE must be -1, 0 or 1, got {v}"
                    )));
                }
                self.tcp.keepalive = v;
            }
            id::TCP_KEEPALIVE_CNT => {
                self.tcp.keepalive_cnt =
                    at_least("TCP_KEEPALIVE_CNT", int_value(option, value)?, -1)?
            }
            id::TCP_KEEPALIVE_IDLE => {
                self.tcp.keepalive_idle =
                    at_least("TCP_KEEPALIVE_IDLE", int_value(option, value)?, -1)?
            }
            id::TCP_KEEPALIVE_INTVL => {
                self.tcp.keepalive_intvl =
                    at_least("TCP_KEEPALIVE_INTVL", int_value(option, value)?, -1)?
            }
            id::TCP_MAXRT => self.tcp.maxrt = at_least("TCP_MAXRT", int_value(option, value)?, 0)?,
            id::CONNECT_TIMEOUT => {
                self.connect_timeout = at_least("CONNECT_TIMEOUT", int_value(option, value)?, 0)?
            }
            id::RATE => self.multicast.rate = at_least("RATE", int_value(option, value)?, 1)?,
            id::RECOVERY_IVL => {
                self.multicast.recovery_ivl =
                    at_least("RECOVERY_IVL", int_value(option, value)?, 0)?
            }
            id::MULTICAST_HOPS => {
                self.multicast.hops = at_least("MULTICAST_HOPS", int_value(option, value)?, 1)?
            }
            id::MULTICAST_MAXTPDU => {
                self.multicast.maxtpdu =
                    at_least("MULTICAST_MAXTPDU", int_value(option, value)?, 1)?
            }
            id::MULTICAST_LOOP => self.multicast.loopback = i32::from(bool_value(option, value)?),
            id::PLAIN_SERVER | id::CURVE_SERVER => {
                let on = match int_value(option, value)? {
                    0 => false,
                    1 => true,
                    v => {
                        return Err(Error::inval(format!(
                            "option {option} takes 0 or 1, got {v}"
                        )))
                    }
                };
                let sec = &mut self.security;
                sec.as_server = on;
                sec.mechanism = match (on, option) {
                    (false, _) => MechanismKind::Null,
                    (true, id::PLAIN_SERVER) => MechanismKind::Plain,
                    (true, _) => MechanismKind::Curve,
                };
            }
            id::PLAIN_USERNAME | id::PLAIN_PASSWORD => {
                let sec = &mut self.security;
                match credential(option, value)? {
                    None if option == id::PLAIN_USERNAME => {
                        sec.plain_username = Bytes::new();
                        sec.mechanism = MechanismKind::Null;
                    }
                    None => {
                        sec.plain_password = Bytes::new();
                        sec.mechanism = MechanismKind::Null;
                    }
                    Some(v) => {
                        if option == id::PLAIN_USERNAME {
                            sec.plain_username = v;
                        } else {
                            sec.plain_password = v;
                        }
                        sec.as_server = false;
                        sec.mechanism = MechanismKind::Plain;
                    }
                }
            }
            id::CURVE_PUBLICKEY | id::CURVE_SECRETKEY | id::CURVE_SERVERKEY => {
                let key = curve_key(option, value)?;
                let sec = &mut self.security;
                match option {
                    id::CURVE_PUBLICKEY => sec.curve_public = key,
                    id::CURVE_SECRETKEY => sec.curve_secret = key,
                    _ => {
                        sec.curve_server_key = key;
                        sec.as_server = false;
                    }
                }
                sec.mechanism = MechanismKind::Curve;
            }
            id::ZAP_DOMAIN => {
                if value.len() > 255 {
                    return Err(Error::inval("ZAP_DOMAIN is at most 255 bytes"));
                }
                self.security.zap_domain = Bytes::copy_from_slice(value);
            }
            id::ZAP_ENFORCE_DOMAIN => self.security.zap_enforce_domain = bool_value(option, value)?,
            id::MAXMSGSIZE => {
                let v = int64_value(option, value)?;
                if v < -1 {
                    return Err(Error::inval(format!("MAXMSGSIZE must be >= -1, got {v}")));
                }
                self.maxmsgsize = v;
            }
            id::ROUTING_ID => {
                //= rfc37#the-identity-property
                //# The first octet of the Identity SHALL NOT be zero
                if value.is_empty() || value.len() > 255 || value[0] == 0 {
                    return Err(Error::inval(
                        "ROUTING_ID must be 1 to 255 bytes and must not start with a zero byte",
                    ));
                }
                self.routing_id = Bytes::copy_from_slice(value);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Reads a generic option in its raw libzmq encoding.
    pub(crate) fn get_raw(&self, option: i32) -> Option<Vec<u8>> {
        let int = |v: i32| Some(v.to_ne_bytes().to_vec());
        match option {
            id::SNDHWM => int(self.sndhwm),
            id::RCVHWM => int(self.rcvhwm),
            id::CONFLATE => int(i32::from(self.conflate)),
            id::LINGER => int(self.linger),
            id::RCVTIMEO => int(self.rcvtimeo),
            id::SNDTIMEO => int(self.sndtimeo),
            id::RECONNECT_IVL => int(self.reconnect_ivl),
            id::RECONNECT_IVL_MAX => int(self.reconnect_ivl_max),
            id::SNDBUF => int(self.sndbuf),
            id::RCVBUF => int(self.rcvbuf),
            id::BACKLOG => int(self.backlog),
            id::IPV6 => int(i32::from(self.ipv6)),
            id::HANDSHAKE_IVL => int(self.handshake_ivl),
            id::HEARTBEAT_IVL => int(self.heartbeat_ivl),
            id::HEARTBEAT_TIMEOUT => int(self.heartbeat_timeout),
            id::HEARTBEAT_TTL => int(self.heartbeat_ttl),
            id::IMMEDIATE => int(i32::from(self.immediate)),
            id::RECONNECT_STOP => int(self.reconnect_stop),
            id::MAXMSGSIZE => Some(self.maxmsgsize.to_ne_bytes().to_vec()),
            id::IPV4ONLY => int(i32::from(!self.ipv6)),
            id::AFFINITY => Some(self.affinity.to_ne_bytes().to_vec()),
            id::TOS => int(self.tcp.tos),
            id::TCP_KEEPALIVE => int(self.tcp.keepalive),
            id::TCP_KEEPALIVE_CNT => int(self.tcp.keepalive_cnt),
            id::TCP_KEEPALIVE_IDLE => int(self.tcp.keepalive_idle),
            id::TCP_KEEPALIVE_INTVL => int(self.tcp.keepalive_intvl),
            id::TCP_MAXRT => int(self.tcp.maxrt),
            id::CONNECT_TIMEOUT => int(self.connect_timeout),
            id::RATE => int(self.multicast.rate),
            id::RECOVERY_IVL => int(self.multicast.recovery_ivl),
            id::MULTICAST_HOPS => int(self.multicast.hops),
            id::MULTICAST_MAXTPDU => int(self.multicast.maxtpdu),
            id::MULTICAST_LOOP => int(self.multicast.loopback),
            id::MECHANISM => int(self.security.mechanism as i32),
            id::PLAIN_SERVER => int(i32::from(
                self.security.as_server && self.security.mechanism == MechanismKind::Plain,
            )),
            id::CURVE_SERVER => int(i32::from(
                self.security.as_server && self.security.mechanism == MechanismKind::Curve,
            )),
            id::PLAIN_USERNAME => Some(self.security.plain_username.to_vec()),
            id::PLAIN_PASSWORD => Some(self.security.plain_password.to_vec()),
            id::CURVE_PUBLICKEY => Some(self.security.curve_public.to_vec()),
            id::CURVE_SECRETKEY => Some(self.security.curve_secret.to_vec()),
            id::CURVE_SERVERKEY => Some(self.security.curve_server_key.to_vec()),
            id::ZAP_DOMAIN => Some(self.security.zap_domain.to_vec()),
            id::ZAP_ENFORCE_DOMAIN => int(i32::from(self.security.zap_enforce_domain)),
            // Fixed answers: sockets that are not thread-safe, no adopted
            // fd, no inverted matching, and the Windows-only loopback fast
            // path off.
            id::THREAD_SAFE | id::INVERT_MATCHING | id::LOOPBACK_FASTPATH => int(0),
            id::USE_FD => int(-1),
            id::ROUTING_ID => Some(self.routing_id.to_vec()),
            _ => None,
        }
    }
}
