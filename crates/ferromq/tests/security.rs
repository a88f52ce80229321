//! PLAIN, CURVE and ZAP over real tcp connections: the options, the
//! built-in authenticator, refusals with their monitor events, and that a
//! refused peer leaves the server serving the others.

mod common;

use common::*;
use ferromq::auth::{Authenticator, CurveClients};
use ferromq::monitor::event;
use ferromq::{curve_keypair, option, Context, ErrorKind, Socket, SocketType};
use std::collections::HashMap;
use std::time::Duration;

fn set_int(s: &Socket, opt: i32, v: i32) {
    s.set_option_raw(opt, &v.to_ne_bytes()).unwrap();
}

fn get_int(s: &Socket, opt: i32) -> i32 {
    i32::from_ne_bytes(s.get_option_raw(opt).unwrap().try_into().unwrap())
}

fn plain_server(ctx: &Context, t: SocketType) -> (Socket, String) {
    let s = ctx.socket(t).unwrap();
    set_int(&s, option::PLAIN_SERVER, 1);
    s.bind("tcp://127.0.0.1:*").unwrap();
    let ep = s.last_endpoint().unwrap();
    (s, ep)
}

fn plain_client(ctx: &Context, t: SocketType, user: &str, password: &str, ep: &str) -> Socket {
    let s = ctx.socket(t).unwrap();
    s.set_option_raw(option::PLAIN_USERNAME, user.as_bytes())
        .unwrap();
    s.set_option_raw(option::PLAIN_PASSWORD, password.as_bytes())
        .unwrap();
    s.connect(ep).unwrap();
    s
}

fn users() -> HashMap<String, String> {
    HashMap::from([("admin".to_owned(), "secret".to_owned())])
}

/// The first handshake outcome the monitor reports: (event, value).
fn handshake_outcome(monitor: &ferromq::Monitor) -> (u16, u32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Some(e) = monitor.recv_timeout(Duration::from_millis(100)) {
            if matches!(
                e.event,
                event::HANDSHAKE_SUCCEEDED
                    | event::HANDSHAKE_FAILED_AUTH
                    | event::HANDSHAKE_FAILED_PROTOCOL
                    | event::HANDSHAKE_FAILED_NO_DETAIL
            ) {
                return (e.event, e.value);
            }
        }
    }
    panic!("no handshake outcome within 10 s");
}

#[test]
fn options_switch_mechanism_and_role_as_libzmq() {
    let ctx = Context::new();
    let s = ctx.socket(SocketType::Dealer).unwrap();
    assert_eq!(get_int(&s, option::MECHANISM), 0);
    s.set_option_raw(option::PLAIN_USERNAME, b"u").unwrap();
    assert_eq!(get_int(&s, option::MECHANISM), 1);
    assert_eq!(get_int(&s, option::PLAIN_SERVER), 0);
    assert_eq!(s.get_option_raw(option::PLAIN_USERNAME).unwrap(), b"u");
    // Clearing the username goes back to NULL.
    s.set_option_raw(option::PLAIN_USERNAME, b"").unwrap();
    assert_eq!(get_int(&s, option::MECHANISM), 0);
    set_int(&s, option::PLAIN_SERVER, 1);
    assert_eq!(get_int(&s, option::MECHANISM), 1);
    assert_eq!(get_int(&s, option::PLAIN_SERVER), 1);
    // A CURVE key in Z85 (40 characters, with or without the NUL) or raw.
    let (public, _) = ferromq::curve_keypair_z85();
    s.set_option_raw(option::CURVE_SERVERKEY, public.as_bytes())
        .unwrap();
    assert_eq!(get_int(&s, option::MECHANISM), 2);
    assert_eq!(get_int(&s, option::CURVE_SERVER), 0);
    let raw = s.get_option_raw(option::CURVE_SERVERKEY).unwrap();
    assert_eq!(ferromq::z85_encode_key(&raw.try_into().unwrap()), public);
    let mut with_nul = public.clone().into_bytes();
    with_nul.push(0);
    s.set_option_raw(option::CURVE_PUBLICKEY, &with_nul)
        .unwrap();
    for bad in [&b"short"[..], &[0u8; 33][..], &[b'#'; 40][..]] {
        let err = s.set_option_raw(option::CURVE_SECRETKEY, bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::EINVAL);
    }
    let err = s
        .set_option_raw(option::PLAIN_USERNAME, &[b'x'; 256])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::EINVAL);
    s.set_option_raw(option::ZAP_DOMAIN, b"global").unwrap();
    assert_eq!(s.get_option_raw(option::ZAP_DOMAIN).unwrap(), b"global");
}

#[test]
fn plain_with_the_authenticator_carries_the_user_id() {
    let ctx = Context::new();
    let auth = Authenticator::start(&ctx).unwrap();
    auth.configure_plain("*", users());
    let (server, ep) = plain_server(&ctx, SocketType::Router);
    let server = with_timeout(server);
    let client = with_timeout(plain_client(
        &ctx,
        SocketType::Dealer,
        "admin",
        "secret",
        &ep,
    ));
    client.send("hello", 0).unwrap();
    let _routing_id = server.recv(0).unwrap();
    let (body, props) = server.recv_with_properties(0).unwrap();
    assert_eq!(&body[..], b"hello");
    let props = props.expect("a tcp peer has properties");
    assert_eq!(props.get("User-Id"), Some(&b"admin"[..]));
    assert_eq!(props.get("Socket-Type"), Some(&b"DEALER"[..]));
}

#[test]
fn a_wrong_password_is_refused_and_the_server_serves_others() {
    let ctx = Context::new();
    let auth = Authenticator::start(&ctx).unwrap();
    auth.configure_plain("*", users());
    let (server, ep) = plain_server(&ctx, SocketType::Pull);
    let server_events = server.monitor(event::ALL).unwrap();
    let intruder = ctx.socket(SocketType::Push).unwrap();
    let intruder_events = intruder.monitor(event::ALL).unwrap();
    intruder
        .set_option_raw(option::PLAIN_USERNAME, b"admin")
        .unwrap();
    intruder
        .set_option_raw(option::PLAIN_PASSWORD, b"guess")
        .unwrap();
    intruder.connect(&ep).unwrap();
    // Both sides report the ZAP status, as libzmq does.
    assert_eq!(
        handshake_outcome(&intruder_events),
        (event::HANDSHAKE_FAILED_AUTH, 400)
    );
    assert_eq!(
        handshake_outcome(&server_events),
        (event::HANDSHAKE_FAILED_AUTH, 400)
    );
    // Its message never arrives; a good client's does.
    intruder.send("from the intruder", ferromq::DONTWAIT).ok();
    let good = plain_client(&ctx, SocketType::Push, "admin", "secret", &ep);
    good.send("from a friend", 0).unwrap();
    let server = with_timeout(server);
    assert_eq!(&server.recv(0).unwrap()[..], b"from a friend");
}

#[test]
fn a_plain_server_without_a_zap_handler_refuses_everyone() {
    // libzmq 4.3: PLAIN is pointless without ZAP checking the password.
    let ctx = Context::new();
    let (server, ep) = plain_server(&ctx, SocketType::Pull);
    let events = server.monitor(event::ALL).unwrap();
    let _client = plain_client(&ctx, SocketType::Push, "admin", "secret", &ep);
    assert_eq!(
        handshake_outcome(&events),
        (event::HANDSHAKE_FAILED_NO_DETAIL, 14)
    );
}

fn curve_server(ctx: &Context, t: SocketType, secret: &[u8; 32]) -> (Socket, String) {
    let s = ctx.socket(t).unwrap();
    set_int(&s, option::CURVE_SERVER, 1);
    s.set_option_raw(option::CURVE_SECRETKEY, secret).unwrap();
    s.bind("tcp://127.0.0.1:*").unwrap();
    let ep = s.last_endpoint().unwrap();
    (s, ep)
}

fn curve_client(
    ctx: &Context,
    t: SocketType,
    server_public: &[u8; 32],
    ep: &str,
) -> (Socket, [u8; 32]) {
    let (public, secret) = curve_keypair();
    let s = ctx.socket(t).unwrap();
    s.set_option_raw(option::CURVE_SERVERKEY, server_public)
        .unwrap();
    s.set_option_raw(option::CURVE_PUBLICKEY, &public).unwrap();
    s.set_option_raw(option::CURVE_SECRETKEY, &secret).unwrap();
    s.connect(ep).unwrap();
    (s, public)
}

#[test]
fn curve_without_zap_encrypts_traffic_both_ways() {
    let ctx = Context::new();
    let (server_public, server_secret) = curve_keypair();
    let (server, ep) = curve_server(&ctx, SocketType::Rep, &server_secret);
    let server = with_timeout(server);
    let (client, _) = curve_client(&ctx, SocketType::Req, &server_public, &ep);
    let client = with_timeout(client);
    let big = vec![0x5a; 1 << 20];
    for round in 0..20u32 {
        client
            .send_multipart([&round.to_be_bytes()[..], &big[..round as usize * 1000]], 0)
            .unwrap();
        let request = server.recv_multipart(0).unwrap();
        assert_eq!(request[0], round.to_be_bytes());
        assert_eq!(request[1].len(), round as usize * 1000);
        server
            .send_multipart([&request[0][..], &big[..]], 0)
            .unwrap();
        let reply = client.recv_multipart(0).unwrap();
        assert_eq!(reply[0], round.to_be_bytes());
        assert_eq!(reply[1], big);
    }
}

#[test]
fn curve_small_messages_survive_a_full_pipe_in_order() {
    // Short encrypted frames are opened on the fast path; with a tiny
    // RCVHWM and a slow reader, frames are refused and offered again
    // many times. Every message must still arrive once, whole, in order.
    let ctx = Context::new();
    let (server_public, server_secret) = curve_keypair();
    let (pull, ep) = curve_server(&ctx, SocketType::Pull, &server_secret);
    pull.set_rcvhwm(2).unwrap();
    let pull = with_timeout(pull);
    let (push, _) = curve_client(&ctx, SocketType::Push, &server_public, &ep);
    let push = with_timeout(push);
    const N: u32 = 3000;
    let body = |i: u32| -> Vec<u8> {
        let len = match i % 5 {
            0 => 0,
            1 => 4,
            2 => 222,
            3 => 223,
            _ => 1500,
        };
        let mut b = vec![i as u8; len];
        if len >= 4 {
            b[..4].copy_from_slice(&i.to_be_bytes());
        }
        b
    };
    let sender = std::thread::spawn(move || {
        for i in 0..N {
            let tag = i.to_be_bytes();
            push.send_multipart([&tag[..], &body(i)[..]], 0).unwrap();
        }
        push
    });
    for i in 0..N {
        if i % 10 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let parts = pull.recv_multipart(0).unwrap();
        assert_eq!(
            parts,
            vec![i.to_be_bytes().to_vec(), body(i)],
            "message {i}"
        );
    }
    drop(sender.join().unwrap());
}

#[test]
fn curve_with_a_wrong_server_key_never_connects() {
    let ctx = Context::new();
    let (_, server_secret) = curve_keypair();
    let (server, ep) = curve_server(&ctx, SocketType::Pull, &server_secret);
    let events = server.monitor(event::ALL).unwrap();
    let (not_the_server, _) = curve_keypair();
    let (client, _) = curve_client(&ctx, SocketType::Push, &not_the_server, &ep);
    client.set_linger(0).unwrap();
    // The server cannot open the client's HELLO.
    let (ev, _) = handshake_outcome(&events);
    assert_eq!(ev, event::HANDSHAKE_FAILED_PROTOCOL);
    client.send("lost", ferromq::DONTWAIT).ok();
    let mut items = [ferromq::PollItem::new(&server, ferromq::POLLIN)];
    assert_eq!(ferromq::poll(&mut items, 200).unwrap(), 0);
}

#[test]
fn curve_clients_are_checked_by_key_and_known_by_it() {
    let ctx = Context::new();
    let auth = Authenticator::start(&ctx).unwrap();
    let (server_public, server_secret) = curve_keypair();
    let (server, ep) = curve_server(&ctx, SocketType::Router, &server_secret);
    let server_events = server.monitor(event::ALL).unwrap();
    let (friend, friend_key) = curve_client(&ctx, SocketType::Dealer, &server_public, &ep);
    auth.configure_curve("*", CurveClients::Only(vec![friend_key]));
    friend.send("hi", 0).unwrap();
    let server = with_timeout(server);
    server.recv(0).unwrap();
    let (body, props) = server.recv_with_properties(0).unwrap();
    assert_eq!(&body[..], b"hi");
    let user = props.unwrap().get("User-Id").unwrap().to_vec();
    assert_eq!(user, ferromq::z85_encode_key(&friend_key).into_bytes());
    assert_eq!(
        handshake_outcome(&server_events),
        (event::HANDSHAKE_SUCCEEDED, 0)
    );
    // A stranger who knows the server's key is still refused.
    let (stranger, _) = curve_client(&ctx, SocketType::Dealer, &server_public, &ep);
    assert_eq!(
        handshake_outcome(&server_events),
        (event::HANDSHAKE_FAILED_AUTH, 400)
    );
    stranger.send("let me in", ferromq::DONTWAIT).ok();
    friend.send("still here", 0).unwrap();
    server.recv(0).unwrap();
    assert_eq!(&server.recv(0).unwrap()[..], b"still here");
}

#[test]
fn null_peers_are_checked_once_a_zap_domain_is_set() {
    let ctx = Context::new();
    let auth = Authenticator::start(&ctx).unwrap();
    auth.deny(&["127.0.0.1"]).unwrap();
    assert_eq!(
        auth.allow(&["127.0.0.2"]).unwrap_err().kind(),
        ErrorKind::EINVAL
    );
    // Without a domain, NULL never asks ZAP.
    let (open, open_ep) = bound(&ctx, SocketType::Pull);
    let pusher = connected(&ctx, SocketType::Push, &open_ep);
    pusher.send("in", 0).unwrap();
    assert_eq!(&with_timeout(open).recv(0).unwrap()[..], b"in");
    // With one, the denied address is refused.
    let guarded = ctx.socket(SocketType::Pull).unwrap();
    guarded
        .set_option_raw(option::ZAP_DOMAIN, b"global")
        .unwrap();
    guarded.bind("tcp://127.0.0.1:*").unwrap();
    let events = guarded.monitor(event::ALL).unwrap();
    let _refused = connected(&ctx, SocketType::Push, &guarded.last_endpoint().unwrap());
    assert_eq!(
        handshake_outcome(&events),
        (event::HANDSHAKE_FAILED_AUTH, 400)
    );
}

#[test]
fn zap_enforce_domain_refuses_when_no_handler_is_bound() {
    let ctx = Context::new();
    let guarded = ctx.socket(SocketType::Pull).unwrap();
    guarded
        .set_option_raw(option::ZAP_DOMAIN, b"global")
        .unwrap();
    set_int(&guarded, option::ZAP_ENFORCE_DOMAIN, 1);
    guarded.bind("tcp://127.0.0.1:*").unwrap();
    let events = guarded.monitor(event::ALL).unwrap();
    let _client = connected(&ctx, SocketType::Push, &guarded.last_endpoint().unwrap());
    assert_eq!(
        handshake_outcome(&events),
        (event::HANDSHAKE_FAILED_NO_DETAIL, 14)
    );
    // Without enforcement the same setup lets NULL peers in.
    let open = ctx.socket(SocketType::Pull).unwrap();
    open.set_option_raw(option::ZAP_DOMAIN, b"global").unwrap();
    open.bind("tcp://127.0.0.1:*").unwrap();
    let pusher = connected(&ctx, SocketType::Push, &open.last_endpoint().unwrap());
    pusher.send("in", 0).unwrap();
    assert_eq!(&with_timeout(open).recv(0).unwrap()[..], b"in");
}

#[test]
fn a_second_authenticator_in_one_context_is_refused() {
    let ctx = Context::new();
    let first = Authenticator::start(&ctx).unwrap();
    let err = Authenticator::start(&ctx).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::EADDRINUSE);
    first.stop();
    // Once stopped, the name is free again.
    Authenticator::start(&ctx).unwrap();
}
