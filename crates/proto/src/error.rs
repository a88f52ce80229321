//! The one error type of the protocol layer.
//!
//! Every variant names what was wrong with the bytes a peer sent (or with what
//! the caller asked to encode), so a log line or monitor event can say why a
//! connection was dropped. None of them is recoverable on the same connection:
//! after an `Err` the connection is dead and the caller closes it.

use crate::socket_type::SocketType;

/// Why a ZMTP connection cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The first ten octets are not `%xFF padding %x7F` with the low bit of
    /// octet 9 set: this is not a ZMTP 2.0+ peer (or not ZMTP at all).
    #[error("bad greeting signature: first bytes are not a ZMTP signature")]
    BadSignature,
    /// The peer speaks ZMTP 1.0 or 2.0, which this implementation does not
    /// (yet) downgrade to.
    #[error("peer speaks ZMTP {0}, which is not supported (need 3.0 or later)")]
    UnsupportedVersion(&'static str),
    /// The mechanism field holds characters the grammar does not allow.
    #[error("malformed mechanism name in greeting")]
    BadMechanismName,
    /// Both peers must announce exactly the same security mechanism.
    #[error("security mechanism mismatch: we use {ours}, peer uses {theirs}")]
    MechanismMismatch {
        /// Our mechanism name.
        ours: String,
        /// The mechanism name the peer announced.
        theirs: String,
    },
    /// Bits 7-3 of a frame's flags octet must be zero.
    #[error("frame flags {0:#04x} have reserved bits set")]
    ReservedFlags(u8),
    /// A command frame must not have the MORE flag.
    #[error("command frame has the MORE flag set")]
    CommandWithMore,
    /// A frame larger than the configured maximum (MAXMSGSIZE) or larger
    /// than this machine can address.
    #[error("frame of {size} bytes exceeds the maximum of {max} bytes")]
    FrameTooLarge {
        /// Declared frame size.
        size: u64,
        /// The limit in force.
        max: u64,
    },
    /// A command body that does not follow its grammar.
    #[error("malformed {command} command: {reason}")]
    MalformedCommand {
        /// Command name (or `"?"` when the name itself is malformed).
        command: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// A metadata property whose name has zero length.
    #[error("metadata property with an empty name")]
    EmptyPropertyName,
    /// A metadata property name with a character outside the RFC grammar.
    #[error("metadata property name has a forbidden character")]
    BadPropertyName,
    /// A property name or value runs past the end of the command body.
    #[error("metadata property runs past the end of the command ({0})")]
    TruncatedProperty(&'static str),
    /// A property value size above 2^31-1.
    #[error("metadata property value size {0} exceeds 2^31-1")]
    PropertyValueTooLarge(u32),
    /// The peer's READY has no Socket-Type property.
    #[error("peer did not announce its Socket-Type")]
    MissingSocketType,
    /// The peer's Socket-Type value is not a known socket type.
    #[error("peer announced an unknown Socket-Type {0:?}")]
    UnknownSocketType(String),
    /// The peer's socket type cannot talk to ours (RFC 37 table).
    #[error("socket type mismatch: a {ours} socket cannot talk to a {theirs} peer")]
    SocketTypeMismatch {
        /// Our socket type.
        ours: SocketType,
        /// The peer's announced socket type.
        theirs: SocketType,
    },
    /// A command that is not valid at this point of the conversation.
    #[error("unexpected {0} command during {1}")]
    UnexpectedCommand(String, &'static str),
    /// A message frame before the handshake finished.
    #[error("message frame received before the handshake completed")]
    MessageBeforeHandshake,
    /// The peer sent an ERROR command; its reason is carried here.
    #[error("peer refused the connection: {0}")]
    PeerError(String),
    /// A mechanism-level failure (authentication, bad box, ...).
    #[error("security handshake failed: {0}")]
    Mechanism(String),
    /// The caller asked to encode something the grammar cannot express.
    #[error("cannot encode: {0}")]
    Encode(&'static str),
    /// The connection already failed; nothing more can be done with it.
    #[error("connection already failed")]
    Closed,
}

/// Result alias for protocol operations.
pub type Result<T, E = ProtocolError> = std::result::Result<T, E>;

/// libzmq's `ZMQ_PROTOCOL_ERROR_ZMTP_*` values, the value of a
/// HANDSHAKE_FAILED_PROTOCOL monitor event.
pub mod zmtp_code {
    /// Nothing more specific applies.
    pub const UNSPECIFIED: u32 = 0x1000_0000;
    /// A command that is not valid at this point.
    pub const UNEXPECTED_COMMAND: u32 = 0x1000_0001;
    /// Something arrived out of sequence (a message before the handshake).
    pub const INVALID_SEQUENCE: u32 = 0x1000_0002;
    /// A malformed command other than the named ones.
    pub const MALFORMED_COMMAND_UNSPECIFIED: u32 = 0x1000_0011;
    /// A malformed ERROR command.
    pub const MALFORMED_COMMAND_ERROR: u32 = 0x1000_0015;
    /// A malformed READY command.
    pub const MALFORMED_COMMAND_READY: u32 = 0x1000_0016;
    /// Bad metadata, including a Socket-Type that cannot talk to ours.
    pub const INVALID_METADATA: u32 = 0x1000_0018;
    /// The peer announced another security mechanism.
    pub const MECHANISM_MISMATCH: u32 = 0x1100_0002;
}

impl ProtocolError {
    /// The libzmq protocol error code for this error (see [`zmtp_code`]).
    pub fn zmtp_code(&self) -> u32 {
        use ProtocolError::*;
        match self {
            MechanismMismatch { .. } => zmtp_code::MECHANISM_MISMATCH,
            MalformedCommand { command, .. } => match *command {
                "READY" => zmtp_code::MALFORMED_COMMAND_READY,
                "ERROR" => zmtp_code::MALFORMED_COMMAND_ERROR,
                _ => zmtp_code::MALFORMED_COMMAND_UNSPECIFIED,
            },
            EmptyPropertyName
            | BadPropertyName
            | TruncatedProperty(_)
            | PropertyValueTooLarge(_)
            | MissingSocketType
            | UnknownSocketType(_)
            | SocketTypeMismatch { .. } => zmtp_code::INVALID_METADATA,
            UnexpectedCommand(..) => zmtp_code::UNEXPECTED_COMMAND,
            MessageBeforeHandshake => zmtp_code::INVALID_SEQUENCE,
            _ => zmtp_code::UNSPECIFIED,
        }
    }
}
