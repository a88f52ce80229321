//! Socket options: libzmq's numbers, defaults and type checks.

use crate::error::{Error, Result};
use bytes::Bytes;

/// libzmq option numbers (`ZMQ_*` in zmq.h), for raw access through
/// [`Socket::set_option_raw`](crate::Socket::set_option_raw).
#[allow(missing_docs)] // each constant is the libzmq option of the same name
pub mod id {
    pub const ROUTING_ID: i32 = 5;
    pub const SUBSCRIBE: i32 = 6;
    pub const UNSUBSCRIBE: i32 = 7;
    pub const SNDBUF: i32 = 11;
    pub const RCVBUF: i32 = 12;
    pub const RCVMORE: i32 = 13;
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
    pub const XPUB_NODROP: i32 = 69;
    pub const XPUB_WELCOME_MSG: i32 = 72;
    pub const XPUB_VERBOSER: i32 = 78;
}

/// `ZMQ_EVENTS` bit: a message can be received.
pub const POLLIN: i32 = 1;
/// `ZMQ_EVENTS` bit: a message can be sent.
pub const POLLOUT: i32 = 2;

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
            // Refused until they do something: accepting an option that
            // changes nothing would mislead.
            id::HANDSHAKE_IVL | id::IMMEDIATE => {
                return Err(Error::inval(format!(
                    "option {option} ({}) is not supported yet",
                    if option == id::IMMEDIATE {
                        "IMMEDIATE"
                    } else {
                        "HANDSHAKE_IVL"
                    }
                )))
            }
            id::IPV6 => self.ipv6 = bool_value(option, value)?,
            id::MAXMSGSIZE => {
                let raw: [u8; 8] = value.try_into().map_err(|_| {
                    Error::inval(format!(
                        "MAXMSGSIZE takes an 8-byte int64, got {} bytes",
                        value.len()
                    ))
                })?;
                let v = i64::from_ne_bytes(raw);
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
            id::MAXMSGSIZE => Some(self.maxmsgsize.to_ne_bytes().to_vec()),
            id::ROUTING_ID => Some(self.routing_id.to_vec()),
            _ => None,
        }
    }
}
