//! Commands: a single command frame holding a name and data.
//!
//! ```text
//! command-body = command-name command-data
//! command-name = short-size 1*255command-name-char
//! ```

use crate::error::{ProtocolError, Result};
use crate::frame::{FrameHeader, FrameKind};
use crate::metadata::Metadata;
use bytes::{BufMut, Bytes};

/// Longest PING context a PONG echoes back.
//= rfc37#connection-heartbeating
//# ping-context = 0*16OCTET
pub const MAX_PING_CONTEXT: usize = 16;

/// A ZMTP command.
///
/// ```
/// use ferromq_proto::Command;
/// let ping = Command::Ping { ttl: 30, context: "abc".into() };
/// let body = ping.to_body();
/// assert_eq!(&body[..], b"\x04PING\x00\x1eabc");
/// assert_eq!(Command::parse(body).unwrap(), ping);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// NULL mechanism's final handshake command (and PLAIN/CURVE's
    /// clear-text READY): the sender's metadata.
    Ready(Metadata),
    /// A fatal error during the handshake; the reason is for logging.
    Error {
        /// Up to 255 octets of reason text.
        reason: Bytes,
    },
    /// Subscribe to messages starting with this prefix (ZMTP 3.1).
    Subscribe(Bytes),
    /// Cancel one subscription to this prefix (ZMTP 3.1).
    Cancel(Bytes),
    /// Heartbeat request.
    Ping {
        /// Time-to-live hint in tenths of a second (0 = none).
        ttl: u16,
        /// Context the PONG must echo (at most 16 octets are echoed).
        context: Bytes,
    },
    /// Heartbeat reply, echoing the PING context.
    Pong {
        /// The echoed context.
        context: Bytes,
    },
    /// Any other command (mechanism commands like HELLO, or future ones):
    /// passed up rather than treated as fatal.
    Unknown {
        /// The command name.
        name: Bytes,
        /// Everything after the name.
        data: Bytes,
    },
}

fn split_name(body: &Bytes) -> Result<(Bytes, Bytes)> {
    let Some(&name_len) = body.first() else {
        return Err(ProtocolError::MalformedCommand {
            command: "?",
            reason: "empty command frame",
        });
    };
    let name_len = usize::from(name_len);
    //= rfc37#formal-grammar
    //# command-name = short-size 1*255command-name-char
    //# command-name-char = ALPHA
    if name_len == 0 || body.len() < 1 + name_len {
        return Err(ProtocolError::MalformedCommand {
            command: "?",
            reason: "command name empty or longer than the frame",
        });
    }
    let name = body.slice(1..1 + name_len);
    if !name.iter().all(u8::is_ascii_alphabetic) {
        return Err(ProtocolError::MalformedCommand {
            command: "?",
            reason: "command name is not alphabetic",
        });
    }
    Ok((name, body.slice(1 + name_len..)))
}

impl Command {
    /// Parses a command frame's body.
    pub fn parse(body: Bytes) -> Result<Command> {
        let (name, data) = split_name(&body)?;
        Ok(match &name[..] {
            b"READY" => Command::Ready(Metadata::parse_shared(&data)?),
            b"ERROR" => {
                //= rfc37#the-null-security-mechanism
                //# error-reason = short-size 0*255VCHAR
                let len = data.first().map(|&l| usize::from(l));
                match len {
                    Some(len) if data.len() == 1 + len => Command::Error {
                        reason: data.slice(1..),
                    },
                    _ => {
                        return Err(ProtocolError::MalformedCommand {
                            command: "ERROR",
                            reason: "reason size does not match the command size",
                        })
                    }
                }
            }
            b"SUBSCRIBE" => Command::Subscribe(data),
            b"CANCEL" => Command::Cancel(data),
            b"PING" => {
                //# ping = command-size %d4 "PING" ping-ttl ping-context
                if data.len() < 2 {
                    return Err(ProtocolError::MalformedCommand {
                        command: "PING",
                        reason: "shorter than its 2-octet TTL",
                    });
                }
                Command::Ping {
                    ttl: u16::from_be_bytes([data[0], data[1]]),
                    context: data.slice(2..),
                }
            }
            b"PONG" => Command::Pong { context: data },
            _ => Command::Unknown { name, data },
        })
    }

    /// The command name (`READY`, `PING`, ...).
    pub fn name(&self) -> &[u8] {
        match self {
            Command::Ready(_) => b"READY",
            Command::Error { .. } => b"ERROR",
            Command::Subscribe(_) => b"SUBSCRIBE",
            Command::Cancel(_) => b"CANCEL",
            Command::Ping { .. } => b"PING",
            Command::Pong { .. } => b"PONG",
            Command::Unknown { name, .. } => name,
        }
    }

    /// Length of the encoded body (name included, frame header excluded).
    pub fn body_len(&self) -> usize {
        1 + self.name().len()
            + match self {
                Command::Ready(md) => md.encoded_len(),
                Command::Error { reason } => 1 + reason.len().min(255),
                Command::Subscribe(t) | Command::Cancel(t) => t.len(),
                Command::Ping { context, .. } => 2 + context.len(),
                Command::Pong { context } => context.len(),
                Command::Unknown { data, .. } => data.len(),
            }
    }

    /// Appends the body (name and data, no frame header) to `dst`. An ERROR
    /// reason longer than 255 octets is truncated, as the grammar requires.
    pub fn encode_body<B: BufMut>(&self, dst: &mut B) {
        let name = self.name();
        dst.put_u8(name.len() as u8);
        dst.put_slice(name);
        match self {
            Command::Ready(md) => md.encode(dst),
            Command::Error { reason } => {
                let reason = &reason[..reason.len().min(255)];
                dst.put_u8(reason.len() as u8);
                dst.put_slice(reason);
            }
            Command::Subscribe(t) | Command::Cancel(t) => dst.put_slice(t),
            Command::Ping { ttl, context } => {
                dst.put_u16(*ttl);
                dst.put_slice(context);
            }
            Command::Pong { context } => dst.put_slice(context),
            Command::Unknown { data, .. } => dst.put_slice(data),
        }
    }

    /// The body as a new buffer.
    pub fn to_body(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.body_len());
        self.encode_body(&mut out);
        out.into()
    }

    /// Appends a whole command frame (header and body) to `dst`.
    pub fn encode_frame<B: BufMut>(&self, dst: &mut B) {
        dst.put_slice(FrameHeader::new(FrameKind::Command, self.body_len()).as_bytes());
        self.encode_body(dst);
    }

    /// Checks that the command can be encoded as given: names of 1 to 255
    /// letters for [`Command::Unknown`].
    pub fn validate(&self) -> Result<()> {
        let name = self.name();
        if name.is_empty() || name.len() > 255 || !name.iter().all(u8::is_ascii_alphabetic) {
            return Err(ProtocolError::Encode("command name must be 1-255 letters"));
        }
        Ok(())
    }

    /// The PONG answering this PING (context truncated to 16 octets, as
    /// libzmq does); `None` for other commands.
    pub fn pong_for(&self) -> Option<Command> {
        match self {
            Command::Ping { context, .. } => Some(Command::Pong {
                context: context.slice(..context.len().min(MAX_PING_CONTEXT)),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_commands() {
        let cases: &[&[u8]] = &[
            b"",
            b"\x00",
            b"\x05READ",
            b"\x03A1B",
            b"\x04PING\x00",
            b"\x05ERROR",
            b"\x05ERROR\x05abc",
            b"\x05ERROR\x01abc",
            b"\x05READY\x00\0\0\0\0",
        ];
        for body in cases {
            assert!(
                Command::parse(Bytes::copy_from_slice(body)).is_err(),
                "{body:?} should be rejected"
            );
        }
    }

    #[test]
    fn unknown_commands_pass_up() {
        let cmd = Command::parse(Bytes::from_static(b"\x05HELLOworld")).unwrap();
        assert_eq!(
            cmd,
            Command::Unknown {
                name: Bytes::from_static(b"HELLO"),
                data: Bytes::from_static(b"world")
            }
        );
    }

    #[test]
    fn pong_truncates_long_context() {
        let ping = Command::Ping {
            ttl: 0,
            context: Bytes::from(vec![b'c'; 40]),
        };
        let Some(Command::Pong { context }) = ping.pong_for() else {
            panic!("PING must have a PONG")
        };
        assert_eq!(context.len(), 16);
    }

    #[test]
    fn error_reason_truncated_to_255() {
        let err = Command::Error {
            reason: Bytes::from(vec![b'e'; 300]),
        };
        let body = err.to_body();
        assert_eq!(body.len(), err.body_len());
        let Command::Error { reason } = Command::parse(body).unwrap() else {
            panic!("not an ERROR")
        };
        assert_eq!(reason.len(), 255);
    }
}
