//! The PLAIN mechanism (RFC 24, "ZMTP PLAIN"): a username and password in
//! clear text, checked by the server's ZAP handler.
//!
//! ```text
//! plain = C:hello ( S:welcome | S:error )
//!         C:initiate ( S:ready | S:error )
//!      *( C:message | S:message )
//! ```

use super::zap::{Verdict, ZapContext, ZapGate, ZapReply, ZapRequest};
use super::{LocalProperties, Mechanism, MechanismStatus};
use crate::command::Command;
use crate::error::{ProtocolError, Result};
use crate::greeting::MechanismName;
use crate::metadata::Metadata;
use crate::socket_type::SocketType;
use bytes::{BufMut, Bytes};

const HELLO: &[u8] = b"HELLO";
const WELCOME: &[u8] = b"WELCOME";
const INITIATE: &[u8] = b"INITIATE";

/// How libzmq 4.3 spells a PLAIN ERROR command. Its source writes the name
/// as the C string `"\x05ERROR"`, where the hex escape swallows the `E`
/// (0x05E is `^`), so what goes on the wire is the five octets `^RROR`,
/// with no name-length octet, then the reason's length and the reason.
/// libzmq PLAIN clients only recognise that form, and libzmq PLAIN servers
/// only send that form, so a PLAIN server here sends it too (a correct
/// ERROR would make a libzmq client report a protocol error, not the
/// authentication failure) and a PLAIN client accepts both.
const LIBZMQ_ERROR: &[u8] = b"^RROR";

/// The ERROR a PLAIN server sends when ZAP refuses the client, as libzmq
/// 4.3 does (see [`LIBZMQ_ERROR`]).
fn libzmq_refusal(status: u16) -> Bytes {
    let reason = status.to_string();
    let mut body = Vec::with_capacity(LIBZMQ_ERROR.len() + 1 + reason.len());
    body.extend_from_slice(LIBZMQ_ERROR);
    body.push(reason.len() as u8);
    body.extend_from_slice(reason.as_bytes());
    body.into()
}

/// Reads libzmq's PLAIN ERROR form: `^RROR`, a length octet, the reason.
fn libzmq_error(body: &[u8]) -> Option<Result<&[u8]>> {
    let rest = body.strip_prefix(LIBZMQ_ERROR)?;
    Some(match rest.split_first() {
        Some((&len, reason)) if usize::from(len) <= reason.len() => Ok(&reason[..usize::from(len)]),
        _ => Err(ProtocolError::MalformedCommand {
            command: "ERROR",
            reason: "reason size does not match the command size",
        }),
    })
}

fn unexpected(cmd: &Command) -> ProtocolError {
    ProtocolError::UnexpectedCommand(
        String::from_utf8_lossy(cmd.name()).into_owned(),
        "the PLAIN handshake",
    )
}

fn malformed_hello(reason: &'static str) -> ProtocolError {
    ProtocolError::MalformedCommand {
        command: "HELLO",
        reason,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    SendHello,
    WaitWelcome,
    SendInitiate,
    WaitReady,
    Ready,
}

/// The client side of PLAIN: sends HELLO with its username and password,
/// then INITIATE with its metadata once the server says WELCOME; done when
/// the server's READY arrives. An ERROR from the server fails the handshake
/// with [`ProtocolError::AuthFailed`] when its reason is a ZAP status code
/// (what libzmq servers send), [`ProtocolError::PeerError`] otherwise.
///
/// ```
/// use ferromq_proto::*;
/// let mut client = PlainClient::new(LocalProperties::new(SocketType::Req), "admin", "secret").unwrap();
/// let mut server = PlainServer::new(LocalProperties::new(SocketType::Rep));
/// server.process_command(client.next_command().unwrap().unwrap()).unwrap(); // HELLO
/// client.process_command(server.next_command().unwrap().unwrap()).unwrap(); // WELCOME
/// server.process_command(client.next_command().unwrap().unwrap()).unwrap(); // INITIATE
/// client.process_command(server.next_command().unwrap().unwrap()).unwrap(); // READY
/// assert_eq!(client.status(), MechanismStatus::Ready);
/// assert_eq!(server.status(), MechanismStatus::Ready);
/// ```
#[derive(Debug)]
pub struct PlainClient {
    local: LocalProperties,
    username: Bytes,
    password: Bytes,
    state: ClientState,
    peer: Option<(SocketType, Metadata)>,
    empty: Metadata,
}

impl PlainClient {
    /// A PLAIN client announcing `local` and logging in as `username` with
    /// `password` (each at most 255 octets).
    pub fn new(
        local: LocalProperties,
        username: impl Into<Bytes>,
        password: impl Into<Bytes>,
    ) -> Result<PlainClient> {
        let (username, password) = (username.into(), password.into());
        //= rfc24#implementation
        //# username = OCTET *VCHAR
        //# password = OCTET *VCHAR
        if username.len() > 255 || password.len() > 255 {
            return Err(ProtocolError::Encode(
                "PLAIN username and password are at most 255 octets",
            ));
        }
        Ok(PlainClient {
            local,
            username,
            password,
            state: ClientState::SendHello,
            peer: None,
            empty: Metadata::new(),
        })
    }

    fn hello(&self) -> Bytes {
        //= rfc24#implementation
        //# hello = command-size %d5 "HELLO" username password
        let mut body = Vec::with_capacity(8 + self.username.len() + self.password.len());
        body.put_u8(HELLO.len() as u8);
        body.put_slice(HELLO);
        body.put_u8(self.username.len() as u8);
        body.put_slice(&self.username);
        body.put_u8(self.password.len() as u8);
        body.put_slice(&self.password);
        body.into()
    }

    fn initiate(&self) -> Bytes {
        //= rfc24#implementation
        //# initiate = command-size %d8 "INITIATE" metadata
        Command::Unknown {
            name: Bytes::from_static(INITIATE),
            data: Bytes::from(self.local.to_metadata().to_bytes()),
        }
        .to_body()
    }
}

impl Mechanism for PlainClient {
    fn name(&self) -> MechanismName {
        MechanismName::PLAIN
    }

    fn as_server(&self) -> bool {
        //= rfc24#implementation
        //# The PLAIN mechanism uses the greeting as-server field to identify
        //# which peer is "client" and which peer is "server".
        false
    }

    fn next_command(&mut self) -> Result<Option<Bytes>> {
        match self.state {
            ClientState::SendHello => {
                self.state = ClientState::WaitWelcome;
                Ok(Some(self.hello()))
            }
            ClientState::SendInitiate => {
                self.state = ClientState::WaitReady;
                Ok(Some(self.initiate()))
            }
            _ => Ok(None),
        }
    }

    fn process_command(&mut self, body: Bytes) -> Result<()> {
        let waiting = matches!(
            self.state,
            ClientState::WaitWelcome | ClientState::WaitReady
        );
        if let (true, Some(reason)) = (waiting, libzmq_error(&body)) {
            return Err(ProtocolError::from_error_reason(reason?));
        }
        let cmd = Command::parse(body)?;
        match (self.state, &cmd) {
            (ClientState::WaitWelcome | ClientState::WaitReady, Command::Error { reason }) => {
                Err(ProtocolError::from_error_reason(reason))
            }
            (ClientState::WaitWelcome, Command::Unknown { name, data }) if &name[..] == WELCOME => {
                //= rfc24#implementation
                //# welcome = command-size %d7 "WELCOME"
                if !data.is_empty() {
                    return Err(ProtocolError::MalformedCommand {
                        command: "WELCOME",
                        reason: "PLAIN WELCOME carries no data",
                    });
                }
                self.state = ClientState::SendInitiate;
                Ok(())
            }
            (ClientState::WaitReady, Command::Ready(md)) => {
                //# ready = command-size %d5 "READY" metadata
                let theirs = self.local.check_peer(md)?;
                self.peer = Some((theirs, md.clone()));
                self.state = ClientState::Ready;
                Ok(())
            }
            _ => Err(unexpected(&cmd)),
        }
    }

    fn status(&self) -> MechanismStatus {
        if self.state == ClientState::Ready {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    WaitHello,
    WaitZap,
    SendWelcome,
    WaitInitiate,
    SendReady,
    Ready,
    /// ZAP refused the client: send ERROR with this status code.
    SendError(u16),
    /// Refused (and ERROR sent, unless the status was 300): fail.
    Refused(u16),
}

/// The server side of PLAIN: takes the client's HELLO, asks ZAP about the
/// username and password (when built [`with_zap`](PlainServer::with_zap)),
/// then answers WELCOME, takes INITIATE and answers READY. A refusal
/// sends ERROR with the ZAP status code (none for 300) and fails with
/// [`ProtocolError::AuthFailed`]. That ERROR has the form libzmq 4.3 sends
/// and its PLAIN clients expect: `^RROR`, a length octet, the status code
/// (libzmq's C source spells the name `"\x05ERROR"`, whose hex escape
/// swallows the `E`).
///
/// Built without ZAP, every client is accepted. Built with it, the
/// answer [`ZapReply::no_handler`] fails the handshake with
/// [`ProtocolError::NoZapHandler`]: a libzmq 4.3 PLAIN server refuses
/// everyone when no ZAP handler is bound (unlike CURVE and NULL, which
/// then accept).
#[derive(Debug)]
pub struct PlainServer {
    local: LocalProperties,
    zap: ZapGate,
    state: ServerState,
    peer: Option<(SocketType, Metadata)>,
    empty: Metadata,
}

impl PlainServer {
    /// A PLAIN server announcing `local`, accepting every client.
    pub fn new(local: LocalProperties) -> PlainServer {
        PlainServer {
            local,
            zap: ZapGate::new(None),
            state: ServerState::WaitHello,
            peer: None,
            empty: Metadata::new(),
        }
    }

    /// Asks a ZAP handler about each client, with this domain and address.
    pub fn with_zap(mut self, context: ZapContext) -> PlainServer {
        self.zap = ZapGate::new(Some(context));
        self
    }

    fn process_hello(&mut self, data: &Bytes) -> Result<()> {
        //= rfc24#implementation
        //# hello = command-size %d5 "HELLO" username password
        //# username = OCTET *VCHAR
        //# password = OCTET *VCHAR
        let mut pos = 0;
        let mut field = |what: &'static str| -> Result<Bytes> {
            let len = usize::from(*data.get(pos).ok_or_else(|| malformed_hello(what))?);
            let value = data
                .get(pos + 1..pos + 1 + len)
                .ok_or_else(|| malformed_hello(what))?;
            pos += 1 + len;
            Ok(Bytes::copy_from_slice(value))
        };
        let username = field("username missing or cut short")?;
        let password = field("password missing or cut short")?;
        if pos != data.len() {
            return Err(malformed_hello("extra data after the password"));
        }
        //= rfc24#implementation
        //# The client authenticates itself to the server by sending a HELLO
        //# command. The server accepts or rejects this authentication.
        let waits = self.zap.begin(
            &self.local.identity,
            MechanismName::PLAIN,
            vec![username, password],
        );
        self.state = if waits {
            ServerState::WaitZap
        } else {
            ServerState::SendWelcome
        };
        Ok(())
    }
}

impl Mechanism for PlainServer {
    fn name(&self) -> MechanismName {
        MechanismName::PLAIN
    }

    fn as_server(&self) -> bool {
        true
    }

    fn next_command(&mut self) -> Result<Option<Bytes>> {
        match self.state {
            ServerState::SendWelcome => {
                //# If it accepts it, it replies with a WELCOME command.
                self.state = ServerState::WaitInitiate;
                Ok(Some(
                    Command::Unknown {
                        name: Bytes::from_static(WELCOME),
                        data: Bytes::new(),
                    }
                    .to_body(),
                ))
            }
            ServerState::SendReady => {
                //# The server responds with a READY command.
                self.state = ServerState::Ready;
                Ok(Some(Command::Ready(self.local.to_metadata()).to_body()))
            }
            ServerState::SendError(status) => {
                self.state = ServerState::Refused(status);
                Ok(Some(libzmq_refusal(status)))
            }
            ServerState::Refused(status) => Err(ProtocolError::AuthFailed { status }),
            _ => Ok(None),
        }
    }

    fn process_command(&mut self, body: Bytes) -> Result<()> {
        let cmd = Command::parse(body)?;
        match (self.state, &cmd) {
            (ServerState::WaitHello, Command::Unknown { name, data }) if &name[..] == HELLO => {
                self.process_hello(data)
            }
            (ServerState::WaitInitiate, Command::Unknown { name, data })
                if &name[..] == INITIATE =>
            {
                //# The client then sends an INITIATE command, which the
                //# server parses and validates.
                let md = Metadata::parse_shared(data)?;
                let theirs = self.local.check_peer(&md)?;
                self.peer = Some((theirs, self.zap.merged(&md)));
                self.state = ServerState::SendReady;
                Ok(())
            }
            _ => Err(unexpected(&cmd)),
        }
    }

    fn status(&self) -> MechanismStatus {
        if self.state == ServerState::Ready {
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
        if self.state != ServerState::WaitZap {
            return Err(ProtocolError::Zap(crate::error::ZapFault::Unexpected));
        }
        // libzmq 4.3 (plain_server.cpp): "there is no point to PLAIN if
        // ZAP is not set up to handle the username and password, so if ZAP
        // is not configured it is considered a failure".
        if reply.user_id.is_none() {
            return Err(ProtocolError::NoZapHandler);
        }
        self.state = match self.zap.reply(reply)? {
            Verdict::Allowed => ServerState::SendWelcome,
            //= rfc26#the-error-command
            //# A server SHALL indicate an authentication failure by sending
            //# an ERROR command back to the client.
            // libzmq: a 300 (temporary failure) closes without ERROR.
            Verdict::Refused(300) => ServerState::Refused(300),
            Verdict::Refused(status) => ServerState::SendError(status),
        };
        Ok(())
    }
}
