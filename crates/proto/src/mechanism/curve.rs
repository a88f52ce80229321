//! The CURVE mechanism (RFC 25, "ZMTP CURVE"), which runs the CurveZMQ
//! handshake (RFC 26) and then carries every frame in an encrypted,
//! authenticated MESSAGE box.
//!
//! Boxes are NaCl's `crypto_box` (X25519, XSalsa20, Poly1305); the cookie
//! is a `crypto_secretbox` under a random key made for each connection (as
//! libzmq does). The handshake's boxes go through RustCrypto's
//! `crypto_box` and `crypto_secretbox` crates. The boxes under the
//! session key (INITIATE, READY and every MESSAGE) go through our own
//! XSalsa20-Poly1305 ([`super::secretbox`]), which keeps the XSalsa20
//! subkey of each MESSAGE nonce prefix instead of deriving it per message.
//! On the wire a box is its 16-octet tag followed by the ciphertext, which
//! is NaCl's layout with the leading zero octets dropped, so boxes are
//! byte-for-byte what libzmq makes.
//!
//! ```text
//! curvezmq = C:hello ( S:welcome | S:error )
//!            C:initiate ( S:ready | S:error )
//!            *message
//! ```

use super::secretbox::{self, PrefixedKey};
use super::zap::{refusal_body, Verdict, ZapContext, ZapGate, ZapReply, ZapRequest};
use super::{command_name, printable_name, LocalProperties, Mechanism, MechanismStatus};
use crate::command::Command;
use crate::error::{ProtocolError, Result, ZapFault};
use crate::frame::{Frame, FrameHeader, FrameKind, MAX_SHORT_BODY};
use crate::greeting::MechanismName;
use crate::metadata::Metadata;
use crate::socket_type::SocketType;
use crate::z85::{self, Z85Error};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use crypto_box::aead::rand_core::RngCore;
use crypto_box::aead::{AeadInPlace, OsRng};
use crypto_box::{Nonce, PublicKey, SalsaBox, SecretKey, Tag};
use crypto_secretbox::{KeyInit, XSalsa20Poly1305};
use curve25519_dalek::MontgomeryPoint;
use std::fmt;
use zeroize::Zeroizing;

/// Octets in a key (public or secret).
const KEY_LEN: usize = 32;
/// Octets a box adds to what it holds (the Poly1305 tag).
const TAG_LEN: usize = 16;

//= rfc26#high-level-grammar
//# ;   HELLO command, 200 octets
const HELLO_LEN: usize = 200;
//# ;   WELCOME command, 168 octets
const WELCOME_LEN: usize = 168;
//# ;   INITIATE command, 257+ octets
const INITIATE_MIN: usize = 257;
//# ;   READY command, 30+ octets
const READY_MIN: usize = 30;
//# ;   MESSAGE command, 33+ octets
const MESSAGE_MIN: usize = 33;

const HELLO_NAME: &[u8] = b"\x05HELLO";
const WELCOME_NAME: &[u8] = b"\x07WELCOME";
const INITIATE_NAME: &[u8] = b"\x08INITIATE";
const READY_NAME: &[u8] = b"\x05READY";
const MESSAGE_NAME: &[u8] = b"\x07MESSAGE";
/// Name and short nonce before a MESSAGE box.
const MESSAGE_HEADER: usize = MESSAGE_NAME.len() + 8;

const HELLO_PREFIX: &[u8; 16] = b"CurveZMQHELLO---";
const WELCOME_PREFIX: &[u8; 8] = b"WELCOME-";
const COOKIE_PREFIX: &[u8; 8] = b"COOKIE--";
const INITIATE_PREFIX: &[u8; 16] = b"CurveZMQINITIATE";
const VOUCH_PREFIX: &[u8; 8] = b"VOUCH---";
const READY_PREFIX: &[u8; 16] = b"CurveZMQREADY---";
const MESSAGE_FROM_CLIENT: &[u8; 16] = b"CurveZMQMESSAGEC";
const MESSAGE_FROM_SERVER: &[u8; 16] = b"CurveZMQMESSAGES";

//= rfc26#the-message-command
//# Bit 0 (MORE): *More messages to follow*.
const FLAG_MORE: u8 = 0x01;
// Bit 1 carries libzmq's command flag: PING, PONG, SUBSCRIBE and CANCEL
// travel as MESSAGE boxes with it set (curve_mechanism_base.cpp).
const FLAG_COMMAND: u8 = 0x02;

/// A 24-octet nonce: a fixed prefix then the varying part.
fn nonce(prefix: &[u8], tail: &[u8]) -> Nonce {
    let mut n = Nonce::default();
    n[..prefix.len()].copy_from_slice(prefix);
    n[prefix.len()..].copy_from_slice(tail);
    n
}

/// `N` octets from the operating system's random source.
fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>> {
    let mut out = Zeroizing::new([0u8; N]);
    OsRng
        .try_fill_bytes(&mut out[..])
        .map_err(|_| ProtocolError::Mechanism("the OS random source failed".into()))?;
    Ok(out)
}

/// A key that seals and opens boxes under 24-octet nonces: RustCrypto's
/// for the handshake, ours for the session key.
trait BoxKey {
    /// Encrypts `buf` in place; returns the tag.
    fn seal(&self, nonce: &Nonce, buf: &mut [u8]) -> [u8; TAG_LEN];
    /// Decrypts `buf` in place if `tag` is right.
    fn open(&self, nonce: &Nonce, buf: &mut [u8], tag: &[u8; TAG_LEN]) -> bool;
}

/// RustCrypto's `crypto_box` and `crypto_secretbox`.
macro_rules! rustcrypto_box_key {
    ($t:ty) => {
        impl BoxKey for $t {
            fn seal(&self, nonce: &Nonce, buf: &mut [u8]) -> [u8; TAG_LEN] {
                // Encryption fails only for oversized input or associated
                // data, neither of which we give.
                self.encrypt_in_place_detached(nonce, b"", buf)
                    .map(Into::into)
                    .unwrap_or_default()
            }

            fn open(&self, nonce: &Nonce, buf: &mut [u8], tag: &[u8; TAG_LEN]) -> bool {
                self.decrypt_in_place_detached(nonce, b"", buf, Tag::from_slice(tag))
                    .is_ok()
            }
        }
    };
}

rustcrypto_box_key!(SalsaBox);
rustcrypto_box_key!(XSalsa20Poly1305);

impl BoxKey for secretbox::Key {
    fn seal(&self, nonce: &Nonce, buf: &mut [u8]) -> [u8; TAG_LEN] {
        secretbox::Key::seal(self, nonce.as_ref(), buf)
    }

    fn open(&self, nonce: &Nonce, buf: &mut [u8], tag: &[u8; TAG_LEN]) -> bool {
        secretbox::Key::open(self, nonce.as_ref(), buf, tag).is_ok()
    }
}

/// NaCl's `crypto_box_beforenm`: the secretbox key between `secret` and
/// `public` (X25519, then HSalsa20).
fn session_key(public: &[u8; KEY_LEN], secret: &SecretKey) -> secretbox::Key {
    // The same arithmetic as crypto_box's `SalsaBox::new`.
    let mut scalar = secret.to_scalar();
    let shared = Zeroizing::new(scalar * MontgomeryPoint(*public));
    zeroize::Zeroize::zeroize(&mut scalar);
    secretbox::Key::from_shared_secret(&shared.0)
}

/// Appends the box of `plain` (tag then ciphertext) to `out`.
fn seal_into(key: &impl BoxKey, nonce: &Nonce, plain: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + TAG_LEN, 0);
    out.extend_from_slice(plain);
    let tag = key.seal(nonce, &mut out[start + TAG_LEN..]);
    out[start..start + TAG_LEN].copy_from_slice(&tag);
}

/// Opens a box (tag then ciphertext); `what` names it in the error.
fn open(
    key: &impl BoxKey,
    nonce: &Nonce,
    boxed: &[u8],
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>> {
    if boxed.len() < TAG_LEN {
        return Err(ProtocolError::Cryptographic(what));
    }
    let (tag, ciphertext) = boxed.split_at(TAG_LEN);
    let mut plain = Zeroizing::new(ciphertext.to_vec());
    if !key.open(nonce, &mut plain, &tag16(tag)) {
        return Err(ProtocolError::Cryptographic(what));
    }
    Ok(plain)
}

fn tag16(bytes: &[u8]) -> [u8; TAG_LEN] {
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&bytes[..TAG_LEN]);
    tag
}

fn key32(bytes: &[u8]) -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    key.copy_from_slice(&bytes[..KEY_LEN]);
    key
}

fn u64_at(bytes: &[u8]) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(raw)
}

/// A CURVE long-term key pair (what ZMQ_CURVE_PUBLICKEY and
/// ZMQ_CURVE_SECRETKEY hold). The secret is wiped from memory on drop.
#[derive(Clone)]
pub struct CurveKeyPair {
    public: [u8; KEY_LEN],
    secret: Zeroizing<[u8; KEY_LEN]>,
}

impl CurveKeyPair {
    /// A fresh random key pair.
    ///
    /// # Panics
    /// If the operating system's random source fails.
    pub fn generate() -> CurveKeyPair {
        let secret = random::<KEY_LEN>().expect("the OS random source failed");
        CurveKeyPair::from_secret(*secret)
    }

    /// The key pair whose secret key is `secret` (the public key is
    /// derived from it, as `zmq_curve_public` does).
    pub fn from_secret(secret: [u8; KEY_LEN]) -> CurveKeyPair {
        CurveKeyPair {
            public: curve_public(&secret),
            secret: Zeroizing::new(secret),
        }
    }

    /// The key pair exactly as given, as libzmq takes ZMQ_CURVE_PUBLICKEY
    /// and ZMQ_CURVE_SECRETKEY: nothing checks that they match (a client
    /// with a mismatched pair fails at the server's vouch check, as with
    /// libzmq).
    pub fn from_parts(public: [u8; KEY_LEN], secret: [u8; KEY_LEN]) -> CurveKeyPair {
        CurveKeyPair {
            public,
            secret: Zeroizing::new(secret),
        }
    }

    /// The key pair from a Z85 secret key (40 characters).
    pub fn from_secret_z85(secret: &str) -> Result<CurveKeyPair, Z85Error> {
        Ok(CurveKeyPair::from_secret(z85::decode_key(secret)?))
    }

    /// The public key.
    pub fn public(&self) -> &[u8; KEY_LEN] {
        &self.public
    }

    /// The secret key.
    pub fn secret(&self) -> &[u8; KEY_LEN] {
        &self.secret
    }

    /// The public key as 40 characters of Z85.
    pub fn public_z85(&self) -> String {
        z85::encode_key(&self.public)
    }

    /// The secret key as 40 characters of Z85.
    pub fn secret_z85(&self) -> String {
        z85::encode_key(&self.secret)
    }

    fn secret_key(&self) -> SecretKey {
        SecretKey::from_bytes(*self.secret)
    }
}

impl fmt::Debug for CurveKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurveKeyPair")
            .field("public", &self.public_z85())
            .field("secret", &"<hidden>")
            .finish()
    }
}

/// A new random CURVE key pair as (public, secret), like
/// `zmq_curve_keypair` (which gives them in Z85: see
/// [`z85::encode_key`]).
///
/// # Panics
/// If the operating system's random source fails.
///
/// ```
/// use ferromq_proto::{curve_keypair, curve_public};
/// let (public, secret) = curve_keypair();
/// assert_eq!(curve_public(&secret), public);
/// ```
pub fn curve_keypair() -> ([u8; KEY_LEN], [u8; KEY_LEN]) {
    let pair = CurveKeyPair::generate();
    (pair.public, *pair.secret)
}

/// The public key of a CURVE secret key, like `zmq_curve_public`
/// (X25519 of the base point).
pub fn curve_public(secret: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    SecretKey::from_bytes(*secret).public_key().to_bytes()
}

/// `zmq_curve_keypair`: a new random key pair as (public, secret), each
/// 40 characters of Z85.
///
/// # Panics
/// If the operating system's random source fails.
pub fn curve_keypair_z85() -> (String, String) {
    let pair = CurveKeyPair::generate();
    (pair.public_z85(), pair.secret_z85())
}

/// `zmq_curve_public`: the Z85 public key of a Z85 secret key.
///
/// ```
/// use ferromq_proto::curve_public_z85;
/// assert_eq!(
///     curve_public_z85("JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6").unwrap(),
///     "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
/// );
/// ```
pub fn curve_public_z85(secret: &str) -> Result<String, Z85Error> {
    Ok(CurveKeyPair::from_secret_z85(secret)?.public_z85())
}

/// Short nonces: ours count up from 1 (as libzmq's do), the peer's must
/// strictly increase.
#[derive(Debug)]
struct ShortNonces {
    next: u64,
    peer_last: u64,
}

impl ShortNonces {
    fn new() -> ShortNonces {
        ShortNonces {
            next: 1,
            peer_last: 0,
        }
    }

    /// The next nonce to send.
    fn take(&mut self) -> Result<[u8; 8]> {
        //= rfc26#the-hello-command
        //# The client SHALL NOT send more than 2^64-1 commands in one
        //# connection.
        if self.next == u64::MAX {
            return Err(ProtocolError::Encode("CURVE short nonces exhausted"));
        }
        let n = self.next;
        self.next += 1;
        Ok(n.to_be_bytes())
    }

    /// The peer's first short nonce (HELLO from a client, READY from a
    /// server): any value starts the sequence.
    fn first(&mut self, raw: &[u8]) {
        self.peer_last = u64_at(raw);
    }

    /// Checks a later nonce from the peer (not yet recorded).
    fn check(&self, raw: &[u8]) -> Result<u64> {
        //= rfc26#the-hello-command
        //# The server SHALL verify that a client connection does use
        //# correctly incrementing short nonces, and SHALL disconnect clients
        //# that reuse a short nonce.
        let got = u64_at(raw);
        if got <= self.peer_last {
            return Err(ProtocolError::NonceNotIncreasing {
                got,
                last: self.peer_last,
            });
        }
        Ok(got)
    }
}

/// The session key and its MESSAGE subkeys.
struct TrafficKeys {
    /// Box key between the two short-term keys (NaCl's precomputation).
    key: secretbox::Key,
    /// The key for our MESSAGE nonces (which all share a 16-octet prefix).
    send: PrefixedKey,
    /// The key for the peer's MESSAGE nonces.
    recv: PrefixedKey,
}

/// The MESSAGE codec both roles share once the handshake is done.
struct Traffic {
    keys: Option<TrafficKeys>,
    nonces: ShortNonces,
    send_prefix: &'static [u8; 16],
    recv_prefix: &'static [u8; 16],
}

impl fmt::Debug for Traffic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Traffic")
            .field("keyed", &self.keys.is_some())
            .field("nonces", &self.nonces)
            .finish()
    }
}

impl Traffic {
    fn new(send_prefix: &'static [u8; 16], recv_prefix: &'static [u8; 16]) -> Traffic {
        Traffic {
            keys: None,
            nonces: ShortNonces::new(),
            send_prefix,
            recv_prefix,
        }
    }

    fn set_key(&mut self, key: secretbox::Key) {
        self.keys = Some(TrafficKeys {
            send: key.with_prefix(self.send_prefix),
            recv: key.with_prefix(self.recv_prefix),
            key,
        });
    }

    fn keys(&self) -> Result<&TrafficKeys> {
        self.keys
            .as_ref()
            .ok_or(ProtocolError::Encode("the CURVE handshake is not complete"))
    }

    /// The session key (for INITIATE and READY).
    fn key(&self) -> Result<&secretbox::Key> {
        Ok(&self.keys()?.key)
    }

    fn encode(&mut self, kind: FrameKind, body: &[u8], out: &mut BytesMut) -> Result<()> {
        let short = self.nonces.take()?;
        let keys = self.keys()?;
        let flags = match kind {
            FrameKind::Message { more } => {
                if more {
                    FLAG_MORE
                } else {
                    0
                }
            }
            FrameKind::Command => FLAG_COMMAND,
        };
        //= rfc26#high-level-grammar
        //# message = %d7 "MESSAGE" message_nonce message-box
        let len = MESSAGE_HEADER + TAG_LEN + 1 + body.len();
        // libzmq sends the MESSAGE command in a plain message frame, with
        // neither MORE nor COMMAND: both travel inside the box.
        let header = FrameHeader::new(FrameKind::LAST, len);
        out.reserve(header.len() + len);
        out.put_slice(header.as_bytes());
        out.put_slice(MESSAGE_NAME);
        out.put_slice(&short);
        let tag_at = out.len();
        out.put_bytes(0, TAG_LEN);
        out.put_u8(flags);
        out.put_slice(body);
        let tag = keys.send.seal(&short, &mut out[tag_at + TAG_LEN..]);
        out[tag_at..tag_at + TAG_LEN].copy_from_slice(&tag);
        Ok(())
    }

    /// Checks a MESSAGE command's name, length and short nonce. Returns
    /// the short nonce's value (to record once the box opens), the tag and
    /// the ciphertext.
    fn check_message<'a>(&self, body: &'a [u8]) -> Result<(u64, [u8; TAG_LEN], &'a [u8])> {
        if !body.starts_with(MESSAGE_NAME) {
            return Err(ProtocolError::UnexpectedCommand(
                printable_name(body),
                "CURVE traffic",
            ));
        }
        //= rfc26#the-message-command
        //# This command SHALL be at least 33 octets long
        if body.len() < MESSAGE_MIN {
            return Err(ProtocolError::MalformedCommand {
                command: "MESSAGE",
                reason: "shorter than 33 octets",
            });
        }
        let short = &body[MESSAGE_NAME.len()..MESSAGE_HEADER];
        let got = self.nonces.check(short)?;
        let (tag, ciphertext) = body[MESSAGE_HEADER..].split_at(TAG_LEN);
        Ok((got, tag16(tag), ciphertext))
    }

    fn decode(&mut self, frame: Frame) -> Result<Frame> {
        let keys = self.keys()?;
        let (got, tag, ciphertext) = self.check_message(&frame.body)?;
        // The message gets a buffer of its own, which the socket can then
        // keep without copying it again.
        let mut plain = BytesMut::from(ciphertext);
        keys.recv
            .open(&got.to_be_bytes(), &mut plain, &tag)
            .map_err(|_| ProtocolError::Cryptographic("MESSAGE"))?;
        self.nonces.peer_last = got;
        let kind = message_kind(plain[0])?;
        plain.advance(1);
        Ok(Frame {
            kind,
            body: plain.freeze(),
        })
    }

    /// [`Mechanism::decode_short_frame`]: opens the box into a buffer on
    /// the stack and records its nonce only once `accept` took the message.
    fn decode_short(
        &mut self,
        body: &[u8],
        accept: &mut dyn FnMut(&[u8], bool) -> bool,
    ) -> Result<Option<bool>> {
        let mut plain = [0u8; MAX_SHORT_BODY];
        if body.len() > plain.len() {
            return Ok(None);
        }
        let keys = self.keys()?;
        let (got, tag, ciphertext) = self.check_message(body)?;
        let plain = &mut plain[..ciphertext.len()];
        plain.copy_from_slice(ciphertext);
        keys.recv
            .open(&got.to_be_bytes(), plain, &tag)
            .map_err(|_| ProtocolError::Cryptographic("MESSAGE"))?;
        let FrameKind::Message { more } = message_kind(plain[0])? else {
            // Commands (PING, SUBSCRIBE, ...) take the general path, which
            // opens the box again.
            return Ok(None);
        };
        if !accept(&plain[1..], more) {
            return Ok(Some(false));
        }
        self.nonces.peer_last = got;
        Ok(Some(true))
    }
}

/// The kind of frame a MESSAGE box carries, from the flags octet that
/// starts it.
fn message_kind(flags: u8) -> Result<FrameKind> {
    //= rfc26#the-message-command
    //# Bits 7-1: *Reserved*. These bits are reserved for future use and
    //# MUST be zero.
    // libzmq uses bit 1 for commands and ignores the others; so do we.
    Ok(match (flags & FLAG_COMMAND != 0, flags & FLAG_MORE != 0) {
        (true, true) => return Err(ProtocolError::CommandWithMore),
        (true, false) => FrameKind::Command,
        (false, more) => FrameKind::Message { more },
    })
}

/// Parses an ERROR body from a server into the error it means.
fn error_from(body: Bytes) -> ProtocolError {
    match Command::parse(body) {
        Ok(Command::Error { reason }) => ProtocolError::from_error_reason(&reason),
        Ok(other) => ProtocolError::UnexpectedCommand(
            String::from_utf8_lossy(other.name()).into_owned(),
            "the CURVE handshake",
        ),
        Err(e) => e,
    }
}

fn unexpected(body: &[u8]) -> ProtocolError {
    match command_name(body) {
        Some(name) => ProtocolError::UnexpectedCommand(
            String::from_utf8_lossy(name).into_owned(),
            "the CURVE handshake",
        ),
        None => ProtocolError::MalformedCommand {
            command: "?",
            reason: "command name empty or longer than the frame",
        },
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

/// The client side of CURVE. It knows its own long-term key pair and the
/// server's long-term public key; it makes a short-term key pair for the
/// connection, sends HELLO, opens the server's WELCOME (which fails with
/// [`ProtocolError::Cryptographic`] if the server key is wrong), sends
/// INITIATE with its vouch and metadata, and is done when READY opens.
///
/// ```
/// use ferromq_proto::*;
/// let server_keys = CurveKeyPair::generate();
/// let mut client = CurveClient::new(
///     LocalProperties::new(SocketType::Req),
///     CurveKeyPair::generate(),
///     *server_keys.public(),
/// );
/// let mut server = CurveServer::new(LocalProperties::new(SocketType::Rep), server_keys);
/// server.process_command(client.next_command().unwrap().unwrap()).unwrap(); // HELLO
/// client.process_command(server.next_command().unwrap().unwrap()).unwrap(); // WELCOME
/// server.process_command(client.next_command().unwrap().unwrap()).unwrap(); // INITIATE
/// client.process_command(server.next_command().unwrap().unwrap()).unwrap(); // READY
/// assert_eq!(client.status(), MechanismStatus::Ready);
/// assert_eq!(server.status(), MechanismStatus::Ready);
/// ```
pub struct CurveClient {
    local: LocalProperties,
    keys: CurveKeyPair,
    server_key: [u8; KEY_LEN],
    state: ClientState,
    /// c', from HELLO until INITIATE.
    short: Option<SecretKey>,
    /// Box between C' and S: HELLO's signature and the WELCOME box.
    hello_box: Option<SalsaBox>,
    /// S' and the cookie, from WELCOME until INITIATE.
    server_short: [u8; KEY_LEN],
    cookie: Vec<u8>,
    traffic: Traffic,
    peer: Option<(SocketType, Metadata)>,
    empty: Metadata,
}

impl fmt::Debug for CurveClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurveClient")
            .field("keys", &self.keys)
            .field("server_key", &z85::encode_key(&self.server_key))
            .field("state", &self.state)
            .field("traffic", &self.traffic)
            .finish_non_exhaustive()
    }
}

impl CurveClient {
    /// A CURVE client announcing `local`, with long-term key pair `keys`
    /// (ZMQ_CURVE_PUBLICKEY/SECRETKEY), talking to the server whose
    /// long-term public key is `server_key` (ZMQ_CURVE_SERVERKEY).
    pub fn new(
        local: LocalProperties,
        keys: CurveKeyPair,
        server_key: [u8; KEY_LEN],
    ) -> CurveClient {
        CurveClient {
            local,
            keys,
            server_key,
            state: ClientState::SendHello,
            short: None,
            hello_box: None,
            server_short: [0; KEY_LEN],
            cookie: Vec::new(),
            traffic: Traffic::new(MESSAGE_FROM_CLIENT, MESSAGE_FROM_SERVER),
            peer: None,
            empty: Metadata::new(),
        }
    }

    fn hello(&mut self) -> Result<Bytes> {
        //= rfc26#the-hello-command
        //# The client SHALL generate a unique key pair for each connection it
        //# creates to a server.
        let short = SecretKey::from_bytes(*random::<KEY_LEN>()?);
        let short_public = short.public_key();
        let hello_box = SalsaBox::new(&PublicKey::from(self.server_key), &short);
        let n = self.traffic.nonces.take()?;
        let mut body = Vec::with_capacity(HELLO_LEN);
        body.extend_from_slice(HELLO_NAME);
        //# The CurveZMQ version number, which SHALL be the two octets 1 and 0.
        body.extend_from_slice(&[1, 0]);
        //= rfc26#high-level-grammar
        //# hello-padding = 72%x00      ; Anti-amplification padding
        body.extend_from_slice(&[0; 72]);
        //# hello-client = 32OCTET      ; Client public transient key C'
        body.extend_from_slice(short_public.as_bytes());
        //# hello-nonce = 8OCTET        ; Short nonce, prefixed by "CurveZMQHELLO---"
        body.extend_from_slice(&n);
        //# hello-box = 80OCTET         ; Signature, Box [64 * %x0](C'->S)
        seal_into(&hello_box, &nonce(HELLO_PREFIX, &n), &[0; 64], &mut body);
        debug_assert_eq!(body.len(), HELLO_LEN);
        self.short = Some(short);
        self.hello_box = Some(hello_box);
        Ok(body.into())
    }

    fn process_welcome(&mut self, body: &[u8]) -> Result<()> {
        //= rfc26#the-welcome-command
        //# This command SHALL be 168 octets long
        if body.len() != WELCOME_LEN {
            return Err(ProtocolError::MalformedCommand {
                command: "WELCOME",
                reason: "not 168 octets",
            });
        }
        let (Some(hello_box), Some(short)) = (&self.hello_box, &self.short) else {
            return Err(unexpected(body));
        };
        //# A welcome box (144 octets) that encrypts the server public
        //# transient key S' (32 octets) and the server cookie (96 octets),
        //# from the server permanent key S to the client's transient key C'.
        let plain = open(
            hello_box,
            &nonce(WELCOME_PREFIX, &body[8..24]),
            &body[24..],
            "WELCOME",
        )?;
        self.server_short = key32(&plain[..KEY_LEN]);
        self.cookie = plain[KEY_LEN..].to_vec();
        self.traffic.set_key(session_key(&self.server_short, short));
        self.hello_box = None;
        self.state = ClientState::SendInitiate;
        Ok(())
    }

    fn initiate(&mut self) -> Result<Bytes> {
        //= rfc26#the-initiate-command
        //# The vouch box (80 octets), that encrypts the client's transient key
        //# C' (32 octets) and the server permanent key S (32 octets) from the
        //# client permanent key C to the server transient key S'.
        let short = self.short.take().ok_or(ProtocolError::Encode(
            "CURVE INITIATE before the short-term key",
        ))?;
        let mut vouched = Zeroizing::new([0u8; 2 * KEY_LEN]);
        vouched[..KEY_LEN].copy_from_slice(short.public_key().as_bytes());
        vouched[KEY_LEN..].copy_from_slice(&self.server_key);
        let vouch_nonce = random::<16>()?;
        let vouch_box = SalsaBox::new(&PublicKey::from(self.server_short), &self.keys.secret_key());
        let metadata = self.local.to_metadata().to_bytes();
        //# The initiate box holds the client permanent public key C (32
        //# octets), the vouch (96 octets), and the metadata (0 or more
        //# octets), encrypted from the client's transient key C' to the
        //# server's transient key S'.
        let mut plain = Zeroizing::new(Vec::with_capacity(128 + metadata.len()));
        plain.extend_from_slice(self.keys.public());
        plain.extend_from_slice(&vouch_nonce[..]);
        seal_into(
            &vouch_box,
            &nonce(VOUCH_PREFIX, &vouch_nonce[..]),
            &vouched[..],
            &mut plain,
        );
        plain.extend_from_slice(&metadata);
        let n = self.traffic.nonces.take()?;
        let mut body = Vec::with_capacity(INITIATE_NAME.len() + 96 + 8 + TAG_LEN + plain.len());
        body.extend_from_slice(INITIATE_NAME);
        //# The cookie provided by the server in the WELCOME command (96
        //# octets).
        body.extend_from_slice(&self.cookie);
        body.extend_from_slice(&n);
        seal_into(
            self.traffic.key()?,
            &nonce(INITIATE_PREFIX, &n),
            &plain,
            &mut body,
        );
        self.cookie = Vec::new();
        Ok(body.into())
    }

    fn process_ready(&mut self, body: &[u8]) -> Result<()> {
        //= rfc26#the-ready-command
        //# This command SHALL be at least 30 octets long
        if body.len() < READY_MIN {
            return Err(ProtocolError::MalformedCommand {
                command: "READY",
                reason: "shorter than 30 octets",
            });
        }
        //# The nonce SHALL be implicitly prefixed with the 16 characters
        //# @@"CurveZMQREADY---"@@ to form the 24-octet nonce used to encrypt
        //# and decrypt the ready box.
        let short = &body[6..14];
        let plain = open(
            self.traffic.key()?,
            &nonce(READY_PREFIX, short),
            &body[14..],
            "READY",
        )?;
        self.traffic.nonces.first(short);
        //# The client SHALL validate all fields and SHALL disconnect from
        //# servers who send malformed READY commands.
        let md = Metadata::parse(&plain)?;
        let theirs = self.local.check_peer(&md)?;
        self.peer = Some((theirs, md));
        self.state = ClientState::Ready;
        Ok(())
    }
}

impl Mechanism for CurveClient {
    fn name(&self) -> MechanismName {
        MechanismName::CURVE
    }

    fn as_server(&self) -> bool {
        //= rfc25#implementation
        //# The CURVE mechanism uses the greeting as-server field to identify
        //# which peer is "client" and which peer is "server".
        false
    }

    fn next_command(&mut self) -> Result<Option<Bytes>> {
        match self.state {
            ClientState::SendHello => {
                //= rfc26#the-hello-command
                //# The client SHALL send a HELLO command after opening the
                //# stream connection.
                let body = self.hello()?;
                self.state = ClientState::WaitWelcome;
                Ok(Some(body))
            }
            ClientState::SendInitiate => {
                //= rfc26#the-initiate-command
                //# The client SHALL respond to a valid WELCOME with an
                //# INITIATE command.
                let body = self.initiate()?;
                self.state = ClientState::WaitReady;
                Ok(Some(body))
            }
            _ => Ok(None),
        }
    }

    fn process_command(&mut self, body: Bytes) -> Result<()> {
        match (self.state, command_name(&body)) {
            (ClientState::WaitWelcome | ClientState::WaitReady, Some(b"ERROR")) => {
                Err(error_from(body))
            }
            (ClientState::WaitWelcome, Some(b"WELCOME")) => self.process_welcome(&body),
            (ClientState::WaitReady, Some(b"READY")) => self.process_ready(&body),
            _ => Err(unexpected(&body)),
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

    fn encrypts(&self) -> bool {
        true
    }

    fn encode_frame(&mut self, kind: FrameKind, body: &[u8], out: &mut BytesMut) -> Result<()> {
        self.traffic.encode(kind, body, out)
    }

    fn decode_frame(&mut self, frame: Frame) -> Result<Frame> {
        self.traffic.decode(frame)
    }

    fn decode_short_frame(
        &mut self,
        body: &[u8],
        accept: &mut dyn FnMut(&[u8], bool) -> bool,
    ) -> Result<Option<bool>> {
        self.traffic.decode_short(body, accept)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    WaitHello,
    SendWelcome,
    WaitInitiate,
    WaitZap,
    SendReady,
    Ready,
    /// ZAP refused the client: send ERROR with this status code.
    SendError(u16),
    /// Refused (and ERROR sent, unless the status was 300): fail.
    Refused(u16),
}

/// The server side of CURVE. It holds its long-term key pair; for each
/// client it opens HELLO, answers WELCOME with a short-term key and a
/// cookie, opens INITIATE and its vouch, asks ZAP about the client's
/// long-term public key (when built [`with_zap`](CurveServer::with_zap)),
/// and answers READY. Without ZAP every client that completes the
/// handshake is accepted (CurveZMQ's "Stonehouse" model, libzmq's
/// behaviour when no ZAP handler is bound).
pub struct CurveServer {
    local: LocalProperties,
    keys: CurveKeyPair,
    zap: ZapGate,
    state: ServerState,
    /// C', from HELLO on.
    client_short: [u8; KEY_LEN],
    /// Box between C' and S: HELLO's signature and the WELCOME box.
    hello_box: Option<SalsaBox>,
    /// The cookie key, from WELCOME until INITIATE.
    cookie_key: Option<Zeroizing<[u8; KEY_LEN]>>,
    traffic: Traffic,
    /// The client's validated metadata, while ZAP decides.
    announced: Option<(SocketType, Metadata)>,
    peer: Option<(SocketType, Metadata)>,
    empty: Metadata,
}

impl fmt::Debug for CurveServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurveServer")
            .field("keys", &self.keys)
            .field("state", &self.state)
            .field("traffic", &self.traffic)
            .finish_non_exhaustive()
    }
}

impl CurveServer {
    /// A CURVE server announcing `local`, with long-term key pair `keys`
    /// (ZMQ_CURVE_SECRETKEY; ZMQ_CURVE_SERVER set), accepting every
    /// client.
    pub fn new(local: LocalProperties, keys: CurveKeyPair) -> CurveServer {
        CurveServer {
            local,
            keys,
            zap: ZapGate::new(None),
            state: ServerState::WaitHello,
            client_short: [0; KEY_LEN],
            hello_box: None,
            cookie_key: None,
            traffic: Traffic::new(MESSAGE_FROM_SERVER, MESSAGE_FROM_CLIENT),
            announced: None,
            peer: None,
            empty: Metadata::new(),
        }
    }

    /// Asks a ZAP handler about each client, with this domain and address.
    pub fn with_zap(mut self, context: ZapContext) -> CurveServer {
        self.zap = ZapGate::new(Some(context));
        self
    }

    fn process_hello(&mut self, body: &[u8]) -> Result<()> {
        let malformed = |reason| ProtocolError::MalformedCommand {
            command: "HELLO",
            reason,
        };
        //= rfc26#the-hello-command
        //# This command SHALL be 200 octets long
        if body.len() != HELLO_LEN {
            return Err(malformed("not 200 octets"));
        }
        //# The CurveZMQ version number, which SHALL be the two octets 1 and 0.
        if body[6..8] != [1, 0] {
            return Err(malformed("CurveZMQ version is not 1.0"));
        }
        //# An anti-amplification padding field. This SHALL be 70 octets, all
        //# zero.
        // (72 in the grammar and on the wire.)
        if body[8..80].iter().any(|&b| b != 0) {
            return Err(malformed("anti-amplification padding is not zero"));
        }
        self.client_short = key32(&body[80..112]);
        let short = &body[112..120];
        let hello_box = SalsaBox::new(&PublicKey::from(self.client_short), &self.keys.secret_key());
        //# The signature box (80 octets). This SHALL contain 64 zero octets,
        //# encrypted from the client's transient key C' to the server's
        //# permanent key S.
        let plain = open(
            &hello_box,
            &nonce(HELLO_PREFIX, short),
            &body[120..],
            "HELLO",
        )?;
        if plain.iter().any(|&b| b != 0) {
            return Err(ProtocolError::Cryptographic("HELLO"));
        }
        self.traffic.nonces.first(short);
        self.hello_box = Some(hello_box);
        self.state = ServerState::SendWelcome;
        Ok(())
    }

    fn welcome(&mut self) -> Result<Bytes> {
        let hello_box = self
            .hello_box
            .take()
            .ok_or(ProtocolError::Encode("CURVE WELCOME before HELLO"))?;
        //= rfc26#the-hello-command
        //# When the server gets a valid HELLO command, it SHALL generate a new
        //# transient key pair, and encode both the public and secret key in a
        //# WELCOME command, as explained below.
        let short = random::<KEY_LEN>()?;
        let short_public = curve_public(&short);
        //= rfc26#the-welcome-command
        //# The server SHALL generate a new cookie for each WELCOME command it
        //# sends.
        let cookie_key = random::<KEY_LEN>()?;
        let cookie_nonce = random::<16>()?;
        //# A cookie box (80 octets) that holds the client public transient
        //# key C' (32 octets) and the server secret transient key s' (32
        //# octets), encrypted to and from a secret short-term "cookie key".
        let mut cookie_plain = Zeroizing::new([0u8; 2 * KEY_LEN]);
        cookie_plain[..KEY_LEN].copy_from_slice(&self.client_short);
        cookie_plain[KEY_LEN..].copy_from_slice(&short[..]);
        let mut plain = Zeroizing::new(Vec::with_capacity(128));
        plain.extend_from_slice(&short_public);
        plain.extend_from_slice(&cookie_nonce[..]);
        seal_into(
            &XSalsa20Poly1305::new((&*cookie_key).into()),
            &nonce(COOKIE_PREFIX, &cookie_nonce[..]),
            &cookie_plain[..],
            &mut plain,
        );
        //# A server long nonce (16 octets). This nonce SHALL be implicitly
        //# prefixed by the 8 characters "WELCOME-" to form a 24-octet nonce
        //# used to encrypt and decrypt the welcome box.
        let welcome_nonce = random::<16>()?;
        let mut body = Vec::with_capacity(WELCOME_LEN);
        body.extend_from_slice(WELCOME_NAME);
        body.extend_from_slice(&welcome_nonce[..]);
        seal_into(
            &hello_box,
            &nonce(WELCOME_PREFIX, &welcome_nonce[..]),
            &plain,
            &mut body,
        );
        debug_assert_eq!(body.len(), WELCOME_LEN);
        //= rfc26#the-hello-command
        //# The server SHALL not keep this transient key pair and SHOULD keep
        //# minimal state for the client until the client responds with a
        //# valid INITIATE command.
        // Only the cookie key (and C') stay; s' comes back in the cookie.
        self.cookie_key = Some(cookie_key);
        Ok(body.into())
    }

    fn process_initiate(&mut self, body: &[u8]) -> Result<()> {
        //= rfc26#the-initiate-command
        //# This command SHALL be at least 257 octets long
        if body.len() < INITIATE_MIN {
            return Err(ProtocolError::MalformedCommand {
                command: "INITIATE",
                reason: "shorter than 257 octets",
            });
        }
        //= rfc26#the-welcome-command
        //# The server MUST discard from its memory the cookie key after a
        //# short interval, for example 60 seconds, or as soon as the client
        //# sends a valid INITIATE command.
        let cookie_key = self
            .cookie_key
            .take()
            .ok_or(ProtocolError::Cryptographic("cookie"))?;
        let cookie = open(
            &XSalsa20Poly1305::new((&*cookie_key).into()),
            &nonce(COOKIE_PREFIX, &body[9..25]),
            &body[25..105],
            "cookie",
        )?;
        if cookie[..KEY_LEN] != self.client_short {
            return Err(ProtocolError::Cryptographic("cookie"));
        }
        let short = SecretKey::from_slice(&cookie[KEY_LEN..])
            .map_err(|_| ProtocolError::Cryptographic("cookie"))?;
        let n = &body[105..113];
        let got = self.traffic.nonces.check(n)?;
        let key = session_key(&self.client_short, &short);
        let plain = open(&key, &nonce(INITIATE_PREFIX, n), &body[113..], "INITIATE")?;
        self.traffic.nonces.peer_last = got;
        // At least 128 octets: the length check above guarantees it.
        let client_key = key32(&plain[..KEY_LEN]);
        //= rfc26#the-initiate-command
        //# A client long nonce (16 octets). This nonce SHALL be implicitly
        //# prefixed with the 8 characters @@"VOUCH---"@@ to give a 24-octet
        //# nonce, used to encrypt and decrypt the vouch box.
        let vouch = open(
            &SalsaBox::new(&PublicKey::from(client_key), &short),
            &nonce(VOUCH_PREFIX, &plain[32..48]),
            &plain[48..128],
            "vouch",
        )?;
        if vouch[..KEY_LEN] != self.client_short || vouch[KEY_LEN..] != self.keys.public[..] {
            return Err(ProtocolError::KeyExchange);
        }
        //# The server SHALL validate all fields and SHALL reject and
        //# disconnect clients who send malformed INITIATE commands.
        let md = Metadata::parse(&plain[128..])?;
        let theirs = self.local.check_peer(&md)?;
        self.traffic.set_key(key);
        //# After decrypting the INITIATE command, the server MAY authenticate
        //# the client based on its permanent public key C.
        let waits = self.zap.begin(
            &self.local.identity,
            MechanismName::CURVE,
            vec![Bytes::copy_from_slice(&client_key)],
        );
        if waits {
            self.announced = Some((theirs, md));
            self.state = ServerState::WaitZap;
        } else {
            self.peer = Some((theirs, self.zap.merged(&md)));
            self.state = ServerState::SendReady;
        }
        Ok(())
    }

    fn ready(&mut self) -> Result<Bytes> {
        //= rfc26#the-ready-command
        //# The ready box (16 or more octets). This shall contain metadata of
        //# the same format as sent in the INITIATE command, encrypted from the
        //# server's transient key S' to the client's transient key C'.
        let metadata = self.local.to_metadata().to_bytes();
        let n = self.traffic.nonces.take()?;
        let mut body = Vec::with_capacity(READY_NAME.len() + 8 + TAG_LEN + metadata.len());
        body.extend_from_slice(READY_NAME);
        body.extend_from_slice(&n);
        seal_into(
            self.traffic.key()?,
            &nonce(READY_PREFIX, &n),
            &metadata,
            &mut body,
        );
        Ok(body.into())
    }
}

impl Mechanism for CurveServer {
    fn name(&self) -> MechanismName {
        MechanismName::CURVE
    }

    fn as_server(&self) -> bool {
        true
    }

    fn next_command(&mut self) -> Result<Option<Bytes>> {
        match self.state {
            ServerState::SendWelcome => {
                //= rfc26#the-welcome-command
                //# The server SHALL respond to a valid HELLO command with a
                //# WELCOME command.
                let body = self.welcome()?;
                self.state = ServerState::WaitInitiate;
                Ok(Some(body))
            }
            ServerState::SendReady => {
                //= rfc26#the-initiate-command
                //# If the client passes authentication the server SHALL send a
                //# READY command and MAY then immediately send MESSAGE
                //# commands.
                let body = self.ready()?;
                self.state = ServerState::Ready;
                Ok(Some(body))
            }
            ServerState::SendError(status) => {
                self.state = ServerState::Refused(status);
                Ok(Some(refusal_body(status)))
            }
            ServerState::Refused(status) => Err(ProtocolError::AuthFailed { status }),
            _ => Ok(None),
        }
    }

    fn process_command(&mut self, body: Bytes) -> Result<()> {
        match (self.state, command_name(&body)) {
            //= rfc26#the-hello-command
            //# The server SHALL validate all fields and SHALL reject and
            //# disconnect clients who send malformed HELLO commands.
            (ServerState::WaitHello, Some(b"HELLO")) => self.process_hello(&body),
            (ServerState::WaitInitiate, Some(b"INITIATE")) => self.process_initiate(&body),
            _ => Err(unexpected(&body)),
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

    fn encrypts(&self) -> bool {
        true
    }

    fn encode_frame(&mut self, kind: FrameKind, body: &[u8], out: &mut BytesMut) -> Result<()> {
        self.traffic.encode(kind, body, out)
    }

    fn decode_frame(&mut self, frame: Frame) -> Result<Frame> {
        self.traffic.decode(frame)
    }

    fn decode_short_frame(
        &mut self,
        body: &[u8],
        accept: &mut dyn FnMut(&[u8], bool) -> bool,
    ) -> Result<Option<bool>> {
        self.traffic.decode_short(body, accept)
    }

    fn zap_request(&mut self) -> Option<ZapRequest> {
        self.zap.take_request()
    }

    fn zap_reply(&mut self, reply: ZapReply) -> Result<()> {
        if self.state != ServerState::WaitZap {
            return Err(ProtocolError::Zap(ZapFault::Unexpected));
        }
        self.state = match self.zap.reply(reply)? {
            Verdict::Allowed => {
                let (theirs, md) = self
                    .announced
                    .take()
                    .ok_or(ProtocolError::Zap(ZapFault::Unexpected))?;
                self.peer = Some((theirs, self.zap.merged(&md)));
                ServerState::SendReady
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs HELLO and WELCOME; returns the pair ready for INITIATE.
    fn to_initiate() -> (CurveClient, CurveServer) {
        let server_keys = CurveKeyPair::generate();
        let mut client = CurveClient::new(
            LocalProperties::new(SocketType::Req),
            CurveKeyPair::generate(),
            *server_keys.public(),
        );
        let mut server = CurveServer::new(LocalProperties::new(SocketType::Rep), server_keys);
        server
            .process_command(client.next_command().unwrap().unwrap())
            .unwrap();
        client
            .process_command(server.next_command().unwrap().unwrap())
            .unwrap();
        (client, server)
    }

    #[test]
    fn vouch_must_name_the_session_key_and_the_server() {
        // A vouch for another short-term key C'.
        let (mut client, mut server) = to_initiate();
        client.short = Some(SecretKey::from_bytes([7; KEY_LEN]));
        let initiate = client.next_command().unwrap().unwrap();
        assert_eq!(
            server.process_command(initiate),
            Err(ProtocolError::KeyExchange)
        );
        // A vouch naming another server S.
        let (mut client, mut server) = to_initiate();
        client.server_key = [9; KEY_LEN];
        let initiate = client.next_command().unwrap().unwrap();
        let err = server.process_command(initiate).unwrap_err();
        assert_eq!(err, ProtocolError::KeyExchange);
        assert_eq!(err.zmtp_code(), crate::zmtp_code::KEY_EXCHANGE);
    }

    #[test]
    fn mismatched_key_pair_fails_the_vouch() {
        let server_keys = CurveKeyPair::generate();
        let (_, secret) = curve_keypair();
        let keys = CurveKeyPair::from_parts([5; KEY_LEN], secret);
        let mut client = CurveClient::new(
            LocalProperties::new(SocketType::Req),
            keys,
            *server_keys.public(),
        );
        let mut server = CurveServer::new(LocalProperties::new(SocketType::Rep), server_keys);
        server
            .process_command(client.next_command().unwrap().unwrap())
            .unwrap();
        client
            .process_command(server.next_command().unwrap().unwrap())
            .unwrap();
        let initiate = client.next_command().unwrap().unwrap();
        assert_eq!(
            server.process_command(initiate),
            Err(ProtocolError::Cryptographic("vouch"))
        );
    }

    #[test]
    fn hello_signature_must_be_zeros() {
        let server_keys = CurveKeyPair::generate();
        let short = SecretKey::from_bytes([3; KEY_LEN]);
        let hello_box = SalsaBox::new(&PublicKey::from(*server_keys.public()), &short);
        let mut body = Vec::new();
        body.extend_from_slice(HELLO_NAME);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&[0; 72]);
        body.extend_from_slice(short.public_key().as_bytes());
        body.extend_from_slice(&1u64.to_be_bytes());
        seal_into(
            &hello_box,
            &nonce(HELLO_PREFIX, &1u64.to_be_bytes()),
            &[1; 64],
            &mut body,
        );
        let mut server = CurveServer::new(LocalProperties::new(SocketType::Rep), server_keys);
        assert_eq!(
            server.process_command(body.into()),
            Err(ProtocolError::Cryptographic("HELLO"))
        );
    }

    #[test]
    fn nonces_count_up_and_check_strictly() {
        let mut n = ShortNonces::new();
        assert_eq!(n.take().unwrap(), 1u64.to_be_bytes());
        assert_eq!(n.take().unwrap(), 2u64.to_be_bytes());
        n.first(&5u64.to_be_bytes());
        assert!(n.check(&5u64.to_be_bytes()).is_err());
        assert_eq!(n.check(&6u64.to_be_bytes()), Ok(6));
        n.next = u64::MAX;
        assert!(n.take().is_err());
    }
}
