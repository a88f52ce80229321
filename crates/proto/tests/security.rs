//! PLAIN and CURVE driven against each other in memory through the
//! `Connection`: handshakes with metadata and ZAP, refusals, tampering,
//! replays, truncated commands, and traffic in both directions.

use bytes::{Bytes, BytesMut};
use ferromq_proto::{
    curve_keypair, curve_public, z85, zmtp_code, Command, Connection, ConnectionOptions,
    CurveClient, CurveKeyPair, CurveServer, Event, Frame, FrameDecoder, FrameKind, LocalProperties,
    Mechanism, MechanismName, MechanismStatus, Metadata, PeerInfo, PlainClient, PlainServer,
    ProtocolError, SocketType, ZapContext, ZapFault, ZapReply, ZapRequest, GREETING_LEN,
};

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

fn props(
    socket_type: SocketType,
    identity: &'static [u8],
    extra: &[(&str, &str)],
) -> LocalProperties {
    let mut local = LocalProperties::new(socket_type);
    local.identity = Bytes::from_static(identity);
    for (name, value) in extra {
        local
            .extra
            .insert(name, Bytes::copy_from_slice(value.as_bytes()))
            .unwrap();
    }
    local
}

fn conn(mechanism: impl Mechanism + 'static) -> Connection {
    Connection::new(Box::new(mechanism), ConnectionOptions::default())
}

/// What one side saw.
#[derive(Debug, Default)]
struct Side {
    events: Vec<Event>,
    error: Option<ProtocolError>,
    zap_requests: Vec<ZapRequest>,
}

impl Side {
    fn handshake(&self) -> Option<&PeerInfo> {
        self.events.iter().find_map(|e| match e {
            Event::HandshakeComplete(info) => Some(info),
            _ => None,
        })
    }

    fn messages(&self) -> Vec<Frame> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Message(f) => Some(f.clone()),
                _ => None,
            })
            .collect()
    }
}

type ZapHandler<'a> = &'a mut dyn FnMut(&ZapRequest) -> ZapReply;

/// Polls `conn` until it wants more input, answering ZAP requests.
fn pump(conn: &mut Connection, side: &mut Side, zap: ZapHandler<'_>) {
    if side.error.is_some() {
        return;
    }
    loop {
        match conn.poll_event() {
            Ok(Some(event)) => side.events.push(event),
            Ok(None) => {
                let Some(request) = conn.zap_request() else {
                    return;
                };
                let reply = zap(&request);
                side.zap_requests.push(request);
                if let Err(e) = conn.zap_reply(reply) {
                    side.error = Some(e);
                    return;
                }
            }
            Err(e) => {
                side.error = Some(e);
                return;
            }
        }
    }
}

/// Shuttles bytes between `a` and `b` until neither has anything to send.
fn exchange(
    a: &mut Connection,
    sa: &mut Side,
    b: &mut Connection,
    sb: &mut Side,
    zap: ZapHandler<'_>,
) {
    for _ in 0..32 {
        let ab = a.output().take_all();
        let ba = b.output().take_all();
        b.recv_buf().extend_from_slice(&ab);
        a.recv_buf().extend_from_slice(&ba);
        pump(a, sa, zap);
        pump(b, sb, zap);
        if ab.is_empty() && ba.is_empty() && a.output().is_empty() && b.output().is_empty() {
            return;
        }
    }
    panic!("the exchange did not settle");
}

fn allow_all(_: &ZapRequest) -> ZapReply {
    ZapReply::no_handler()
}

/// Runs a handshake between a client and a server mechanism.
fn handshake(
    client: impl Mechanism + 'static,
    server: impl Mechanism + 'static,
    zap: ZapHandler<'_>,
) -> (Connection, Side, Connection, Side) {
    let (mut c, mut s) = (conn(client), conn(server));
    let (mut sc, mut ss) = (Side::default(), Side::default());
    exchange(&mut c, &mut sc, &mut s, &mut ss, zap);
    (c, sc, s, ss)
}

/// Sends `msg` (multipart) from `from` to `to` and returns the frames `to` got.
fn send_parts(from: &mut Connection, to: &mut Connection, msg: &[&[u8]]) -> Vec<Frame> {
    for (i, part) in msg.iter().enumerate() {
        from.send_message(part, i + 1 < msg.len()).unwrap();
    }
    let wire = from.output().take_all();
    to.recv_buf().extend_from_slice(&wire);
    let mut side = Side::default();
    pump(to, &mut side, &mut allow_all);
    assert!(side.error.is_none(), "{:?}", side.error);
    side.messages()
}

fn check_traffic(a: &mut Connection, b: &mut Connection) {
    let big = vec![0xA5u8; 1 << 20];
    let cases: Vec<Vec<&[u8]>> = vec![
        vec![b"hello"],
        vec![b"", b"multi", b"part", b""],
        vec![&big[..], b"tail"],
        vec![&big[..300]],
    ];
    for msg in &cases {
        for a_sends in [true, false] {
            let got = if a_sends {
                send_parts(a, b, msg)
            } else {
                send_parts(b, a, msg)
            };
            assert_eq!(got.len(), msg.len());
            for (i, (frame, part)) in got.iter().zip(msg).enumerate() {
                assert_eq!(&frame.body[..], *part);
                assert_eq!(frame.kind.more(), i + 1 < msg.len());
            }
        }
    }
}

fn status_of(err: &Option<ProtocolError>) -> Option<u16> {
    err.as_ref().and_then(ProtocolError::auth_status)
}

/// The frames in `wire` after the greeting.
fn frames_after_greeting(wire: &[u8]) -> Vec<Frame> {
    let mut buf = BytesMut::from(&wire[GREETING_LEN..]);
    let mut dec = FrameDecoder::new(None);
    let mut out = Vec::new();
    while let Some(f) = dec.decode(&mut buf).unwrap() {
        out.push(f);
    }
    assert!(buf.is_empty());
    out
}

// ---------------------------------------------------------------------------
// PLAIN
// ---------------------------------------------------------------------------

fn plain_client(password: &str) -> PlainClient {
    PlainClient::new(
        props(SocketType::Dealer, b"cli", &[("X-App", "test")]),
        "admin",
        password.to_owned(),
    )
    .unwrap()
}

fn plain_server() -> PlainServer {
    PlainServer::new(props(SocketType::Router, b"", &[("X-Side", "server")]))
        .with_zap(ZapContext::new("global", "127.0.0.1"))
}

fn check_password(req: &ZapRequest) -> ZapReply {
    if req.credentials == [Bytes::from("admin"), Bytes::from("secret")] {
        let mut reply = ZapReply::allow("admin-user");
        reply.metadata.insert("X-Role", &b"operator"[..]).unwrap();
        reply
    } else {
        ZapReply::deny(400, "bad password")
    }
}

#[test]
fn plain_handshake_with_zap_and_metadata() {
    let (mut c, sc, mut s, ss) =
        handshake(plain_client("secret"), plain_server(), &mut check_password);
    assert!(sc.error.is_none() && ss.error.is_none(), "{sc:?} {ss:?}");
    // The ZAP request is RFC 27's, with libzmq's fields.
    let [req] = &ss.zap_requests[..] else {
        panic!("one ZAP request: {ss:?}")
    };
    assert_eq!(req.mechanism, MechanismName::PLAIN);
    assert_eq!(&req.domain[..], b"global");
    assert_eq!(&req.address[..], b"127.0.0.1");
    let frames = req.to_frames(b"1");
    let expect: Vec<&[u8]> = vec![
        b"",
        b"1.0",
        b"1",
        b"global",
        b"127.0.0.1",
        b"",
        b"PLAIN",
        b"admin",
        b"secret",
    ];
    assert_eq!(frames.iter().map(|f| &f[..]).collect::<Vec<_>>(), expect);
    // The server sees the client's properties plus ZAP's.
    let peer = ss.handshake().expect("server handshake");
    assert_eq!(peer.socket_type, SocketType::Dealer);
    let md = &peer.metadata;
    assert_eq!(&md.get("User-Id").unwrap()[..], b"admin-user");
    assert_eq!(&md.get("X-Role").unwrap()[..], b"operator");
    assert_eq!(&md.get("X-App").unwrap()[..], b"test");
    assert_eq!(&peer.identity()[..], b"cli");
    // The client sees the server's.
    let peer = sc.handshake().expect("client handshake");
    assert_eq!(peer.socket_type, SocketType::Router);
    assert_eq!(&peer.metadata.get("X-Side").unwrap()[..], b"server");
    assert!(peer.metadata.get("User-Id").is_none());
    check_traffic(&mut c, &mut s);
}

#[test]
fn plain_wire_format() {
    let mut c = conn(PlainClient::new(LocalProperties::new(SocketType::Req), "u", "pw").unwrap());
    let mut s = conn(PlainServer::new(LocalProperties::new(SocketType::Rep)));
    let cw = c.output().take_all();
    let sw = s.output().take_all();
    // as-server: 0 for the client, 1 for the server.
    assert_eq!(&cw[12..17], b"PLAIN");
    assert_eq!((cw[32], sw[32]), (0, 1));
    s.recv_buf().extend_from_slice(&cw);
    c.recv_buf().extend_from_slice(&sw);
    assert_eq!(c.poll_event(), Ok(None));
    let hello = c.output().take_all();
    assert_eq!(hello, b"\x04\x0b\x05HELLO\x01u\x02pw");
    s.recv_buf().extend_from_slice(&hello);
    assert_eq!(s.poll_event(), Ok(None));
    assert_eq!(s.output().take_all(), b"\x04\x08\x07WELCOME");
}

#[test]
fn plain_wrong_password_is_refused_with_libzmq_error() {
    let (c, sc, s, ss) = handshake(plain_client("wrong"), plain_server(), &mut check_password);
    assert_eq!(status_of(&ss.error), Some(400));
    assert_eq!(status_of(&sc.error), Some(400));
    assert!(c.is_failed() && s.is_failed());
    assert!(sc.handshake().is_none() && ss.handshake().is_none());
    assert_eq!(
        ProtocolError::AuthFailed { status: 400 }.zmtp_code(),
        zmtp_code::UNSPECIFIED
    );
}

#[test]
fn plain_refusal_bytes_and_statuses() {
    for (status, wire) in [
        (400u16, &b"\x04\x09^RROR\x03400"[..]),
        (500, &b"\x04\x09^RROR\x03500"[..]),
        (300, &b""[..]),
    ] {
        let mut c = conn(plain_client("x"));
        let mut s = conn(plain_server());
        let mut w = c.output().take_all();
        s.recv_buf().extend_from_slice(&w);
        w = s.output().take_all();
        c.recv_buf().extend_from_slice(&w);
        assert_eq!(c.poll_event(), Ok(None));
        s.recv_buf().extend_from_slice(&c.output().take_all());
        assert_eq!(s.poll_event(), Ok(None));
        let req = s.zap_request().expect("a ZAP request");
        assert!(s.zap_request().is_none(), "handed out once");
        assert_eq!(req.credentials.len(), 2);
        // Nothing moves until the verdict.
        assert_eq!(s.poll_event(), Ok(None));
        assert!(s.output().is_empty());
        assert_eq!(
            s.zap_reply(ZapReply::deny(status, "no")),
            Err(ProtocolError::AuthFailed { status })
        );
        assert!(s.is_failed());
        let out = s.output().take_all();
        assert_eq!(out, wire, "status {status}");
        // A libzmq client reads that as an auth failure with the status.
        if !out.is_empty() {
            c.recv_buf().extend_from_slice(&out);
            assert_eq!(c.poll_event(), Err(ProtocolError::AuthFailed { status }));
        }
    }
}

#[test]
fn plain_client_reads_both_error_forms() {
    let cases: &[(&[u8], ProtocolError)] = &[
        (
            b"\x05ERROR\x03400",
            ProtocolError::AuthFailed { status: 400 },
        ),
        (b"^RROR\x03300", ProtocolError::AuthFailed { status: 300 }),
        (
            b"\x05ERROR\x04nope",
            ProtocolError::PeerError("nope".into()),
        ),
        (b"\x05ERROR\x03200", ProtocolError::PeerError("200".into())),
        (
            b"^RROR\x09400",
            ProtocolError::MalformedCommand {
                command: "ERROR",
                reason: "reason size does not match the command size",
            },
        ),
    ];
    for (body, err) in cases {
        let mut client = plain_client("x");
        client.next_command().unwrap();
        assert_eq!(
            &client
                .process_command(Bytes::copy_from_slice(body))
                .unwrap_err(),
            err
        );
    }
}

#[test]
fn plain_without_zap_accepts_everyone() {
    let server = PlainServer::new(LocalProperties::new(SocketType::Pull));
    let client = PlainClient::new(LocalProperties::new(SocketType::Push), "", "").unwrap();
    let (mut c, sc, mut s, ss) = handshake(client, server, &mut |_| panic!("no ZAP expected"));
    assert!(ss.zap_requests.is_empty());
    let md = &ss.handshake().unwrap().metadata;
    assert!(md.get("User-Id").is_none());
    assert!(sc.handshake().is_some());
    let got = send_parts(&mut c, &mut s, &[b"x"]);
    assert_eq!(got.len(), 1);
}

#[test]
fn plain_without_a_zap_handler_fails_like_libzmq() {
    // libzmq 4.3 PLAIN servers refuse everyone when nothing answers ZAP,
    // silently (no ERROR): the monitor shows HANDSHAKE_FAILED_NO_DETAIL.
    let (c, sc, s, ss) = handshake(plain_client("any"), plain_server(), &mut allow_all);
    assert_eq!(ss.error, Some(ProtocolError::NoZapHandler));
    assert!(s.is_failed() && !c.is_ready());
    assert!(sc.error.is_none());
}

#[test]
fn curve_without_a_zap_handler_accepts_without_user_id() {
    let setup = CurveSetup::new();
    let (_, sc, _, ss) = handshake(setup.client(), setup.server(), &mut allow_all);
    assert_eq!(ss.zap_requests.len(), 1);
    assert!(sc.handshake().is_some());
    assert!(ss.handshake().unwrap().metadata.get("User-Id").is_none());
}

#[test]
fn plain_server_rejects_malformed_commands() {
    let hello = |body: &[u8]| {
        let mut s = PlainServer::new(LocalProperties::new(SocketType::Rep));
        s.process_command(Bytes::copy_from_slice(body))
    };
    for body in [
        &b"\x05HELLO"[..],
        b"\x05HELLO\x05adm",
        b"\x05HELLO\x05admin",
        b"\x05HELLO\x05admin\x06secre",
        b"\x05HELLO\x05admin\x06secretX",
    ] {
        let err = hello(body).unwrap_err();
        assert_eq!(
            err.zmtp_code(),
            zmtp_code::MALFORMED_COMMAND_HELLO,
            "{body:?}: {err}"
        );
    }
    for body in [&b"\x08INITIATE"[..], b"\x05READY", b"\x05ERROR\x00"] {
        let err = hello(body).unwrap_err();
        assert_eq!(
            err.zmtp_code(),
            zmtp_code::UNEXPECTED_COMMAND,
            "{body:?}: {err}"
        );
    }
    for body in [&b""[..], b"\x00", b"\x09HELLO"] {
        assert!(hello(body).is_err());
    }
    // INITIATE with bad metadata, and a wrong socket type.
    for (initiate, code) in [
        (&b"\x08INITIATE\x05Ab"[..], zmtp_code::INVALID_METADATA),
        (
            b"\x08INITIATE\x0bSocket-Type\x00\x00\x00\x03PUB",
            zmtp_code::INVALID_METADATA,
        ),
    ] {
        let mut s = PlainServer::new(LocalProperties::new(SocketType::Rep));
        s.process_command(Bytes::from_static(b"\x05HELLO\x00\x00"))
            .unwrap();
        assert!(s.next_command().unwrap().is_some());
        assert_eq!(
            s.process_command(Bytes::copy_from_slice(initiate))
                .unwrap_err()
                .zmtp_code(),
            code
        );
    }
}

#[test]
fn plain_client_rejects_out_of_order_and_bad_welcome() {
    let mut c = plain_client("x");
    c.next_command().unwrap();
    let err = c
        .process_command(Bytes::from_static(b"\x05READY"))
        .unwrap_err();
    assert_eq!(err.zmtp_code(), zmtp_code::UNEXPECTED_COMMAND);
    let mut c = plain_client("x");
    c.next_command().unwrap();
    let err = c
        .process_command(Bytes::from_static(b"\x07WELCOMEx"))
        .unwrap_err();
    assert_eq!(err.zmtp_code(), zmtp_code::MALFORMED_COMMAND_WELCOME);
    assert!(PlainClient::new(LocalProperties::new(SocketType::Req), vec![0u8; 256], "").is_err());
}

#[test]
fn zap_protocol_misuse() {
    // A reply nobody asked for.
    let mut s = plain_server();
    assert_eq!(
        s.zap_reply(ZapReply::no_handler()),
        Err(ProtocolError::Zap(ZapFault::Unexpected))
    );
    // NULL never asks.
    let mut null = conn(ferromq_proto::NullMechanism::new(LocalProperties::new(
        SocketType::Pair,
    )));
    assert!(null.zap_request().is_none());
    assert!(null.zap_reply(ZapReply::no_handler()).is_err());
    // While waiting, a command from the client is an error and nothing is sent.
    let mut s = plain_server();
    s.process_command(Bytes::from_static(b"\x05HELLO\x01a\x01b"))
        .unwrap();
    assert_eq!(s.status(), MechanismStatus::Handshaking);
    assert_eq!(s.next_command(), Ok(None));
    assert!(s
        .process_command(Bytes::from_static(b"\x08INITIATE"))
        .is_err());
    // An invalid status code from a hand-made reply.
    let mut s = plain_server();
    s.process_command(Bytes::from_static(b"\x05HELLO\x01a\x01b"))
        .unwrap();
    assert!(s.zap_request().is_some());
    assert_eq!(
        s.zap_reply(ZapReply::deny(401, "")),
        Err(ProtocolError::Zap(ZapFault::InvalidStatusCode))
    );
}

// ---------------------------------------------------------------------------
// CURVE
// ---------------------------------------------------------------------------

struct CurveSetup {
    server_keys: CurveKeyPair,
    client_keys: CurveKeyPair,
}

impl CurveSetup {
    fn new() -> CurveSetup {
        CurveSetup {
            server_keys: CurveKeyPair::generate(),
            client_keys: CurveKeyPair::generate(),
        }
    }

    fn client(&self) -> CurveClient {
        CurveClient::new(
            props(SocketType::Req, b"req-1", &[("X-Client", "c")]),
            self.client_keys.clone(),
            *self.server_keys.public(),
        )
    }

    fn server(&self) -> CurveServer {
        CurveServer::new(
            props(SocketType::Rep, b"", &[("X-Server", "s")]),
            self.server_keys.clone(),
        )
        .with_zap(ZapContext::new("dom", "10.0.0.1"))
    }
}

/// Runs the CURVE handshake to completion; returns both connections.
fn curve_pair(setup: &CurveSetup) -> (Connection, Connection) {
    let (c, sc, s, ss) = handshake(setup.client(), setup.server(), &mut |_| {
        ZapReply::allow("u")
    });
    assert!(
        sc.handshake().is_some() && ss.handshake().is_some(),
        "{sc:?} {ss:?}"
    );
    (c, s)
}

#[test]
fn curve_handshake_with_zap_and_metadata() {
    let setup = CurveSetup::new();
    let client_public = *setup.client_keys.public();
    let (mut c, sc, mut s, ss) = handshake(setup.client(), setup.server(), &mut |req| {
        assert_eq!(req.mechanism, MechanismName::CURVE);
        assert_eq!(&req.credentials[0][..], &client_public[..]);
        let mut reply = ZapReply::allow("curve-user");
        reply.metadata.insert("X-Client", &b"from-zap"[..]).unwrap();
        reply
    });
    assert!(sc.error.is_none() && ss.error.is_none(), "{sc:?} {ss:?}");
    assert_eq!(ss.zap_requests.len(), 1);
    let peer = ss.handshake().unwrap();
    assert_eq!(peer.socket_type, SocketType::Req);
    assert_eq!(&peer.identity()[..], b"req-1");
    assert_eq!(&peer.metadata.get("User-Id").unwrap()[..], b"curve-user");
    // ZAP's properties win over the peer's own, as in libzmq.
    assert_eq!(&peer.metadata.get("X-Client").unwrap()[..], b"from-zap");
    let peer = sc.handshake().unwrap();
    assert_eq!(peer.socket_type, SocketType::Rep);
    assert_eq!(&peer.metadata.get("X-Server").unwrap()[..], b"s");
    check_traffic(&mut c, &mut s);
}

#[test]
fn curve_wire_sizes_and_framing() {
    let setup = CurveSetup::new();
    let mut c = conn(setup.client());
    let mut s = conn(setup.server());
    let cw = c.output().take_all();
    let sw = s.output().take_all();
    assert_eq!(&cw[12..17], b"CURVE");
    assert_eq!((cw[32], sw[32]), (0, 1));
    s.recv_buf().extend_from_slice(&cw);
    c.recv_buf().extend_from_slice(&sw);
    assert_eq!(c.poll_event(), Ok(None));
    let hello = c.output().take_all();
    // A long frame: 200 octets do not fit a short one... they do (<= 255).
    assert_eq!(&hello[..2], &[0x04, 200]);
    assert_eq!(&hello[2..10], b"\x05HELLO\x01\x00");
    assert!(hello[10..82].iter().all(|&b| b == 0));
    assert_eq!(&hello[114..122], &1u64.to_be_bytes());
    s.recv_buf().extend_from_slice(&hello);
    assert_eq!(s.poll_event(), Ok(None));
    let welcome = s.output().take_all();
    assert_eq!(&welcome[..10], b"\x04\xa8\x07WELCOME");
    assert_eq!(welcome.len(), 2 + 168);
    c.recv_buf().extend_from_slice(&welcome);
    assert_eq!(c.poll_event(), Ok(None));
    let initiate = c.output().take_all();
    let body = &frames_after_greeting(&[&[0u8; GREETING_LEN][..], &initiate].concat())[0].body;
    assert!(body.len() >= 257);
    assert_eq!(&body[..9], b"\x08INITIATE");
    assert_eq!(&body[105..113], &2u64.to_be_bytes());
    s.recv_buf().extend_from_slice(&initiate);
    assert_eq!(s.poll_event(), Ok(None));
    s.zap_reply(ZapReply::no_handler()).unwrap();
    assert!(matches!(
        s.poll_event(),
        Ok(Some(Event::HandshakeComplete(_)))
    ));
    let ready = s.output().take_all();
    assert_eq!(&ready[2..8], b"\x05READY");
    assert_eq!(&ready[8..16], &1u64.to_be_bytes());
    c.recv_buf().extend_from_slice(&ready);
    assert!(matches!(
        c.poll_event(),
        Ok(Some(Event::HandshakeComplete(_)))
    ));
    // Traffic frames are plain message frames (libzmq's form), even for
    // commands and multipart messages; the flags ride inside the box.
    c.send_message(b"a", true).unwrap();
    c.send_command(&Command::Ping {
        ttl: 0,
        context: Bytes::new(),
    })
    .unwrap();
    let wire = c.output().take_all();
    let frames = frames_after_greeting(&[&[0u8; GREETING_LEN][..], &wire].concat());
    assert_eq!(frames.len(), 2);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.kind, FrameKind::LAST);
        assert_eq!(&f.body[..8], b"\x07MESSAGE");
        assert_eq!(&f.body[8..16], &(3 + i as u64).to_be_bytes());
    }
    assert_eq!(frames[0].body.len(), 8 + 8 + 16 + 1 + 1);
}

#[test]
fn curve_commands_travel_encrypted() {
    let setup = CurveSetup::new();
    let (mut c, mut s) = curve_pair(&setup);
    c.send_subscription(b"topic", true).unwrap();
    c.send_command(&Command::Ping {
        ttl: 7,
        context: Bytes::from_static(b"ctx"),
    })
    .unwrap();
    let wire = c.output().take_all();
    assert!(
        !wire.windows(9).any(|w| w == b"SUBSCRIBE"),
        "commands must be boxed"
    );
    s.recv_buf().extend_from_slice(&wire);
    assert_eq!(
        s.poll_event(),
        Ok(Some(Event::Subscribe(Bytes::from_static(b"topic"))))
    );
    assert_eq!(s.poll_event(), Ok(Some(Event::Ping { ttl: 7 })));
    // The PONG goes back boxed too.
    let pong = s.output().take_all();
    assert!(!pong.is_empty());
    c.recv_buf().extend_from_slice(&pong);
    assert_eq!(
        c.poll_event(),
        Ok(Some(Event::Pong {
            context: Bytes::from_static(b"ctx")
        }))
    );
    // Nothing left to take.
    assert_eq!(c.take_small_messages(256, |_, _| true), Ok(false));
}

/// Takes what `take_small_messages` hands over, then the rest with
/// `poll_event`, as the engine does.
fn take_all(conn: &mut Connection) -> Vec<(Vec<u8>, bool)> {
    let mut got = Vec::new();
    loop {
        let refused = conn
            .take_small_messages(256, |body, more| {
                got.push((body.to_vec(), more));
                true
            })
            .unwrap();
        assert!(!refused);
        match conn.poll_event().unwrap() {
            Some(Event::Message(f)) => got.push((f.body.to_vec(), f.kind.more())),
            Some(other) => got.push((format!("{other:?}").into_bytes(), false)),
            None => return got,
        }
    }
}

#[test]
fn curve_small_messages_open_on_the_fast_path() {
    let setup = CurveSetup::new();
    let (mut c, mut s) = curve_pair(&setup);
    // Short frames (up to 222 octets of message) and a long one, with
    // commands in between that must fall through to poll_event.
    let max_short = vec![7u8; 255 - 33];
    let long = vec![9u8; 255 - 32];
    c.send_message(b"", true).unwrap();
    c.send_message(b"one", true).unwrap();
    c.send_message(&max_short, false).unwrap();
    c.send_command(&Command::Ping {
        ttl: 0,
        context: Bytes::new(),
    })
    .unwrap();
    c.send_message(&long, true).unwrap();
    c.send_message(b"two", false).unwrap();
    let wire = c.output().take_all();
    s.recv_buf().extend_from_slice(&wire);
    let ping = format!("{:?}", Event::Ping { ttl: 0 }).into_bytes();
    assert_eq!(
        take_all(&mut s),
        vec![
            (b"".to_vec(), true),
            (b"one".to_vec(), true),
            (max_short, false),
            (ping, false),
            (long, true),
            (b"two".to_vec(), false),
        ]
    );

    // The PONG comes back through poll_event too.
    let pong = s.output().take_all();
    c.recv_buf().extend_from_slice(&pong);
    assert_eq!(take_all(&mut c).len(), 1);

    // A refused message stays sealed and queued, its nonce unused: the
    // next offer opens it again, and then the one after it.
    s.send_message(b"first", false).unwrap();
    s.send_message(b"second", false).unwrap();
    let wire = s.output().take_all();
    c.recv_buf().extend_from_slice(&wire);
    assert_eq!(c.take_small_messages(256, |_, _| false), Ok(true));
    assert_eq!(c.take_small_messages(256, |_, _| false), Ok(true));
    assert_eq!(
        take_all(&mut c),
        vec![(b"first".to_vec(), false), (b"second".to_vec(), false)]
    );

    // Replayed, and tampered with: the fast path checks like the slow one.
    let (m1, _) = two_messages(&mut c);
    s.recv_buf().extend_from_slice(&m1);
    assert_eq!(take_all(&mut s), vec![(b"first".to_vec(), false)]);
    s.recv_buf().extend_from_slice(&m1);
    let err = s.take_small_messages(256, |_, _| true).unwrap_err();
    assert!(
        matches!(err, ProtocolError::NonceNotIncreasing { .. }),
        "{err:?}"
    );
    assert_eq!(s.poll_event(), Err(ProtocolError::Closed));
    let (mut c, mut s) = curve_pair(&setup);
    let (mut m1, _) = two_messages(&mut c);
    *m1.last_mut().unwrap() ^= 1;
    s.recv_buf().extend_from_slice(&m1);
    assert_eq!(
        s.take_small_messages(256, |_, _| panic!("opened a forged box")),
        Err(ProtocolError::Cryptographic("MESSAGE"))
    );
    assert!(s.is_failed());
}

#[test]
fn curve_zap_refusal_sends_error_and_fails_both() {
    for status in [400u16, 500] {
        let setup = CurveSetup::new();
        let (c, sc, s, ss) = handshake(setup.client(), setup.server(), &mut |_| {
            ZapReply::deny(status, "no")
        });
        assert_eq!(status_of(&ss.error), Some(status));
        assert_eq!(status_of(&sc.error), Some(status));
        assert!(c.is_failed() && s.is_failed());
    }
    // 300: the server closes without a word; the client just waits.
    let setup = CurveSetup::new();
    let (c, sc, s, ss) = handshake(setup.client(), setup.server(), &mut |_| {
        ZapReply::deny(300, "later")
    });
    assert_eq!(status_of(&ss.error), Some(300));
    assert!(sc.error.is_none() && !c.is_ready());
    assert!(s.is_failed());
}

#[test]
fn curve_server_error_uses_the_standard_form() {
    let setup = CurveSetup::new();
    let mut server = setup.server();
    let mut client = setup.client();
    server
        .process_command(client.next_command().unwrap().unwrap())
        .unwrap();
    client
        .process_command(server.next_command().unwrap().unwrap())
        .unwrap();
    server
        .process_command(client.next_command().unwrap().unwrap())
        .unwrap();
    assert!(server.zap_request().is_some());
    server.zap_reply(ZapReply::deny(400, "")).unwrap();
    let error = server.next_command().unwrap().unwrap();
    assert_eq!(&error[..], b"\x05ERROR\x03400");
    assert_eq!(
        server.next_command(),
        Err(ProtocolError::AuthFailed { status: 400 })
    );
    assert_eq!(
        client.process_command(error),
        Err(ProtocolError::AuthFailed { status: 400 })
    );
}

#[test]
fn curve_wrong_server_key_fails() {
    let setup = CurveSetup::new();
    let impostor = CurveKeyPair::generate();
    // The client trusts another key: the server cannot open its HELLO.
    let client = CurveClient::new(
        LocalProperties::new(SocketType::Req),
        setup.client_keys.clone(),
        *impostor.public(),
    );
    let (_, sc, _, ss) = handshake(client, setup.server(), &mut allow_all);
    assert_eq!(ss.error, Some(ProtocolError::Cryptographic("HELLO")));
    assert_eq!(ss.error.unwrap().zmtp_code(), zmtp_code::CRYPTOGRAPHIC);
    assert!(sc.handshake().is_none());

    // A WELCOME made by a server with another key (here: for another
    // client of that server) does not open.
    let mut client = setup.client();
    let hello = client.next_command().unwrap().unwrap();
    let mut other_client = CurveClient::new(
        LocalProperties::new(SocketType::Req),
        CurveKeyPair::generate(),
        *impostor.public(),
    );
    let mut rogue = CurveServer::new(LocalProperties::new(SocketType::Rep), impostor);
    rogue
        .process_command(other_client.next_command().unwrap().unwrap())
        .unwrap();
    let welcome = rogue.next_command().unwrap().unwrap();
    let err = client.process_command(welcome).unwrap_err();
    assert_eq!(err, ProtocolError::Cryptographic("WELCOME"));
    assert_eq!(err.zmtp_code(), zmtp_code::CRYPTOGRAPHIC);
    // And one for us but tampered with, too.
    let mut server = setup.server();
    server.process_command(hello).unwrap();
    let mut welcome = server.next_command().unwrap().unwrap().to_vec();
    welcome[100] ^= 1;
    assert_eq!(
        client.process_command(welcome.into()),
        Err(ProtocolError::Cryptographic("WELCOME"))
    );
}

/// Two encrypted frames from `from`, as wire bytes each.
fn two_messages(from: &mut Connection) -> (Vec<u8>, Vec<u8>) {
    from.send_message(b"first", false).unwrap();
    let m1 = from.output().take_all();
    from.send_message(b"second", false).unwrap();
    let m2 = from.output().take_all();
    (m1, m2)
}

#[test]
fn curve_tampered_messages_are_rejected() {
    let setup = CurveSetup::new();
    for (offset, what) in [(2 + 20, "box"), (2 + 10, "nonce"), (2 + 35, "payload")] {
        let (mut c, mut s) = curve_pair(&setup);
        let (mut m1, _) = two_messages(&mut c);
        m1[offset] ^= 0x40;
        s.recv_buf().extend_from_slice(&m1);
        let err = s.poll_event().unwrap_err();
        assert!(
            matches!(err, ProtocolError::Cryptographic("MESSAGE")),
            "{what}: {err:?}"
        );
        assert_eq!(err.zmtp_code(), zmtp_code::CRYPTOGRAPHIC);
        assert_eq!(s.poll_event(), Err(ProtocolError::Closed));
        // No ERROR goes back for a bad MESSAGE.
        assert!(s.output().is_empty());
    }
}

#[test]
fn curve_replayed_and_reordered_messages_are_rejected() {
    let setup = CurveSetup::new();
    // Replay.
    let (mut c, mut s) = curve_pair(&setup);
    let (m1, _) = two_messages(&mut c);
    s.recv_buf().extend_from_slice(&m1);
    assert!(matches!(s.poll_event(), Ok(Some(Event::Message(_)))));
    s.recv_buf().extend_from_slice(&m1);
    let err = s.poll_event().unwrap_err();
    assert_eq!(err, ProtocolError::NonceNotIncreasing { got: 3, last: 3 });
    assert_eq!(err.zmtp_code(), zmtp_code::INVALID_SEQUENCE);
    // Reorder (server to client this time).
    let (mut c, mut s) = curve_pair(&setup);
    let (m1, m2) = two_messages(&mut s);
    c.recv_buf().extend_from_slice(&m2);
    assert!(matches!(c.poll_event(), Ok(Some(Event::Message(_)))));
    c.recv_buf().extend_from_slice(&m1);
    assert_eq!(
        c.poll_event(),
        Err(ProtocolError::NonceNotIncreasing { got: 2, last: 3 })
    );
    // A message from another connection (same keys, other session).
    let (mut c1, _) = curve_pair(&setup);
    let (_, mut s2) = curve_pair(&setup);
    let (m1, _) = two_messages(&mut c1);
    s2.recv_buf().extend_from_slice(&m1);
    assert_eq!(
        s2.poll_event(),
        Err(ProtocolError::Cryptographic("MESSAGE"))
    );
}

#[test]
fn curve_truncated_and_misplaced_commands_are_rejected() {
    let setup = CurveSetup::new();
    // Server side: HELLO.
    let mut client = setup.client();
    let hello = client.next_command().unwrap().unwrap();
    let server_err = |cmds: &[Bytes]| {
        let mut server = setup.server();
        let mut last = Ok(());
        for cmd in cmds {
            last = server.process_command(cmd.clone());
            if last.is_ok() {
                let _ = server.next_command();
            }
        }
        last.unwrap_err()
    };
    let short_hello = hello.slice(..199);
    let mut long_hello = hello.to_vec();
    long_hello.push(0);
    let mut bad_version = hello.to_vec();
    bad_version[7] = 1;
    let mut bad_padding = hello.to_vec();
    bad_padding[20] = 1;
    for (cmd, code) in [
        (short_hello, zmtp_code::MALFORMED_COMMAND_HELLO),
        (Bytes::from(long_hello), zmtp_code::MALFORMED_COMMAND_HELLO),
        (Bytes::from(bad_version), zmtp_code::MALFORMED_COMMAND_HELLO),
        (Bytes::from(bad_padding), zmtp_code::MALFORMED_COMMAND_HELLO),
        (
            Bytes::from_static(b"\x08INITIATE"),
            zmtp_code::UNEXPECTED_COMMAND,
        ),
        (
            Bytes::from_static(b"\x05READY"),
            zmtp_code::UNEXPECTED_COMMAND,
        ),
        (
            Bytes::from_static(b"\x05HELL"),
            zmtp_code::MALFORMED_COMMAND_UNSPECIFIED,
        ),
    ] {
        assert_eq!(
            server_err(std::slice::from_ref(&cmd)).zmtp_code(),
            code,
            "{cmd:?}"
        );
    }
    let mut server = setup.server();
    server.process_command(hello).unwrap();
    let welcome = server.next_command().unwrap().unwrap();
    // WELCOME checks, client side.
    for (cmd, code) in [
        (welcome.slice(..167), zmtp_code::MALFORMED_COMMAND_WELCOME),
        (
            Bytes::from([&welcome[..], b"x"].concat()),
            zmtp_code::MALFORMED_COMMAND_WELCOME,
        ),
        (
            Bytes::from_static(b"\x05READY"),
            zmtp_code::UNEXPECTED_COMMAND,
        ),
    ] {
        let mut c = setup.client();
        c.next_command().unwrap();
        assert_eq!(c.process_command(cmd).unwrap_err().zmtp_code(), code);
    }
    // INITIATE checks: size, cookie, box, nonce order, and a second HELLO.
    // The cookie key is random per server, so each case alters the
    // INITIATE of its own fresh exchange.
    type Defect = fn(&Bytes, &Bytes) -> Bytes;
    let cases: [(Defect, ProtocolError); 5] = [
        (
            |initiate, _| initiate.slice(..256),
            ProtocolError::MalformedCommand {
                command: "INITIATE",
                reason: "shorter than 257 octets",
            },
        ),
        (
            |initiate, _| flip(initiate, 30),
            ProtocolError::Cryptographic("cookie"),
        ),
        (
            |initiate, _| flip(initiate, 200),
            ProtocolError::Cryptographic("INITIATE"),
        ),
        (
            |initiate, _| {
                let mut v = initiate.to_vec();
                v[105..113].copy_from_slice(&1u64.to_be_bytes());
                v.into()
            },
            ProtocolError::NonceNotIncreasing { got: 1, last: 1 },
        ),
        (
            |_, hello| hello.clone(),
            ProtocolError::UnexpectedCommand("HELLO".into(), "the CURVE handshake"),
        ),
    ];
    for (defect, err) in cases {
        let mut server = setup.server();
        let mut client = setup.client();
        let hello = client.next_command().unwrap().unwrap();
        server.process_command(hello.clone()).unwrap();
        client
            .process_command(server.next_command().unwrap().unwrap())
            .unwrap();
        let initiate = client.next_command().unwrap().unwrap();
        assert_eq!(server.process_command(defect(&initiate, &hello)), Err(err));
    }
    // READY checks, client side.
    let (mut c, mut s) = (setup.client(), setup.server());
    s.process_command(c.next_command().unwrap().unwrap())
        .unwrap();
    c.process_command(s.next_command().unwrap().unwrap())
        .unwrap();
    s.process_command(c.next_command().unwrap().unwrap())
        .unwrap();
    s.zap_reply(ZapReply::no_handler()).unwrap();
    let ready = s.next_command().unwrap().unwrap();
    assert_eq!(
        c.process_command(ready.slice(..29))
            .unwrap_err()
            .zmtp_code(),
        zmtp_code::MALFORMED_COMMAND_READY
    );
}

fn flip(bytes: &Bytes, at: usize) -> Bytes {
    let mut v = bytes.to_vec();
    v[at] ^= 1;
    v.into()
}

#[test]
fn curve_ready_and_message_length_checks() {
    let setup = CurveSetup::new();
    let (mut c, mut s) = curve_pair(&setup);
    let mut frame = Vec::new();
    ferromq_proto::encode_frame(
        &mut frame,
        FrameKind::LAST,
        &[b"\x07MESSAGE".as_slice(), &[0u8; 24]].concat(),
    );
    s.recv_buf().extend_from_slice(&frame);
    let err = s.poll_event().unwrap_err();
    assert_eq!(err.zmtp_code(), zmtp_code::MALFORMED_COMMAND_MESSAGE);
    // A clear-text command in traffic is not a MESSAGE.
    let mut frame = Vec::new();
    Command::Ping {
        ttl: 0,
        context: Bytes::new(),
    }
    .encode_frame(&mut frame);
    c.recv_buf().extend_from_slice(&frame);
    assert_eq!(
        c.poll_event().unwrap_err().zmtp_code(),
        zmtp_code::UNEXPECTED_COMMAND
    );
}

#[test]
fn curve_client_takes_error_while_waiting() {
    let setup = CurveSetup::new();
    let mut c = setup.client();
    c.next_command().unwrap();
    assert_eq!(
        c.process_command(Bytes::from_static(b"\x05ERROR\x05wrong")),
        Err(ProtocolError::PeerError("wrong".into()))
    );
}

#[test]
fn curve_without_zap_accepts_any_client() {
    let setup = CurveSetup::new();
    let server = CurveServer::new(
        LocalProperties::new(SocketType::Pull),
        setup.server_keys.clone(),
    );
    let client = CurveClient::new(
        LocalProperties::new(SocketType::Push),
        CurveKeyPair::generate(),
        *setup.server_keys.public(),
    );
    let (mut c, _, mut s, ss) = handshake(client, server, &mut |_| panic!("no ZAP expected"));
    assert!(ss.handshake().unwrap().metadata.get("User-Id").is_none());
    assert_eq!(send_parts(&mut c, &mut s, &[b"payload"]).len(), 1);
}

#[test]
fn curve_key_helpers_match_libzmq() {
    // The key pairs of zmq_curve's manual page and libzmq's tests.
    for (public, secret) in [
        (
            "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
            "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6",
        ),
        (
            "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID",
            "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs",
        ),
    ] {
        let secret_raw = z85::decode_key(secret).unwrap();
        assert_eq!(z85::encode_key(&curve_public(&secret_raw)), public);
        let pair = CurveKeyPair::from_secret_z85(secret).unwrap();
        assert_eq!(pair.public_z85(), public);
        assert_eq!(pair.secret_z85(), secret);
        assert!(
            !format!("{pair:?}").contains(secret),
            "Debug must hide the secret"
        );
    }
    let (public, secret) = curve_keypair();
    assert_eq!(curve_public(&secret), public);
    let (public_text, secret_text) = ferromq_proto::curve_keypair_z85();
    assert_eq!(
        ferromq_proto::curve_public_z85(&secret_text).unwrap(),
        public_text
    );
    assert!(ferromq_proto::curve_public_z85("short").is_err());
    assert_ne!(curve_keypair().1, secret);
}

#[test]
fn curve_handshake_with_the_libzmq_test_keys() {
    let server_keys =
        CurveKeyPair::from_secret_z85("JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6").unwrap();
    let client_keys =
        CurveKeyPair::from_secret_z85("D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs").unwrap();
    let client = CurveClient::new(
        LocalProperties::new(SocketType::Dealer),
        client_keys,
        *server_keys.public(),
    );
    let server = CurveServer::new(LocalProperties::new(SocketType::Router), server_keys)
        .with_zap(ZapContext::default());
    let (mut c, _, mut s, ss) = handshake(client, server, &mut |req| {
        assert_eq!(
            z85::encode_key(&req.credentials[0][..].try_into().unwrap()),
            "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
        );
        ZapReply::allow("")
    });
    assert_eq!(
        &ss.handshake().unwrap().metadata.get("User-Id").unwrap()[..],
        b""
    );
    check_traffic(&mut c, &mut s);
}

#[test]
fn metadata_from_zap_reply_must_be_valid() {
    let frames: Vec<Bytes> = ["", "1.0", "1", "200", "", "", "\x01"]
        .iter()
        .map(|s| Bytes::from(*s))
        .collect();
    assert_eq!(
        ZapReply::parse(&frames, b"1"),
        Err(ProtocolError::Zap(ZapFault::InvalidMetadata))
    );
    assert_eq!(
        ProtocolError::Zap(ZapFault::InvalidMetadata).zmtp_code(),
        zmtp_code::ZAP_INVALID_METADATA
    );
    let _ = Metadata::new();
}
