"""ferromq <-> libzmq (pyzmq) interoperability: every socket pattern, one
ferromq peer against one pyzmq socket, with either side binding. Over tcp;
REQ/REP, PUB/SUB and PUSH/PULL also over ipc (test_ipc.py covers ipc's
kinds of address).

Messages are multipart and include empty frames. Races that ZeroMQ leaves
to the application (a connection not yet made when ROUTER sends, the slow
joiner of PUB/SUB) are handled by retrying until a deadline.
"""

from __future__ import annotations

import time

import pytest
import zmq

from conftest import TIMEOUT, FerroError

BOTH_WAYS = pytest.mark.parametrize(
    "ferro_binds", [True, False], ids=["ferro-binds", "py-binds"]
)

# Overrides conftest's `transport` fixture, which `pair` connects over.
TCP_AND_IPC = pytest.mark.parametrize("transport", ["tcp", "ipc"])


def py_try_recv(sock: zmq.Socket, timeout: float) -> list[bytes] | None:
    if sock.poll(int(timeout * 1000), zmq.POLLIN):
        return sock.recv_multipart()
    return None


def until_received(send, try_recv, what: str, deadline: float = TIMEOUT) -> list[bytes]:
    """Sends and polls until the first message arrives (slow joiner)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        send()
        got = try_recv(0.05)
        if got is not None:
            return got
    pytest.fail(f"{what}: nothing arrived within {deadline:.0f} s")


def recv_pumping(try_recv, pump, what: str, deadline: float = TIMEOUT) -> list[bytes]:
    """Waits for a message while `pump` keeps the sending side busy.

    Like libzmq, a ferromq socket takes in a new connection (and sends it
    the subscriptions it holds) only inside some call on the socket: an
    idle bound SUB or XSUB never tells a newly connected publisher what it
    wants. Real applications are in recv or poll; here `pump` stands in
    for that (ZMQ_EVENTS on the idle side).
    """
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        pump()
        got = try_recv(0.05)
        if got is not None:
            return got
    pytest.fail(f"{what}: nothing arrived within {deadline:.0f} s")


def py_pump(sock: zmq.Socket):
    return lambda: sock.getsockopt(zmq.EVENTS)


def retry_unroutable(send, what: str, deadline: float = TIMEOUT) -> None:
    """Retries a ROUTER_MANDATORY send until the peer is known."""
    end = time.monotonic() + deadline
    while True:
        try:
            send()
            return
        except FerroError as e:
            if e.kind != "EHOSTUNREACH" or time.monotonic() > end:
                raise
        except zmq.ZMQError as e:
            if e.errno != zmq.EHOSTUNREACH or time.monotonic() > end:
                raise
        time.sleep(0.02)


def request(i: int) -> list[bytes]:
    return [b"request", b"", str(i).encode(), b"\x00\xff" * i]


def reply(i: int) -> list[bytes]:
    return [b"", b"reply", str(i).encode()]


# --- REQ / REP ---------------------------------------------------------------


@TCP_AND_IPC
@BOTH_WAYS
def test_ferro_req_py_rep(pair, ferro_binds):
    req, rep = pair("REQ", zmq.REP, ferro_binds)
    for i in range(5):
        req.send(request(i))
        assert rep.recv_multipart() == request(i)
        rep.send_multipart(reply(i))
        assert req.recv() == reply(i)


@TCP_AND_IPC
@BOTH_WAYS
def test_py_req_ferro_rep(pair, ferro_binds):
    rep, req = pair("REP", zmq.REQ, ferro_binds)
    for i in range(5):
        req.send_multipart(request(i))
        assert rep.recv() == request(i)
        rep.send(reply(i))
        assert req.recv_multipart() == reply(i)


@BOTH_WAYS
def test_ferro_req_rejects_a_second_send(pair, ferro_binds):
    req, rep = pair("REQ", zmq.REP, ferro_binds)
    req.send([b"one"])
    with pytest.raises(FerroError) as e:
        req.send([b"two"])
    assert e.value.kind == "EFSM"
    assert rep.recv_multipart() == [b"one"]
    rep.send_multipart([b"answer"])
    assert req.recv() == [b"answer"]


# --- REQ / ROUTER ------------------------------------------------------------


@BOTH_WAYS
@pytest.mark.parametrize("identity", [None, "req-7"], ids=["no-id", "id"])
def test_ferro_req_py_router(pair, ferro_binds, identity):
    req, router = pair("REQ", zmq.ROUTER, ferro_binds, identity=identity)
    for i in range(3):
        req.send(request(i))
        routing_id, delimiter, *body = router.recv_multipart()
        if identity is not None:
            assert routing_id == identity.encode()
        else:
            assert routing_id  # libzmq made one up
        assert delimiter == b""
        assert body == request(i)
        router.send_multipart([routing_id, b""] + reply(i))
        assert req.recv() == reply(i)


@BOTH_WAYS
@pytest.mark.parametrize("identity", [None, b"py-req"], ids=["no-id", "id"])
def test_py_req_ferro_router(pair, ferro_binds, identity):
    options = [(zmq.ROUTING_ID, identity)] if identity else []
    router, req = pair("ROUTER", zmq.REQ, ferro_binds, py_options=options)
    for i in range(3):
        req.send_multipart(request(i))
        routing_id, delimiter, *body = router.recv()
        if identity is not None:
            assert routing_id == identity
        else:
            assert routing_id  # ferromq made one up
        assert delimiter == b""
        assert body == request(i)
        router.send([routing_id, b""] + reply(i))
        assert req.recv_multipart() == reply(i)


# --- DEALER / REP ------------------------------------------------------------


@BOTH_WAYS
def test_ferro_dealer_py_rep(pair, ferro_binds):
    dealer, rep = pair("DEALER", zmq.REP, ferro_binds)
    for i in range(3):
        dealer.send([b""] + request(i))
        assert rep.recv_multipart() == request(i)
        rep.send_multipart(reply(i))
        assert dealer.recv() == [b""] + reply(i)


@BOTH_WAYS
def test_py_dealer_ferro_rep(pair, ferro_binds):
    rep, dealer = pair("REP", zmq.DEALER, ferro_binds)
    for i in range(3):
        dealer.send_multipart([b""] + request(i))
        assert rep.recv() == request(i)
        rep.send(reply(i))
        assert dealer.recv_multipart() == [b""] + reply(i)


# --- DEALER / ROUTER ---------------------------------------------------------


@BOTH_WAYS
@pytest.mark.parametrize("identity", [None, "dealer-1"], ids=["no-id", "id"])
def test_ferro_dealer_py_router(pair, ferro_binds, identity):
    dealer, router = pair("DEALER", zmq.ROUTER, ferro_binds, identity=identity)
    dealer.send([b"hello", b"", b"world"])
    routing_id, *body = router.recv_multipart()
    if identity is not None:
        assert routing_id == identity.encode()
    assert body == [b"hello", b"", b"world"]
    for i in range(3):
        router.send_multipart([routing_id, b"", str(i).encode()])
    for i in range(3):
        assert dealer.recv() == [b"", str(i).encode()]


@BOTH_WAYS
@pytest.mark.parametrize("identity", [None, b"dealer-2"], ids=["no-id", "id"])
def test_py_dealer_ferro_router(pair, ferro_binds, identity):
    options = [(zmq.ROUTING_ID, identity)] if identity else []
    router, dealer = pair("ROUTER", zmq.DEALER, ferro_binds, py_options=options)
    dealer.send_multipart([b"hello", b"", b"world"])
    routing_id, *body = router.recv()
    if identity is not None:
        assert routing_id == identity
    assert body == [b"hello", b"", b"world"]
    for i in range(3):
        router.send([routing_id, b"", str(i).encode()])
    for i in range(3):
        assert dealer.recv_multipart() == [b"", str(i).encode()]


# --- ROUTER / ROUTER ---------------------------------------------------------


@BOTH_WAYS
def test_router_router_with_identities(pair, ferro_binds):
    ferro, py = pair(
        "ROUTER",
        zmq.ROUTER,
        ferro_binds,
        py_options=[(zmq.ROUTING_ID, b"py"), (zmq.ROUTER_MANDATORY, 1)],
        identity="ferro",
        router_mandatory=True,
    )
    # Whoever connects learns the other's id only once the handshake is
    # done: until then a mandatory ROUTER says EHOSTUNREACH.
    retry_unroutable(lambda: ferro.send([b"py", b"", b"ping"]), "ferro -> py")
    assert py.recv_multipart() == [b"ferro", b"", b"ping"]
    retry_unroutable(lambda: py.send_multipart([b"ferro", b"pong", b""]), "py -> ferro")
    assert ferro.recv() == [b"py", b"pong", b""]
    with pytest.raises(FerroError) as e:
        ferro.send([b"nobody", b"x"])
    assert e.value.kind == "EHOSTUNREACH"


# --- PUB / SUB ---------------------------------------------------------------

TOPIC = b"weather"
WARMUP = [TOPIC, b"warm-up"]
PUBLISHED = [
    [b"sports", b"goal"],
    [TOPIC, b"", b"rain"],
    [b"weath", b"too short"],
    [b"weatherman", b"prefix match"],
    [b"Weather", b"wrong case"],
    [b"", b"empty topic"],
    [TOPIC, b"end"],
]
EXPECTED = [m for m in PUBLISHED if m[0].startswith(TOPIC)]


def skipping(try_recv, unwanted: list[bytes]):
    """try_recv that passes over copies of `unwanted` (left-over warm-ups)."""

    def recv(timeout: float):
        msg = try_recv(timeout)
        while msg == unwanted:
            msg = try_recv(timeout)
        return msg

    return recv


def collect_until(try_recv, last: list[bytes], skip: list[list[bytes]]) -> list[list[bytes]]:
    got = []
    end = time.monotonic() + TIMEOUT
    while time.monotonic() < end:
        msg = try_recv(1.0)
        if msg is None or msg in skip:
            continue
        got.append(msg)
        if msg == last:
            return got
    pytest.fail(f"never received {last!r}; got {got!r}")


@TCP_AND_IPC
@BOTH_WAYS
def test_ferro_pub_py_sub_filters(pair, ferro_binds):
    pub, sub = pair("PUB", zmq.SUB, ferro_binds, py_options=[(zmq.SUBSCRIBE, TOPIC)])
    assert until_received(lambda: pub.send(WARMUP), lambda t: py_try_recv(sub, t), "warm-up") == WARMUP
    for msg in PUBLISHED:
        pub.send(msg)
    got = collect_until(lambda t: py_try_recv(sub, t), PUBLISHED[-1], [WARMUP])
    assert got == EXPECTED
    assert py_try_recv(sub, 0.1) is None


@TCP_AND_IPC
@BOTH_WAYS
def test_py_pub_ferro_sub_filters(pair, ferro_binds):
    sub, pub = pair("SUB", zmq.PUB, ferro_binds, subscribe=[TOPIC.decode()])
    assert until_received(lambda: pub.send_multipart(WARMUP), sub.try_recv, "warm-up") == WARMUP
    for msg in PUBLISHED:
        pub.send_multipart(msg)
    got = collect_until(sub.try_recv, PUBLISHED[-1], [WARMUP])
    assert got == EXPECTED
    assert sub.try_recv(0.1) is None


@TCP_AND_IPC
@BOTH_WAYS
def test_ferro_pub_py_sub_resubscribe(pair, ferro_binds):
    pub, sub = pair("PUB", zmq.SUB, ferro_binds, py_options=[(zmq.SUBSCRIBE, TOPIC)])
    until_received(lambda: pub.send(WARMUP), lambda t: py_try_recv(sub, t), "warm-up")
    sub.setsockopt(zmq.UNSUBSCRIBE, TOPIC)
    sub.setsockopt(zmq.SUBSCRIBE, b"news")
    # Once news gets through, the (earlier) cancel was applied too.
    news_warmup = [b"news", b"warm-up"]
    first = until_received(
        lambda: pub.send(news_warmup),
        skipping(lambda t: py_try_recv(sub, t), WARMUP),
        "news warm-up",
    )
    assert first == news_warmup
    pub.send([TOPIC, b"after cancel"])
    pub.send([b"news", b"end"])
    got = collect_until(lambda t: py_try_recv(sub, t), [b"news", b"end"], [news_warmup])
    assert got == [[b"news", b"end"]]


@TCP_AND_IPC
@BOTH_WAYS
def test_py_pub_ferro_sub_resubscribe(pair, ferro_binds):
    sub, pub = pair("SUB", zmq.PUB, ferro_binds, subscribe=[TOPIC.decode()])
    until_received(lambda: pub.send_multipart(WARMUP), sub.try_recv, "warm-up")
    sub.unsub(TOPIC)
    sub.sub(b"news")
    news_warmup = [b"news", b"warm-up"]
    first = until_received(
        lambda: pub.send_multipart(news_warmup), skipping(sub.try_recv, WARMUP), "news warm-up"
    )
    assert first == news_warmup
    pub.send_multipart([TOPIC, b"after cancel"])
    pub.send_multipart([b"news", b"end"])
    got = collect_until(sub.try_recv, [b"news", b"end"], [news_warmup])
    assert got == [[b"news", b"end"]]


# --- XPUB / XSUB -------------------------------------------------------------


@BOTH_WAYS
def test_py_xsub_ferro_xpub(pair, ferro_binds):
    xpub, xsub = pair("XPUB", zmq.XSUB, ferro_binds)
    xsub.send(b"\x01topic")
    assert recv_pumping(xpub.try_recv, py_pump(xsub), "subscription") == [b"\x01topic"]
    # The subscription is in place: publishing is no longer racy.
    xpub.send([b"other", b"x"])
    xpub.send([b"topic", b"1", b""])
    assert xsub.recv_multipart() == [b"topic", b"1", b""]
    assert py_try_recv(xsub, 0.1) is None
    xsub.send(b"\x00topic")
    assert xpub.recv() == [b"\x00topic"]
    xpub.send([b"topic", b"after cancel"])
    assert py_try_recv(xsub, 0.2) is None


@BOTH_WAYS
def test_ferro_xsub_py_xpub(pair, ferro_binds):
    xsub, xpub = pair("XSUB", zmq.XPUB, ferro_binds)
    xsub.send([b"\x01topic"])
    got = recv_pumping(lambda t: py_try_recv(xpub, t), xsub.events, "subscription")
    assert got == [b"\x01topic"]
    xpub.send_multipart([b"other", b"x"])
    xpub.send_multipart([b"topic", b"1", b""])
    assert xsub.recv() == [b"topic", b"1", b""]
    assert xsub.try_recv(0.1) is None
    xsub.send([b"\x00topic"])
    assert xpub.recv() == b"\x00topic"
    xpub.send_multipart([b"topic", b"after cancel"])
    assert xsub.try_recv(0.2) is None


@BOTH_WAYS
def test_py_sub_ferro_xpub_sees_subscription(pair, ferro_binds):
    # libzmq 4.3 SUB sends a SUBSCRIBE command (ZMTP 3.1); XPUB hands it up
    # as a message starting with 0x01.
    xpub, sub = pair("XPUB", zmq.SUB, ferro_binds, py_options=[(zmq.SUBSCRIBE, b"abc")])
    assert recv_pumping(xpub.try_recv, py_pump(sub), "subscription") == [b"\x01abc"]
    xpub.send([b"abcdef", b"", b"1"])
    assert sub.recv_multipart() == [b"abcdef", b"", b"1"]
    sub.setsockopt(zmq.UNSUBSCRIBE, b"abc")
    assert xpub.recv() == [b"\x00abc"]


@BOTH_WAYS
def test_ferro_sub_py_xpub_sees_subscription(pair, ferro_binds):
    sub, xpub = pair("SUB", zmq.XPUB, ferro_binds, subscribe=["abc"])
    got = recv_pumping(lambda t: py_try_recv(xpub, t), sub.events, "subscription")
    assert got == [b"\x01abc"]
    xpub.send_multipart([b"abcdef", b"", b"1"])
    assert sub.recv() == [b"abcdef", b"", b"1"]
    sub.unsub(b"abc")
    assert xpub.recv() == b"\x00abc"


# --- PUSH / PULL -------------------------------------------------------------


def numbered(i: int) -> list[bytes]:
    return [str(i).encode(), b"", bytes([i % 256]) * i]


@TCP_AND_IPC
@BOTH_WAYS
def test_ferro_push_py_pull_in_order(pair, ferro_binds):
    push, pull = pair("PUSH", zmq.PULL, ferro_binds)
    for i in range(100):
        push.send(numbered(i))
    for i in range(100):
        assert pull.recv_multipart() == numbered(i)


@TCP_AND_IPC
@BOTH_WAYS
def test_py_push_ferro_pull_in_order(pair, ferro_binds):
    pull, push = pair("PULL", zmq.PUSH, ferro_binds)
    for i in range(100):
        push.send_multipart(numbered(i))
    for i in range(100):
        assert pull.recv() == numbered(i)


# --- PAIR / PAIR -------------------------------------------------------------


@BOTH_WAYS
def test_pair_pair(pair, ferro_binds):
    ferro, py = pair("PAIR", zmq.PAIR, ferro_binds)
    for i in range(3):
        ferro.send([b"ping", b"", str(i).encode()])
        assert py.recv_multipart() == [b"ping", b"", str(i).encode()]
        py.send_multipart([b"", b"pong", str(i).encode()])
        assert ferro.recv() == [b"", b"pong", str(i).encode()]
    for i in range(10):
        py.send_multipart([str(i).encode()])
    assert [ferro.recv() for _ in range(10)] == [[str(i).encode()] for i in range(10)]
