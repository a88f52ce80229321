//! Hostile and malformed input: each case must end in one specific
//! `ProtocolError` (never a panic), after which the connection stays dead.

use bytes::{Bytes, BytesMut};
use ferromq_proto::{
    Command, Connection, ConnectionOptions, Event, Frame, FrameDecoder, FrameKind, GreetingReader,
    LocalProperties, NullMechanism, ProtocolError, SocketType, GREETING_LEN, MAX_READ_CHUNK,
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn conn_with(socket_type: SocketType, options: ConnectionOptions) -> Connection {
    let mut conn = Connection::new(
        Box::new(NullMechanism::new(LocalProperties::new(socket_type))),
        options,
    );
    // Our own greeting is not under test here.
    assert_eq!(conn.output().take_all().len(), GREETING_LEN);
    conn
}

fn conn(socket_type: SocketType) -> Connection {
    conn_with(socket_type, ConnectionOptions::default())
}

/// A well-formed ZMTP 3.1 greeting with the given mechanism field.
fn greeting_with_mechanism(mechanism: &[u8]) -> Vec<u8> {
    let mut g = vec![0u8; GREETING_LEN];
    g[0] = 0xFF;
    g[9] = 0x7F;
    g[10] = 3;
    g[11] = 1;
    g[12..12 + mechanism.len()].copy_from_slice(mechanism);
    g
}

fn null_greeting() -> Vec<u8> {
    greeting_with_mechanism(b"NULL")
}

fn command_frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ferromq_proto::encode_frame(&mut out, FrameKind::Command, body);
    out
}

/// A READY body from raw (name, value) pairs, with no validation at all.
fn ready_body(props: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut body = b"\x05READY".to_vec();
    for (name, value) in props {
        body.push(name.len() as u8);
        body.extend_from_slice(name);
        body.extend_from_slice(&(value.len() as u32).to_be_bytes());
        body.extend_from_slice(value);
    }
    body
}

fn ready_frame(socket_type: &str) -> Vec<u8> {
    command_frame(&ready_body(&[(b"Socket-Type", socket_type.as_bytes())]))
}

/// A connection of type `ours` that has completed its handshake with a
/// `peer` peer, output drained.
fn in_traffic(ours: SocketType, peer: &str) -> Connection {
    let mut c = conn(ours);
    c.recv_buf().extend_from_slice(&null_greeting());
    c.recv_buf().extend_from_slice(&ready_frame(peer));
    assert!(matches!(
        c.poll_event(),
        Ok(Some(Event::HandshakeComplete(_)))
    ));
    c.output().take_all();
    c
}

/// Polls until the connection fails; returns the events seen before and
/// the error. Then checks that the connection stays dead.
fn run_to_error(c: &mut Connection) -> (Vec<Event>, ProtocolError) {
    let mut events = Vec::new();
    let err = loop {
        match c.poll_event() {
            Ok(Some(ev)) => events.push(ev),
            Ok(None) => panic!("input exhausted without an error; events: {events:?}"),
            Err(e) => break e,
        }
    };
    assert!(c.is_failed(), "is_failed() after {err:?}");
    assert!(!c.is_ready());
    assert_eq!(c.poll_event(), Err(ProtocolError::Closed));
    assert_eq!(c.poll_event(), Err(ProtocolError::Closed));
    assert_eq!(c.send_message(b"x", false), Err(ProtocolError::Closed));
    assert_eq!(
        c.send_command(&Command::Pong {
            context: Bytes::new()
        }),
        Err(ProtocolError::Closed)
    );
    // More input changes nothing.
    c.recv_buf().extend_from_slice(b"\x00\x01x");
    assert_eq!(c.poll_event(), Err(ProtocolError::Closed));
    (events, err)
}

/// Feeds `bytes` to a fresh connection of type `ours` and returns the error.
fn error_from(ours: SocketType, bytes: &[u8]) -> ProtocolError {
    let mut c = conn(ours);
    c.recv_buf().extend_from_slice(bytes);
    let (events, err) = run_to_error(&mut c);
    assert!(events.is_empty(), "unexpected events {events:?}");
    err
}

/// The frames a connection queued (after its greeting was drained).
fn output_frames(c: &mut Connection) -> Vec<Frame> {
    let mut buf = BytesMut::from(&c.output().take_all()[..]);
    let mut dec = FrameDecoder::new(None);
    let mut frames = Vec::new();
    while let Some(f) = dec.decode(&mut buf).unwrap() {
        frames.push(f);
    }
    assert!(buf.is_empty(), "output ends in a partial frame");
    frames
}

/// Asserts the last queued frame is an ERROR command (`%x04 size %d5
/// "ERROR" short-size reason`) and returns its reason.
fn trailing_error_reason(c: &mut Connection) -> String {
    error_reason(&output_frames(c))
}

fn error_reason(frames: &[Frame]) -> String {
    let last = frames.last().expect("nothing queued");
    assert_eq!(last.kind, FrameKind::Command);
    let body = &last.body[..];
    assert_eq!(&body[..6], b"\x05ERROR");
    assert_eq!(usize::from(body[6]), body.len() - 7, "reason size");
    let Command::Error { reason } = Command::parse(last.body.clone()).unwrap() else {
        panic!("last frame is not ERROR");
    };
    String::from_utf8(reason.to_vec()).unwrap()
}

fn assert_no_error_sent(c: &mut Connection) {
    for f in output_frames(c) {
        assert!(
            !f.body.starts_with(b"\x05ERROR"),
            "unexpected ERROR command queued"
        );
    }
}

// ---------------------------------------------------------------------------
// Greeting
// ---------------------------------------------------------------------------

#[test]
fn truncated_greeting_waits() {
    let g = null_greeting();
    let mut c = conn(SocketType::Dealer);
    for len in [0, 1, 10, 11, 12, 63] {
        let mut fresh = conn(SocketType::Dealer);
        fresh.recv_buf().extend_from_slice(&g[..len]);
        assert_eq!(fresh.poll_event(), Ok(None), "{len} bytes");
        assert!(!fresh.is_failed() && !fresh.is_ready());
        assert!(fresh.output().is_empty(), "READY before the peer greeting");
    }
    // Byte by byte, then the rest completes the handshake.
    for &b in &g[..63] {
        c.recv_buf().extend_from_slice(&[b]);
        assert_eq!(c.poll_event(), Ok(None));
        assert_eq!(c.poll_event(), Ok(None));
        assert!(!c.is_failed());
    }
    c.recv_buf().extend_from_slice(&g[63..]);
    c.recv_buf().extend_from_slice(&ready_frame("ROUTER"));
    assert!(matches!(
        c.poll_event(),
        Ok(Some(Event::HandshakeComplete(info))) if info.socket_type == SocketType::Router
    ));
}

#[test]
fn greeting_reader_leaves_trailing_bytes() {
    let mut bytes = null_greeting();
    bytes.extend_from_slice(b"\x04\x00tail");
    let mut r = GreetingReader::new();
    let (g, used) = r.feed(&bytes).unwrap();
    assert!(g.is_some());
    assert_eq!(used, GREETING_LEN);
}

#[test]
fn first_byte_not_ff_is_zmtp10() {
    // RFC 37 "Detecting ZMTP 1.0 and 2.0 Peers": "If this first octet is not
    // %FF, then the other peer is using ZMTP 1.0". Detected at once.
    let mut r = GreetingReader::new();
    assert_eq!(
        r.feed(&[0x05]).unwrap_err(),
        ProtocolError::UnsupportedVersion("1.0")
    );
    assert_eq!(
        error_from(SocketType::Dealer, b"\x05\x00hello"),
        ProtocolError::UnsupportedVersion("1.0")
    );
    // HTTP, say.
    assert_eq!(
        error_from(SocketType::Dealer, b"GET / HTTP/1.1\r\n"),
        ProtocolError::UnsupportedVersion("1.0")
    );
}

#[test]
fn signature_low_bit_clear_is_zmtp10() {
    // "If the least significant bit is 0, then the other peer is using ZMTP
    // 1.0 and has sent us a long length for its identity."
    let mut g = null_greeting();
    g[9] = 0x7E;
    assert_eq!(
        error_from(SocketType::Dealer, &g[..10]),
        ProtocolError::UnsupportedVersion("1.0")
    );
    assert_eq!(
        error_from(SocketType::Dealer, &g),
        ProtocolError::UnsupportedVersion("1.0")
    );
}

#[test]
fn version_1_and_2_are_zmtp20() {
    // "If this is 1 or 2, we have a ZMTP 2.0 peer." Detected after 11 octets,
    // without waiting for a 64-octet greeting a 2.0 peer never sends.
    for major in [1u8, 2] {
        let mut g = null_greeting();
        g[10] = major;
        assert_eq!(
            error_from(SocketType::Dealer, &g[..11]),
            ProtocolError::UnsupportedVersion("2.0"),
            "major {major}"
        );
    }
}

#[test]
fn mechanism_mismatch() {
    let mut c = conn(SocketType::Dealer);
    c.recv_buf()
        .extend_from_slice(&greeting_with_mechanism(b"PLAIN"));
    let (_, err) = run_to_error(&mut c);
    assert_eq!(
        err,
        ProtocolError::MechanismMismatch {
            ours: "NULL".into(),
            theirs: "PLAIN".into()
        }
    );
    // Closed without a handshake: no READY, no ERROR.
    assert!(c.output().is_empty());
}

#[test]
fn malformed_mechanism_names() {
    for mech in [
        &b"null"[..],
        b"Null",
        b"NU LL",
        b"NULL\0\0X",
        b"\0NULL",
        b"",
    ] {
        assert_eq!(
            error_from(SocketType::Dealer, &greeting_with_mechanism(mech)),
            ProtocolError::BadMechanismName,
            "{mech:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------

#[test]
fn reserved_flag_bits() {
    for flags in [0x08u8, 0x10, 0x20, 0x40, 0x80, 0x0C, 0xF8] {
        // During the handshake ...
        let mut bytes = null_greeting();
        bytes.extend_from_slice(&[flags, 0]);
        assert_eq!(
            error_from(SocketType::Dealer, &bytes),
            ProtocolError::ReservedFlags(flags)
        );
        // ... and during traffic.
        let mut c = in_traffic(SocketType::Dealer, "ROUTER");
        c.recv_buf().extend_from_slice(&[flags, 0]);
        assert_eq!(run_to_error(&mut c).1, ProtocolError::ReservedFlags(flags));
    }
}

#[test]
fn command_with_more_flag() {
    for flags in [0x05u8, 0x07] {
        let mut c = in_traffic(SocketType::Dealer, "ROUTER");
        c.recv_buf()
            .extend_from_slice(&[flags, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(run_to_error(&mut c).1, ProtocolError::CommandWithMore);
    }
    let mut bytes = null_greeting();
    bytes.extend_from_slice(&[0x05, 4]);
    assert_eq!(
        error_from(SocketType::Dealer, &bytes),
        ProtocolError::CommandWithMore
    );
}

#[test]
fn oversize_frame_is_rejected_without_buffering() {
    let options = ConnectionOptions {
        max_frame_size: Some(1024),
    };
    let mut c = conn_with(SocketType::Pull, options);
    c.recv_buf().extend_from_slice(&null_greeting());
    c.recv_buf().extend_from_slice(&ready_frame("PUSH"));
    assert!(matches!(
        c.poll_event(),
        Ok(Some(Event::HandshakeComplete(_)))
    ));
    // Exactly the limit is fine.
    let mut ok = vec![0x02, 0, 0, 0, 0, 0, 0, 0x04, 0x00];
    ok.extend_from_slice(&[7u8; 1024]);
    c.recv_buf().extend_from_slice(&ok);
    assert!(matches!(c.poll_event(), Ok(Some(Event::Message(f))) if f.body.len() == 1024));

    assert_eq!(c.poll_event(), Ok(None));
    assert!(c.is_ready());

    // A long frame declaring 2^62 octets, followed by a few, on a fresh
    // connection: rejected from its header, before any body is buffered.
    let mut c = conn_with(SocketType::Pull, options);
    c.recv_buf().extend_from_slice(&null_greeting());
    c.recv_buf().extend_from_slice(&ready_frame("PUSH"));
    assert!(matches!(
        c.poll_event(),
        Ok(Some(Event::HandshakeComplete(_)))
    ));
    c.recv_buf()
        .extend_from_slice(&[0x02, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]);
    let (_, err) = run_to_error(&mut c);
    assert_eq!(
        err,
        ProtocolError::FrameTooLarge {
            size: 1 << 62,
            max: 1024
        }
    );
    let cap = c.recv_buf().capacity();
    assert!(cap < 4096, "receive buffer grew to {cap}");
}

#[test]
fn oversize_limit_applies_to_handshake_commands() {
    let options = ConnectionOptions {
        max_frame_size: Some(16),
    };
    let mut c = conn_with(SocketType::Dealer, options);
    c.recv_buf().extend_from_slice(&null_greeting());
    c.recv_buf().extend_from_slice(&ready_frame("ROUTER"));
    let (_, err) = run_to_error(&mut c);
    assert_eq!(err, ProtocolError::FrameTooLarge { size: 28, max: 16 });
}

#[test]
fn huge_declared_frame_without_limit_does_not_allocate() {
    let mut c = in_traffic(SocketType::Pull, "PUSH");
    let start = c.recv_buf().capacity();
    c.recv_buf()
        .extend_from_slice(&[0x02, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]);
    assert_eq!(c.poll_event(), Ok(None));
    assert!(!c.is_failed());
    assert!(c.recv_buf().capacity() <= start.max(1024));
    // The caller is told to read a bounded chunk, not 2^62 bytes.
    assert!(c.read_hint() <= MAX_READ_CHUNK);
    // 2^63 can never be addressed: an error, not a wait.
    let mut c = in_traffic(SocketType::Pull, "PUSH");
    c.recv_buf()
        .extend_from_slice(&[0x02, 0x80, 0, 0, 0, 0, 0, 0, 0]);
    assert!(matches!(
        run_to_error(&mut c).1,
        ProtocolError::FrameTooLarge { size, .. } if size == 1 << 63
    ));
}

// ---------------------------------------------------------------------------
// Handshake
// ---------------------------------------------------------------------------

/// Handshake with `ready_body_bytes` as the peer's READY; returns the
/// connection (failed) and the error.
fn handshake_error(ours: SocketType, ready_body_bytes: &[u8]) -> (Connection, ProtocolError) {
    let mut c = conn(ours);
    c.recv_buf().extend_from_slice(&null_greeting());
    c.recv_buf()
        .extend_from_slice(&command_frame(ready_body_bytes));
    let (events, err) = run_to_error(&mut c);
    assert!(events.is_empty(), "{events:?}");
    (c, err)
}

#[test]
fn message_before_handshake() {
    let mut bytes = null_greeting();
    bytes.extend_from_slice(b"\x00\x05hello");
    assert_eq!(
        error_from(SocketType::Dealer, &bytes),
        ProtocolError::MessageBeforeHandshake
    );
}

#[test]
fn sending_before_handshake_is_refused() {
    let mut c = conn(SocketType::Dealer);
    assert!(matches!(
        c.send_message(b"x", false),
        Err(ProtocolError::Encode(_))
    ));
    assert!(matches!(
        c.send_subscription(b"x", true),
        Err(ProtocolError::Encode(_))
    ));
    assert!(c.output().is_empty());
    assert!(!c.is_failed());
}

#[test]
fn empty_property_name() {
    let body = ready_body(&[(b"Socket-Type", b"ROUTER"), (b"", b"x")]);
    let (mut c, err) = handshake_error(SocketType::Dealer, &body);
    assert_eq!(err, ProtocolError::EmptyPropertyName);
    trailing_error_reason(&mut c);
}

#[test]
fn bad_property_name() {
    let body = ready_body(&[(b"Socket Type", b"ROUTER")]);
    let (_, err) = handshake_error(SocketType::Dealer, &body);
    assert_eq!(err, ProtocolError::BadPropertyName);
}

#[test]
fn property_value_past_end_of_command() {
    // Value size says 100, the command body ends after 6.
    let mut body = b"\x05READY\x0bSocket-Type\x00\x00\x00\x64ROUTER".to_vec();
    let (_, err) = handshake_error(SocketType::Dealer, &body);
    assert_eq!(err, ProtocolError::TruncatedProperty("value"));
    // Bytes after the frame cannot complete the property: the frame size
    // bounds the command.
    let mut c = conn(SocketType::Dealer);
    c.recv_buf().extend_from_slice(&null_greeting());
    c.recv_buf().extend_from_slice(&command_frame(&body));
    c.recv_buf().extend_from_slice(&[b'x'; 100]);
    assert_eq!(
        run_to_error(&mut c).1,
        ProtocolError::TruncatedProperty("value")
    );
    // A name running past the end, and a cut-off size field.
    body.truncate(6 + 1 + 5);
    assert_eq!(
        handshake_error(SocketType::Dealer, &body).1,
        ProtocolError::TruncatedProperty("name")
    );
    let body = b"\x05READY\x0bSocket-Type\x00\x00".to_vec();
    assert_eq!(
        handshake_error(SocketType::Dealer, &body).1,
        ProtocolError::TruncatedProperty("value size")
    );
}

#[test]
fn property_value_size_above_2_31() {
    for size in [0x8000_0000u32, 0xFFFF_FFFF] {
        let mut body = b"\x05READY\x0bSocket-Type".to_vec();
        body.extend_from_slice(&size.to_be_bytes());
        body.extend_from_slice(b"ROUTER");
        let (mut c, err) = handshake_error(SocketType::Dealer, &body);
        assert_eq!(err, ProtocolError::PropertyValueTooLarge(size));
        trailing_error_reason(&mut c);
    }
}

#[test]
fn socket_type_mismatch_tells_the_peer() {
    let (mut c, err) = handshake_error(SocketType::Rep, &ready_body(&[(b"Socket-Type", b"PUB")]));
    assert_eq!(
        err,
        ProtocolError::SocketTypeMismatch {
            ours: SocketType::Rep,
            theirs: SocketType::Pub
        }
    );
    // RFC 37: "When a peer validates the socket type, it SHOULD handle
    // errors by returning an ERROR command, and then disconnecting the
    // peer." Our READY went out first, then the ERROR.
    let frames = output_frames(&mut c);
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert!(frames[0].body.starts_with(b"\x05READY"));
    let reason = error_reason(&frames);
    assert!(reason.contains("REP") && reason.contains("PUB"), "{reason}");
    assert!(reason.len() <= 255);
}

#[test]
fn missing_socket_type() {
    let body = ready_body(&[(b"Identity", b"")]);
    let (mut c, err) = handshake_error(SocketType::Dealer, &body);
    assert_eq!(err, ProtocolError::MissingSocketType);
    trailing_error_reason(&mut c);
    // An empty READY, too.
    let (_, err) = handshake_error(SocketType::Dealer, b"\x05READY");
    assert_eq!(err, ProtocolError::MissingSocketType);
}

#[test]
fn unknown_socket_type() {
    let (mut c, err) =
        handshake_error(SocketType::Dealer, &ready_body(&[(b"Socket-Type", b"FOO")]));
    assert_eq!(err, ProtocolError::UnknownSocketType("FOO".into()));
    trailing_error_reason(&mut c);
    // Socket type names are case-sensitive.
    let (_, err) = handshake_error(
        SocketType::Dealer,
        &ready_body(&[(b"Socket-Type", b"router")]),
    );
    assert_eq!(err, ProtocolError::UnknownSocketType("router".into()));
}

#[test]
fn property_names_are_case_insensitive() {
    let mut c = conn(SocketType::Dealer);
    c.recv_buf().extend_from_slice(&null_greeting());
    c.recv_buf().extend_from_slice(&command_frame(&ready_body(&[
        (b"SOCKET-TYPE", b"ROUTER"),
        (b"identity", b"me"),
    ])));
    let Ok(Some(Event::HandshakeComplete(info))) = c.poll_event() else {
        panic!("handshake failed");
    };
    assert_eq!(info.socket_type, SocketType::Router);
    assert_eq!(&info.identity()[..], b"me");
}

#[test]
fn peer_error_during_handshake() {
    let (mut c, err) = handshake_error(SocketType::Dealer, b"\x05ERROR\x0bnot welcome");
    assert_eq!(err, ProtocolError::PeerError("not welcome".into()));
    // No ERROR is sent back for an ERROR.
    assert_no_error_sent(&mut c);
}

#[test]
fn malformed_error_command() {
    let (_, err) = handshake_error(SocketType::Dealer, b"\x05ERROR\x09short");
    assert!(
        matches!(
            err,
            ProtocolError::MalformedCommand {
                command: "ERROR",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn other_command_during_null_handshake() {
    let (_, err) = handshake_error(SocketType::Dealer, b"\x04PING\x00\x00");
    assert_eq!(
        err,
        ProtocolError::UnexpectedCommand("PING".into(), "the NULL handshake")
    );
}

#[test]
fn malformed_command_names() {
    let cases: &[&[u8]] = &[
        b"",             // no name at all
        b"\x00",         // zero-length name
        b"\x00READY",    // zero-length name, then junk
        b"\x05REA",      // name longer than the frame
        b"\x05READ1",    // digit in the name
        b"\x05RE DY",    // space in the name
        b"\x05\xffEADY", // non-ASCII
    ];
    for body in cases {
        // During the handshake ...
        let (_, err) = handshake_error(SocketType::Dealer, body);
        assert!(
            matches!(err, ProtocolError::MalformedCommand { command: "?", .. }),
            "handshake {body:?}: {err:?}"
        );
        // ... and during traffic.
        let mut c = in_traffic(SocketType::Dealer, "ROUTER");
        c.recv_buf().extend_from_slice(&command_frame(body));
        let err = run_to_error(&mut c).1;
        assert!(
            matches!(err, ProtocolError::MalformedCommand { command: "?", .. }),
            "traffic {body:?}: {err:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Traffic
// ---------------------------------------------------------------------------

#[test]
fn second_ready_during_traffic() {
    let mut c = in_traffic(SocketType::Dealer, "ROUTER");
    c.recv_buf().extend_from_slice(b"\x00\x01a");
    c.recv_buf().extend_from_slice(&ready_frame("ROUTER"));
    let (events, err) = run_to_error(&mut c);
    assert_eq!(
        events,
        vec![Event::Message(Frame::message(&b"a"[..], false))]
    );
    assert_eq!(
        err,
        ProtocolError::UnexpectedCommand("READY".into(), "traffic")
    );
}

#[test]
fn short_ping() {
    for body in [&b"\x04PING"[..], b"\x04PING\x00"] {
        let mut c = in_traffic(SocketType::Dealer, "ROUTER");
        c.recv_buf().extend_from_slice(&command_frame(body));
        let err = run_to_error(&mut c).1;
        assert!(
            matches!(
                err,
                ProtocolError::MalformedCommand {
                    command: "PING",
                    ..
                }
            ),
            "{body:?}: {err:?}"
        );
        // No PONG for a malformed PING.
        assert!(c.output().is_empty());
    }
}

#[test]
fn peer_error_during_traffic() {
    let mut c = in_traffic(SocketType::Dealer, "ROUTER");
    c.recv_buf()
        .extend_from_slice(&command_frame(b"\x05ERROR\x03bye"));
    assert_eq!(
        run_to_error(&mut c).1,
        ProtocolError::PeerError("bye".into())
    );
    assert!(c.output().is_empty());
}

#[test]
fn unknown_command_during_traffic_is_not_fatal() {
    let mut c = in_traffic(SocketType::Dealer, "ROUTER");
    c.recv_buf()
        .extend_from_slice(&command_frame(b"\x05HELLOworld"));
    c.recv_buf().extend_from_slice(&command_frame(b"\x05HELLO"));
    c.recv_buf().extend_from_slice(b"\x01\x02hi\x00\x00");
    assert_eq!(
        c.poll_event(),
        Ok(Some(Event::Command(Command::Unknown {
            name: Bytes::from_static(b"HELLO"),
            data: Bytes::from_static(b"world"),
        })))
    );
    assert_eq!(
        c.poll_event(),
        Ok(Some(Event::Command(Command::Unknown {
            name: Bytes::from_static(b"HELLO"),
            data: Bytes::new(),
        })))
    );
    assert_eq!(
        c.poll_event(),
        Ok(Some(Event::Message(Frame::message(&b"hi"[..], true))))
    );
    assert_eq!(
        c.poll_event(),
        Ok(Some(Event::Message(Frame::message(Bytes::new(), false))))
    );
    assert_eq!(c.poll_event(), Ok(None));
    assert!(c.is_ready() && !c.is_failed());
    assert!(c.output().is_empty(), "nothing is sent back for HELLO");
}

#[test]
fn long_ping_context_is_truncated_in_pong() {
    // RFC 37: ping-context = 0*16OCTET. A longer context is tolerated and
    // only its first 16 octets are echoed.
    let mut c = in_traffic(SocketType::Dealer, "ROUTER");
    let mut body = b"\x04PING\x00\x0a".to_vec();
    body.extend_from_slice(&[b'c'; 40]);
    c.recv_buf().extend_from_slice(&command_frame(&body));
    assert_eq!(c.poll_event(), Ok(Some(Event::Ping { ttl: 10 })));
    let frames = output_frames(&mut c);
    assert_eq!(frames.len(), 1);
    assert_eq!(
        Command::parse(frames[0].body.clone()).unwrap(),
        Command::Pong {
            context: Bytes::from(vec![b'c'; 16])
        }
    );
}

// ---------------------------------------------------------------------------
// Decoder-level garbage
// ---------------------------------------------------------------------------

#[test]
fn garbage_never_panics() {
    // A crude deterministic sweep: every stream of a few pseudo-random
    // bytes after a valid greeting ends in Ok(None) or a specific error.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..2000 {
        let len = (next() % 40) as usize;
        let mut bytes = null_greeting();
        // Bias the first byte towards valid flags so the sweep gets past
        // the flags check.
        for i in 0..len {
            let r = next() as u8;
            bytes.push(if i == 0 { r & 0x07 } else { r });
        }
        let mut c = conn(SocketType::Dealer);
        c.recv_buf().extend_from_slice(&bytes);
        loop {
            match c.poll_event() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    assert_ne!(e, ProtocolError::Closed);
                    assert!(c.is_failed());
                    assert_eq!(c.poll_event(), Err(ProtocolError::Closed));
                    break;
                }
            }
        }
    }
}

#[test]
fn frame_decoder_errors_directly() {
    let mut dec = FrameDecoder::new(Some(10));
    let mut buf = BytesMut::from(&b"\x00\x0b"[..]);
    assert_eq!(
        dec.decode(&mut buf),
        Err(ProtocolError::FrameTooLarge { size: 11, max: 10 })
    );
    let mut buf = BytesMut::from(&b"\x02\x00\x00\x00\x00\x00\x00\x00"[..]);
    // An incomplete long header is not an error yet.
    assert_eq!(FrameDecoder::new(None).decode(&mut buf), Ok(None));
    assert_eq!(buf.len(), 8, "nothing consumed from a partial header");
}
