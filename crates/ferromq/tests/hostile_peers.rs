//! Hostile peers over real tcp: garbage, a wrong socket type, an oversize
//! frame. Each loses its own connection; the socket keeps serving others.

mod common;

use common::*;
use ferromq::{Context, SocketType};
use ferromq_proto::{Command, FrameKind, Greeting, MechanismName, Metadata};
use std::io::{Read, Write};
use std::net::TcpStream;

fn raw_connect(ep: &str) -> TcpStream {
    let s = TcpStream::connect(&ep["tcp://".len()..]).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s
}

/// Reads until the server closes; returns everything it sent.
fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return all,
            Err(e) => panic!("server did not close the connection: {e}"),
        }
    }
}

fn ready(socket_type: &[u8]) -> Vec<u8> {
    let mut md = Metadata::new();
    md.insert("Socket-Type", socket_type.to_vec()).unwrap();
    let mut out = Vec::new();
    Command::Ready(md).encode_frame(&mut out);
    out
}

/// A well-behaved PUSH peer still gets through.
fn assert_still_serving(ctx: &Context, pull: &ferromq::Socket, ep: &str, tag: &str) {
    let push = connected(ctx, SocketType::Push, ep);
    push.send(tag, 0).unwrap();
    assert_eq!(pull.recv(0).unwrap().as_str(), Some(tag));
}

#[test]
fn garbage_bytes_close_only_that_connection() {
    let ctx = Context::new();
    let (pull, ep) = bound(&ctx, SocketType::Pull);
    let pull = with_timeout(pull);
    let good = connected(&ctx, SocketType::Push, &ep);
    good.send("first", 0).unwrap();
    assert_eq!(pull.recv(0).unwrap().as_str(), Some("first"));

    let mut bad = raw_connect(&ep);
    bad.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    read_until_closed(&mut bad);

    // The established peer is undisturbed, and new peers are accepted.
    good.send("second", 0).unwrap();
    assert_eq!(pull.recv(0).unwrap().as_str(), Some("second"));
    assert_still_serving(&ctx, &pull, &ep, "third");
}

#[test]
fn wrong_socket_type_gets_error_command_and_is_dropped() {
    let ctx = Context::new();
    let (rep_like, ep) = bound(&ctx, SocketType::Pull);
    let pull = with_timeout(rep_like);
    let mut bad = raw_connect(&ep);
    bad.write_all(&Greeting::new(MechanismName::NULL, false).encode())
        .unwrap();
    bad.write_all(&ready(b"PUB")).unwrap();
    let reply = read_until_closed(&mut bad);
    // Greeting, our READY, then an ERROR command naming the mismatch.
    assert!(reply.len() > 64, "got {} bytes", reply.len());
    let rest = &reply[64..];
    let error_at = rest
        .windows(6)
        .position(|w| w == b"\x05ERROR")
        .expect("an ERROR command");
    assert_eq!(rest[error_at - 2], 0x04, "ERROR travels in a command frame");
    let reason = String::from_utf8_lossy(&rest[error_at + 7..]);
    assert!(reason.contains("PUB"), "reason {reason:?}");
    assert_still_serving(&ctx, &pull, &ep, "after mismatch");

    // The same through the library: a PULL connected to a PULL gets
    // nowhere, while the bound socket keeps working.
    let wrong = connected(&ctx, SocketType::Pull, &ep);
    assert_still_serving(&ctx, &pull, &ep, "after library mismatch");
    drop(wrong);
}

#[test]
fn oversize_frame_drops_the_sender_only() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_maxmsgsize(100).unwrap();
    pull.bind("tcp://127.0.0.1:*").unwrap();
    let ep = pull.last_endpoint().unwrap();
    let pull = with_timeout(pull);

    let mut bad = raw_connect(&ep);
    bad.write_all(&Greeting::new(MechanismName::NULL, false).encode())
        .unwrap();
    bad.write_all(&ready(b"PUSH")).unwrap();
    let mut frame = Vec::new();
    ferromq_proto::encode_frame(&mut frame, FrameKind::LAST, &[b'x'; 101]);
    bad.write_all(&frame).unwrap();
    read_until_closed(&mut bad);

    // A declared 2^62-byte frame is refused from its header alone.
    let mut huge = raw_connect(&ep);
    huge.write_all(&Greeting::new(MechanismName::NULL, false).encode())
        .unwrap();
    huge.write_all(&ready(b"PUSH")).unwrap();
    huge.write_all(&[0x02, 0x40, 0, 0, 0, 0, 0, 0, 0]).unwrap();
    read_until_closed(&mut huge);

    // Exactly the limit is fine.
    let ok = connected(&ctx, SocketType::Push, &ep);
    ok.send(vec![b'y'; 100], 0).unwrap();
    assert_eq!(pull.recv(0).unwrap().len(), 100);
}
