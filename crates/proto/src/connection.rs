//! One ZMTP connection as a state machine: greeting, security handshake,
//! then traffic. Bytes go in through [`Connection::recv_buf`], events come
//! out of [`Connection::poll_event`], and bytes to send wait in
//! [`Connection::output`]. No I/O, no threads, no clock.

use crate::command::Command;
use crate::error::{ProtocolError, Result};
use crate::frame::{encode_frame, Frame, FrameDecoder, FrameHeader, FrameKind};
use crate::greeting::{Greeting, GreetingReader, ZmtpVersion};
use crate::mechanism::{Mechanism, MechanismStatus, ZapReply, ZapRequest};
use crate::metadata::Metadata;
use crate::outbuf::{OutBuf, ZERO_COPY_THRESHOLD};
use crate::socket_type::SocketType;
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// What the peer turned out to be, once the handshake is complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's validated socket type.
    pub socket_type: SocketType,
    /// Everything the peer announced (Socket-Type, Identity, X- ...).
    pub metadata: Metadata,
    /// The ZMTP revision spoken on this connection.
    pub version: ZmtpVersion,
}

impl PeerInfo {
    /// The peer's Identity property (empty if it sent none).
    pub fn identity(&self) -> Bytes {
        self.metadata
            .get(crate::metadata::IDENTITY)
            .cloned()
            .unwrap_or_default()
    }
}

/// Something the peer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Greeting and security handshake are done; traffic may flow.
    HandshakeComplete(PeerInfo),
    /// One message frame (check `kind.more()` for multipart).
    Message(Frame),
    /// A SUBSCRIBE command (ZMTP 3.1). A 3.0 peer subscribes with ordinary
    /// messages starting with 0x01, which arrive as [`Event::Message`].
    Subscribe(Bytes),
    /// A CANCEL command (ZMTP 3.1); 3.0 peers send 0x00-prefixed messages.
    Cancel(Bytes),
    /// A PING; the PONG is already queued for sending.
    Ping {
        /// The peer's TTL hint in tenths of a second.
        ttl: u16,
    },
    /// A PONG answering one of our PINGs.
    Pong {
        /// The echoed context.
        context: Bytes,
    },
    /// Any other command received during traffic (passed up, not fatal).
    Command(Command),
}

#[derive(Debug)]
enum State {
    Greeting(GreetingReader),
    Handshake,
    Traffic,
    Failed,
}

/// Limits and choices of a connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnectionOptions {
    /// Largest frame accepted from the peer (ZMQ_MAXMSGSIZE, per frame like
    /// libzmq); `None` for no limit.
    pub max_frame_size: Option<u64>,
}

/// A ZMTP 3.1 connection (speaking 3.0 rules to 3.0 peers).
///
/// ```
/// use ferromq_proto::*;
/// let mut a = Connection::new(Box::new(NullMechanism::new(LocalProperties::new(SocketType::Push))), Default::default());
/// let mut b = Connection::new(Box::new(NullMechanism::new(LocalProperties::new(SocketType::Pull))), Default::default());
/// // Shuttle bytes both ways until both handshakes complete.
/// for _ in 0..3 {
///     let ab = a.output().take_all();
///     b.recv_buf().extend_from_slice(&ab);
///     let ba = b.output().take_all();
///     a.recv_buf().extend_from_slice(&ba);
///     while let Some(_) = a.poll_event().unwrap() {}
///     while let Some(_) = b.poll_event().unwrap() {}
/// }
/// a.send_message(b"hello", false).unwrap();
/// let ab = a.output().take_all();
/// b.recv_buf().extend_from_slice(&ab);
/// assert_eq!(b.poll_event().unwrap(), Some(Event::Message(Frame::message(&b"hello"[..], false))));
/// ```
#[derive(Debug)]
pub struct Connection {
    state: State,
    mechanism: Box<dyn Mechanism>,
    version: ZmtpVersion,
    decoder: FrameDecoder,
    input: BytesMut,
    output: OutBuf,
    /// The mechanism transforms traffic frames (asked once, when the
    /// handshake completes, rather than through the trait object for
    /// every frame).
    encrypts: bool,
}

impl Connection {
    /// A new connection; our greeting is queued for sending at once (the
    /// full 64 octets, as RFC 37 recommends for peers that do not downgrade).
    pub fn new(mechanism: Box<dyn Mechanism>, options: ConnectionOptions) -> Connection {
        let mut output = OutBuf::new();
        let greeting = Greeting::new(mechanism.name(), mechanism.as_server());
        output.batch().put_slice(&greeting.encode());
        Connection {
            state: State::Greeting(GreetingReader::new()),
            mechanism,
            version: ZmtpVersion::V3_1,
            decoder: FrameDecoder::new(options.max_frame_size),
            input: BytesMut::new(),
            output,
            encrypts: false,
        }
    }

    /// The receive buffer: append bytes read from the transport, then call
    /// [`poll_event`](Connection::poll_event). Reading straight into its
    /// spare capacity avoids a copy; reserve [`read_hint`](Connection::read_hint)
    /// more first.
    pub fn recv_buf(&mut self) -> &mut BytesMut {
        &mut self.input
    }

    /// How many bytes to make room for before the next read: enough for the
    /// frame in progress, but never more than a bounded chunk, so a peer
    /// declaring a huge frame cannot make us allocate for it up front.
    pub fn read_hint(&self) -> usize {
        match &self.state {
            State::Greeting(r) => r.remaining(),
            _ => self
                .decoder
                .read_hint(self.input.len())
                .max(crate::frame::MAX_READ_CHUNK / 16),
        }
    }

    /// Octets of the frame being received still to arrive, once its header
    /// is in; 0 between frames and during the greeting. Unlike
    /// [`read_hint`](Connection::read_hint), this is exact: a caller that
    /// made room for a whole frame can read the rest into that room.
    pub fn frame_missing(&self) -> usize {
        match &self.state {
            State::Greeting(_) => 0,
            _ => self.decoder.body_missing(self.input.len()),
        }
    }

    /// Bytes waiting to be sent.
    pub fn output(&mut self) -> &mut OutBuf {
        &mut self.output
    }

    /// The negotiated ZMTP revision (3.1 until the peer's greeting says 3.0).
    pub fn version(&self) -> ZmtpVersion {
        self.version
    }

    /// True once the handshake is complete and until the connection fails.
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Traffic)
    }

    /// True once an error ended the connection. Flush
    /// [`output`](Connection::output) (it may hold an ERROR command), then
    /// close the transport.
    pub fn is_failed(&self) -> bool {
        matches!(self.state, State::Failed)
    }

    /// Processes buffered input and returns the next event, `Ok(None)` when
    /// more input is needed. An `Err` is final: the connection is dead.
    pub fn poll_event(&mut self) -> Result<Option<Event>> {
        let result = self.step();
        if let Err(err) = &result {
            self.fail(err);
        }
        result
    }

    /// The fast path for small messages: hands each complete message frame
    /// shorter than `limit` at the front of the input to `accept` by
    /// reference, until the input holds something else or `accept` refuses
    /// one (returns false; that frame stays queued). Returns whether a frame
    /// was refused. Does nothing before the handshake;
    /// [`poll_event`](Self::poll_event) handles everything else.
    ///
    /// When the mechanism encrypts, `limit` bounds the frame as sent (a
    /// short frame at most), so the message in it is shorter still; each is
    /// opened into a buffer on the stack and handed over from there.
    ///
    /// ```
    /// use ferromq_proto::{Connection, ConnectionOptions, LocalProperties, NullMechanism, SocketType};
    /// let local = LocalProperties { socket_type: SocketType::Pull, identity: Default::default(), extra: Default::default() };
    /// let mut conn = Connection::new(Box::new(NullMechanism::new(local)), ConnectionOptions::default());
    /// // Before the handshake nothing is taken.
    /// assert_eq!(conn.take_small_messages(256, |_, _| true), Ok(false));
    /// ```
    pub fn take_small_messages(
        &mut self,
        limit: usize,
        mut accept: impl FnMut(&[u8], bool) -> bool,
    ) -> Result<bool> {
        if !matches!(self.state, State::Traffic) {
            return Ok(false);
        }
        if self.encrypts {
            return self.take_small_encrypted(limit, &mut accept);
        }
        loop {
            match self
                .decoder
                .decode_small(&mut self.input, limit, &mut accept)
            {
                Ok(Some(true)) => continue,
                Ok(Some(false)) => return Ok(true),
                Ok(None) => return Ok(false),
                Err(err) => {
                    self.fail(&err);
                    return Err(err);
                }
            }
        }
    }

    fn take_small_encrypted(
        &mut self,
        limit: usize,
        accept: &mut dyn FnMut(&[u8], bool) -> bool,
    ) -> Result<bool> {
        loop {
            let mechanism = &mut self.mechanism;
            let mut opened = Ok(None);
            let taken = self
                .decoder
                .decode_small(&mut self.input, limit, |body, _| {
                    // The frame's own MORE flag means nothing here: the
                    // box carries the message's flags.
                    opened = mechanism.decode_short_frame(body, accept);
                    matches!(opened, Ok(Some(true)))
                })
                .and_then(|taken| Ok((taken, opened?)));
            match taken {
                Ok((Some(true), _)) => continue,
                // Refused by `accept`: the frame waits, still sealed.
                Ok((Some(false), Some(false))) => return Ok(true),
                // Not a short message frame, or a command in the box:
                // poll_event takes it from here.
                Ok(_) => return Ok(false),
                Err(err) => {
                    self.fail(&err);
                    return Err(err);
                }
            }
        }
    }

    fn fail(&mut self, err: &ProtocolError) {
        if matches!(self.state, State::Failed) {
            return;
        }
        //= rfc37#the-socket-type-property
        //# When a peer validates the socket type, it SHOULD handle errors by
        //# returning an ERROR command, and then disconnecting the peer.
        let tell_peer = matches!(self.state, State::Handshake)
            && matches!(
                err,
                ProtocolError::SocketTypeMismatch { .. }
                    | ProtocolError::MissingSocketType
                    | ProtocolError::UnknownSocketType(_)
                    | ProtocolError::EmptyPropertyName
                    | ProtocolError::BadPropertyName
                    | ProtocolError::TruncatedProperty(_)
                    | ProtocolError::PropertyValueTooLarge(_)
                    | ProtocolError::Mechanism(_)
            );
        if tell_peer {
            let reason = err.to_string();
            Command::Error {
                reason: Bytes::from(reason.into_bytes()),
            }
            .encode_frame(self.output.batch());
        }
        self.state = State::Failed;
    }

    fn step(&mut self) -> Result<Option<Event>> {
        loop {
            match &mut self.state {
                State::Failed => return Err(ProtocolError::Closed),
                State::Greeting(reader) => {
                    let (greeting, used) = reader.feed(&self.input)?;
                    self.input.advance(used);
                    let Some(greeting) = greeting else {
                        return Ok(None);
                    };
                    //= rfc37#authentication-and-confidentiality
                    //# If the mechanism that the peer received does not
                    //# exactly match the mechanism it sent, it MUST close the
                    //# connection.
                    if greeting.mechanism != self.mechanism.name() {
                        return Err(ProtocolError::MechanismMismatch {
                            ours: self.mechanism.name().to_string(),
                            theirs: greeting.mechanism.to_string(),
                        });
                    }
                    self.version = greeting.negotiated_version();
                    self.state = State::Handshake;
                    self.flush_handshake()?;
                    if let Some(ev) = self.check_handshake_done() {
                        return Ok(Some(ev));
                    }
                }
                State::Handshake => {
                    // A ZAP verdict may have completed the handshake
                    // between two polls.
                    if let Some(ev) = self.check_handshake_done() {
                        return Ok(Some(ev));
                    }
                    let Some(frame) = self.decoder.decode(&mut self.input)? else {
                        return Ok(None);
                    };
                    if !frame.kind.is_command() {
                        return Err(ProtocolError::MessageBeforeHandshake);
                    }
                    self.mechanism.process_command(frame.body)?;
                    self.flush_handshake()?;
                    if let Some(ev) = self.check_handshake_done() {
                        return Ok(Some(ev));
                    }
                }
                State::Traffic => {
                    let Some(frame) = self.decoder.decode(&mut self.input)? else {
                        return Ok(None);
                    };
                    let frame = if self.encrypts {
                        self.mechanism.decode_frame(frame)?
                    } else {
                        frame
                    };
                    if !frame.kind.is_command() {
                        return Ok(Some(Event::Message(frame)));
                    }
                    return self.traffic_command(frame.body).map(Some);
                }
            }
        }
    }

    /// The ZAP request the handshake waits on, handed out once: after a
    /// PLAIN server got the client's HELLO, or a CURVE server its
    /// INITIATE (and only if the mechanism was built with a ZAP context).
    /// Check after each [`poll_event`](Connection::poll_event) that
    /// returns `Ok(None)` during the handshake; send the request to the
    /// ZAP handler (see [`ZapRequest::to_frames`]) and pass the verdict to
    /// [`zap_reply`](Connection::zap_reply). Until then the handshake
    /// does not progress.
    pub fn zap_request(&mut self) -> Option<ZapRequest> {
        match self.state {
            State::Handshake => self.mechanism.zap_request(),
            _ => None,
        }
    }

    /// Hands the ZAP handler's verdict to the mechanism (use
    /// [`ZapReply::no_handler`] when no handler is bound). Whatever the
    /// mechanism sends next (READY or WELCOME, or an ERROR on refusal) is
    /// queued in [`output`](Connection::output); then call
    /// [`poll_event`](Connection::poll_event), which returns
    /// [`Event::HandshakeComplete`] if the handshake is done. A refusal
    /// is an `Err` ([`ProtocolError::AuthFailed`] with the status code),
    /// after which the connection is dead: flush the output (it may hold
    /// the ERROR) and close.
    pub fn zap_reply(&mut self, reply: ZapReply) -> Result<()> {
        let result = match self.state {
            State::Handshake => self
                .mechanism
                .zap_reply(reply)
                .and_then(|()| self.flush_handshake()),
            State::Failed => Err(ProtocolError::Closed),
            _ => Err(ProtocolError::Zap(crate::error::ZapFault::Unexpected)),
        };
        if let Err(err) = &result {
            self.fail(err);
        }
        result
    }

    fn flush_handshake(&mut self) -> Result<()> {
        while let Some(body) = self.mechanism.next_command()? {
            let out = self.output.batch();
            out.put_slice(FrameHeader::new(FrameKind::Command, body.len()).as_bytes());
            out.put_slice(&body);
        }
        Ok(())
    }

    fn check_handshake_done(&mut self) -> Option<Event> {
        if self.mechanism.status() != MechanismStatus::Ready {
            return None;
        }
        let socket_type = self.mechanism.peer_socket_type()?;
        self.state = State::Traffic;
        self.encrypts = self.mechanism.encrypts();
        Some(Event::HandshakeComplete(PeerInfo {
            socket_type,
            metadata: self.mechanism.peer_metadata().clone(),
            version: self.version,
        }))
    }

    fn traffic_command(&mut self, body: Bytes) -> Result<Event> {
        let command = Command::parse(body)?;
        Ok(match command {
            Command::Subscribe(topic) => Event::Subscribe(topic),
            Command::Cancel(topic) => Event::Cancel(topic),
            Command::Ping { ttl, .. } => {
                //= rfc37#connection-heartbeating
                //# When a peer receives a PING command it SHALL respond with
                //# a PONG command that echoes the ping-context
                if let Some(pong) = command.pong_for() {
                    self.send_command(&pong)?;
                }
                Event::Ping { ttl }
            }
            Command::Pong { context } => Event::Pong { context },
            //= rfc37#error-handling
            //# The peer SHALL treat an incoming ERROR command as fatal
            Command::Error { reason } => {
                return Err(ProtocolError::PeerError(
                    String::from_utf8_lossy(&reason).into_owned(),
                ))
            }
            Command::Ready(_) => {
                return Err(ProtocolError::UnexpectedCommand("READY".into(), "traffic"))
            }
            other @ Command::Unknown { .. } => Event::Command(other),
        })
    }

    fn ensure_traffic(&self) -> Result<()> {
        match self.state {
            State::Traffic => Ok(()),
            State::Failed => Err(ProtocolError::Closed),
            _ => Err(ProtocolError::Encode("the handshake is not complete")),
        }
    }

    /// Queues one message frame, copying the body into the output batch.
    #[inline]
    pub fn send_message(&mut self, body: &[u8], more: bool) -> Result<()> {
        self.ensure_traffic()?;
        let kind = FrameKind::Message { more };
        if self.encrypts {
            return self.mechanism.encode_frame(kind, body, self.output.batch());
        }
        encode_frame(self.output.batch(), kind, body);
        Ok(())
    }

    /// Queues one message frame whose body is shared: bodies of
    /// [`ZERO_COPY_THRESHOLD`] octets or more are queued by reference (for
    /// a vectored write), smaller ones are copied into the batch.
    #[inline]
    pub fn send_message_shared(&mut self, body: Bytes, more: bool) -> Result<()> {
        if body.len() < ZERO_COPY_THRESHOLD || self.encrypts {
            return self.send_message(&body, more);
        }
        self.ensure_traffic()?;
        let header = FrameHeader::new(FrameKind::Message { more }, body.len());
        self.output.batch().put_slice(header.as_bytes());
        self.output.push_shared(body);
        Ok(())
    }

    /// Queues a command (after the handshake: SUBSCRIBE, PING, ...).
    pub fn send_command(&mut self, command: &Command) -> Result<()> {
        self.ensure_traffic()?;
        command.validate()?;
        if self.encrypts {
            let body = command.to_body();
            return self
                .mechanism
                .encode_frame(FrameKind::Command, &body, self.output.batch());
        }
        command.encode_frame(self.output.batch());
        Ok(())
    }

    /// Queues a subscription (`subscribe = true`) or its cancellation, in
    /// the form the peer's revision expects: a SUBSCRIBE/CANCEL command to a
    /// ZMTP 3.1 peer, a message starting with 0x01/0x00 to a 3.0 peer
    /// (exactly what libzmq 4.3 does).
    pub fn send_subscription(&mut self, topic: &[u8], subscribe: bool) -> Result<()> {
        match self.version {
            ZmtpVersion::V3_1 => {
                let topic = Bytes::copy_from_slice(topic);
                let cmd = if subscribe {
                    Command::Subscribe(topic)
                } else {
                    Command::Cancel(topic)
                };
                self.send_command(&cmd)
            }
            ZmtpVersion::V3_0 => {
                let mut body = Vec::with_capacity(topic.len() + 1);
                body.push(u8::from(subscribe));
                body.extend_from_slice(topic);
                self.send_message(&body, false)
            }
        }
    }
}
