//! What is particular to the ipc and inproc transports (the socket-type
//! semantics over every transport are in patterns.rs).

mod common;

use bytes::Bytes;
use common::*;
use ferromq::{Context, ErrorKind, SocketType, DONTWAIT};
use std::path::Path;

fn ipc_endpoint(path: &Path) -> String {
    format!("ipc://{}", path.display())
}

fn assert_delivers(from: &ferromq::Socket, to: &ferromq::Socket, text: &str) {
    from.send(text, 0).unwrap();
    assert_eq!(to.recv(0).unwrap().as_str(), Some(text));
}

#[test]
fn ipc_path_is_created_reported_and_removed_on_unbind_and_close() {
    let dir = TempDir::new();
    let path = dir.path().join("feed");
    let ep = ipc_endpoint(&path);
    let ctx = Context::new();
    let pull = with_timeout(ctx.socket(SocketType::Pull).unwrap());
    pull.bind(&ep).unwrap();
    assert_eq!(pull.last_endpoint().unwrap(), ep);
    assert!(path.exists(), "bind creates the socket file");
    let push = connected(&ctx, SocketType::Push, &ep);
    assert_delivers(&push, &pull, "over ipc");

    pull.unbind(&ep).unwrap();
    wait_until("unbind to remove the socket file", || !path.exists());

    pull.bind(&ep).unwrap();
    assert!(path.exists());
    drop(pull);
    wait_until("close to remove the socket file", || !path.exists());
}

#[test]
fn ipc_relative_path_is_relative_to_the_working_directory() {
    let name = format!("ferromq-rel-{}.ipc", std::process::id());
    let ep = format!("ipc://{name}");
    let ctx = Context::new();
    let pull = with_timeout(ctx.socket(SocketType::Pull).unwrap());
    pull.bind(&ep).unwrap();
    assert_eq!(pull.last_endpoint().unwrap(), ep);
    assert!(std::env::current_dir().unwrap().join(&name).exists());
    let push = connected(&ctx, SocketType::Push, &ep);
    assert_delivers(&push, &pull, "relative");
    drop(pull);
    wait_until("the relative socket file to go", || {
        !Path::new(&name).exists()
    });
}

#[test]
fn ipc_wildcard_binds_a_generated_path_removed_with_its_directory() {
    let ctx = Context::new();
    let rep = with_timeout(ctx.socket(SocketType::Rep).unwrap());
    rep.bind("ipc://*").unwrap();
    let ep = rep.last_endpoint().unwrap();
    // In TMPDIR (or TEMPDIR, TMP), else in the working directory, as
    // libzmq does.
    let path = Path::new(ep.strip_prefix("ipc://").expect("an ipc endpoint")).to_owned();
    assert!(path.ends_with("socket"), "{ep}");
    assert!(path.exists(), "{ep} exists");
    let dir = path.parent().unwrap().to_owned();
    let req = with_timeout(connected(&ctx, SocketType::Req, &ep));
    req.send("ping", 0).unwrap();
    assert_eq!(rep.recv(0).unwrap().as_str(), Some("ping"));
    rep.send("pong", 0).unwrap();
    assert_eq!(req.recv(0).unwrap().as_str(), Some("pong"));
    // A second wildcard bind gets a different path.
    let other = ctx.socket(SocketType::Pull).unwrap();
    other.bind("ipc://*").unwrap();
    assert_ne!(other.last_endpoint().unwrap(), ep);
    drop(rep);
    wait_until("the generated directory to go", || !dir.exists());
}

#[test]
fn ipc_abstract_names_work_and_leave_no_file() {
    let name = format!("ferromq-test-{}-abstract", std::process::id());
    let ep = format!("ipc://@{name}");
    let ctx = Context::new();
    let sub = with_timeout(ctx.socket(SocketType::Sub).unwrap());
    sub.set_subscribe(b"").unwrap();
    sub.bind(&ep).unwrap();
    assert_eq!(sub.last_endpoint().unwrap(), ep);
    assert!(!Path::new(&format!("@{name}")).exists());
    let publisher = connected(&ctx, SocketType::Pub, &ep);
    sub.set_rcvtimeo(20).unwrap();
    wait_until("the subscription over the abstract socket", || {
        publisher.send("tick", 0).unwrap();
        sub.recv(0).is_ok()
    });
    // The name is taken while bound.
    let second = ctx.socket(SocketType::Sub).unwrap();
    assert_eq!(second.bind(&ep).unwrap_err().kind(), ErrorKind::EADDRINUSE);
}

#[test]
fn ipc_bind_replaces_a_stale_socket_file() {
    let dir = TempDir::new();
    let path = dir.path().join("stale");
    // A process that died leaves its socket file behind; so does dropping
    // a std listener.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let ep = ipc_endpoint(&path);
    let ctx = Context::new();
    let pull = with_timeout(ctx.socket(SocketType::Pull).unwrap());
    pull.bind(&ep).unwrap();
    let push = connected(&ctx, SocketType::Push, &ep);
    assert_delivers(&push, &pull, "after the stale file");
}

#[test]
fn ipc_bind_leaves_a_regular_file_alone() {
    let dir = TempDir::new();
    let path = dir.path().join("precious");
    std::fs::write(&path, b"data").unwrap();
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    let err = pull.bind(&ipc_endpoint(&path)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::EADDRINUSE, "{err}");
    assert!(err.to_string().contains("not a socket"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"data");
}

#[test]
fn ipc_bad_paths_are_clear_errors() {
    let ctx = Context::new();
    let s = ctx.socket(SocketType::Pull).unwrap();
    let err = s.bind("ipc:///nonexistent-dir-ferromq/sock").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ENOENT);
    assert!(err.to_string().contains("directory"), "{err}");
    let long = format!("ipc:///tmp/{}", "x".repeat(120));
    let err = s.bind(&long).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ENAMETOOLONG);
    assert_eq!(
        s.connect(&long).unwrap_err().kind(),
        ErrorKind::ENAMETOOLONG
    );
    assert_eq!(s.connect("ipc://*").unwrap_err().kind(), ErrorKind::EINVAL);
}

#[test]
fn ipc_connect_before_bind_queues_and_delivers() {
    let dir = TempDir::new();
    let ep = ipc_endpoint(&dir.path().join("late"));
    let ctx = Context::new();
    let push = connected(&ctx, SocketType::Push, &ep);
    for i in 0..5u8 {
        push.send(vec![i], DONTWAIT).unwrap();
    }
    let pull = with_timeout(ctx.socket(SocketType::Pull).unwrap());
    pull.bind(&ep).unwrap();
    for i in 0..5u8 {
        assert_eq!(&pull.recv(0).unwrap()[..], &[i]);
    }
}

#[test]
fn inproc_connect_before_bind_queues_and_delivers() {
    let ctx = Context::new();
    let push = connected(&ctx, SocketType::Push, "inproc://early");
    for i in 0..10u8 {
        push.send(vec![i], DONTWAIT).unwrap();
    }
    let pull = with_timeout(ctx.socket(SocketType::Pull).unwrap());
    pull.bind("inproc://early").unwrap();
    assert_eq!(pull.last_endpoint().unwrap(), "inproc://early");
    for i in 0..10u8 {
        assert_eq!(&pull.recv(0).unwrap()[..], &[i]);
    }
    assert_delivers(&push, &pull, "after the bind");
}

/// Sends until EAGAIN; returns how many went.
fn fill(push: &ferromq::Socket) -> usize {
    let mut n = 0;
    while push.send("x", DONTWAIT).is_ok() {
        n += 1;
        assert!(n <= 100_000, "the pipe never filled");
    }
    n
}

#[test]
fn inproc_hwm_is_the_sum_of_both_sides() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_rcvhwm(7).unwrap();
    pull.bind("inproc://hwm").unwrap();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_sndhwm(5).unwrap();
    push.connect("inproc://hwm").unwrap();
    assert_eq!(fill(&push), 12);
    // As in libzmq, a writer stopped at the HWM goes on once the reader
    // has brought the queue down to its low-water mark (half of it), not
    // after a single read: it then comes back for a batch.
    for _ in 0..5 {
        pull.recv(0).unwrap();
        assert_eq!(
            push.send("y", DONTWAIT).unwrap_err().kind(),
            ErrorKind::EAGAIN
        );
    }
    pull.recv(0).unwrap();
    assert_eq!(fill(&push), 6);
}

#[test]
fn inproc_hwm_is_the_sum_when_the_connect_came_first() {
    let ctx = Context::new();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_sndhwm(5).unwrap();
    push.connect("inproc://hwm-late").unwrap();
    push.send("early", DONTWAIT).unwrap();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_rcvhwm(7).unwrap();
    pull.bind("inproc://hwm-late").unwrap();
    assert_eq!(fill(&push) + 1, 12);
}

#[test]
fn inproc_zero_hwm_on_either_side_means_no_limit() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.set_rcvhwm(0).unwrap();
    pull.bind("inproc://unlimited").unwrap();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.set_sndhwm(3).unwrap();
    push.connect("inproc://unlimited").unwrap();
    for _ in 0..5000 {
        push.send("x", DONTWAIT).unwrap();
    }
}

#[test]
fn inproc_names_are_per_context_and_bound_once() {
    let ctx = Context::new();
    let first = ctx.socket(SocketType::Pull).unwrap();
    first.bind("inproc://name").unwrap();
    let second = ctx.socket(SocketType::Pull).unwrap();
    let err = second.bind("inproc://name").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::EADDRINUSE);
    assert!(err.to_string().contains("inproc://name"), "{err}");

    // Another context has its own names.
    let other_ctx = Context::new();
    let other = with_timeout(other_ctx.socket(SocketType::Pull).unwrap());
    other.bind("inproc://name").unwrap();
    let push = connected(&other_ctx, SocketType::Push, "inproc://name");
    assert_delivers(&push, &other, "in the other context");
    assert_eq!(first.recv(DONTWAIT).unwrap_err().kind(), ErrorKind::EAGAIN);

    // Unbinding or closing frees the name.
    first.unbind("inproc://name").unwrap();
    second.bind("inproc://name").unwrap();
    drop(second);
    first.bind("inproc://name").unwrap();
}

#[test]
fn inproc_routing_ids_reach_the_router_in_either_order() {
    let ctx = Context::new();
    let early = ctx.socket(SocketType::Dealer).unwrap();
    early.set_routing_id(b"early").unwrap();
    early.connect("inproc://router").unwrap();
    early.send("before bind", 0).unwrap();
    let router = with_timeout(ctx.socket(SocketType::Router).unwrap());
    router.bind("inproc://router").unwrap();
    let late = ctx.socket(SocketType::Dealer).unwrap();
    late.set_routing_id(b"late").unwrap();
    late.connect("inproc://router").unwrap();
    late.send("after bind", 0).unwrap();
    let mut got = vec![
        router.recv_multipart(0).unwrap(),
        router.recv_multipart(0).unwrap(),
    ];
    got.sort();
    assert_eq!(
        got,
        vec![
            vec![b"early".to_vec(), b"before bind".to_vec()],
            vec![b"late".to_vec(), b"after bind".to_vec()],
        ]
    );
    router.send_multipart([&b"early"[..], b"reply"], 0).unwrap();
    let early = with_timeout(early);
    assert_eq!(early.recv(0).unwrap().as_str(), Some("reply"));
}

#[test]
fn inproc_refuses_incompatible_socket_types() {
    let ctx = Context::new();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.bind("inproc://typed").unwrap();
    // PUB cannot talk to PULL: no connection is made, as a failed
    // handshake would leave it over tcp.
    let publisher = connected(&ctx, SocketType::Pub, "inproc://typed");
    publisher.send("lost", 0).unwrap();
    assert_eq!(pull.recv(DONTWAIT).unwrap_err().kind(), ErrorKind::EAGAIN);
    // ...in either order.
    let early_pub = connected(&ctx, SocketType::Pub, "inproc://typed-late");
    let late_pull = ctx.socket(SocketType::Pull).unwrap();
    late_pull.bind("inproc://typed-late").unwrap();
    early_pub.send("lost", 0).unwrap();
    assert_eq!(
        late_pull.recv(DONTWAIT).unwrap_err().kind(),
        ErrorKind::EAGAIN
    );
    // A compatible peer still gets through.
    let push = connected(&ctx, SocketType::Push, "inproc://typed");
    let pull = with_timeout(pull);
    assert_delivers(&push, &pull, "compatible");
}

#[test]
fn inproc_moves_bodies_without_copying() {
    let ctx = Context::new();
    let pull = with_timeout(ctx.socket(SocketType::Pull).unwrap());
    pull.bind("inproc://zero-copy").unwrap();
    let push = connected(&ctx, SocketType::Push, "inproc://zero-copy");
    let body = Bytes::from(vec![7u8; 1 << 20]);
    let at = body.as_ptr();
    push.send(body, 0).unwrap();
    let got = pull.recv(0).unwrap();
    assert_eq!(got.len(), 1 << 20);
    assert_eq!(got.as_ptr(), at, "the received body is the sent buffer");
}

#[test]
fn inproc_peer_close_removes_the_pipe_and_keeps_what_was_sent() {
    let ctx = Context::new();
    let gone = ctx.socket(SocketType::Pull).unwrap();
    gone.bind("inproc://a").unwrap();
    let stays = with_timeout(ctx.socket(SocketType::Pull).unwrap());
    stays.bind("inproc://b").unwrap();
    let push = ctx.socket(SocketType::Push).unwrap();
    push.connect("inproc://a").unwrap();
    push.connect("inproc://b").unwrap();
    drop(gone);
    // Round robin must not hand messages to the closed peer.
    for i in 0..10u8 {
        push.send(vec![i], 0).unwrap();
    }
    for i in 0..10u8 {
        assert_eq!(&stays.recv(0).unwrap()[..], &[i]);
    }

    // The other way: what a closed sender queued is still read.
    let sender = connected(&ctx, SocketType::Push, "inproc://b");
    sender.send("last words", 0).unwrap();
    drop(sender);
    assert_eq!(stays.recv(0).unwrap().as_str(), Some("last words"));
}

#[test]
fn inproc_disconnect_before_bind_delivers_nothing() {
    let ctx = Context::new();
    let push = connected(&ctx, SocketType::Push, "inproc://undone");
    push.send("never", DONTWAIT).unwrap();
    push.disconnect("inproc://undone").unwrap();
    let pull = ctx.socket(SocketType::Pull).unwrap();
    pull.bind("inproc://undone").unwrap();
    assert_eq!(pull.recv(DONTWAIT).unwrap_err().kind(), ErrorKind::EAGAIN);
    assert_eq!(
        push.disconnect("inproc://undone").unwrap_err().kind(),
        ErrorKind::ENOENT
    );
}

#[test]
fn inproc_sockets_on_different_threads_and_context_term() {
    let ctx = Context::new();
    let pull = with_timeout(ctx.socket(SocketType::Pull).unwrap());
    pull.bind("inproc://threads").unwrap();
    let producer_ctx = ctx.clone();
    let producer = std::thread::spawn(move || {
        let push = producer_ctx.socket(SocketType::Push).unwrap();
        push.connect("inproc://threads").unwrap();
        for i in 0..10_000u32 {
            push.send(i.to_be_bytes().to_vec(), 0).unwrap();
        }
    });
    for i in 0..10_000u32 {
        assert_eq!(&pull.recv(0).unwrap()[..], &i.to_be_bytes());
    }
    producer.join().unwrap();
    drop(pull);
    ctx.term();
}

#[test]
fn inproc_subscriptions_sent_before_the_bind_reach_the_publisher() {
    let ctx = Context::new();
    let sub = with_timeout(ctx.socket(SocketType::Sub).unwrap());
    sub.set_subscribe(b"weather").unwrap();
    sub.connect("inproc://late-pub").unwrap();
    let xpub = with_timeout(ctx.socket(SocketType::Xpub).unwrap());
    xpub.bind("inproc://late-pub").unwrap();
    // The subscription was queued before the XPUB existed; it must still
    // be seen, and filter what is published.
    assert_eq!(&xpub.recv(0).unwrap()[..], b"\x01weather");
    xpub.send("sports", 0).unwrap();
    xpub.send("weather 1", 0).unwrap();
    assert_eq!(sub.recv(0).unwrap().as_str(), Some("weather 1"));
}

/// Frames larger than the I/O thread's 64 KiB read chunk are read straight
/// into their own buffer, smaller ones through the shared chunk: a stream
/// that switches between the two, with frames ending mid-read and
/// multipart messages mixing sizes, arrives whole and in order.
fn large_and_small_frames_interleave(tr: Transport) {
    let ctx = Context::new();
    let (pull, ep) = bound_on(&ctx, tr, SocketType::Pull);
    let pull = with_timeout(pull);
    let push = connected(&ctx, SocketType::Push, &ep);
    let sizes = [
        0,
        70_000,
        1,
        1 << 20,
        65_536,
        65_535,
        3,
        (2 << 20) + 5,
        200_000,
        64,
    ];
    let body = |round: usize, i: usize, size: usize| -> Vec<u8> {
        (0..size).map(|k| (k * 31 + i * 7 + round) as u8).collect()
    };
    for round in 0..3 {
        for (i, &size) in sizes.iter().enumerate() {
            push.send(body(round, i, size), 0).unwrap();
        }
        // The same sizes again as one multipart message.
        push.send_multipart(
            sizes
                .iter()
                .enumerate()
                .map(|(i, &s)| body(round, i + 100, s)),
            0,
        )
        .unwrap();
    }
    for round in 0..3 {
        for (i, &size) in sizes.iter().enumerate() {
            let got = pull.recv(0).unwrap();
            assert!(!got.more());
            assert!(
                got[..] == body(round, i, size)[..],
                "round {round}, frame {i} ({size} B)"
            );
        }
        let parts = pull.recv_multipart_msgs(0).unwrap();
        assert_eq!(parts.len(), sizes.len());
        for (i, (got, &size)) in parts.iter().zip(&sizes).enumerate() {
            assert!(
                got[..] == body(round, i + 100, size)[..],
                "round {round}, part {i}"
            );
        }
    }
}

per_transport!([Tcp, Ipc], large_and_small_frames_interleave);
