//! ZAP, the ZeroMQ Authentication Protocol (RFC 27): how the server side of
//! a mechanism asks the application's authentication handler about a peer.
//!
//! The protocol layer does no I/O, so a mechanism that needs a verdict
//! pauses: after the peer's credentials arrive (PLAIN's HELLO, CURVE's
//! INITIATE) [`Mechanism::zap_request`] hands out one [`ZapRequest`], the
//! handshake sends nothing more, and it resumes when the caller passes the
//! handler's answer to [`Mechanism::zap_reply`]. On the wire to the handler
//! (a DEALER connected to `inproc://zeromq.zap.01`) the request is
//! [`ZapRequest::to_frames`], and the reply is read back with
//! [`ZapReply::parse`].
//!
//! [`Mechanism::zap_request`]: super::Mechanism::zap_request
//! [`Mechanism::zap_reply`]: super::Mechanism::zap_reply

use crate::command::Command;
use crate::error::{ProtocolError, Result, ZapFault};
use crate::greeting::MechanismName;
use crate::metadata::{self, Metadata};
use bytes::Bytes;

/// The version frame of every ZAP message.
//= rfc27#message-format
//# The version frame, which SHALL contain the three octets "1.0".
pub const ZAP_VERSION: &[u8] = b"1.0";

/// The request id libzmq puts in every request (each connection has at
/// most one request outstanding, on a pipe of its own).
pub const ZAP_REQUEST_ID: &[u8] = b"1";

/// The endpoint a ZAP handler binds.
//= rfc27#architecture
//# The handler SHALL bind to the endpoint "inproc://zeromq.zap.01".
pub const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";

/// What the server-side mechanism needs to know to ask a ZAP handler
/// about a peer, beyond what the peer itself sends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZapContext {
    /// The socket's ZAP domain (ZMQ_ZAP_DOMAIN; may be empty).
    pub domain: Bytes,
    /// The peer's address: its IP as text for tcp (what libzmq puts here),
    /// empty when unknown.
    pub address: Bytes,
}

impl ZapContext {
    /// A context for `domain` and a peer at `address`.
    pub fn new(domain: impl Into<Bytes>, address: impl Into<Bytes>) -> ZapContext {
        ZapContext {
            domain: domain.into(),
            address: address.into(),
        }
    }
}

/// One authentication request for the ZAP handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZapRequest {
    /// The ZAP domain.
    pub domain: Bytes,
    /// The peer's address.
    pub address: Bytes,
    /// Our socket's routing id (ZMQ_ROUTING_ID), which libzmq sends in the
    /// identity frame.
    pub routing_id: Bytes,
    /// "PLAIN", "CURVE" (or "NULL").
    pub mechanism: MechanismName,
    /// The credentials: username and password for PLAIN, the client's
    /// 32-octet long-term public key for CURVE, none for NULL.
    pub credentials: Vec<Bytes>,
}

impl ZapRequest {
    /// The request as the frames sent to the handler: an empty delimiter,
    /// "1.0", `request_id`, domain, address, identity, mechanism, then
    /// one frame per credential. All but the last have MORE set.
    ///
    /// ```
    /// use ferromq_proto::{MechanismName, ZapRequest};
    /// let req = ZapRequest {
    ///     domain: "global".into(),
    ///     address: "127.0.0.1".into(),
    ///     routing_id: Default::default(),
    ///     mechanism: MechanismName::PLAIN,
    ///     credentials: vec!["admin".into(), "secret".into()],
    /// };
    /// let frames = req.to_frames(b"1");
    /// assert_eq!(frames.len(), 9);
    /// assert_eq!(&frames[6][..], b"PLAIN");
    /// ```
    pub fn to_frames(&self, request_id: &[u8]) -> Vec<Bytes> {
        //= rfc27#message-format
        //# The request message SHALL consist of the following message frames:
        let mut frames = vec![
            Bytes::new(),
            Bytes::from_static(ZAP_VERSION),
            Bytes::copy_from_slice(request_id),
            self.domain.clone(),
            self.address.clone(),
            self.routing_id.clone(),
            Bytes::copy_from_slice(self.mechanism.as_str().as_bytes()),
        ];
        frames.extend(self.credentials.iter().cloned());
        frames
    }
}

/// ZAP status codes.
pub mod zap_status {
    //= rfc27#message-format
    //# status code: this shall be "200" to indicate success, "300" to
    //# indicate a temporary error, "400" to indicate authentication failure,
    //# and "500" to indicate an internal error (system failure).
    /// Success.
    pub const SUCCESS: u16 = 200;
    /// A temporary error: the client is disconnected without an ERROR.
    pub const TEMPORARY_ERROR: u16 = 300;
    /// Authentication failure.
    pub const AUTH_FAILURE: u16 = 400;
    /// The handler failed.
    pub const INTERNAL_ERROR: u16 = 500;
}

/// A ZAP handler's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZapReply {
    /// 200, 300, 400 or 500 (see [`zap_status`]).
    pub status_code: u16,
    /// Explanation for logs.
    pub status_text: Bytes,
    /// The authenticated user id, which becomes the peer's `User-Id`
    /// property. `None` when no handler answered (see
    /// [`ZapReply::no_handler`]): then there is no `User-Id` at all, as
    /// in libzmq.
    pub user_id: Option<Bytes>,
    /// Properties the handler attaches to the peer (they join the peer's
    /// metadata and take precedence over what the peer announced).
    pub metadata: Metadata,
}

impl ZapReply {
    /// The verdict to give when no handler is bound to [`ZAP_ENDPOINT`].
    /// CURVE (and NULL) then let the peer in, without a `User-Id`, as
    /// libzmq does (unless ZMQ_ZAP_ENFORCE_DOMAIN is set, in which case
    /// the caller fails the connection instead); PLAIN fails with
    /// [`ProtocolError::NoZapHandler`], as libzmq 4.3 does.
    pub fn no_handler() -> ZapReply {
        ZapReply {
            status_code: zap_status::SUCCESS,
            status_text: Bytes::new(),
            user_id: None,
            metadata: Metadata::new(),
        }
    }

    /// A handler's "200" for `user_id`, with no metadata.
    pub fn allow(user_id: impl Into<Bytes>) -> ZapReply {
        ZapReply {
            status_code: zap_status::SUCCESS,
            status_text: Bytes::from_static(b"OK"),
            user_id: Some(user_id.into()),
            metadata: Metadata::new(),
        }
    }

    /// A refusal with `status_code` (300, 400 or 500).
    pub fn deny(status_code: u16, status_text: impl Into<Bytes>) -> ZapReply {
        ZapReply {
            status_code,
            status_text: status_text.into(),
            user_id: Some(Bytes::new()),
            metadata: Metadata::new(),
        }
    }

    /// Parses the seven frames of a reply (delimiter included, as a
    /// DEALER receives them) to a request sent with `request_id`,
    /// checking them as libzmq does. The caller must check that exactly
    /// seven frames made up the message (MORE on all but the last).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use ferromq_proto::ZapReply;
    /// let frames: Vec<Bytes> = ["", "1.0", "1", "200", "OK", "joe", ""]
    ///     .iter()
    ///     .map(|s| Bytes::from(*s))
    ///     .collect();
    /// let reply = ZapReply::parse(&frames, b"1").unwrap();
    /// assert_eq!(reply.status_code, 200);
    /// assert_eq!(reply.user_id.as_deref(), Some(&b"joe"[..]));
    /// ```
    pub fn parse(frames: &[Bytes], request_id: &[u8]) -> Result<ZapReply> {
        //= rfc27#message-format
        //# The reply message SHALL consist of the following message frames:
        let [delimiter, version, id, status, text, user_id, md] = frames else {
            return Err(ProtocolError::Zap(ZapFault::MalformedReply));
        };
        //# An address delimiter frame, which SHALL have a length of zero.
        if !delimiter.is_empty() {
            return Err(ProtocolError::Zap(ZapFault::MalformedReply));
        }
        if &version[..] != ZAP_VERSION {
            return Err(ProtocolError::Zap(ZapFault::BadVersion));
        }
        //# The reply SHALL echo the request id without modifying it.
        if &id[..] != request_id {
            return Err(ProtocolError::Zap(ZapFault::BadRequestId));
        }
        let status_code = match &status[..] {
            [d @ b'2'..=b'5', b'0', b'0'] => u16::from(d - b'0') * 100,
            _ => return Err(ProtocolError::Zap(ZapFault::InvalidStatusCode)),
        };
        let metadata = Metadata::parse_shared(md)
            .map_err(|_| ProtocolError::Zap(ZapFault::InvalidMetadata))?;
        Ok(ZapReply {
            status_code,
            status_text: text.clone(),
            user_id: Some(user_id.clone()),
            metadata,
        })
    }

    /// The reply as a handler sends it (for handlers written with this
    /// crate, and tests): delimiter, "1.0", `request_id`, status code,
    /// status text, user id, metadata.
    pub fn to_frames(&self, request_id: &[u8]) -> Vec<Bytes> {
        vec![
            Bytes::new(),
            Bytes::from_static(ZAP_VERSION),
            Bytes::copy_from_slice(request_id),
            Bytes::from(self.status_code.to_string()),
            self.status_text.clone(),
            self.user_id.clone().unwrap_or_default(),
            Bytes::from(self.metadata.to_bytes()),
        ]
    }
}

/// Where the server side of a mechanism stands with ZAP.
#[derive(Debug)]
enum ZapState {
    /// Nothing asked yet.
    Idle,
    /// A request is ready for the caller to take.
    Pending(ZapRequest),
    /// The caller took the request; the reply has not come.
    Waiting,
    /// The verdict came (or no ZAP is configured).
    Done,
}

/// The ZAP half of a server-side mechanism, shared by PLAIN and CURVE:
/// builds the request, holds it until taken, takes the reply, and keeps
/// the properties (`User-Id` and the handler's metadata) for the peer's
/// metadata.
#[derive(Debug)]
pub(crate) struct ZapGate {
    context: Option<ZapContext>,
    state: ZapState,
    properties: Metadata,
}

/// What the mechanism does after a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Go on with the handshake.
    Allowed,
    /// Refused with this status: 300 closes silently, 400 and 500 send
    /// an ERROR carrying the status code first (as libzmq does).
    Refused(u16),
}

impl ZapGate {
    /// A gate that asks the handler when `context` is given and lets every
    /// peer in otherwise.
    pub(crate) fn new(context: Option<ZapContext>) -> ZapGate {
        ZapGate {
            context,
            state: ZapState::Idle,
            properties: Metadata::new(),
        }
    }

    /// Starts authenticating a peer. Returns true if the mechanism must
    /// now wait for [`reply`](Self::reply), false if no ZAP is configured
    /// (the peer is in).
    pub(crate) fn begin(
        &mut self,
        routing_id: &Bytes,
        mechanism: MechanismName,
        credentials: Vec<Bytes>,
    ) -> bool {
        let Some(ctx) = &self.context else {
            self.state = ZapState::Done;
            return false;
        };
        self.state = ZapState::Pending(ZapRequest {
            domain: ctx.domain.clone(),
            address: ctx.address.clone(),
            routing_id: routing_id.clone(),
            mechanism,
            credentials,
        });
        true
    }

    /// The request, once.
    pub(crate) fn take_request(&mut self) -> Option<ZapRequest> {
        match std::mem::replace(&mut self.state, ZapState::Waiting) {
            ZapState::Pending(req) => Some(req),
            other => {
                self.state = other;
                None
            }
        }
    }

    /// True while a request is outstanding.
    pub(crate) fn waiting(&self) -> bool {
        matches!(self.state, ZapState::Pending(_) | ZapState::Waiting)
    }

    /// Takes the handler's verdict (a reply before the request was taken
    /// is fine too).
    pub(crate) fn reply(&mut self, reply: ZapReply) -> Result<Verdict> {
        if !self.waiting() {
            return Err(ProtocolError::Zap(ZapFault::Unexpected));
        }
        self.state = ZapState::Done;
        let status = reply.status_code;
        if status != zap_status::SUCCESS {
            return match status {
                300 | 400 | 500 => Ok(Verdict::Refused(status)),
                _ => Err(ProtocolError::Zap(ZapFault::InvalidStatusCode)),
            };
        }
        self.properties = reply.metadata;
        if let Some(user_id) = reply.user_id {
            // The name is a constant that satisfies the grammar.
            let _ = self.properties.insert(metadata::USER_ID, user_id);
        }
        Ok(Verdict::Allowed)
    }

    /// The peer's metadata as the application sees it: what the peer
    /// announced, then the handler's properties and `User-Id`, which win
    /// over announced ones of the same name (libzmq's order).
    pub(crate) fn merged(&self, announced: &Metadata) -> Metadata {
        let mut md = announced.clone();
        for (name, value) in self.properties.iter() {
            let _ = md.insert(name, value.clone());
        }
        md
    }
}

/// The ERROR command body a server sends when ZAP refuses a peer: the
/// status code as its reason (libzmq's `produce_error`).
pub(crate) fn refusal_body(status: u16) -> Bytes {
    Command::Error {
        reason: Bytes::from(status.to_string()),
    }
    .to_body()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(parts: &[&[u8]]) -> Vec<Bytes> {
        parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
    }

    #[test]
    fn reply_checks() {
        let ok = frames(&[b"", b"1.0", b"1", b"200", b"OK", b"joe", b""]);
        assert!(ZapReply::parse(&ok, b"1").is_ok());
        let cases: &[(Vec<Bytes>, ZapFault)] = &[
            (
                frames(&[b"", b"1.0", b"1", b"200", b"OK", b"joe"]),
                ZapFault::MalformedReply,
            ),
            (
                frames(&[b"x", b"1.0", b"1", b"200", b"OK", b"joe", b""]),
                ZapFault::MalformedReply,
            ),
            (
                frames(&[b"", b"2.0", b"1", b"200", b"OK", b"joe", b""]),
                ZapFault::BadVersion,
            ),
            (
                frames(&[b"", b"1.0", b"2", b"200", b"OK", b"joe", b""]),
                ZapFault::BadRequestId,
            ),
            (
                frames(&[b"", b"1.0", b"1", b"201", b"OK", b"joe", b""]),
                ZapFault::InvalidStatusCode,
            ),
            (
                frames(&[b"", b"1.0", b"1", b"600", b"OK", b"joe", b""]),
                ZapFault::InvalidStatusCode,
            ),
            (
                frames(&[b"", b"1.0", b"1", b"20", b"OK", b"joe", b""]),
                ZapFault::InvalidStatusCode,
            ),
            (
                frames(&[b"", b"1.0", b"1", b"200", b"OK", b"joe", b"\x05Ab"]),
                ZapFault::InvalidMetadata,
            ),
        ];
        for (reply, fault) in cases {
            assert_eq!(
                ZapReply::parse(reply, b"1"),
                Err(ProtocolError::Zap(*fault))
            );
        }
    }

    #[test]
    fn reply_round_trips() {
        let mut reply = ZapReply::allow("joe");
        reply.metadata.insert("X-Role", &b"admin"[..]).unwrap();
        assert_eq!(ZapReply::parse(&reply.to_frames(b"7"), b"7"), Ok(reply));
    }

    #[test]
    fn gate_merges_user_id_over_announced() {
        let mut gate = ZapGate::new(Some(ZapContext::new("d", "1.2.3.4")));
        assert!(gate.begin(&Bytes::new(), MechanismName::PLAIN, vec![]));
        let req = gate.take_request().unwrap();
        assert_eq!(&req.domain[..], b"d");
        assert!(gate.take_request().is_none());
        let mut reply = ZapReply::allow("joe");
        reply.metadata.insert("X-Tag", &b"zap"[..]).unwrap();
        assert_eq!(gate.reply(reply), Ok(Verdict::Allowed));
        let mut announced = Metadata::new();
        announced.insert("X-Tag", &b"peer"[..]).unwrap();
        let md = gate.merged(&announced);
        assert_eq!(&md.get("User-Id").unwrap()[..], b"joe");
        assert_eq!(&md.get("X-Tag").unwrap()[..], b"zap");
        assert_eq!(
            gate.reply(ZapReply::allow("again")),
            Err(ProtocolError::Zap(ZapFault::Unexpected))
        );
    }

    #[test]
    fn no_handler_adds_no_user_id() {
        let mut gate = ZapGate::new(Some(ZapContext::default()));
        gate.begin(&Bytes::new(), MechanismName::CURVE, vec![]);
        assert_eq!(gate.reply(ZapReply::no_handler()), Ok(Verdict::Allowed));
        assert!(gate.merged(&Metadata::new()).is_empty());
    }
}
