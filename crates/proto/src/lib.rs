//! ZMTP — the ZeroMQ Message Transport Protocol, versions 3.0 and 3.1 — as
//! a sans-IO state machine.
//!
//! This crate owns no sockets, threads or clocks. The caller moves bytes:
//! received bytes go into [`Connection::recv_buf`], [`Connection::poll_event`]
//! turns them into [`Event`]s, and bytes to send wait in
//! [`Connection::output`], ready for one vectored write. Every frame,
//! command, greeting and metadata codec is also usable on its own.
//!
//! Specifications: RFC 23 (ZMTP 3.0), RFC 37 (ZMTP 3.1), RFC 32 (Z85),
//! RFC 24 (PLAIN), RFC 25 and 26 (CURVE, CurveZMQ), RFC 27 (ZAP).
//! Comments of the form `//= rfc37#section` followed by `//#` lines quote
//! the sentence the code beside them implements.
//!
//! Hostile input never panics and never makes the decoder allocate more than
//! was received plus a bounded chunk; every malformed input is a specific
//! [`ProtocolError`].

#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

mod command;
mod connection;
mod error;
mod frame;
mod greeting;
pub mod mechanism;
pub mod metadata;
mod outbuf;
mod socket_type;
pub mod z85;

pub use command::{Command, MAX_PING_CONTEXT};
pub use connection::{Connection, ConnectionOptions, Event, PeerInfo};
pub use error::{zmtp_code, ProtocolError, Result, ZapFault};
pub use frame::{
    encode_frame, Frame, FrameDecoder, FrameHeader, FrameKind, MAX_HEADER_LEN, MAX_READ_CHUNK,
    MAX_SHORT_BODY,
};
pub use greeting::{
    Greeting, GreetingReader, MechanismName, ZmtpVersion, GREETING_LEN, SIGNATURE_LEN,
};
pub use mechanism::zap::{zap_status, ZAP_ENDPOINT, ZAP_REQUEST_ID, ZAP_VERSION};
pub use mechanism::{
    curve_keypair, curve_keypair_z85, curve_public, curve_public_z85, CurveClient, CurveKeyPair,
    CurveServer, LocalProperties, Mechanism, MechanismStatus, NullMechanism, PlainClient,
    PlainServer, ZapContext, ZapReply, ZapRequest,
};
pub use metadata::Metadata;
pub use outbuf::{OutBuf, ZERO_COPY_THRESHOLD};
pub use socket_type::SocketType;
