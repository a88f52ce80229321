//! The NULL mechanism: no authentication, no confidentiality, one READY
//! each way (RFC 37, "The NULL Security Mechanism").

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
}

impl NullMechanism {
    /// A NULL mechanism announcing `local`.
    pub fn new(local: LocalProperties) -> NullMechanism {
        NullMechanism {
            local,
            ready_sent: false,
            peer: None,
            empty: Metadata::new(),
        }
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
                self.peer = Some((theirs, md));
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
}

fn command_name(cmd: &Command) -> String {
    String::from_utf8_lossy(cmd.name()).into_owned()
}
