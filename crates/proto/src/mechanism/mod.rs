//! Security mechanisms: the handshake after the greeting and, for
//! encrypting mechanisms, the transformation of every frame afterwards.
//!
//! A mechanism is a state machine driven by the [`Connection`]: it is asked
//! for commands to send ([`Mechanism::next_command`]), handed every command
//! the peer sends during the handshake ([`Mechanism::process_command`]), and
//! reports when the handshake is done ([`Mechanism::status`]). Mechanisms
//! that encrypt traffic (CURVE) also wrap each outgoing frame and unwrap each
//! incoming one; the others leave frames untouched and the connection takes
//! its zero-copy path.
//!
//! The server side of PLAIN and CURVE asks a ZAP handler about each peer:
//! see the [`zap`] module for how a mechanism pauses for the verdict.
//!
//! | mechanism | client | server |
//! | --------- | ------ | ------ |
//! | NULL (RFC 37) | [`NullMechanism`] | [`NullMechanism`] |
//! | PLAIN (RFC 24) | [`PlainClient`] | [`PlainServer`] |
//! | CURVE (RFC 25, 26) | [`CurveClient`] | [`CurveServer`] |
//!
//! [`Connection`]: crate::Connection

mod curve;
mod null;
mod plain;
mod secretbox;
pub mod zap;

pub use curve::{
    curve_keypair, curve_keypair_z85, curve_public, curve_public_z85, CurveClient, CurveKeyPair,
    CurveServer,
};
pub use null::NullMechanism;
pub use plain::{PlainClient, PlainServer};
pub use zap::{ZapContext, ZapReply, ZapRequest};

use crate::error::{ProtocolError, Result};
use crate::frame::{encode_frame, Frame, FrameKind};
use crate::greeting::MechanismName;
use crate::metadata::{self, Metadata};
use crate::socket_type::SocketType;
use bytes::{Bytes, BytesMut};
use std::fmt;

/// Where a mechanism's handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MechanismStatus {
    /// Commands are still to be exchanged.
    Handshaking,
    /// The handshake is complete: traffic may flow.
    Ready,
}

/// What a local socket announces about itself during the handshake.
#[derive(Debug, Clone)]
pub struct LocalProperties {
    /// Our socket type: announced as Socket-Type and used to check the peer's.
    pub socket_type: SocketType,
    /// Routing identity announced as Identity by REQ, DEALER and ROUTER.
    pub identity: Bytes,
    /// Extra properties (e.g. application `X-` properties).
    pub extra: Metadata,
}

impl LocalProperties {
    /// Properties of a socket of type `socket_type` with no identity.
    pub fn new(socket_type: SocketType) -> LocalProperties {
        LocalProperties {
            socket_type,
            identity: Bytes::new(),
            extra: Metadata::new(),
        }
    }

    /// The metadata sent in READY (or its encrypted equivalent): Socket-Type,
    /// then Identity for the socket types that announce one, then extras.
    pub fn to_metadata(&self) -> Metadata {
        let mut md = Metadata::new();
        // Names are constants that satisfy the grammar.
        let _ = md.insert(
            metadata::SOCKET_TYPE,
            Bytes::from_static(self.socket_type.name().as_bytes()),
        );
        if self.socket_type.sends_identity() {
            let _ = md.insert(metadata::IDENTITY, self.identity.clone());
        }
        for (name, value) in self.extra.iter() {
            let _ = md.insert(name, value.clone());
        }
        md
    }

    /// Validates a peer's metadata against our socket type: Socket-Type
    /// must be present, known and compatible. Returns the peer's type.
    pub fn check_peer(&self, peer: &Metadata) -> Result<SocketType> {
        let raw = peer
            .get(metadata::SOCKET_TYPE)
            .ok_or(ProtocolError::MissingSocketType)?;
        let theirs = SocketType::from_name(raw).ok_or_else(|| {
            ProtocolError::UnknownSocketType(String::from_utf8_lossy(raw).into_owned())
        })?;
        if !self.socket_type.is_compatible(theirs) {
            return Err(ProtocolError::SocketTypeMismatch {
                ours: self.socket_type,
                theirs,
            });
        }
        Ok(theirs)
    }
}

/// A ZMTP security mechanism.
///
/// The [`Connection`](crate::Connection) drives it: after the greetings it
/// sends every body [`next_command`](Mechanism::next_command) yields, hands
/// each received command to [`process_command`](Mechanism::process_command),
/// and asks again for commands to send, until [`status`](Mechanism::status)
/// is `Ready`. Any `Err` ends the connection.
pub trait Mechanism: Send + fmt::Debug {
    /// The name announced in the greeting.
    fn name(&self) -> MechanismName;

    /// The as-server octet of our greeting.
    fn as_server(&self) -> bool;

    /// The next handshake command body to send, if the mechanism has one
    /// ready now. Called until it returns `Ok(None)`.
    fn next_command(&mut self) -> Result<Option<Bytes>>;

    /// Handles one command body received during the handshake.
    fn process_command(&mut self, body: Bytes) -> Result<()>;

    /// Whether the handshake is done.
    fn status(&self) -> MechanismStatus;

    /// The peer's metadata, complete once [`status`](Mechanism::status) is
    /// `Ready`.
    fn peer_metadata(&self) -> &Metadata;

    /// The peer's validated socket type, once known.
    fn peer_socket_type(&self) -> Option<SocketType>;

    /// True if frames after the handshake are transformed (encrypted);
    /// false lets the connection send bodies without copying them.
    fn encrypts(&self) -> bool {
        false
    }

    /// Appends the wire form of one outgoing traffic frame to `out`.
    /// Non-encrypting mechanisms write the frame as is.
    fn encode_frame(&mut self, kind: FrameKind, body: &[u8], out: &mut BytesMut) -> Result<()> {
        encode_frame(out, kind, body);
        Ok(())
    }

    /// Turns one received traffic frame into the frame it carries.
    /// Non-encrypting mechanisms return it unchanged.
    fn decode_frame(&mut self, frame: Frame) -> Result<Frame> {
        Ok(frame)
    }

    /// The allocation-free form of [`decode_frame`](Mechanism::decode_frame)
    /// for short frames, used by encrypting mechanisms: opens the frame
    /// whose body is `body` (at most [`MAX_SHORT_BODY`] octets) and, if it
    /// carries a message frame, hands the message body and its MORE flag to
    /// `accept`. The frame counts as received only if `accept` returns
    /// true (`Ok(Some(true))`); on `Ok(Some(false))` nothing changed and
    /// the same frame may be offered again. `Ok(None)` means the frame was
    /// not handled (it carries a command, or the mechanism has no such
    /// path): pass it to `decode_frame`.
    ///
    /// [`MAX_SHORT_BODY`]: crate::MAX_SHORT_BODY
    fn decode_short_frame(
        &mut self,
        body: &[u8],
        accept: &mut dyn FnMut(&[u8], bool) -> bool,
    ) -> Result<Option<bool>> {
        let _ = (body, accept);
        Ok(None)
    }

    /// The ZAP request the handshake is waiting on, handed out once (server
    /// side of PLAIN and CURVE, after the client's credentials arrived).
    /// Until [`zap_reply`](Mechanism::zap_reply) is called the mechanism
    /// sends nothing (`next_command` is `Ok(None)`) and stays
    /// `Handshaking`. Mechanisms that never ask return `None`.
    fn zap_request(&mut self) -> Option<ZapRequest> {
        None
    }

    /// Hands the mechanism the ZAP handler's verdict (or
    /// [`ZapReply::no_handler`] when nothing answers ZAP). On 200 the
    /// handshake goes on; on 400 or 500 the next `next_command` yields an
    /// ERROR whose reason is the status code, and the one after it fails
    /// with [`ProtocolError::AuthFailed`]; on 300 `next_command` fails at
    /// once (libzmq closes silently). A reply while no request is
    /// outstanding is an error.
    fn zap_reply(&mut self, reply: ZapReply) -> Result<()> {
        let _ = reply;
        Err(ProtocolError::Zap(crate::error::ZapFault::Unexpected))
    }
}

/// The name of a command body: `None` when the body is empty, names an
/// empty name, or is too short to hold the name it announces.
pub(crate) fn command_name(body: &[u8]) -> Option<&[u8]> {
    let (&len, rest) = body.split_first()?;
    rest.get(..usize::from(len)).filter(|name| !name.is_empty())
}

/// The name of a command for error messages.
pub(crate) fn printable_name(body: &[u8]) -> String {
    match command_name(body) {
        Some(name) => String::from_utf8_lossy(name).into_owned(),
        None => "?".to_owned(),
    }
}
