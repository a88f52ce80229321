//! Golden byte vectors, written out by hand from the RFC text so they can be
//! checked by eye against the specification rather than against this crate.
//!
//! RFC 37 = ZMTP 3.1 (https://rfc.zeromq.org/spec/37/), RFC 23 = ZMTP 3.0
//! (https://rfc.zeromq.org/spec/23/), RFC 32 = Z85
//! (https://rfc.zeromq.org/spec/32/).

use bytes::{Bytes, BytesMut};
use ferromq_proto::{
    encode_frame, z85, Command, Connection, ConnectionOptions, Event, Frame, FrameDecoder,
    FrameHeader, FrameKind, Greeting, LocalProperties, Mechanism, MechanismName, Metadata,
    NullMechanism, SocketType, ZmtpVersion,
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn null_conn(socket_type: SocketType) -> Connection {
    Connection::new(
        Box::new(NullMechanism::new(LocalProperties::new(socket_type))),
        ConnectionOptions::default(),
    )
}

/// A peer greeting for the NULL mechanism with the given minor version.
fn peer_greeting(minor: u8) -> Vec<u8> {
    let mut g = NULL_CLIENT_GREETING.to_vec();
    g[11] = minor;
    g
}

/// `%x04 size %d5 "READY" "\x0bSocket-Type" 00 00 00 len name`, built by
/// hand (only for the peer side of a test; the vectors below are literal).
fn peer_ready(socket_type: &str) -> Vec<u8> {
    let mut body = b"\x05READY\x0bSocket-Type\x00\x00\x00".to_vec();
    body.push(socket_type.len() as u8);
    body.extend_from_slice(socket_type.as_bytes());
    let mut frame = vec![0x04, body.len() as u8];
    frame.extend_from_slice(&body);
    frame
}

/// Drives `conn` through the greeting and handshake with a NULL peer of
/// type `peer_type` speaking ZMTP 3.`minor`, and empties its output.
fn handshaken(ours: SocketType, peer_type: &str, minor: u8) -> Connection {
    let mut conn = null_conn(ours);
    conn.recv_buf().extend_from_slice(&peer_greeting(minor));
    conn.recv_buf().extend_from_slice(&peer_ready(peer_type));
    match conn.poll_event().unwrap() {
        Some(Event::HandshakeComplete(info)) => {
            assert_eq!(info.socket_type.name(), peer_type);
            assert_eq!(
                info.version,
                if minor == 0 {
                    ZmtpVersion::V3_0
                } else {
                    ZmtpVersion::V3_1
                }
            );
        }
        other => panic!("expected HandshakeComplete, got {other:?}"),
    }
    assert!(conn.is_ready());
    conn.output().take_all();
    conn
}

// ---------------------------------------------------------------------------
// Greeting
// ---------------------------------------------------------------------------

/// RFC 37, "Worked Example": the greeting both peers send, in two parts.
///
/// ```text
///  signature                   major
/// +------+-------------+------+------+
/// | %xFF | %x00...%x00 | %x7F | %x03 |
/// +------+-------------+------+------+
///    0        1 - 8       9      10
///
///  minor   mechanism  as-server  filler
/// +------+-----------+---------+-------------+
/// | %x01 |  "NULL"   |  %x00   | %x00...%x00 |
/// +------+-----------+---------+-------------+
///    11     12 - 31      32        33 - 63
/// ```
#[rustfmt::skip]
const NULL_CLIENT_GREETING: [u8; 64] = [
    // signature: %xFF, 8 octets of padding, %x7F
    0xFF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7F,
    // version-major, version-minor
    0x03, 0x01,
    // mechanism "NULL", null-padded to 20 octets
    b'N', b'U', b'L', b'L', 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    // as-server
    0x00,
    // filler = 31%x00
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00,
];

#[test]
fn null_greeting_matches_rfc37_worked_example() {
    assert_eq!(
        Greeting::new(MechanismName::NULL, false).encode(),
        NULL_CLIENT_GREETING
    );
    // A new connection queues exactly this, and nothing else, at once.
    let mut conn = null_conn(SocketType::Dealer);
    assert_eq!(conn.output().take_all(), NULL_CLIENT_GREETING);

    let parsed = Greeting::parse(&NULL_CLIENT_GREETING).unwrap();
    assert_eq!(parsed.major, 3);
    assert_eq!(parsed.minor, 1);
    assert_eq!(parsed.mechanism, MechanismName::NULL);
    assert_eq!(parsed.mechanism.as_wire()[..4], *b"NULL");
    assert!(!parsed.as_server);
}

// ---------------------------------------------------------------------------
// READY
// ---------------------------------------------------------------------------

/// RFC 37, "Worked Example": "First the client sends a READY command to the
/// server that specifies the "DEALER" Socket-Type and empty Identity
/// properties" — flags %x04, size 41, then %x05 "READY", 11 "Socket-Type",
/// %x00 %x00 %x00 %x06 "DEALER", 8 "Identity", %x00 %x00 %x00 %x00
/// (octets 0 to 42 of the diagram).
#[rustfmt::skip]
const DEALER_READY: [u8; 43] = [
    0x04, 41,                                       // flags, size
    0x05, b'R', b'E', b'A', b'D', b'Y',             // command name "READY"
    11, b'S', b'o', b'c', b'k', b'e', b't', b'-', b'T', b'y', b'p', b'e',
    0x00, 0x00, 0x00, 0x06, b'D', b'E', b'A', b'L', b'E', b'R',
    8, b'I', b'd', b'e', b'n', b't', b'i', b't', b'y',
    0x00, 0x00, 0x00, 0x00,                         // property value ""
];

/// RFC 37, "Worked Example": "The server validates the socket type, accepts
/// it, and replies with a READY command that contains only the Socket-Type
/// property" — %x04 28, %x05 "READY", 11 "Socket-Type",
/// %x00 %x00 %x00 %x06 "ROUTER".
#[rustfmt::skip]
const ROUTER_READY_RFC: [u8; 30] = [
    0x04, 28,
    0x05, b'R', b'E', b'A', b'D', b'Y',
    11, b'S', b'o', b'c', b'k', b'e', b't', b'-', b'T', b'y', b'p', b'e',
    0x00, 0x00, 0x00, 0x06, b'R', b'O', b'U', b'T', b'E', b'R',
];

/// Same layout as the worked example's DEALER READY with Socket-Type "REQ":
/// body = 6 ("READY") + 1+11+4+3 (Socket-Type) + 1+8+4 (Identity) = 38.
#[rustfmt::skip]
const REQ_READY: [u8; 40] = [
    0x04, 38,
    0x05, b'R', b'E', b'A', b'D', b'Y',
    11, b'S', b'o', b'c', b'k', b'e', b't', b'-', b'T', b'y', b'p', b'e',
    0x00, 0x00, 0x00, 0x03, b'R', b'E', b'Q',
    8, b'I', b'd', b'e', b'n', b't', b'i', b't', b'y',
    0x00, 0x00, 0x00, 0x00,
];

fn command_frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, FrameKind::Command, body);
    out
}

#[test]
fn dealer_ready_from_mechanism_matches_rfc37() {
    let mut mech = NullMechanism::new(LocalProperties::new(SocketType::Dealer));
    let body = mech
        .next_command()
        .unwrap()
        .expect("NULL sends READY first");
    assert_eq!(command_frame(&body), DEALER_READY);
    // Only one READY.
    assert_eq!(mech.next_command().unwrap(), None);
}

#[test]
fn dealer_ready_from_connection_matches_rfc37() {
    let mut conn = null_conn(SocketType::Dealer);
    assert_eq!(conn.output().take_all(), NULL_CLIENT_GREETING);
    // READY goes out once the peer's greeting has arrived.
    assert_eq!(conn.poll_event().unwrap(), None);
    assert!(conn.output().is_empty());
    conn.recv_buf().extend_from_slice(&NULL_CLIENT_GREETING);
    assert_eq!(conn.poll_event().unwrap(), None);
    assert_eq!(conn.output().take_all(), DEALER_READY);

    // The server's READY from the worked example completes the handshake.
    conn.recv_buf().extend_from_slice(&ROUTER_READY_RFC);
    let Some(Event::HandshakeComplete(info)) = conn.poll_event().unwrap() else {
        panic!("no HandshakeComplete");
    };
    assert_eq!(info.socket_type, SocketType::Router);
    assert_eq!(info.metadata.len(), 1);
    assert_eq!(info.identity(), Bytes::new());
}

#[test]
fn router_ready_with_only_socket_type_matches_rfc37() {
    let mut md = Metadata::new();
    md.insert("Socket-Type", &b"ROUTER"[..]).unwrap();
    let cmd = Command::Ready(md);
    let mut wire = Vec::new();
    cmd.encode_frame(&mut wire);
    assert_eq!(wire, ROUTER_READY_RFC);
    assert_eq!(cmd.body_len(), 28);
    // And it decodes back.
    let mut buf = BytesMut::from(&ROUTER_READY_RFC[..]);
    let frame = FrameDecoder::new(None).decode(&mut buf).unwrap().unwrap();
    assert_eq!(frame.kind, FrameKind::Command);
    assert_eq!(Command::parse(frame.body).unwrap(), cmd);
}

#[test]
fn router_local_properties_also_send_empty_identity() {
    // libzmq-compatible: ROUTER announces Identity too (unlike the worked
    // example's server), so its READY is the DEALER one with "ROUTER".
    let mut expected = DEALER_READY.to_vec();
    expected[24..30].copy_from_slice(b"ROUTER");
    let mut mech = NullMechanism::new(LocalProperties::new(SocketType::Router));
    let body = mech.next_command().unwrap().unwrap();
    assert_eq!(command_frame(&body), expected);
}

#[test]
fn req_ready_matches_hand_encoding() {
    let mut mech = NullMechanism::new(LocalProperties::new(SocketType::Req));
    let body = mech.next_command().unwrap().unwrap();
    assert_eq!(command_frame(&body), REQ_READY);

    let mut md = Metadata::new();
    md.insert("Socket-Type", &b"REQ"[..]).unwrap();
    md.insert("Identity", Bytes::new()).unwrap();
    let mut wire = Vec::new();
    Command::Ready(md).encode_frame(&mut wire);
    assert_eq!(wire, REQ_READY);
}

#[test]
fn pub_ready_has_no_identity() {
    // Socket types other than REQ, DEALER and ROUTER send only Socket-Type:
    // RFC 37 "The Identity Property": "For all other socket types, the
    // Identity property shall be ignored."
    #[rustfmt::skip]
    let expected: [u8; 27] = [
        0x04, 25,
        0x05, b'R', b'E', b'A', b'D', b'Y',
        11, b'S', b'o', b'c', b'k', b'e', b't', b'-', b'T', b'y', b'p', b'e',
        0x00, 0x00, 0x00, 0x03, b'P', b'U', b'B',
    ];
    let mut mech = NullMechanism::new(LocalProperties::new(SocketType::Pub));
    let body = mech.next_command().unwrap().unwrap();
    assert_eq!(command_frame(&body), expected);
}

// ---------------------------------------------------------------------------
// Other commands
// ---------------------------------------------------------------------------

fn frame_of(cmd: &Command) -> Vec<u8> {
    let mut out = Vec::new();
    cmd.encode_frame(&mut out);
    out
}

fn parse_frame(wire: &[u8]) -> Command {
    let mut buf = BytesMut::from(wire);
    let frame = FrameDecoder::new(None).decode(&mut buf).unwrap().unwrap();
    assert!(buf.is_empty());
    assert_eq!(frame.kind, FrameKind::Command);
    Command::parse(frame.body).unwrap()
}

/// RFC 37, "The Publish-Subscribe Pattern":
/// `subscribe = command-size %d9 "SUBSCRIBE" subscription`
const SUBSCRIBE_A: &[u8] = b"\x04\x0b\x09SUBSCRIBEA";
/// `cancel = command-size %d6 "CANCEL" subscription`
const CANCEL_A: &[u8] = b"\x04\x08\x06CANCELA";

#[test]
fn subscribe_and_cancel_match_rfc37() {
    let sub = Command::Subscribe(Bytes::from_static(b"A"));
    assert_eq!(frame_of(&sub), SUBSCRIBE_A);
    assert_eq!(parse_frame(SUBSCRIBE_A), sub);

    let cancel = Command::Cancel(Bytes::from_static(b"A"));
    assert_eq!(frame_of(&cancel), CANCEL_A);
    assert_eq!(parse_frame(CANCEL_A), cancel);
}

#[test]
fn ping_pong_match_rfc37() {
    // RFC 37, "Connection Heartbeating":
    // ping = command-size %d4 "PING" ping-ttl ping-context
    // ping-ttl = 2OCTET   (here zero: no TTL), ping-context empty
    let ping_wire: &[u8] = b"\x04\x07\x04PING\x00\x00";
    let ping = Command::Ping {
        ttl: 0,
        context: Bytes::new(),
    };
    assert_eq!(frame_of(&ping), ping_wire);
    assert_eq!(parse_frame(ping_wire), ping);

    // "The ping-ttl is a 16-bit unsigned integer in network order"
    let ping_ttl_wire: &[u8] = b"\x04\x0a\x04PING\x01\x2cabc";
    let ping_ttl = Command::Ping {
        ttl: 300,
        context: Bytes::from_static(b"abc"),
    };
    assert_eq!(frame_of(&ping_ttl), ping_ttl_wire);
    assert_eq!(parse_frame(ping_ttl_wire), ping_ttl);

    // pong = command-size %d4 "PONG" ping-context
    let pong_wire: &[u8] = b"\x04\x05\x04PONG";
    let pong = Command::Pong {
        context: Bytes::new(),
    };
    assert_eq!(frame_of(&pong), pong_wire);
    assert_eq!(parse_frame(pong_wire), pong);
}

#[test]
fn connection_answers_ping_with_pong_echoing_context() {
    // "When a peer receives a PING command it SHALL respond with a PONG
    // command that echoes the ping-context"
    let mut conn = handshaken(SocketType::Dealer, "ROUTER", 1);
    conn.recv_buf()
        .extend_from_slice(b"\x04\x0a\x04PING\x01\x2cabc");
    assert_eq!(conn.poll_event().unwrap(), Some(Event::Ping { ttl: 300 }));
    assert_eq!(conn.output().take_all(), b"\x04\x08\x04PONGabc");
}

#[test]
fn error_matches_rfc37() {
    // RFC 37, "The NULL Security Mechanism":
    // error = command-size %d5 "ERROR" error-reason
    // error-reason = short-size 0*255VCHAR
    let wire: &[u8] = b"\x04\x0a\x05ERROR\x03bad";
    let err = Command::Error {
        reason: Bytes::from_static(b"bad"),
    };
    assert_eq!(frame_of(&err), wire);
    assert_eq!(parse_frame(wire), err);
}

// ---------------------------------------------------------------------------
// Message frames
// ---------------------------------------------------------------------------

#[test]
fn short_frame_with_more() {
    // RFC 37 grammar: message-more = ( %x01 short-size | %x03 long-size ) message-body
    let wire: &[u8] = b"\x01\x05hello";
    let mut out = Vec::new();
    encode_frame(&mut out, FrameKind::MORE, b"hello");
    assert_eq!(out, wire);
    assert_eq!(FrameHeader::new(FrameKind::MORE, 5).as_bytes(), &wire[..2]);
    let mut buf = BytesMut::from(wire);
    assert_eq!(
        FrameDecoder::new(None).decode(&mut buf).unwrap(),
        Some(Frame::message(&b"hello"[..], true))
    );
}

#[test]
fn short_frame_of_255_bytes() {
    // "A short frame has a body of 0 to 255 octets": 255 still fits the
    // one-octet size, %x00 %xFF.
    let body = vec![0x5A; 255];
    let mut wire = vec![0x00, 0xFF];
    wire.extend_from_slice(&body);
    let mut out = Vec::new();
    encode_frame(&mut out, FrameKind::LAST, &body);
    assert_eq!(out, wire);
    let mut buf = BytesMut::from(&wire[..]);
    assert_eq!(
        FrameDecoder::new(None).decode(&mut buf).unwrap(),
        Some(Frame::message(body, false))
    );
}

#[test]
fn empty_frames() {
    // "The size does not include the flags field, nor itself, so an empty
    // frame has a size of zero."
    let mut out = Vec::new();
    encode_frame(&mut out, FrameKind::MORE, b"");
    encode_frame(&mut out, FrameKind::LAST, b"");
    assert_eq!(out, b"\x01\x00\x00\x00");
}

#[test]
fn long_frame_of_256_bytes() {
    // message-last = ( %x00 short-size | %x02 long-size ) message-body;
    // "A value of 1 indicates that the frame size is encoded as a 64-bit
    // unsigned integer in network byte order." 256 = 00 00 00 00 00 00 01 00.
    let body: Vec<u8> = (0..=255u8).collect();
    let mut wire = vec![0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00];
    wire.extend_from_slice(&body);

    let mut out = Vec::new();
    encode_frame(&mut out, FrameKind::LAST, &body);
    assert_eq!(out, wire);

    let mut buf = BytesMut::from(&wire[..]);
    assert_eq!(
        FrameDecoder::new(None).decode(&mut buf).unwrap(),
        Some(Frame::message(body, false))
    );
    assert!(buf.is_empty());

    // The same length as a long command frame: %x06 long-size.
    let header = FrameHeader::new(FrameKind::Command, 256);
    assert_eq!(header.as_bytes(), &[0x06, 0, 0, 0, 0, 0, 0, 1, 0]);
}

// ---------------------------------------------------------------------------
// Subscriptions: ZMTP 3.0 messages vs ZMTP 3.1 commands
// ---------------------------------------------------------------------------

#[test]
fn subscription_to_zmtp30_peer_is_a_message() {
    // RFC 23, "The Publish-Subscribe Pattern":
    //   subscribe = %x00 short-size %d1 subscription
    //   (unsubscribe) = %x00 short-size %d0 subscription
    let mut conn = handshaken(SocketType::Sub, "PUB", 0);
    assert_eq!(conn.version(), ZmtpVersion::V3_0);
    conn.send_subscription(b"A", true).unwrap();
    assert_eq!(conn.output().take_all(), b"\x00\x02\x01\x41");
    conn.send_subscription(b"A", false).unwrap();
    assert_eq!(conn.output().take_all(), b"\x00\x02\x00\x41");
}

#[test]
fn subscription_to_zmtp31_peer_is_a_command() {
    let mut conn = handshaken(SocketType::Sub, "PUB", 1);
    assert_eq!(conn.version(), ZmtpVersion::V3_1);
    conn.send_subscription(b"A", true).unwrap();
    assert_eq!(conn.output().take_all(), SUBSCRIBE_A);
    conn.send_subscription(b"A", false).unwrap();
    assert_eq!(conn.output().take_all(), CANCEL_A);
}

#[test]
fn later_minor_versions_negotiate_zmtp31() {
    // "A peer MUST accept higher protocol versions as valid."
    let conn = handshaken(SocketType::Sub, "XPUB", 7);
    assert_eq!(conn.version(), ZmtpVersion::V3_1);
}

#[test]
fn publisher_receives_both_subscription_forms() {
    // From a 3.1 peer: commands, surfaced as Subscribe/Cancel events.
    let mut conn = handshaken(SocketType::Pub, "SUB", 1);
    conn.recv_buf().extend_from_slice(SUBSCRIBE_A);
    conn.recv_buf().extend_from_slice(CANCEL_A);
    assert_eq!(
        conn.poll_event().unwrap(),
        Some(Event::Subscribe(Bytes::from_static(b"A")))
    );
    assert_eq!(
        conn.poll_event().unwrap(),
        Some(Event::Cancel(Bytes::from_static(b"A")))
    );
    // From a 3.0 peer: plain messages, left for the socket layer to read.
    let mut conn = handshaken(SocketType::Pub, "SUB", 0);
    conn.recv_buf().extend_from_slice(b"\x00\x02\x01\x41");
    assert_eq!(
        conn.poll_event().unwrap(),
        Some(Event::Message(Frame::message(&b"\x01A"[..], false)))
    );
}

// ---------------------------------------------------------------------------
// Z85
// ---------------------------------------------------------------------------

#[test]
fn z85_rfc32_test_vector() {
    // RFC 32, "Test Case": 0x86 0x4F 0xD2 0x6F 0xB5 0x59 0xF7 0x5B
    // SHALL encode as "HelloWorld".
    let raw = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
    assert_eq!(z85::encode(&raw).unwrap(), "HelloWorld");
    assert_eq!(z85::decode("HelloWorld").unwrap(), raw);
}
