"""The guide's programs, as ferromq examples (crates/ferromq/examples),
against pyzmq peers that do what the guide's Python versions do: each Rust
program talks to libzmq in the role the guide gives it, and where a program
has a partner (server/client, ventilator/worker/sink, broker/client/worker)
it is tested from both sides.

The examples are run unchanged; their endpoints come from environment
variables. Where a pyzmq socket binds, it takes an ephemeral port; where an
example binds, it is given a port that was free a moment before (and an ipc
path in a fresh directory, for wuserver's ipc endpoint). Programs
that never end by themselves (servers, brokers, workers, proxies) are
stopped by the test, which also checks they were still running.
"""

from __future__ import annotations

import random
import re
import threading
import time

import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from conftest import ANY_PORT, TIMEOUT, free_endpoints, py_socket

# How long a program that does end by itself may take.
EXIT_TIMEOUT = 20.0

UPDATE = re.compile(rb"^(\d{5}) (-?\d+) (\d+)$")


def bind_any(sock: zmq.Socket) -> str:
    sock.bind(ANY_PORT)
    return sock.getsockopt(zmq.LAST_ENDPOINT).decode()


def recv_or_fail(sock: zmq.Socket, what: str, *programs, timeout: float = TIMEOUT) -> bytes:
    """One single-part message, or a failure that shows what the
    programs involved printed."""
    if sock.poll(int(timeout * 1000), zmq.POLLIN):
        return sock.recv()
    states = "\n\n".join(p.describe() for p in programs)
    pytest.fail(f"{what}: nothing within {timeout:.0f} s\n{states}", pytrace=False)


def py_try_recv(sock: zmq.Socket, timeout: float) -> bytes | None:
    if sock.poll(int(timeout * 1000), zmq.POLLIN):
        return sock.recv()
    return None


def stop_all(*programs) -> None:
    """Terminates programs that run until killed; each must still be up."""
    complaints = [c for c in (p.stop() for p in programs) if c]
    assert not complaints, "\n\n".join(complaints)


def wait_handshakes(monitor: zmq.Socket, count: int, what: str) -> None:
    """Waits for `count` ZMTP handshakes reported by a socket monitor
    (subscribed to EVENT_HANDSHAKE_SUCCEEDED only)."""
    end = time.monotonic() + TIMEOUT
    seen = 0
    while seen < count:
        left = end - time.monotonic()
        if left <= 0 or not monitor.poll(int(left * 1000), zmq.POLLIN):
            pytest.fail(f"{what}: {seen} of {count} handshakes within {TIMEOUT:.0f} s")
        if recv_monitor_message(monitor)["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            seen += 1


# --- Hello World: hwserver / hwclient ----------------------------------------


def test_hwserver_with_py_client(examples, zctx):
    (endpoint,) = free_endpoints(1)
    server = examples("hwserver", env={"HWSERVER_BIND": endpoint})
    req = py_socket(zctx, zmq.REQ)
    req.connect(endpoint)
    for i in range(10):
        req.send(b"Hello")
        assert recv_or_fail(req, f"reply {i}", server) == b"World"
    server.wait_for_lines(r"^Received request: Hello$", count=10)
    stop_all(server)


def test_hwclient_with_py_server(examples, zctx):
    rep = py_socket(zctx, zmq.REP)
    endpoint = bind_any(rep)
    client = examples("hwclient", env={"HWCLIENT_CONNECT": endpoint})
    for i in range(10):
        assert recv_or_fail(rep, f"request {i}", client) == b"Hello"
        rep.send(b"World")
    lines = client.wait_exit(EXIT_TIMEOUT)
    replies = [line for line in lines if line.startswith("Received reply")]
    assert replies == [f"Received reply {i} [ World ]" for i in range(10)]


# --- Weather updates: wuserver / wuclient -------------------------------------


@pytest.mark.parametrize("over", ["tcp", "ipc"])
def test_wuserver_with_py_subscribers(ipc_dir, examples, zctx, over):
    # The server binds both, as in the guide: ipc://weather.ipc becomes a
    # file in ipc_dir (which also takes the file the killed server leaves).
    (tcp,) = free_endpoints(1)
    ipc = f"ipc://{ipc_dir}/weather.ipc"
    server = examples("wuserver", env={"WUSERVER_BIND": tcp, "WUSERVER_IPC": ipc})
    endpoint = tcp if over == "tcp" else ipc
    subscribers = {}
    for prefix in (b"1", b"98"):
        sub = py_socket(zctx, zmq.SUB, [(zmq.SUBSCRIBE, prefix)])
        sub.connect(endpoint)
        subscribers[prefix] = sub
    for prefix, sub in subscribers.items():
        for _ in range(30):
            update = recv_or_fail(sub, f"update for {prefix!r}", server)
            m = UPDATE.match(update)
            assert m, update
            zipcode, temperature, relhumidity = (int(g) for g in m.groups())
            assert update.startswith(prefix), update
            assert 1 <= zipcode <= 99_999, update
            assert -80 <= temperature < 135, update
            assert 10 <= relhumidity < 60, update
    assert (ipc_dir / "weather.ipc").is_socket()
    stop_all(server)


def test_wuclient_with_py_publisher(examples, zctx):
    pub = py_socket(zctx, zmq.PUB)
    endpoint = bind_any(pub)
    client = examples("wuclient", args=["1", "20"], env={"WUCLIENT_CONNECT": endpoint})
    # Random zipcodes as in the guide, but fixed temperatures: 42 for the
    # ones the client wants, 99 for the rest. Whichever 20 matching updates
    # the client gets (it joins late), their average is 42; one update
    # let through by mistake would raise it.
    rng = random.Random(1)
    sent_matching: list[int] = []
    end = time.monotonic() + EXIT_TIMEOUT
    while client.proc.poll() is None and time.monotonic() < end:
        for _ in range(50):
            zipcode = f"{rng.randrange(1, 100_000):05d}"
            temperature = 42 if zipcode.startswith("1") else 99
            if temperature == 42:
                sent_matching.append(temperature)
            pub.send(f"{zipcode} {temperature} {rng.randrange(10, 60)}".encode())
        time.sleep(0.005)
    if client.proc.poll() is None:
        pytest.fail(
            f"still running after {EXIT_TIMEOUT:.0f} s of updates "
            f"({len(sent_matching)} of them for zipcodes '1...')\n{client.describe()}",
            pytrace=False,
        )
    lines = client.wait_exit(timeout=1.0)
    assert len(sent_matching) >= 20
    expected = sum(sent_matching) // len(sent_matching)
    assert lines[-1] == f"Average temperature for zipcode '1' was {expected}F", lines


# --- Divide and conquer: taskvent / taskwork / tasksink -----------------------


def py_task_worker(stop, ctx, vent_endpoint, sink_endpoint, workloads, connected):
    """The guide's worker: PULL a workload, sleep that many ms, PUSH an
    empty result to the sink."""
    receiver = py_socket(ctx, zmq.PULL)
    monitor = receiver.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    sender = py_socket(ctx, zmq.PUSH)
    try:
        receiver.connect(vent_endpoint)
        sender.connect(sink_endpoint)
        wait_handshakes(monitor, 1, "worker to ventilator")
        connected.set()
        while not stop.is_set():
            if receiver.poll(50, zmq.POLLIN):
                msec = int(receiver.recv())
                workloads.append(msec)
                time.sleep(msec / 1000)
                sender.send(b"")
    finally:
        receiver.disable_monitor()
        monitor.close()
        receiver.close()
        sender.close()


def test_taskvent_tasksink_with_py_workers(examples, zctx, threads):
    vent_endpoint, sink_endpoint = free_endpoints(2)
    sink = examples("tasksink", env={"TASKSINK_BIND": sink_endpoint})
    vent = examples(
        "taskvent",
        env={"TASKVENT_BIND": vent_endpoint, "TASKVENT_SINK": sink_endpoint},
        stdin_pipe=True,
    )
    vent.wait_for_lines(r"^Press Enter when the workers are ready")
    workloads: list[int] = []
    connected = [threading.Event() for _ in range(4)]
    for flag in connected:
        threads(py_task_worker, zctx, vent_endpoint, sink_endpoint, workloads, flag)
    for flag in connected:
        assert flag.wait(TIMEOUT), f"a worker did not connect\n{vent.describe()}"
    vent.write_stdin("\n")
    vent_lines = vent.wait_exit(EXIT_TIMEOUT)
    sink_lines = sink.wait_exit(EXIT_TIMEOUT)

    (expected,) = [line for line in vent_lines if line.startswith("Total expected cost")]
    m = re.fullmatch(r"Total expected cost: (\d+) msec", expected)
    assert m, expected
    assert len(workloads) == 100
    assert all(1 <= w <= 100 for w in workloads), workloads
    assert sum(workloads) == int(m.group(1))
    assert re.fullmatch(r"Total elapsed time: \d+ msec", sink_lines[-1]), sink_lines
    progress = "".join(sink_lines[:-1])
    assert progress == ":........." * 10, sink_lines


def test_taskwork_with_py_ventilator_and_sink(examples, zctx):
    sender = py_socket(zctx, zmq.PUSH)
    monitor = sender.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    vent_endpoint = bind_any(sender)
    receiver = py_socket(zctx, zmq.PULL)
    sink_endpoint = bind_any(receiver)
    env = {"TASKWORK_CONNECT": vent_endpoint, "TASKWORK_SINK": sink_endpoint}
    workers = [examples("taskwork", env=env) for _ in range(3)]
    # Start only once every worker is there, or the first one to connect
    # would get all the work.
    wait_handshakes(monitor, len(workers), "workers to ventilator")
    sender.disable_monitor()

    # The ventilator tells the sink the batch begins ...
    start_signal = py_socket(zctx, zmq.PUSH)
    start_signal.connect(sink_endpoint)
    start_signal.send(b"0")
    assert recv_or_fail(receiver, "start of batch") == b"0"
    # ... and hands out the guide's random workloads (1..100 ms).
    rng = random.Random(2)
    for _ in range(100):
        sender.send(str(rng.randint(1, 100)).encode())
    for i in range(100):
        assert recv_or_fail(receiver, f"result {i}", *workers) == b""
    assert py_try_recv(receiver, 0.1) is None

    stop_all(*workers)
    done = [worker.lines[0].count(".") if worker.lines else 0 for worker in workers]
    assert sum(done) == 100, done
    assert all(done), f"a worker got no task: {done}"


# --- Request-reply broker: rrbroker / rrclient / rrworker ---------------------


def py_rr_worker(stop, ctx, endpoint, name: bytes, seen):
    """The guide's worker: REP, answers World (tagged, so that each reply
    can be matched with its request)."""
    rep = py_socket(ctx, zmq.REP)
    try:
        rep.connect(endpoint)
        while not stop.is_set():
            if rep.poll(50, zmq.POLLIN):
                request = rep.recv()
                seen.append((name, request))
                rep.send(request.replace(b"Hello", b"World"))
    finally:
        rep.close()


def serve_py_clients_through(broker, frontend, backend, zctx, threads, clients, rounds):
    """pyzmq REP workers behind `backend` and REQ clients on `frontend`,
    every client with a request in the broker at once: each reply must find
    its way back to the client that asked, and every request is served."""
    seen: list[tuple[bytes, bytes]] = []
    for name in (b"w1", b"w2"):
        threads(py_rr_worker, zctx, backend, name, seen)
    reqs = {}
    for name in clients:
        req = py_socket(zctx, zmq.REQ)
        req.connect(frontend)
        reqs[name] = req
    for i in range(rounds):
        for name, req in reqs.items():
            req.send(b"Hello %s %d" % (name, i))
        for name, req in reqs.items():
            reply = recv_or_fail(req, f"reply {i} for client {name!r}", broker)
            assert reply == b"World %s %d" % (name, i)
    assert sorted(request for _, request in seen) == sorted(
        b"Hello %s %d" % (name, i) for name in reqs for i in range(rounds)
    )


def test_rrbroker_with_py_clients_and_workers(examples, zctx, threads):
    frontend, backend = free_endpoints(2)
    broker = examples("rrbroker", env={"RRBROKER_FRONTEND": frontend, "RRBROKER_BACKEND": backend})
    serve_py_clients_through(broker, frontend, backend, zctx, threads, (b"A", b"B"), 10)
    stop_all(broker)


def py_broker(stop, frontend, backend, control):
    """The guide's broker in its short form: zmq.proxy between a ROUTER and
    a DEALER (the steerable one, so that the test can end it)."""
    try:
        zmq.proxy_steerable(frontend, backend, None, control)
    finally:
        for s in (frontend, backend, control):
            s.close()


def test_rrclient_and_rrworker_with_py_broker(examples, zctx, threads):
    frontend = py_socket(zctx, zmq.ROUTER)
    frontend_endpoint = bind_any(frontend)
    backend = py_socket(zctx, zmq.DEALER)
    backend_endpoint = bind_any(backend)
    control_address = f"inproc://broker-control-{id(frontend)}"
    control = zctx.socket(zmq.PAIR)
    control.bind(control_address)
    steer = py_socket(zctx, zmq.PAIR)
    steer.connect(control_address)
    threads(
        py_broker, frontend, backend, control, on_stop=lambda: steer.send(b"TERMINATE")
    )

    worker = examples("rrworker", env={"RRWORKER_CONNECT": backend_endpoint})
    client = examples("rrclient", env={"RRCLIENT_CONNECT": frontend_endpoint})
    lines = client.wait_exit(EXIT_TIMEOUT)
    assert lines == [f"Received reply {i} [World]" for i in range(1, 11)]
    worker.wait_for_lines(r"^Received request: Hello$", count=10)
    stop_all(worker)


# --- Shared queue: msgqueue (rrbroker on the built-in proxy) ----------------


def start_msgqueue(examples):
    frontend, backend = free_endpoints(2)
    queue = examples(
        "msgqueue", env={"MSGQUEUE_FRONTEND": frontend, "MSGQUEUE_BACKEND": backend}
    )
    return queue, frontend, backend


def test_msgqueue_with_py_clients_and_workers(examples, zctx, threads):
    queue, frontend, backend = start_msgqueue(examples)
    serve_py_clients_through(queue, frontend, backend, zctx, threads, (b"A", b"B", b"C"), 20)
    stop_all(queue)


def test_msgqueue_with_rrclient_and_rrworker(examples):
    queue, frontend, backend = start_msgqueue(examples)
    worker = examples("rrworker", env={"RRWORKER_CONNECT": backend})
    client = examples("rrclient", env={"RRCLIENT_CONNECT": frontend})
    lines = client.wait_exit(EXIT_TIMEOUT)
    assert lines == [f"Received reply {i} [World]" for i in range(1, 11)]
    worker.wait_for_lines(r"^Received request: Hello$", count=10)
    stop_all(queue, worker)


def test_msgqueue_with_rrclient_and_py_worker(examples, zctx, threads):
    queue, frontend, backend = start_msgqueue(examples)
    seen: list[tuple[bytes, bytes]] = []
    threads(py_rr_worker, zctx, backend, b"w", seen)
    client = examples("rrclient", env={"RRCLIENT_CONNECT": frontend})
    lines = client.wait_exit(EXIT_TIMEOUT)
    assert lines == [f"Received reply {i} [World]" for i in range(1, 11)]
    assert seen == [(b"w", b"Hello")] * 10
    stop_all(queue)


# --- Weather proxy: wuproxy ---------------------------------------------------


def test_wuproxy_between_py_publisher_and_subscriber(examples, zctx):
    # The publisher is an XPUB, to watch the subscription arrive.
    publisher = py_socket(zctx, zmq.XPUB)
    upstream = bind_any(publisher)
    (downstream,) = free_endpoints(1)
    proxy = examples("wuproxy", env={"WUPROXY_CONNECT": upstream, "WUPROXY_BIND": downstream})
    sub = py_socket(zctx, zmq.SUB, [(zmq.SUBSCRIBE, b"10001 ")])
    sub.connect(downstream)
    subscription = recv_or_fail(publisher, "subscription through the proxy", proxy)
    assert subscription == b"\x0110001 "

    # The subscription made it up, so both hops are connected: nothing
    # published from now on may be lost.
    rng = random.Random(3)
    wanted = []
    for i in range(200):
        zipcode = 10001 if i % 10 == 0 else rng.choice([10000, 10002, 20001, 1000, 1])
        update = b"%05d %d %d" % (zipcode, rng.randrange(-80, 135), rng.randrange(10, 60))
        if zipcode == 10001:
            wanted.append(update)
        publisher.send(update)
    got = [recv_or_fail(sub, f"update {i}", proxy) for i in range(len(wanted))]
    assert got == wanted
    assert py_try_recv(sub, 0.1) is None

    # Cancelling travels up the same way.
    sub.setsockopt(zmq.UNSUBSCRIBE, b"10001 ")
    assert recv_or_fail(publisher, "cancel through the proxy", proxy) == b"\x0010001 "
    stop_all(proxy)


# --- Relay: SUB in, PUB and PUSH out -----------------------------------------


def test_relay_with_py_peers(examples, zctx):
    sub_bind, pub_bind, push_bind = free_endpoints(3)
    relay = examples(
        "relay",
        env={"RELAY_SUB_BIND": sub_bind, "RELAY_PUB_BIND": pub_bind, "RELAY_PUSH_BIND": push_bind},
    )
    pub = py_socket(zctx, zmq.PUB)
    pub.connect(sub_bind)
    sub = py_socket(zctx, zmq.SUB, [(zmq.SUBSCRIBE, b"abc")])
    sub.connect(pub_bind)
    pull = py_socket(zctx, zmq.PULL)
    pull.connect(push_bind)

    # Slow joiners on both of the relay's PUB links: send until through.
    from_sub = from_pull = None
    end = time.monotonic() + TIMEOUT
    while (from_sub is None or from_pull is None) and time.monotonic() < end:
        pub.send(b"abc hello1")
        if from_sub is None:
            from_sub = py_try_recv(sub, 0.05)
        if from_pull is None:
            from_pull = py_try_recv(pull, 0.05)
    assert from_sub == b"abc hello1", relay.describe()
    assert from_pull == b"hello1", relay.describe()

    # Now connected all the way: the SUB's filter holds at the relay, and
    # the PUSH side gets everything after the first space (or everything).
    for message in (b"xyz hello2", b"nospace", b"abc hello 3"):
        pub.send(message)

    def after_warmup(sock, warmup, count):
        got = []
        while len(got) < count:
            msg = recv_or_fail(sock, f"message {len(got)}", relay)
            if msg != warmup:
                got.append(msg)
        return got

    assert after_warmup(sub, b"abc hello1", 1) == [b"abc hello 3"]
    assert py_try_recv(sub, 0.1) is None
    assert after_warmup(pull, b"hello1", 3) == [b"hello2", b"nospace", b"hello 3"]
    stop_all(relay)
