"""The ferromq proxy (`ferromq proxy`, zmq_proxy_steerable in the library)
with pyzmq (libzmq 4.3.5) peers on both ends, in each of the three shapes:
queue (ROUTER/DEALER), forwarder (XSUB/XPUB) and streamer (PULL/PUSH); its
capture socket; and its control socket steered from pyzmq over tcp. The
same traffic through libzmq's own zmq_proxy_steerable gives the reference
STATISTICS and capture output.
"""

from __future__ import annotations

import struct
import subprocess
import threading
import time

import pytest
import zmq

from conftest import ANY_PORT, TIMEOUT, LineCollector, py_socket


class FerroProxy(LineCollector):
    """One `ferromq proxy` process; `endpoints` maps frontend, backend,
    capture and control to where each socket listens (or connected)."""

    def __init__(self, binary: str, *args: str):
        self._collect(
            subprocess.Popen(
                [binary, "proxy", *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
        )
        line = self.wait_line(lambda line: line.startswith("ready "), "ready")
        self.endpoints = dict(field.split("=", 1) for field in line.split()[1:])

    def describe(self) -> str:
        rc = self.proc.poll()
        state = "running" if rc is None else f"exit code {rc}"
        time.sleep(0.05)  # let the pumps catch up
        return (
            f"ferromq proxy (pid {self.proc.pid}, {state})\nstdout:\n"
            + "\n".join(self.lines)
            + "\nstderr:\n"
            + "".join(self._stderr)
        )

    def wait_line(self, match, what: str) -> str:
        end = time.monotonic() + TIMEOUT
        with self._changed:
            while True:
                for line in self.lines:
                    if match(line):
                        return line
                left = end - time.monotonic()
                if left <= 0 or self.eof:
                    break
                self._changed.wait(left)
        pytest.fail(f"no {what} line within {TIMEOUT:.0f} s\n{self.describe()}", pytrace=False)

    def wait_exit(self) -> int:
        try:
            return self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"did not exit within {TIMEOUT:.0f} s\n{self.describe()}", pytrace=False)

    def stop(self) -> None:
        """Ends a proxy that must still be running."""
        assert self.proc.poll() is None, self.describe()
        self.proc.terminate()
        self.proc.wait(timeout=TIMEOUT)


@pytest.fixture
def ferro_proxy(ferromq_bin):
    """Factory: ferro_proxy(frontend=(type, "bind"|"connect", endpoint),
    backend=..., capture=..., control=..., **options) -> FerroProxy, where
    options are the CLI's socket options (hwm=10 gives --hwm=10).
    Whatever is still running at teardown is killed."""
    started: list[FerroProxy] = []

    def start(frontend, backend, capture=None, control=None, **options) -> FerroProxy:
        args = []
        for role, spec in (
            ("frontend", frontend),
            ("backend", backend),
            ("capture", capture),
            ("control", control),
        ):
            if spec is None:
                continue
            socket_type, how, endpoint = spec
            args += [f"--{role}-type", socket_type, f"--{role}-{how}", endpoint]
        args += [f"--{name}={value}" for name, value in options.items()]
        p = FerroProxy(ferromq_bin, *args)
        started.append(p)
        return p

    yield start
    for p in started:
        if p.proc.poll() is None:
            p.proc.kill()
        p.proc.wait(timeout=TIMEOUT)


def recv_multipart_or_fail(sock: zmq.Socket, what: str, proxy: FerroProxy) -> list[bytes]:
    if sock.poll(int(TIMEOUT * 1000), zmq.POLLIN):
        return sock.recv_multipart()
    pytest.fail(f"{what}: nothing within {TIMEOUT:.0f} s\n{proxy.describe()}", pytrace=False)


def numbered(n: int, parts: int) -> list[bytes]:
    return [b"msg %d part %d" % (n, i) for i in range(parts)]


def stats_of(frames: list[bytes]) -> list[int]:
    assert len(frames) == 8, frames
    assert all(len(f) == 8 for f in frames), frames
    return [struct.unpack("=Q", f)[0] for f in frames]


# --- the three shapes ---------------------------------------------------------


def py_worker(stop, ctx, endpoint, name: bytes):
    rep = py_socket(ctx, zmq.REP)
    try:
        rep.connect(endpoint)
        while not stop.is_set():
            if rep.poll(50, zmq.POLLIN):
                request = rep.recv_multipart()
                rep.send_multipart(request + [name])
    finally:
        rep.close()


def test_queue_routes_replies_to_py_clients(ferro_proxy, zctx, threads):
    proxy = ferro_proxy(("ROUTER", "bind", ANY_PORT), ("DEALER", "bind", ANY_PORT))
    for name in (b"w1", b"w2"):
        threads(py_worker, zctx, proxy.endpoints["backend"], name)
    # DEALER clients keep many multipart requests in flight at once.
    clients = []
    for _ in range(3):
        client = py_socket(zctx, zmq.DEALER)
        client.connect(proxy.endpoints["frontend"])
        clients.append(client)
    per_client = 200
    for n in range(per_client):
        for c, client in enumerate(clients):
            client.send_multipart([b"", b"client %d" % c, b"%d" % n, b"tail"])
    workers = set()
    for c, client in enumerate(clients):
        got = set()
        for _ in range(per_client):
            reply = recv_multipart_or_fail(client, f"a reply for client {c}", proxy)
            assert len(reply) == 5, reply
            empty, who, n, tail, worker = reply
            assert (empty, who, tail) == (b"", b"client %d" % c, b"tail"), reply
            assert n not in got, f"reply {n!r} twice"
            got.add(n)
            workers.add(worker)
        assert not client.poll(0, zmq.POLLIN)
    assert workers <= {b"w1", b"w2"}
    proxy.stop()


def test_forwarder_between_py_publisher_and_subscribers(ferro_proxy, zctx):
    publisher = py_socket(zctx, zmq.XPUB)
    publisher.bind(ANY_PORT)
    upstream = publisher.getsockopt(zmq.LAST_ENDPOINT).decode()
    proxy = ferro_proxy(("XSUB", "connect", upstream), ("XPUB", "bind", ANY_PORT))
    subscribers = {}
    for topic in (b"A", b"B"):
        sub = py_socket(zctx, zmq.SUB, [(zmq.SUBSCRIBE, topic)])
        sub.connect(proxy.endpoints["backend"])
        subscribers[topic] = sub
        # The subscription reaches the publisher through the proxy.
        assert recv_multipart_or_fail(publisher, "subscription", proxy) == [b"\x01" + topic]
    # Both paths are connected: nothing published from here may be lost.
    count = 1500
    for n in range(count):
        topic = (b"A", b"B", b"C")[n % 3]
        publisher.send_multipart([topic, b"%d" % n, b"tail"])
    for i, (topic, sub) in enumerate(subscribers.items()):
        for n in range(i, count, 3):
            got = recv_multipart_or_fail(sub, f"update {n} for {topic!r}", proxy)
            assert got == [topic, b"%d" % n, b"tail"]
        assert not sub.poll(100, zmq.POLLIN)
    subscribers[b"A"].setsockopt(zmq.UNSUBSCRIBE, b"A")
    assert recv_multipart_or_fail(publisher, "cancel", proxy) == [b"\x00A"]
    proxy.stop()


def test_streamer_between_py_push_and_pull(ferro_proxy, zctx):
    proxy = ferro_proxy(("PULL", "bind", ANY_PORT), ("PUSH", "bind", ANY_PORT))
    producer = py_socket(zctx, zmq.PUSH)
    producer.connect(proxy.endpoints["frontend"])
    consumer = py_socket(zctx, zmq.PULL)
    consumer.connect(proxy.endpoints["backend"])
    count = 3000
    for n in range(count):
        producer.send_multipart(numbered(n, 1 + n % 3))
    for n in range(count):
        assert recv_multipart_or_fail(consumer, f"message {n}", proxy) == numbered(n, 1 + n % 3)
    assert not consumer.poll(100, zmq.POLLIN)
    proxy.stop()


def test_streamer_holds_back_py_producer_when_py_consumer_stalls(ferro_proxy, zctx):
    hwm, size, count = 10, 16 * 1024, 2000
    buf = 32 * 1024
    proxy = ferro_proxy(
        ("PULL", "bind", ANY_PORT), ("PUSH", "bind", ANY_PORT), hwm=hwm, sndbuf=buf, rcvbuf=buf
    )
    small = [
        (zmq.SNDHWM, hwm),
        (zmq.RCVHWM, hwm),
        (zmq.SNDBUF, buf),
        (zmq.RCVBUF, buf),
    ]
    producer = py_socket(zctx, zmq.PUSH, small + [(zmq.SNDTIMEO, 500)])
    producer.connect(proxy.endpoints["frontend"])
    consumer = py_socket(zctx, zmq.PULL, small)
    consumer.connect(proxy.endpoints["backend"])

    def message(n: int) -> bytes:
        return (b"%08d" % n).ljust(size, b".")

    # The consumer reads nothing yet: the producer must stop when the
    # queues on the way (HWMs, kernel buffers) are full, not after
    # pushing everything into the proxy.
    sent = 0
    while sent < count:
        try:
            producer.send(message(sent))
        except zmq.Again:
            break
        sent += 1
    assert sent < 300, f"{sent} messages went in with a stalled consumer"

    producer.setsockopt(zmq.SNDTIMEO, int(TIMEOUT * 1000))
    errors = []

    def send_rest():
        try:
            for n in range(sent, count):
                producer.send(message(n))
        except Exception as e:  # reported below
            errors.append(repr(e))

    rest = threading.Thread(target=send_rest, daemon=True)
    rest.start()
    for n in range(count):
        got = recv_multipart_or_fail(consumer, f"message {n}", proxy)
        assert got == [message(n)], f"message {n}: {got[0][:8]!r}"
    rest.join(TIMEOUT)
    assert not errors, errors
    proxy.stop()


# --- capture and steering -------------------------------------------------------


def queue_traffic(zctx, frontend: str, backend: str, rounds: int) -> None:
    """A DEALER client named C1 and a DEALER worker: `rounds` requests and
    replies through a queue proxy, one at a time."""
    client = py_socket(zctx, zmq.DEALER, [(zmq.ROUTING_ID, b"C1")])
    client.connect(frontend)
    worker = py_socket(zctx, zmq.DEALER)
    worker.connect(backend)
    try:
        for n in range(rounds):
            client.send_multipart([b"", b"request %d" % n])
            assert worker.poll(int(TIMEOUT * 1000)), f"request {n} never arrived"
            request = worker.recv_multipart()
            assert request == [b"C1", b"", b"request %d" % n]
            worker.send_multipart([b"C1", b"", b"reply %d" % n, b"x" * n])
            assert client.poll(int(TIMEOUT * 1000)), f"reply {n} never arrived"
            assert client.recv_multipart() == [b"", b"reply %d" % n, b"x" * n]
    finally:
        client.close()
        worker.close()


def drain(sock: zmq.Socket, count: int) -> list[list[bytes]]:
    got = []
    for _ in range(count):
        assert sock.poll(int(TIMEOUT * 1000)), f"{len(got)} of {count} captured"
        got.append(sock.recv_multipart())
    return got


def libzmq_reference(zctx, rounds: int) -> tuple[list[list[bytes]], list[int]]:
    """The same traffic through libzmq's own zmq_proxy_steerable: what its
    capture socket gets, and its STATISTICS."""
    frontend = zctx.socket(zmq.ROUTER)
    frontend.bind(ANY_PORT)
    backend = zctx.socket(zmq.DEALER)
    backend.bind(ANY_PORT)
    capture = zctx.socket(zmq.PUSH)
    capture.bind("inproc://reference-capture")
    tap = py_socket(zctx, zmq.PULL)
    tap.connect("inproc://reference-capture")
    control = zctx.socket(zmq.REP)
    control.bind("inproc://reference-control")
    steer = py_socket(zctx, zmq.REQ)
    steer.connect("inproc://reference-control")
    endpoints = [s.getsockopt(zmq.LAST_ENDPOINT).decode() for s in (frontend, backend)]

    def run():
        try:
            zmq.proxy_steerable(frontend, backend, capture, control)
        finally:
            for s in (frontend, backend, capture, control):
                s.close(linger=0)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        queue_traffic(zctx, *endpoints, rounds)
        captured = drain(tap, 2 * rounds)
        steer.send(b"STATISTICS")
        assert steer.poll(int(TIMEOUT * 1000))
        stats = stats_of(steer.recv_multipart())
        steer.send(b"TERMINATE")
        assert steer.poll(int(TIMEOUT * 1000))
        assert steer.recv_multipart() == [b""]
    finally:
        t.join(TIMEOUT)
        tap.close()
        steer.close()
    return captured, stats


def test_capture_and_statistics_match_libzmq_proxy(ferro_proxy, zctx):
    rounds = 20
    proxy = ferro_proxy(
        ("ROUTER", "bind", ANY_PORT),
        ("DEALER", "bind", ANY_PORT),
        capture=("PUSH", "bind", ANY_PORT),
        control=("REP", "bind", ANY_PORT),
    )
    tap = py_socket(zctx, zmq.PULL)
    tap.connect(proxy.endpoints["capture"])
    steer = py_socket(zctx, zmq.REQ)
    steer.connect(proxy.endpoints["control"])
    queue_traffic(zctx, proxy.endpoints["frontend"], proxy.endpoints["backend"], rounds)
    captured = drain(tap, 2 * rounds)
    steer.send(b"STATISTICS")
    stats = stats_of(recv_multipart_or_fail(steer, "statistics", proxy))

    # Both directions, every frame with its MORE flag (so each message
    # arrives whole), in order.
    expected = []
    for n in range(rounds):
        expected.append([b"C1", b"", b"request %d" % n])
        expected.append([b"C1", b"", b"reply %d" % n, b"x" * n])
    assert captured == expected
    # Frames, not messages, are counted; routing ids included.
    request_bytes = sum(len(b"C1request %d" % n) for n in range(rounds))
    reply_bytes = sum(len(b"C1reply %d" % n) + n for n in range(rounds))
    assert stats == [
        3 * rounds,
        request_bytes,
        4 * rounds,
        reply_bytes,
        4 * rounds,
        reply_bytes,
        3 * rounds,
        request_bytes,
    ]
    ref_captured, ref_stats = libzmq_reference(zctx, rounds)
    assert captured == ref_captured
    assert stats == ref_stats

    steer.send(b"TERMINATE")
    assert recv_multipart_or_fail(steer, "reply to TERMINATE", proxy) == [b""]
    assert proxy.wait_exit() == 0
    assert proxy.lines[-1] == "terminated"


@pytest.mark.parametrize("control_type", ["REP", "PAIR"])
def test_steering_from_pyzmq(ferro_proxy, zctx, control_type):
    proxy = ferro_proxy(
        ("PULL", "bind", ANY_PORT),
        ("PUSH", "bind", ANY_PORT),
        control=(control_type, "bind", ANY_PORT),
    )
    rep = control_type == "REP"
    steer = py_socket(zctx, zmq.REQ if rep else zmq.PAIR)
    steer.connect(proxy.endpoints["control"])
    producer = py_socket(zctx, zmq.PUSH)
    producer.connect(proxy.endpoints["frontend"])
    consumer = py_socket(zctx, zmq.PULL)
    consumer.connect(proxy.endpoints["backend"])

    def command(word: bytes) -> None:
        steer.send(word)
        if rep:
            assert recv_multipart_or_fail(steer, f"reply to {word!r}", proxy) == [b""]

    def statistics() -> list[int]:
        steer.send(b"STATISTICS")
        return stats_of(recv_multipart_or_fail(steer, "statistics", proxy))

    for n in range(5):
        producer.send_multipart(numbered(n, 2))
    for n in range(5):
        assert recv_multipart_or_fail(consumer, f"message {n}", proxy) == numbered(n, 2)
    command(b"PAUSE")
    # Commands are handled in order: once STATISTICS is answered the proxy
    # is paused (and over PAIR, PAUSE got no reply, or this would be it).
    before = statistics()
    assert before[0] == 10 and before[6] == 10, before
    for n in range(5, 15):
        producer.send_multipart(numbered(n, 2))
    assert not consumer.poll(300, zmq.POLLIN), "traffic while paused"
    assert statistics() == before
    command(b"RESUME")
    for n in range(5, 15):
        assert recv_multipart_or_fail(consumer, f"message {n}", proxy) == numbered(n, 2)
    body_bytes = sum(len(p) for n in range(15) for p in numbered(n, 2))
    assert statistics() == [30, body_bytes, 0, 0, 0, 0, 30, body_bytes]
    command(b"TERMINATE")
    assert proxy.wait_exit() == 0, proxy.describe()
    assert proxy.lines[-1] == "terminated"
    if not rep:
        assert not steer.poll(100, zmq.POLLIN), "PAIR got a reply it did not ask for"
