"""ZMQ_CONFLATE across implementations: a libzmq (pyzmq) socket with
CONFLATE against a ferromq peer, and a ferromq socket with --conflate
against a libzmq peer, over tcp and ipc, either side binding.

A conflating socket keeps only the latest message. Where ferromq conflates
it says so exactly (its `stats` count each replaced message), so those
tests wait for the count and then expect the last message alone. libzmq
has no such count: there the tests read until the last message arrives
and check that only ever newer messages were delivered, and fewer than
were sent.
"""

from __future__ import annotations

import time

import pytest
import zmq

from conftest import TIMEOUT, free_endpoints, py_socket

N = 2000

TCP_AND_IPC = pytest.mark.parametrize("transport", ["tcp", "ipc"])
BOTH_WAYS = pytest.mark.parametrize(
    "ferro_binds", [True, False], ids=["ferro-binds", "py-binds"]
)


def wait_for(cond, what: str) -> None:
    end = time.monotonic() + TIMEOUT
    while not cond():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def py_read_until(sock: zmq.Socket, last: int) -> list[int]:
    """Reads a conflating pyzmq socket until message `last` arrives; returns
    the numbers read (other messages, leftover probes, are skipped)."""
    got: list[int] = []
    end = time.monotonic() + TIMEOUT
    while not got or got[-1] != last:
        if time.monotonic() > end:
            pytest.fail(f"message {last} never came; read {got[-10:]}")
        if sock.poll(100, zmq.POLLIN):
            body = sock.recv()
            if body.isdigit():
                got.append(int(body))
    return got


def assert_conflated(got: list[int]) -> None:
    assert got == sorted(set(got)), f"only ever newer messages: {got[:20]}"
    assert len(got) < N, "some messages were replaced unread"


def until_received(send, try_recv, what: str):
    end = time.monotonic() + TIMEOUT
    while time.monotonic() < end:
        send()
        got = try_recv(0.05)
        if got is not None:
            return got
    pytest.fail(f"{what}: nothing arrived within {TIMEOUT:.0f} s")


def py_try_recv(sock: zmq.Socket, timeout: float):
    if sock.poll(int(timeout * 1000), zmq.POLLIN):
        return sock.recv_multipart()
    return None


# --- libzmq conflates, ferromq sends -----------------------------------------


@TCP_AND_IPC
@BOTH_WAYS
def test_libzmq_conflating_pull_keeps_the_latest_from_ferromq(pair, ferro_binds):
    peer, ps = pair("PUSH", zmq.PULL, ferro_binds, py_options=[(zmq.CONFLATE, 1)])
    # Sent while the PULL reads nothing.
    peer.send_seq(N)
    got = py_read_until(ps, N - 1)
    assert_conflated(got)
    assert not ps.poll(200), "nothing after the last message"
    assert peer.stats()["dropped"] == 0


@TCP_AND_IPC
@BOTH_WAYS
def test_libzmq_conflating_sub_keeps_the_latest_from_ferromq(pair, ferro_binds):
    # No SNDHWM on the PUB: a burst must not be dropped before it gets to
    # the subscriber (a PUB drops at its HWM), or the last message may
    # never be sent.
    peer, ps = pair(
        "PUB",
        zmq.SUB,
        ferro_binds,
        py_options=[(zmq.CONFLATE, 1), (zmq.SUBSCRIBE, b"")],
        sndhwm=0,
    )
    until_received(
        lambda: peer.send([b"probe"]), lambda t: py_try_recv(ps, t), "the subscription"
    )
    peer.send_seq(N)
    got = py_read_until(ps, N - 1)
    assert_conflated(got)
    assert not ps.poll(200), "nothing after the last message"
    assert peer.stats()["dropped"] == 0


# --- ferromq conflates, libzmq sends -----------------------------------------


@TCP_AND_IPC
@BOTH_WAYS
def test_ferromq_conflating_pull_keeps_the_latest_from_libzmq(pair, ferro_binds):
    peer, ps = pair("PULL", zmq.PUSH, ferro_binds, conflate=True)
    for i in range(N):
        ps.send(b"%d" % i)
    wait_for(lambda: peer.stats()["conflated"] == N - 1, "all but the last to be conflated")
    assert peer.recv() == [b"%d" % (N - 1)]
    assert peer.try_recv(0.2) is None
    stats = peer.stats()
    assert (stats["received"], stats["dropped"]) == (1, N - 1), stats


@TCP_AND_IPC
@BOTH_WAYS
def test_ferromq_conflating_sub_keeps_the_latest_from_libzmq(pair, ferro_binds):
    # No SNDHWM on the PUB (see above): all N must reach the subscriber.
    peer, ps = pair(
        "SUB", zmq.PUB, ferro_binds, py_options=[(zmq.SNDHWM, 0)], conflate=True, subscribe=[""]
    )
    # Numbered probes until one arrives, then until the last one sent has:
    # nothing is left in flight before the messages counted below.
    sent = 0

    def probe():
        nonlocal sent
        ps.send(b"probe %d" % sent)
        sent += 1

    got = until_received(probe, peer.try_recv, "the subscription")
    last = [b"probe %d" % (sent - 1)]
    while got != last:
        got = peer.recv()
    before = peer.stats()["conflated"]
    for i in range(N):
        ps.send(b"%d" % i)
    wait_for(
        lambda: peer.stats()["conflated"] - before == N - 1,
        "all but the last to be conflated",
    )
    assert peer.recv() == [b"%d" % (N - 1)]
    assert peer.try_recv(0.2) is None


@TCP_AND_IPC
def test_ferromq_conflating_push_keeps_the_latest_for_a_late_libzmq_pull(
    ipc_dir, peers, zctx, transport
):
    if transport == "tcp":
        endpoint = free_endpoints(1)[0]
    else:
        endpoint = f"ipc://{ipc_dir}/late"
    peer = peers("PUSH", connect=[endpoint], conflate=True)
    # Nobody to send to yet: each message replaces the one before.
    peer.send_seq(N)
    assert peer.stats()["conflated"] == N - 1
    ps = py_socket(zctx, zmq.PULL)
    ps.bind(endpoint)
    assert ps.recv() == b"%d" % (N - 1)
    assert not ps.poll(200), "only the latest was kept"
