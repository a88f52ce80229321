//! Real libzmq sockets over loopback tcp: the build has CURVE and it works.
//! Every receive is bounded by RCVTIMEO (no sleeps, no unbounded waits).

use super::*;

/// Bound on a receive that must succeed: generous, it only guards a hang.
const MUST_MS: i32 = 10_000;
/// How long a client with the wrong server key waits for a reply that must
/// not come (the CURVE handshake on loopback takes well under a millisecond).
const MUST_NOT_MS: i32 = 500;

struct Pair {
    public: [u8; 32],
    secret: [u8; 32],
    public_z85: String,
}

fn keypair() -> Pair {
    let (public_z85, secret_z85) = curve_keypair().expect("zmq_curve_keypair");
    Pair {
        public: z85_decode_key(&public_z85).expect("public key decodes"),
        secret: z85_decode_key(&secret_z85).expect("secret key decodes"),
        public_z85,
    }
}

/// A REP CURVE server bound to a free loopback port, and that endpoint.
fn server(ctx: &Context, keys: &Pair) -> (Socket, String) {
    let mut rep = ctx.socket(SocketType::Rep).unwrap();
    rep.set_int(opt::LINGER, 0).unwrap();
    rep.set_int(opt::RCVTIMEO, MUST_MS).unwrap();
    rep.set_int(opt::CURVE_SERVER, 1).unwrap();
    rep.set_bytes(opt::CURVE_SECRETKEY, &keys.secret).unwrap();
    rep.set_bytes(opt::CURVE_PUBLICKEY, &keys.public).unwrap();
    rep.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = String::from_utf8(rep.last_endpoint().unwrap()).unwrap();
    assert!(
        endpoint.starts_with("tcp://127.0.0.1:") && !endpoint.ends_with(":*"),
        "{endpoint}"
    );
    (rep, endpoint)
}

/// A REQ CURVE client trusting `server_key` (32 bytes or 40 Z85 characters).
fn client(ctx: &Context, server_key: &[u8], endpoint: &str, timeout_ms: i32) -> Socket {
    let own = keypair();
    let mut req = ctx.socket(SocketType::Req).unwrap();
    req.set_int(opt::LINGER, 0).unwrap();
    req.set_int(opt::RCVTIMEO, timeout_ms).unwrap();
    req.set_int(opt::SNDTIMEO, MUST_MS).unwrap();
    req.set_bytes(opt::CURVE_SERVERKEY, server_key).unwrap();
    req.set_bytes(opt::CURVE_PUBLICKEY, &own.public).unwrap();
    req.set_bytes(opt::CURVE_SECRETKEY, &own.secret).unwrap();
    req.connect(endpoint).unwrap();
    req
}

#[test]
fn built_with_curve() {
    assert!(has("curve"), "this libzmq has no CURVE");
    assert!(has("ipc"));
    assert!(!has("no such capability"));
    assert!(!has("nul\0inside"));
    assert_eq!(version(), (4, 3, 5));
    assert!(sodium_version().starts_with("1.0."), "{}", sodium_version());
}

#[test]
fn curve_req_rep_round_trip() {
    let ctx = Context::new().unwrap();
    let keys = keypair();
    let (mut rep, endpoint) = server(&ctx, &keys);
    let mut req = client(&ctx, &keys.public, &endpoint, MUST_MS);

    let mut msg = Message::new();
    for round in 0..3u8 {
        let request = [b'q', round];
        req.send(&request, 0).unwrap();
        rep.recv_msg(&mut msg, 0).unwrap();
        assert_eq!(msg.data(), request);
        assert!(!msg.more());
        // The reply is the request's own message, sent back without a copy;
        // libzmq leaves it empty.
        rep.send_msg(&mut msg, 0).unwrap();
        assert_eq!(msg.data(), b"");
        req.recv_msg(&mut msg, 0).unwrap();
        assert_eq!(msg.data(), request);
    }

    // A large frame (not inline in the zmq_msg_t) and a multipart reply.
    let big = vec![7u8; 100_000];
    req.send(&big, 0).unwrap();
    rep.recv_msg(&mut msg, 0).unwrap();
    assert_eq!(msg.data(), &big[..]);
    rep.send(b"first", SNDMORE).unwrap();
    rep.send(b"second", 0).unwrap();
    req.recv_msg(&mut msg, 0).unwrap();
    assert_eq!((msg.data(), msg.more()), (&b"first"[..], true));
    req.recv_msg(&mut msg, 0).unwrap();
    assert_eq!((msg.data(), msg.more()), (&b"second"[..], false));
}

#[test]
fn wrong_server_key_gets_no_reply() {
    let ctx = Context::new().unwrap();
    let keys = keypair();
    let (mut rep, endpoint) = server(&ctx, &keys);

    // The client trusts some other server: the handshake fails, so its
    // request never reaches the server and no reply comes.
    let impostor = keypair();
    let mut wrong = client(&ctx, impostor.public_z85.as_bytes(), &endpoint, MUST_NOT_MS);
    wrong.send(b"hello?", 0).unwrap();
    let mut msg = Message::new();
    let e = wrong.recv_msg(&mut msg, 0).unwrap_err();
    assert_eq!(e.errno(), EAGAIN, "{e}");
    assert_eq!(
        rep.recv_msg(&mut msg, DONTWAIT).unwrap_err().errno(),
        EAGAIN
    );

    // The same server answers a client with the right key (as Z85 text this
    // time): the silence above was the key, not a dead server.
    let mut right = client(&ctx, keys.public_z85.as_bytes(), &endpoint, MUST_MS);
    right.send(b"hello", 0).unwrap();
    rep.recv_msg(&mut msg, 0).unwrap();
    assert_eq!(msg.data(), b"hello");
    rep.send_msg(&mut msg, 0).unwrap();
    right.recv_msg(&mut msg, 0).unwrap();
    assert_eq!(msg.data(), b"hello");
}

#[test]
fn errors_carry_errno_and_text() {
    let ctx = Context::new().unwrap();
    let mut s = ctx.socket(SocketType::Push).unwrap();
    let e = s.set_bytes(opt::CURVE_PUBLICKEY, &[0; 31]).unwrap_err();
    assert_eq!(e.errno(), EINVAL);
    assert!(e.to_string().contains("Invalid argument"), "{e}");
    assert_eq!(s.bind("tcp://127.0.0.1:*\0").unwrap_err().errno(), EINVAL);
    let e = s.connect("nosuch://where").unwrap_err();
    assert_eq!(e.errno(), EPROTONOSUPPORT, "{e}");
    s.set_int(opt::LINGER, 25).unwrap();
    assert_eq!(s.get_int(opt::LINGER).unwrap(), 25);
    assert_eq!(Error::from_errno(ETERM).errno(), ETERM);
    assert!(Error::from_errno(ETERM).to_string().contains("terminated"));
    assert_eq!(z85_decode_key("too short"), None);
    assert_eq!(z85_decode_key(&"\u{7f}".repeat(40)), None);
}

#[test]
fn sockets_move_between_threads() {
    let ctx = Context::new().unwrap();
    let mut pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_int(opt::RCVTIMEO, MUST_MS).unwrap();
    pull.bind("inproc://move").unwrap();
    let ctx2 = ctx.clone();
    let sender = std::thread::spawn(move || {
        let mut push = ctx2.socket(SocketType::Push).unwrap();
        push.connect("inproc://move").unwrap();
        push.send(b"across", 0).unwrap();
        push
    });
    let mut msg = Message::new();
    pull.recv_msg(&mut msg, 0).unwrap();
    assert_eq!(msg.data(), b"across");
    drop(sender.join().unwrap());
}

#[test]
fn proxy_forwards_until_shutdown() {
    let ctx = Context::new().unwrap();
    let mut front = ctx.socket(SocketType::Pull).unwrap();
    front.bind("inproc://proxy-in").unwrap();
    let mut back = ctx.socket(SocketType::Push).unwrap();
    back.bind("inproc://proxy-out").unwrap();
    let proxy_thread = std::thread::spawn(move || proxy(&mut front, &mut back));
    let mut push = ctx.socket(SocketType::Push).unwrap();
    push.connect("inproc://proxy-in").unwrap();
    let mut pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_int(opt::RCVTIMEO, MUST_MS).unwrap();
    pull.connect("inproc://proxy-out").unwrap();
    push.send(b"through", 0).unwrap();
    let mut msg = Message::new();
    pull.recv_msg(&mut msg, 0).unwrap();
    assert_eq!(msg.data(), b"through");

    // Shutting the context down ends every blocking call in it, the proxy
    // included, with ETERM.
    ctx.shutdown();
    assert_eq!(proxy_thread.join().unwrap().errno(), ETERM);
    assert_eq!(pull.recv_msg(&mut msg, 0).unwrap_err().errno(), ETERM);
}
