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
    /// A CURVE box did not open: it was altered, forged, or made with
    /// other keys than the ones we hold (a wrong server key, say).
    #[error("CURVE: cannot open the {0} box (altered, or wrong keys)")]
    Cryptographic(&'static str),
    /// The CURVE client's vouch does not name the short-term key it is
    /// talking with: the INITIATE was not made by its sender.
    #[error("CURVE: the INITIATE vouch does not match the client's short-term key")]
    KeyExchange,
    /// A CURVE short nonce that does not increase: a replayed, reordered
    /// or forged command.
    #[error("CURVE: short nonce {got} does not follow the last one, {last}")]
    NonceNotIncreasing {
        /// The nonce the peer sent.
        got: u64,
        /// The highest nonce seen before it.
        last: u64,
    },
    /// Authentication failed: our ZAP handler refused the peer (server
    /// side) or the server sent an ERROR carrying a ZAP status code (client
    /// side). `status` is 300, 400 or 500, the value of libzmq's
    /// HANDSHAKE_FAILED_AUTH monitor event.
    #[error("authentication failed (ZAP status {status})")]
    AuthFailed {
        /// The ZAP status code: 300 (temporary), 400 (refused) or 500
        /// (handler failure).
        status: u16,
    },
    /// A PLAIN server found no ZAP handler to check the password: libzmq
    /// 4.3 then fails the handshake (monitor event
    /// HANDSHAKE_FAILED_NO_DETAIL with value EFAULT) and closes silently.
    #[error("PLAIN needs a ZAP handler to check credentials, and none is bound")]
    NoZapHandler,
    /// The ZAP handler's reply breaks RFC 27.
    #[error("bad ZAP reply: {0}")]
    Zap(ZapFault),
    /// The caller asked to encode something the grammar cannot express.
    #[error("cannot encode: {0}")]
    Encode(&'static str),
    /// The connection already failed; nothing more can be done with it.
    #[error("connection already failed")]
    Closed,
}

/// What was wrong with a ZAP handler's reply (RFC 27).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ZapFault {
    /// Not the seven frames of a reply, or a non-empty delimiter.
    #[error("not a seven-frame reply with an empty delimiter")]
    MalformedReply,
    /// The version frame is not "1.0".
    #[error("version is not 1.0")]
    BadVersion,
    /// The request id does not echo the request's.
    #[error("request id does not match the request")]
    BadRequestId,
    /// A status code other than 200, 300, 400 or 500.
    #[error("status code is not 200, 300, 400 or 500")]
    InvalidStatusCode,
    /// The metadata frame is not a valid property list.
    #[error("metadata frame is not a valid property list")]
    InvalidMetadata,
    /// A reply came when no request was outstanding.
    #[error("no ZAP request is outstanding")]
    Unexpected,
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
    /// A malformed MESSAGE command (CURVE traffic).
    pub const MALFORMED_COMMAND_MESSAGE: u32 = 0x1000_0012;
    /// A malformed HELLO command (PLAIN, CURVE).
    pub const MALFORMED_COMMAND_HELLO: u32 = 0x1000_0013;
    /// A malformed INITIATE command (PLAIN, CURVE).
    pub const MALFORMED_COMMAND_INITIATE: u32 = 0x1000_0014;
    /// A malformed WELCOME command (PLAIN, CURVE).
    pub const MALFORMED_COMMAND_WELCOME: u32 = 0x1000_0017;
    /// The CURVE vouch does not match (`ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE`).
    pub const KEY_EXCHANGE: u32 = 0x1000_0003;
    /// A CURVE box did not open.
    pub const CRYPTOGRAPHIC: u32 = 0x1100_0001;
    /// The peer announced another security mechanism.
    pub const MECHANISM_MISMATCH: u32 = 0x1100_0002;
    /// A ZAP failure with nothing more specific.
    pub const ZAP_UNSPECIFIED: u32 = 0x2000_0000;
    /// A ZAP reply that is not seven frames.
    pub const ZAP_MALFORMED_REPLY: u32 = 0x2000_0001;
    /// A ZAP reply for another request id.
    pub const ZAP_BAD_REQUEST_ID: u32 = 0x2000_0002;
    /// A ZAP reply of another version than 1.0.
    pub const ZAP_BAD_VERSION: u32 = 0x2000_0003;
    /// A ZAP reply status code other than 200, 300, 400 and 500.
    pub const ZAP_INVALID_STATUS_CODE: u32 = 0x2000_0004;
    /// A ZAP reply whose metadata does not parse.
    pub const ZAP_INVALID_METADATA: u32 = 0x2000_0005;
}

impl ProtocolError {
    /// The libzmq protocol error code for this error (see [`zmtp_code`]),
    /// the value of a HANDSHAKE_FAILED_PROTOCOL monitor event. An
    /// authentication failure is reported instead as HANDSHAKE_FAILED_AUTH
    /// with [`auth_status`](ProtocolError::auth_status) as its value.
    pub fn zmtp_code(&self) -> u32 {
        use ProtocolError::*;
        match self {
            MechanismMismatch { .. } => zmtp_code::MECHANISM_MISMATCH,
            MalformedCommand { command, .. } => match *command {
                "READY" => zmtp_code::MALFORMED_COMMAND_READY,
                "ERROR" => zmtp_code::MALFORMED_COMMAND_ERROR,
                "HELLO" => zmtp_code::MALFORMED_COMMAND_HELLO,
                "WELCOME" => zmtp_code::MALFORMED_COMMAND_WELCOME,
                "INITIATE" => zmtp_code::MALFORMED_COMMAND_INITIATE,
                "MESSAGE" => zmtp_code::MALFORMED_COMMAND_MESSAGE,
                _ => zmtp_code::MALFORMED_COMMAND_UNSPECIFIED,
            },
            Cryptographic(_) => zmtp_code::CRYPTOGRAPHIC,
            KeyExchange => zmtp_code::KEY_EXCHANGE,
            NonceNotIncreasing { .. } => zmtp_code::INVALID_SEQUENCE,
            Zap(fault) => match fault {
                ZapFault::MalformedReply => zmtp_code::ZAP_MALFORMED_REPLY,
                ZapFault::BadVersion => zmtp_code::ZAP_BAD_VERSION,
                ZapFault::BadRequestId => zmtp_code::ZAP_BAD_REQUEST_ID,
                ZapFault::InvalidStatusCode => zmtp_code::ZAP_INVALID_STATUS_CODE,
                ZapFault::InvalidMetadata => zmtp_code::ZAP_INVALID_METADATA,
                ZapFault::Unexpected => zmtp_code::ZAP_UNSPECIFIED,
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

    /// The ZAP status code (300, 400 or 500) when this is an
    /// authentication failure, the value of libzmq's HANDSHAKE_FAILED_AUTH
    /// monitor event; `None` for every other error.
    pub fn auth_status(&self) -> Option<u16> {
        match self {
            ProtocolError::AuthFailed { status } => Some(*status),
            _ => None,
        }
    }

    /// The error for an ERROR command received from a peer. A reason that
    /// is a ZAP status code ("300", "400" or "500", what libzmq servers
    /// send when their ZAP handler refuses us) is an authentication
    /// failure, as libzmq reports it; any other reason is a
    /// [`PeerError`](ProtocolError::PeerError).
    pub fn from_error_reason(reason: &[u8]) -> ProtocolError {
        match reason {
            [d @ b'3'..=b'5', b'0', b'0'] => ProtocolError::AuthFailed {
                status: u16::from(d - b'0') * 100,
            },
            _ => ProtocolError::PeerError(String::from_utf8_lossy(reason).into_owned()),
        }
    }
}
