//! Socket options beyond the message path: every libzmq option a socket
//! reports reads back what was set (with libzmq's defaults first), wrong
//! values are refused, and the TCP ones reach the connection.

mod common;

use common::*;
use ferromq::monitor::event;
use ferromq::{option, Context, ErrorKind, SocketType};
use std::net::TcpStream;
use std::time::Duration;

fn get_int(s: &ferromq::Socket, opt: i32) -> i32 {
    let raw = s.get_option_raw(opt).unwrap();
    i32::from_ne_bytes(raw.try_into().expect("a 4-byte int"))
}

fn set_int(s: &ferromq::Socket, opt: i32, v: i32) -> ferromq::Result<()> {
    s.set_option_raw(opt, &v.to_ne_bytes())
}

#[test]
fn defaults_and_round_trips_follow_libzmq() {
    let ctx = Context::new();
    let s = ctx.socket(SocketType::Dealer).unwrap();
    // (option, libzmq's default, a value to set)
    let table = [
        (option::RATE, 100, 200),
        (option::RECOVERY_IVL, 10_000, 500),
        (option::MULTICAST_HOPS, 1, 3),
        (option::MULTICAST_MAXTPDU, 1500, 9000),
        (option::MULTICAST_LOOP, 1, 0),
        (option::TOS, 0, 0x10),
        (option::TCP_KEEPALIVE, -1, 1),
        (option::TCP_KEEPALIVE_CNT, -1, 4),
        (option::TCP_KEEPALIVE_IDLE, -1, 77),
        (option::TCP_KEEPALIVE_INTVL, -1, 9),
        (option::TCP_MAXRT, 0, 5000),
        (option::CONNECT_TIMEOUT, 0, 250),
        (option::IPV4ONLY, 1, 0),
    ];
    for (opt, default, value) in table {
        assert_eq!(get_int(&s, opt), default, "default of option {opt}");
        set_int(&s, opt, value).unwrap();
        assert_eq!(get_int(&s, opt), value, "option {opt} after set");
    }
    // IPV4ONLY is IPV6 seen the other way round.
    assert_eq!(get_int(&s, option::IPV6), 1);
    for (opt, fixed) in [
        (option::MECHANISM, 0),
        (option::THREAD_SAFE, 0),
        (option::USE_FD, -1),
        (option::INVERT_MATCHING, 0),
    ] {
        assert_eq!(get_int(&s, opt), fixed, "option {opt}");
    }
    let affinity = s.get_option_raw(option::AFFINITY).unwrap();
    assert_eq!(affinity, 0u64.to_ne_bytes());
    s.set_option_raw(option::AFFINITY, &3u64.to_ne_bytes())
        .unwrap();
    assert_eq!(
        s.get_option_raw(option::AFFINITY).unwrap(),
        3u64.to_ne_bytes()
    );
}

#[test]
fn bad_values_are_refused() {
    let ctx = Context::new();
    let s = ctx.socket(SocketType::Pub).unwrap();
    for (opt, bad) in [
        (option::TCP_KEEPALIVE, 2),
        (option::TCP_KEEPALIVE_IDLE, -2),
        (option::TOS, -1),
        (option::RATE, 0),
        (option::CONNECT_TIMEOUT, -1),
    ] {
        let err = set_int(&s, opt, bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::EINVAL, "option {opt} = {bad}");
    }
    // An int64 option given 4 bytes.
    let err = s
        .set_option_raw(option::AFFINITY, &1i32.to_ne_bytes())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::EINVAL);
}

#[test]
fn affinity_picks_among_existing_io_threads() {
    // Thread 1 only, a thread that does not exist (libzmq then allows
    // all), and any: each connection works.
    let ctx = Context::with_io_threads(2).unwrap();
    let (pull, ep) = bound(&ctx, SocketType::Pull);
    let pull = with_timeout(pull);
    for affinity in [2u64, 1 << 40, 0] {
        let push = ctx.socket(SocketType::Push).unwrap();
        push.set_option_raw(option::AFFINITY, &affinity.to_ne_bytes())
            .unwrap();
        push.connect(&ep).unwrap();
        push.send("x", 0).unwrap();
        assert_eq!(&pull.recv(0).unwrap()[..], b"x", "affinity {affinity:#x}");
    }
}

/// A TCP listener whose accept queue is full, so a further connect hangs
/// in SYN_SENT (the kernel drops SYNs to a full queue).
fn hanging_endpoint() -> (socket2::Socket, Vec<TcpStream>, String) {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            fillers.push(s);
        }
    }
    (listener, fillers, format!("tcp://{addr}"))
}

#[test]
fn connect_timeout_abandons_a_hanging_connect_and_retries() {
    let (_listener, _fillers, ep) = hanging_endpoint();
    let ctx = Context::new();
    let dealer = ctx.socket(SocketType::Dealer).unwrap();
    set_int(&dealer, option::CONNECT_TIMEOUT, 100).unwrap();
    let monitor = dealer.monitor(event::ALL).unwrap();
    dealer.connect(&ep).unwrap();
    // Without CONNECT_TIMEOUT the kernel would keep retrying the SYN for
    // about two minutes and nothing would happen here.
    let retried = monitor.wait_for(event::CONNECT_RETRIED, Duration::from_secs(20));
    assert!(
        retried.is_some(),
        "no CONNECT_RETRIED after CONNECT_TIMEOUT"
    );
}

#[test]
fn tcp_keepalive_settings_reach_the_connection() {
    let ctx = Context::new();
    let (router, ep) = bound(&ctx, SocketType::Router);
    let dealer = ctx.socket(SocketType::Dealer).unwrap();
    set_int(&dealer, option::TCP_KEEPALIVE, 1).unwrap();
    set_int(&dealer, option::TCP_KEEPALIVE_IDLE, 4321).unwrap();
    dealer.connect(&ep).unwrap();
    dealer.send("up", 0).unwrap();
    let router = with_timeout(router);
    router.recv_multipart(0).unwrap();
    // `ss -o` shows the kernel's keepalive timer on the dealer's side (the
    // one whose destination port is the router's): about 72 minutes left
    // of 4321 s. While data is unacknowledged it shows the retransmit
    // timer instead, so look until the connection is idle.
    let port = port_of(&ep);
    let mut last = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let out = std::process::Command::new("ss")
            .args([
                "-tnoH",
                "state",
                "established",
                "dport",
                "=",
                &format!(":{port}"),
            ])
            .output()
            .expect("ss (iproute2) is needed for this test");
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        if last.contains("timer:(keepalive,72min") || last.contains("timer:(keepalive,71min") {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no keepalive timer of about 72 min in:\n{last}");
}
