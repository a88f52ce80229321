"""The guide's hello-world and weather programs written async (ferromq's
AsyncSocket under tokio: crates/ferromq/examples/async_*.rs) against pyzmq
peers, in both roles, as test_examples.py does for the blocking ones.

They take the same endpoint variables as their blocking twins, and are
run unchanged: built with the other examples (FERROMQ_EXAMPLES_DIR, or
`cargo build -p ferromq --examples` once per session).
"""

from __future__ import annotations

import random
import time

import pytest
import zmq

from conftest import TIMEOUT, free_endpoints, py_socket
from test_examples import EXIT_TIMEOUT, UPDATE, bind_any, recv_or_fail, stop_all

# --- Hello World: async_hwserver / async_hwclient ------------------------------


def test_async_hwclient_with_py_server(examples, zctx):
    rep = py_socket(zctx, zmq.REP)
    endpoint = bind_any(rep)
    client = examples("async_hwclient", env={"HWCLIENT_CONNECT": endpoint})
    for i in range(10):
        assert recv_or_fail(rep, f"request {i}", client) == b"Hello"
        rep.send(b"World")
    lines = client.wait_exit(EXIT_TIMEOUT)
    assert lines[0] == "Connecting to hello world server..."
    replies = [line for line in lines if line.startswith("Received reply")]
    assert replies == [f"Received reply {i} [ World ]" for i in range(10)]


def test_async_hwserver_with_py_clients(examples, zctx):
    # Three REQ clients, each with a request waiting at the server at once:
    # it answers them one by one, each reply to the client that asked.
    (endpoint,) = free_endpoints(1)
    server = examples("async_hwserver", env={"HWSERVER_BIND": endpoint})
    clients = []
    for _ in range(3):
        req = py_socket(zctx, zmq.REQ)
        req.connect(endpoint)
        clients.append(req)
    for i in range(10):
        for req in clients:
            req.send(b"Hello")
        for n, req in enumerate(clients):
            assert recv_or_fail(req, f"reply {i} to client {n}", server) == b"World"
    server.wait_for_lines(r"^Received request: Hello$", count=30)
    stop_all(server)


# --- Weather updates: async_wuserver / async_wuclient --------------------------


@pytest.mark.parametrize("over", ["tcp", "ipc"])
def test_async_wuserver_with_py_subscribers(ipc_dir, examples, zctx, over):
    (tcp,) = free_endpoints(1)
    ipc = f"ipc://{ipc_dir}/weather.ipc"
    server = examples("async_wuserver", env={"WUSERVER_BIND": tcp, "WUSERVER_IPC": ipc})
    endpoint = tcp if over == "tcp" else ipc
    subscribers = {}
    for prefix in (b"1", b"98", b"5"):
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


def test_async_wuclient_with_py_publisher(examples, zctx):
    pub = py_socket(zctx, zmq.PUB)
    endpoint = bind_any(pub)
    client = examples("async_wuclient", args=["1", "20"], env={"WUCLIENT_CONNECT": endpoint})
    # As for wuclient: 42 for the zipcodes the client wants, 99 for the
    # rest, so any 20 matching updates average 42 and one let through by
    # mistake would raise it.
    rng = random.Random(4)
    sent_matching = 0
    end = time.monotonic() + EXIT_TIMEOUT
    while client.proc.poll() is None and time.monotonic() < end:
        for _ in range(50):
            zipcode = f"{rng.randrange(1, 100_000):05d}"
            temperature = 42 if zipcode.startswith("1") else 99
            sent_matching += temperature == 42
            pub.send(f"{zipcode} {temperature} {rng.randrange(10, 60)}".encode())
        time.sleep(0.005)
    if client.proc.poll() is None:
        pytest.fail(
            f"still running after {EXIT_TIMEOUT:.0f} s of updates "
            f"({sent_matching} of them for zipcodes '1...')\n{client.describe()}",
            pytrace=False,
        )
    lines = client.wait_exit(timeout=TIMEOUT)
    assert sent_matching >= 20
    assert lines[-1] == "Average temperature for zipcode '1' was 42F", lines
