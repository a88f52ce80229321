//! The NULL mechanism: no authentication, no confidentiality, one READY
//! each way (RFC 37, "The NULL Security Mechanism").

use super::zap::{refusal_body, Verdict, ZapContext, ZapGate, ZapReply, ZapRequest};
use super::{LocalProperties, Mechanism, MechanismStatus};
use crate::command::Command;
use crate::error::{ProtocolError, Result};
use crate::greeting::MechanismName;
use crate::metadata::Metadata;
use crate::socket_type::SocketType;
use bytes::Bytes;

/// NULL mechanism state.
///
/// Both roles send READY as soon as the greetings are exchanged (as libzmq
/// does; the RFC lets the server reply at once and the client need not wait
/// to send), then wait for the peer's READY. An ERROR from the peer ends the
/// handshake with [`ProtocolError::PeerError`].
///
/// ```
/// use ferromq_proto::{LocalProperties, Mechanism, MechanismStatus, NullMechanism, SocketType};
/// let mut client = NullMechanism::new(LocalProperties::new(SocketType::Req));
/// let mut server = NullMechanism::new(LocalProperties::new(SocketType::Rep));
/// let ready_c = client.next_command().unwrap().unwrap();
/// let ready_s = server.next_command().unwrap().unwrap();
/// server.process_command(ready_c).unwrap();
/// client.process_command(ready_s).unwrap();
/// assert_eq!(client.status(), MechanismStatus::Ready);
/// assert_eq!(server.peer_socket_type(), Some(SocketType::Req));
/// ```
#[derive(Debug)]
pub struct NullMechanism {
    local: LocalProperties,
    ready_sent: bool,
    peer: Option<(SocketType, Metadata)>,
    empty: Metadata,
    zap: ZapGate,
    zap_phase: ZapPhase,
}

/// Where a NULL peer stands with ZAP (only with a ZAP domain set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ZapPhase {
    /// No ZAP, or the handler said yes: READY may go.
    Open,
    /// The request is still to be made.
    Ask,
    /// Waiting for the handler.
    Waiting,
    /// Refused: send ERROR with this status (not for 300), then fail.
    Refused(u16),
    /// The ERROR went (or none is due): the handshake fails.
    Failed(u16),
}

impl NullMechanism {
    /// A NULL mechanism announcing `local`.
    pub fn new(local: LocalProperties) -> NullMechanism {
        NullMechanism {
            local,
            ready_sent: false,
            peer: None,
            empty: Metadata::new(),
            zap: ZapGate::new(None),
            zap_phase: ZapPhase::Open,
        }
    }

    /// Asks the ZAP handler about every peer before sending READY, as
    /// libzmq's NULL mechanism does once a socket has a ZAP_DOMAIN: the
    /// request names the NULL mechanism and carries no credentials.
    pub fn with_zap(mut self, context: ZapContext) -> NullMechanism {
        self.zap = ZapGate::new(Some(context));
        self.zap_phase = ZapPhase::Ask;
        self
    }
}

impl Mechanism for NullMechanism {
    fn name(&self) -> MechanismName {
        MechanismName::NULL
    }

    fn as_server(&self) -> bool {
        //= rfc37#the-null-security-mechanism
        //# When a peer uses the NULL security mechanism, the as-server field
        //# MUST be zero.
        false
    }

    fn next_command(&mut self) -> Result<Option<Bytes>> {
        match self.zap_phase {
            ZapPhase::Open => {}
            ZapPhase::Ask => {
                self.zap
                    .begin(&self.local.identity, MechanismName::NULL, Vec::new());
                self.zap_phase = ZapPhase::Waiting;
                return Ok(None);
            }
            ZapPhase::Waiting => return Ok(None),
            ZapPhase::Refused(status) => {
                self.zap_phase = ZapPhase::Failed(status);
                return Ok(Some(refusal_body(status)));
            }
            ZapPhase::Failed(status) => return Err(ProtocolError::AuthFailed { status }),
        }
        if self.ready_sent {
            return Ok(None);
        }
        self.ready_sent = true;
        Ok(Some(Command::Ready(self.local.to_metadata()).to_body()))
    }

    fn process_command(&mut self, body: Bytes) -> Result<()> {
        if self.peer.is_some() {
            return Err(ProtocolError::UnexpectedCommand(
                "second READY".into(),
                "the NULL handshake",
            ));
        }
        match Command::parse(body)? {
            Command::Ready(md) => {
                let theirs = self.local.check_peer(&md)?;
                self.peer = Some((theirs, self.zap.merged(&md)));
                Ok(())
            }
            Command::Error { reason } => Err(ProtocolError::PeerError(
                String::from_utf8_lossy(&reason).into_owned(),
            )),
            other => Err(ProtocolError::UnexpectedCommand(
                command_name(&other),
                "the NULL handshake",
            )),
        }
    }

    fn status(&self) -> MechanismStatus {
        if self.ready_sent && self.peer.is_some() {
            MechanismStatus::Ready
        } else {
            MechanismStatus::Handshaking
        }
    }

    fn peer_metadata(&self) -> &Metadata {
        self.peer.as_ref().map_or(&self.empty, |(_, md)| md)
    }

    fn peer_socket_type(&self) -> Option<SocketType> {
        self.peer.as_ref().map(|(t, _)| *t)
    }

    fn zap_request(&mut self) -> Option<ZapRequest> {
        self.zap.take_request()
    }

    fn zap_reply(&mut self, reply: ZapReply) -> Result<()> {
        if self.zap_phase != ZapPhase::Waiting {
            return Err(ProtocolError::Zap(crate::error::ZapFault::Unexpected));
        }
        self.zap_phase = match self.zap.reply(reply)? {
            Verdict::Allowed => ZapPhase::Open,
            // libzmq: 300 fails without an ERROR; 400 and 500 send one.
            Verdict::Refused(300) => ZapPhase::Failed(300),
            Verdict::Refused(status) => ZapPhase::Refused(status),
        };
        // A READY that came while we waited gets the handler's User-Id.
        if let Some((theirs, md)) = self.peer.take() {
            self.peer = Some((theirs, self.zap.merged(&md)));
        }
        Ok(())
    }
}

fn command_name(cmd: &Command) -> String {
    String::from_utf8_lossy(cmd.name()).into_owned()
}
