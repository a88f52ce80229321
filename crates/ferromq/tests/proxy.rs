//! The built-in proxy (zmq_proxy, zmq_proxy_steerable, zmq_device) between
//! real ferromq sockets, over tcp, ipc and inproc: the three shapes
//! (queue, forwarder, streamer) move every message whole and in order,
//! the capture socket sees every frame, high-water marks hold through the
//! proxy, and the control socket steers it.

mod common;

use common::*;
use ferromq::proxy::{device, proxy, proxy_steerable, DeviceKind, ProxyStats};
use ferromq::{Context, ErrorKind, Result, Socket, SocketType, DONTWAIT, POLLIN};
use std::collections::BTreeMap;
use std::thread::JoinHandle;

per_transport!(
    [Tcp, Ipc, Inproc],
    streamer_moves_numbered_multipart_messages_in_order,
    queue_routes_each_reply_to_the_client_that_asked,
    forwarder_carries_subscriptions_up_and_updates_down,
    capture_gets_a_copy_of_every_frame_both_ways,
    slow_consumer_blocks_the_producer_instead_of_the_proxy_buffering
);

/// A proxy running in its own thread, over sockets moved into it.
struct Running {
    ctx: Context,
    handle: Option<JoinHandle<Result<()>>>,
}

impl Running {
    /// Starts `proxy_steerable(frontend, backend, capture, control)`.
    fn start(
        ctx: &Context,
        frontend: Socket,
        backend: Socket,
        capture: Option<Socket>,
        control: Option<Socket>,
    ) -> Running {
        let handle = std::thread::spawn(move || {
            proxy_steerable(&frontend, &backend, capture.as_ref(), control.as_ref())
        });
        Running {
            ctx: ctx.clone(),
            handle: Some(handle),
        }
    }

    /// Waits (bounded) for the proxy to return by itself.
    fn join(mut self) -> Result<()> {
        let handle = self.handle.take().unwrap();
        wait_until("the proxy to return", || handle.is_finished());
        handle.join().expect("the proxy thread panicked")
    }

    /// Terminates the context; the proxy must end with ETERM.
    fn stop(self) {
        self.ctx.shutdown();
        let err = self.join().expect_err("a proxy returns only on error");
        assert_eq!(err.kind(), ErrorKind::ETERM, "{err}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A failed test still ends its proxy thread.
        if let Some(handle) = self.handle.take() {
            self.ctx.shutdown();
            let _ = handle.join();
        }
    }
}

fn socket(ctx: &Context, t: SocketType) -> Socket {
    ctx.socket(t).unwrap()
}

/// Frame `i` of numbered message `n`: parts say which message they
/// belong to, so a torn or reordered message shows.
fn numbered(n: u32, parts: u32) -> Vec<Vec<u8>> {
    (0..parts)
        .map(|i| format!("msg {n} part {i}").into_bytes())
        .collect()
}

fn streamer_moves_numbered_multipart_messages_in_order(tr: Transport) {
    let ctx = Context::new();
    let (frontend, in_ep) = bound_on(&ctx, tr, SocketType::Pull);
    let (backend, out_ep) = bound_on(&ctx, tr, SocketType::Push);
    let running = Running::start(&ctx, frontend, backend, None, None);
    let producer = connected(&ctx, SocketType::Push, &in_ep);
    let consumer = with_timeout(connected(&ctx, SocketType::Pull, &out_ep));
    // More than one batch, with messages of one to four parts.
    const N: u32 = 2500;
    for n in 0..N {
        producer.send_multipart(numbered(n, 1 + n % 4), 0).unwrap();
    }
    for n in 0..N {
        assert_eq!(consumer.recv_multipart(0).unwrap(), numbered(n, 1 + n % 4));
    }
    assert_eq!(
        consumer.recv(DONTWAIT).unwrap_err().kind(),
        ErrorKind::EAGAIN
    );
    running.stop();
}

fn queue_routes_each_reply_to_the_client_that_asked(tr: Transport) {
    let ctx = Context::new();
    let (frontend, clients_ep) = bound_on(&ctx, tr, SocketType::Router);
    let (backend, workers_ep) = bound_on(&ctx, tr, SocketType::Dealer);
    let running = Running::start(&ctx, frontend, backend, None, None);
    // Two REP workers answer with the request and their name; they end
    // when the context does.
    let workers: Vec<JoinHandle<u32>> = ["w1", "w2"]
        .into_iter()
        .map(|name| {
            let rep = connected(&ctx, SocketType::Rep, &workers_ep);
            std::thread::spawn(move || {
                let mut served = 0;
                while let Ok(mut request) = rep.recv_multipart(0) {
                    request.push(name.as_bytes().to_vec());
                    if rep.send_multipart(request, 0).is_err() {
                        break;
                    }
                    served += 1;
                }
                served
            })
        })
        .collect();
    // Three DEALER clients, each with many requests in flight at once.
    const PER_CLIENT: u32 = 300;
    let clients: Vec<Socket> = (0..3)
        .map(|_| with_timeout(connected(&ctx, SocketType::Dealer, &clients_ep)))
        .collect();
    for n in 0..PER_CLIENT {
        for (c, client) in clients.iter().enumerate() {
            let request = [String::new(), format!("client {c}"), format!("{n}")];
            client.send_multipart(request, 0).unwrap();
        }
    }
    let mut per_worker: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
    for (c, client) in clients.iter().enumerate() {
        let mut seen = vec![false; PER_CLIENT as usize];
        for _ in 0..PER_CLIENT {
            let reply = client.recv_multipart(0).unwrap();
            assert_eq!(reply.len(), 4, "{reply:?}");
            assert!(reply[0].is_empty(), "the empty delimiter comes back");
            assert_eq!(reply[1], format!("client {c}").into_bytes(), "wrong client");
            let n: usize = std::str::from_utf8(&reply[2]).unwrap().parse().unwrap();
            assert!(!seen[n], "reply {n} twice");
            seen[n] = true;
            *per_worker.entry(reply[3].clone()).or_default() += 1;
        }
        assert_eq!(client.recv(DONTWAIT).unwrap_err().kind(), ErrorKind::EAGAIN);
    }
    assert_eq!(per_worker.values().sum::<u32>(), 3 * PER_CLIENT);
    running.stop();
    let served: u32 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(served, 3 * PER_CLIENT);
}

fn forwarder_carries_subscriptions_up_and_updates_down(tr: Transport) {
    let ctx = Context::new();
    // The publisher is an XPUB, to see subscriptions arrive through the
    // proxy; the proxy's XSUB connects to it, as the guide's wuproxy does.
    let (publisher, pub_ep) = bound_on(&ctx, tr, SocketType::Xpub);
    let publisher = with_timeout(publisher);
    let frontend = connected(&ctx, SocketType::Xsub, &pub_ep);
    let (backend, sub_ep) = bound_on(&ctx, tr, SocketType::Xpub);
    let running = Running::start(&ctx, frontend, backend, None, None);

    let sub_a = socket(&ctx, SocketType::Sub);
    sub_a.set_subscribe(b"A").unwrap();
    sub_a.connect(&sub_ep).unwrap();
    let sub_a = with_timeout(sub_a);
    assert_eq!(publisher.recv(0).unwrap()[..], b"\x01A"[..]);
    let sub_b = socket(&ctx, SocketType::Sub);
    sub_b.set_subscribe(b"B").unwrap();
    sub_b.connect(&sub_ep).unwrap();
    let sub_b = with_timeout(sub_b);
    assert_eq!(publisher.recv(0).unwrap()[..], b"\x01B"[..]);

    // Both subscriptions made it up, so both paths are connected: from
    // here nothing published may be lost.
    const N: u32 = 1500;
    for n in 0..N {
        let topic = ["A", "B", "C"][n as usize % 3];
        publisher
            .send_multipart([topic.to_owned(), format!("{n}"), "tail".into()], 0)
            .unwrap();
    }
    for (sub, topic) in [(&sub_a, "A"), (&sub_b, "B")] {
        let offset = if topic == "A" { 0 } else { 1 };
        for n in (offset..N).step_by(3) {
            let expected = vec![topic.into(), format!("{n}").into_bytes(), b"tail".to_vec()];
            assert_eq!(sub.recv_multipart(0).unwrap(), expected);
        }
        assert_eq!(sub.recv(DONTWAIT).unwrap_err().kind(), ErrorKind::EAGAIN);
    }

    // A cancel travels up the same way.
    sub_a.set_unsubscribe(b"A").unwrap();
    assert_eq!(publisher.recv(0).unwrap()[..], b"\x00A"[..]);
    running.stop();
}

fn capture_gets_a_copy_of_every_frame_both_ways(tr: Transport) {
    let ctx = Context::new();
    let (frontend, clients_ep) = bound_on(&ctx, tr, SocketType::Router);
    let (backend, workers_ep) = bound_on(&ctx, tr, SocketType::Dealer);
    let (capture, capture_ep) = bound_on(&ctx, tr, SocketType::Push);
    let tap = with_timeout(connected(&ctx, SocketType::Pull, &capture_ep));
    let running = Running::start(&ctx, frontend, backend, Some(capture), None);

    let client = socket(&ctx, SocketType::Dealer);
    client.set_routing_id(b"C1").unwrap();
    client.connect(&clients_ep).unwrap();
    let client = with_timeout(client);
    // A DEALER worker sees (and must send back) the whole envelope.
    let worker = with_timeout(connected(&ctx, SocketType::Dealer, &workers_ep));
    const N: u32 = 200;
    let mut requests = Vec::new();
    let mut replies = Vec::new();
    for n in 0..N {
        client
            .send_multipart([String::new(), format!("request {n}")], 0)
            .unwrap();
        let request = worker.recv_multipart(0).unwrap();
        assert_eq!(
            request,
            vec![
                b"C1".to_vec(),
                Vec::new(),
                format!("request {n}").into_bytes()
            ]
        );
        let reply = vec![
            b"C1".to_vec(),
            Vec::new(),
            format!("reply {n}").into_bytes(),
        ];
        worker.send_multipart(reply.clone(), 0).unwrap();
        assert_eq!(
            client.recv_multipart(0).unwrap(),
            vec![Vec::new(), format!("reply {n}").into_bytes()]
        );
        requests.push(request);
        replies.push(reply);
    }
    // The capture has both directions, each message whole (its frames'
    // MORE flags kept), in the order they passed.
    let mut captured_requests = Vec::new();
    let mut captured_replies = Vec::new();
    for _ in 0..2 * N {
        let copy = tap.recv_multipart(0).unwrap();
        if copy.last().unwrap().starts_with(b"request") {
            captured_requests.push(copy);
        } else {
            captured_replies.push(copy);
        }
    }
    assert_eq!(captured_requests, requests);
    assert_eq!(captured_replies, replies);
    assert_eq!(tap.recv(DONTWAIT).unwrap_err().kind(), ErrorKind::EAGAIN);
    running.stop();
}

fn slow_consumer_blocks_the_producer_instead_of_the_proxy_buffering(tr: Transport) {
    const HWM: i32 = 10;
    const N: u32 = 2000;
    // Big enough that kernel buffers hold only a few of them.
    const SIZE: usize = 16 * 1024;
    let ctx = Context::new();
    let small = |t: SocketType| {
        let s = socket(&ctx, t);
        s.set_sndhwm(HWM).unwrap();
        s.set_rcvhwm(HWM).unwrap();
        s.set_sndbuf(32 * 1024).unwrap();
        s.set_rcvbuf(32 * 1024).unwrap();
        s
    };
    let frontend = small(SocketType::Pull);
    frontend.bind(&tr.any_endpoint()).unwrap();
    let in_ep = frontend.last_endpoint().unwrap();
    let backend = small(SocketType::Push);
    backend.bind(&tr.any_endpoint()).unwrap();
    let out_ep = backend.last_endpoint().unwrap();
    let running = Running::start(&ctx, frontend, backend, None, None);
    let producer = small(SocketType::Push);
    producer.connect(&in_ep).unwrap();
    let consumer = small(SocketType::Pull);
    consumer.connect(&out_ep).unwrap();
    let consumer = with_timeout(consumer);
    let message = |n: u32| {
        let mut body = format!("{n:08}").into_bytes();
        body.resize(SIZE, b'.');
        body
    };

    // The consumer reads nothing yet: the producer must come to a stop
    // once every queue on the way is full. A timeout longer than any
    // scheduling hiccup says it is blocked, not merely behind.
    producer.set_sndtimeo(500).unwrap();
    let mut sent = 0;
    while sent < N {
        match producer.send(message(sent), 0) {
            Ok(()) => sent += 1,
            Err(e) if e.kind() == ErrorKind::EAGAIN => break,
            Err(e) => panic!("send {sent}: {e}"),
        }
    }
    // inproc: two connections of 2 * HWM (each end's HWM adds up), and
    // nothing held in the proxy. tcp and ipc add what kernel buffers and
    // the engines' read and write batches hold: about 50 more 16 KiB
    // messages here.
    let bound = match tr {
        Transport::Inproc => 4 * HWM as u32,
        _ => 4 * HWM as u32 + 150,
    };
    assert!(
        sent <= bound,
        "{sent} messages went into the proxy with a stalled consumer (bound {bound})"
    );

    // Once the consumer drains, everything arrives, in order, none lost.
    producer.set_sndtimeo(-1).unwrap();
    let rest = std::thread::spawn(move || {
        for n in sent..N {
            producer.send(message(n), 0).unwrap();
        }
        producer
    });
    for n in 0..N {
        assert_eq!(consumer.recv(0).unwrap()[..], message(n)[..], "message {n}");
    }
    let _producer = rest.join().unwrap();
    running.stop();
}

/// A steering socket connected to a proxy's control socket of type
/// `control_type`, over inproc.
fn steered_streamer(ctx: &Context, control_type: SocketType) -> (Running, Socket, Socket, Socket) {
    let (frontend, in_ep) = bound_on(ctx, Transport::Inproc, SocketType::Pull);
    let (backend, out_ep) = bound_on(ctx, Transport::Inproc, SocketType::Push);
    let (control, control_ep) = bound_on(ctx, Transport::Inproc, control_type);
    let running = Running::start(ctx, frontend, backend, None, Some(control));
    let steer_type = if control_type == SocketType::Rep {
        SocketType::Req
    } else {
        SocketType::Pair
    };
    let steer = with_timeout(connected(ctx, steer_type, &control_ep));
    let producer = connected(ctx, SocketType::Push, &in_ep);
    let consumer = with_timeout(connected(ctx, SocketType::Pull, &out_ep));
    (running, steer, producer, consumer)
}

fn statistics(steer: &Socket) -> ProxyStats {
    steer.send("STATISTICS", 0).unwrap();
    let reply = steer.recv_multipart(0).unwrap();
    ProxyStats::from_frames(&reply).unwrap()
}

/// Sends a command on a REQ steering socket and takes its empty reply.
fn command(steer: &Socket, word: &str) {
    steer.send(word, 0).unwrap();
    assert_eq!(steer.recv_multipart(0).unwrap(), vec![Vec::<u8>::new()]);
}

/// Nothing arrives on `consumer` within a short while.
fn assert_quiet(consumer: &Socket) {
    let mut items = [ferromq::PollItem::new(consumer, POLLIN)];
    assert_eq!(
        ferromq::poll(&mut items, 200).unwrap(),
        0,
        "traffic while paused"
    );
}

#[test]
fn pause_holds_messages_until_resume_with_a_rep_control_socket() {
    let ctx = Context::new();
    let (running, steer, producer, consumer) = steered_streamer(&ctx, SocketType::Rep);
    for n in 0..10 {
        producer.send_multipart(numbered(n, 2), 0).unwrap();
    }
    for n in 0..10 {
        assert_eq!(consumer.recv_multipart(0).unwrap(), numbered(n, 2));
    }
    // The REP control socket acknowledges every command: once the reply
    // is here, the proxy is paused.
    command(&steer, "PAUSE");
    for n in 10..30 {
        producer.send_multipart(numbered(n, 2), 0).unwrap();
    }
    assert_quiet(&consumer);
    let paused = statistics(&steer);
    assert_eq!(paused.frontend.frames_received, 20, "read while paused");
    assert_eq!(paused.backend.frames_sent, 20);
    command(&steer, "RESUME");
    for n in 10..30 {
        assert_eq!(consumer.recv_multipart(0).unwrap(), numbered(n, 2));
    }
    // Unknown commands change nothing (a REP still gets its reply).
    command(&steer, "FLY");
    producer.send_multipart(numbered(30, 2), 0).unwrap();
    assert_eq!(consumer.recv_multipart(0).unwrap(), numbered(30, 2));
    command(&steer, "TERMINATE");
    running.join().expect("TERMINATE ends the proxy with Ok");
}

#[test]
fn pair_control_socket_gets_no_reply_but_statistics() {
    let ctx = Context::new();
    let (running, steer, producer, consumer) = steered_streamer(&ctx, SocketType::Pair);
    steer.send("PAUSE", 0).unwrap();
    // Commands are handled in order, so once STATISTICS is answered the
    // proxy is paused; and the first reply is the statistics: PAUSE got
    // none (libzmq 4.3.5 sends an empty one; its man page and later
    // releases do not).
    assert_eq!(statistics(&steer), ProxyStats::default());
    producer.send("held", 0).unwrap();
    assert_quiet(&consumer);
    steer.send("RESUME", 0).unwrap();
    assert_eq!(&consumer.recv(0).unwrap()[..], b"held");
    steer.send("TERMINATE", 0).unwrap();
    running.join().expect("TERMINATE ends the proxy with Ok");
    assert_eq!(steer.recv(DONTWAIT).unwrap_err().kind(), ErrorKind::EAGAIN);
}

#[test]
fn statistics_count_every_frame_and_byte_each_way() {
    let ctx = Context::new();
    let (frontend, clients_ep) = bound_on(&ctx, Transport::Tcp, SocketType::Router);
    let (backend, workers_ep) = bound_on(&ctx, Transport::Tcp, SocketType::Dealer);
    let (control, control_ep) = bound_on(&ctx, Transport::Inproc, SocketType::Pair);
    let running = Running::start(&ctx, frontend, backend, None, Some(control));
    let steer = with_timeout(connected(&ctx, SocketType::Pair, &control_ep));
    assert_eq!(statistics(&steer), ProxyStats::default());

    let client = socket(&ctx, SocketType::Dealer);
    client.set_routing_id(b"C1").unwrap();
    client.connect(&clients_ep).unwrap();
    let client = with_timeout(client);
    let worker = with_timeout(connected(&ctx, SocketType::Dealer, &workers_ep));
    const N: u64 = 7;
    for _ in 0..N {
        // The ROUTER adds the 2-byte routing id: 3 frames, 2 + 0 + 3 bytes.
        client.send_multipart(["", "abc"], 0).unwrap();
        let request = worker.recv_multipart(0).unwrap();
        // Back: 3 frames, 2 + 0 + 2 bytes.
        worker
            .send_multipart([&request[0][..], b"", b"xy"], 0)
            .unwrap();
        assert_eq!(
            client.recv_multipart(0).unwrap(),
            vec![Vec::new(), b"xy".to_vec()]
        );
    }
    let stats = statistics(&steer);
    assert_eq!(
        stats.values(),
        [3 * N, 5 * N, 3 * N, 4 * N, 3 * N, 4 * N, 3 * N, 5 * N],
        "{stats:?}"
    );
    steer.send("TERMINATE", 0).unwrap();
    running.join().unwrap();
}

#[test]
fn terminating_the_context_ends_proxy_with_eterm() {
    let ctx = Context::new();
    let (frontend, clients_ep) = bound_on(&ctx, Transport::Tcp, SocketType::Router);
    let (backend, _) = bound_on(&ctx, Transport::Tcp, SocketType::Dealer);
    let client = connected(&ctx, SocketType::Req, &clients_ep);
    client.set_linger(0).unwrap();
    // Busy, not idle, when the context goes: a request waits for a worker.
    client.send("nobody serves this", 0).unwrap();
    let handle = std::thread::spawn(move || {
        let ended = proxy(&frontend, &backend, None);
        drop((frontend, backend));
        ended
    });
    drop(client);
    // term() interrupts the proxy, then waits until its sockets are closed.
    ctx.term();
    let err = handle.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ETERM, "{err}");
}

#[test]
fn device_kinds_run_the_proxy() {
    // Queue: ROUTER / DEALER between REQ and REP.
    let ctx = Context::new();
    let (frontend, clients_ep) = bound_on(&ctx, Transport::Inproc, SocketType::Router);
    let (backend, services_ep) = bound_on(&ctx, Transport::Inproc, SocketType::Dealer);
    let queue = std::thread::spawn(move || device(DeviceKind::Queue, &frontend, &backend));
    let client = with_timeout(connected(&ctx, SocketType::Req, &clients_ep));
    let service = with_timeout(connected(&ctx, SocketType::Rep, &services_ep));
    client.send("ping", 0).unwrap();
    assert_eq!(&service.recv(0).unwrap()[..], b"ping");
    service.send("pong", 0).unwrap();
    assert_eq!(&client.recv(0).unwrap()[..], b"pong");

    // Forwarder, the old way: a SUB frontend subscribed to everything, a
    // PUB backend.
    let (frontend, pub_ep) = bound_on(&ctx, Transport::Inproc, SocketType::Sub);
    frontend.set_subscribe(b"").unwrap();
    let (backend, sub_ep) = bound_on(&ctx, Transport::Inproc, SocketType::Pub);
    let forwarder = std::thread::spawn(move || device(DeviceKind::Forwarder, &frontend, &backend));
    let publisher = connected(&ctx, SocketType::Pub, &pub_ep);
    let subscriber = socket(&ctx, SocketType::Sub);
    subscriber.set_subscribe(b"news").unwrap();
    subscriber.connect(&sub_ep).unwrap();
    subscriber.set_rcvtimeo(20).unwrap();
    // inproc PUB/SUB pipes exist from the connect on, but the PUB learns
    // the subscription only when it next looks: publish until through.
    wait_until("an update through the forwarder", || {
        publisher.send("weather", 0).unwrap();
        publisher.send("news flash", 0).unwrap();
        matches!(subscriber.recv(0), Ok(m) if &m[..] == b"news flash")
    });

    // Streamer: PULL / PUSH.
    let (frontend, in_ep) = bound_on(&ctx, Transport::Inproc, SocketType::Pull);
    let (backend, out_ep) = bound_on(&ctx, Transport::Inproc, SocketType::Push);
    let streamer = std::thread::spawn(move || device(DeviceKind::Streamer, &frontend, &backend));
    let producer = connected(&ctx, SocketType::Push, &in_ep);
    let consumer = with_timeout(connected(&ctx, SocketType::Pull, &out_ep));
    producer.send("task", 0).unwrap();
    assert_eq!(&consumer.recv(0).unwrap()[..], b"task");

    ctx.shutdown();
    for device in [queue, forwarder, streamer] {
        let err = device.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ETERM, "{err}");
    }
}
