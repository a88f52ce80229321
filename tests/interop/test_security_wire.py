"""PLAIN and CURVE at the wire level against libzmq (pyzmq's bundled
libzmq 4.3): ferromq-proto's `Connection`, driven by hand over one TCP
stream by the `security_peer` example (crates/proto/examples), completes
the handshake in either role and exchanges messages both ways. This
proves the formats and the cryptography before any engine uses them.

Set FERROMQ_SECURITY_PEER to a prebuilt `security_peer` binary; otherwise
it is built once per session with
`cargo build -p ferromq-proto --example security_peer`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import zmq
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85
from zmq.utils.monitor import recv_monitor_message

from conftest import REPO, TIMEOUT, ExampleProcess, cargo_target_dir, py_socket

pytestmark = pytest.mark.skipif(not zmq.has("curve"), reason="this libzmq has no CURVE")

# libzmq's ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC.
CRYPTOGRAPHIC = 0x11000001
EFAULT = 14


@pytest.fixture(scope="session")
def peer_dir() -> Path:
    given = os.environ.get("FERROMQ_SECURITY_PEER")
    if given:
        if not os.access(given, os.X_OK):
            pytest.fail(f"FERROMQ_SECURITY_PEER={given!r} is not an executable file")
        return Path(given).resolve().parent
    subprocess.run(
        ["cargo", "build", "--quiet", "-p", "ferromq-proto", "--example", "security_peer"],
        cwd=REPO,
        check=True,
        timeout=900,
    )
    return cargo_target_dir() / "debug" / "examples"


@pytest.fixture
def run_peer(peer_dir):
    """run_peer(*args) -> ExampleProcess running security_peer; killed at
    teardown if still running."""
    name = Path(os.environ.get("FERROMQ_SECURITY_PEER", "security_peer")).name
    started: list[ExampleProcess] = []

    def start(*args: str) -> ExampleProcess:
        proc = ExampleProcess(peer_dir, name, [str(a) for a in args])
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


def finish(peer: ExampleProcess, expect_rc: int = 0) -> list[str]:
    """Waits for the peer to exit with `expect_rc`; returns its stdout lines."""
    try:
        rc = peer.proc.wait(timeout=TIMEOUT + 5)
    except subprocess.TimeoutExpired:
        pytest.fail(f"did not exit\n{peer.describe()}", pytrace=False)
    peer._drained()
    if rc != expect_rc:
        pytest.fail(f"exit {rc}, wanted {expect_rc}\n{peer.describe()}", pytrace=False)
    return list(peer.lines)


def listening_port(peer: ExampleProcess) -> int:
    return int(peer.wait_for_lines(r"^listening ")[0].split()[1])


def props(lines: list[str]) -> dict[str, bytes]:
    out = {}
    for line in lines:
        if line.startswith("prop "):
            _, name, value = line.split(" ")
            out[name] = b"" if value == "-" else bytes.fromhex(value)
    return out


def received(lines: list[str]) -> list[list[bytes]]:
    msgs = []
    for line in lines:
        if line.startswith("msg "):
            msgs.append([b"" if p == "-" else bytes.fromhex(p) for p in line[4:].split(".")])
    return msgs


def big(n: int) -> bytes:
    """What the peer sends for `big:N`."""
    return bytes(i % 251 for i in range(n))


def handshake_events(mon: zmq.Socket) -> list[tuple[int, int]]:
    """Monitor events up to the first handshake outcome (bounded)."""
    events = []
    mon.rcvtimeo = int(TIMEOUT * 1000)
    while True:
        try:
            ev = recv_monitor_message(mon)
        except zmq.Again:
            return events
        events.append((ev["event"], ev["value"]))
        if ev["event"] in (
            zmq.EVENT_HANDSHAKE_SUCCEEDED,
            zmq.EVENT_HANDSHAKE_FAILED_AUTH,
            zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
            zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
        ):
            return events


class KeyCheck:
    """A pyzmq CURVE credentials provider that records the keys it sees."""

    def __init__(self, allow: bool):
        self.allow = allow
        self.keys: list[bytes] = []

    def callback(self, domain, key):
        self.keys.append(key)
        return self.allow


@pytest.fixture
def authenticator(zctx):
    auth = ThreadAuthenticator(zctx)
    auth.start()
    yield auth
    auth.stop()


# --- CURVE --------------------------------------------------------------------


@pytest.mark.parametrize("allow", [True, False], ids=["zap-allows", "zap-denies"])
def test_curve_client_against_libzmq_server(zctx, authenticator, run_peer, allow):
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    keys = KeyCheck(allow)
    authenticator.configure_curve_callback("*", credentials_provider=keys)
    router = py_socket(zctx, zmq.ROUTER, [(zmq.CURVE_SERVER, 1), (zmq.CURVE_SECRETKEY, server_secret)])
    port = router.bind_to_random_port("tcp://127.0.0.1")
    peer = run_peer(
        "--connect", f"127.0.0.1:{port}", "--type", "DEALER", "--mechanism", "curve",
        "--secret-key", client_secret.decode(), "--server-key", server_public.decode(),
        "--send", "68656c6c6f.-.776f726c64", "--send", "big:300000", "--recv", "2",
    )
    if not allow:
        lines = finish(peer, expect_rc=2)
        assert "failed auth 400" in lines, lines
        assert keys.keys == [client_public]
        return
    first = router.recv_multipart(copy=False)
    routing_id = first[0].bytes
    assert [f.bytes for f in first[1:]] == [b"hello", b"", b"world"]
    # The ZAP handler saw our long-term key; its User-Id reaches the message.
    assert keys.keys == [client_public]
    assert first[1].get("User-Id") == client_public.decode()
    second = router.recv_multipart()
    assert second[1] == big(300000)
    router.send_multipart([routing_id, b"reply", b"x" * 70000])
    router.send_multipart([routing_id, b""])
    lines = finish(peer)
    assert received(lines) == [[b"reply", b"x" * 70000], [b""]]
    assert props(lines)["Socket-Type"] == b"ROUTER"


def test_curve_server_against_libzmq_client(zctx, run_peer):
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    peer = run_peer(
        "--bind", "127.0.0.1:0", "--server", "--type", "ROUTER", "--mechanism", "curve",
        "--secret-key", server_secret.decode(), "--user-id", "carol",
        "--zap-prop", "X-Team=blue", "--echo", "3",
    )
    dealer = py_socket(zctx, zmq.DEALER, [
        (zmq.CURVE_SERVERKEY, server_public),
        (zmq.CURVE_PUBLICKEY, client_public),
        (zmq.CURVE_SECRETKEY, client_secret),
        (zmq.ROUTING_ID, b"dealer-7"),
    ])
    dealer.connect(f"tcp://127.0.0.1:{listening_port(peer)}")
    sent = [[b"one"], [b"", b"two", b"parts"], [b"z" * 1_000_000]]
    for msg in sent:
        dealer.send_multipart(msg)
    for msg in sent:
        assert dealer.recv_multipart() == msg
    lines = finish(peer)
    zap = [line for line in lines if line.startswith("zap ")]
    assert zap == [f"zap CURVE {z85.decode(client_public).hex()}"]
    md = props(lines)
    assert md["Socket-Type"] == b"DEALER"
    assert md["Identity"] == b"dealer-7"
    assert md["User-Id"] == b"carol"
    assert md["X-Team"] == b"blue"
    assert received(lines) == sent


def test_curve_commands_and_heartbeats_from_libzmq(zctx, run_peer):
    """SUBSCRIBE and PING arrive from libzmq as MESSAGE boxes with the
    command flag; our PONGs (boxed too) keep libzmq's heartbeat happy."""
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    peer = run_peer(
        "--bind", "127.0.0.1:0", "--server", "--type", "PUB", "--mechanism", "curve",
        "--secret-key", server_secret.decode(), "--zap", "none", "--hold-ms", "1500",
    )
    sub = py_socket(zctx, zmq.SUB, [
        (zmq.CURVE_SERVERKEY, server_public),
        (zmq.CURVE_PUBLICKEY, client_public),
        (zmq.CURVE_SECRETKEY, client_secret),
        (zmq.HEARTBEAT_IVL, 50),
        (zmq.HEARTBEAT_TIMEOUT, 400),
    ])
    sub.setsockopt(zmq.SUBSCRIBE, b"weather")
    sub.connect(f"tcp://127.0.0.1:{listening_port(peer)}")
    # Had a PONG been missing, libzmq would have dropped us within 400 ms
    # and the peer would end with "failed io".
    lines = finish(peer)
    assert f"sub {b'weather'.hex()}" in lines, lines
    assert "done" in lines


def test_curve_wrong_server_key(zctx, run_peer):
    server_public, server_secret = zmq.curve_keypair()
    wrong_public, _ = zmq.curve_keypair()
    _, client_secret = zmq.curve_keypair()
    router = py_socket(zctx, zmq.ROUTER, [(zmq.CURVE_SERVER, 1), (zmq.CURVE_SECRETKEY, server_secret)])
    mon = router.get_monitor_socket()
    port = router.bind_to_random_port("tcp://127.0.0.1")
    peer = run_peer(
        "--connect", f"127.0.0.1:{port}", "--type", "DEALER", "--mechanism", "curve",
        "--secret-key", client_secret.decode(), "--server-key", wrong_public.decode(),
    )
    events = handshake_events(mon)
    assert (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, CRYPTOGRAPHIC) in events, events
    lines = finish(peer, expect_rc=2)
    assert any(line.startswith("failed io") for line in lines), lines
    router.disable_monitor()
    mon.close(linger=0)


@pytest.mark.parametrize("status", [400, 500])
@pytest.mark.parametrize("mechanism", ["curve", "plain"])
def test_our_zap_refusal_reaches_libzmq_as_auth_failure(zctx, run_peer, mechanism, status):
    """libzmq clients report our refusal as HANDSHAKE_FAILED_AUTH with the
    status code, exactly as they do for a libzmq server's."""
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    args = ["--bind", "127.0.0.1:0", "--server", "--type", "REP", "--mechanism", mechanism,
            "--zap", f"deny:{status}"]
    options = []
    if mechanism == "curve":
        args += ["--secret-key", server_secret.decode()]
        options = [(zmq.CURVE_SERVERKEY, server_public), (zmq.CURVE_PUBLICKEY, client_public),
                   (zmq.CURVE_SECRETKEY, client_secret)]
    else:
        options = [(zmq.PLAIN_USERNAME, b"joe"), (zmq.PLAIN_PASSWORD, b"nope")]
    peer = run_peer(*args)
    req = py_socket(zctx, zmq.REQ, options)
    mon = req.get_monitor_socket()
    req.connect(f"tcp://127.0.0.1:{listening_port(peer)}")
    events = handshake_events(mon)
    assert events and events[-1] == (zmq.EVENT_HANDSHAKE_FAILED_AUTH, status), events
    lines = finish(peer, expect_rc=2)
    assert f"failed auth {status}" in lines
    req.disable_monitor()
    mon.close(linger=0)


# --- PLAIN --------------------------------------------------------------------


@pytest.mark.parametrize("password, ok", [("secret", True), ("wrong", False)])
def test_plain_client_against_libzmq_server(zctx, authenticator, run_peer, password, ok):
    authenticator.configure_plain(domain="*", passwords={"admin": "secret"})
    router = py_socket(zctx, zmq.ROUTER, [(zmq.PLAIN_SERVER, 1)])
    port = router.bind_to_random_port("tcp://127.0.0.1")
    peer = run_peer(
        "--connect", f"127.0.0.1:{port}", "--type", "DEALER", "--mechanism", "plain",
        "--username", "admin", "--password", password, "--send", "6869.7468657265", "--recv", "1",
    )
    if not ok:
        # libzmq sends its ERROR as "^RROR" 03 "400"; we read the status.
        assert "failed auth 400" in finish(peer, expect_rc=2)
        return
    msg = router.recv_multipart(copy=False)
    assert [f.bytes for f in msg[1:]] == [b"hi", b"there"]
    assert msg[1].get("User-Id") == "admin"
    router.send_multipart([msg[0].bytes, b"welcome aboard"])
    lines = finish(peer)
    assert received(lines) == [[b"welcome aboard"]]


def test_plain_client_without_libzmq_authenticator(zctx, run_peer):
    """No ZAP handler bound: a libzmq 4.3 PLAIN server refuses everyone,
    silently (HANDSHAKE_FAILED_NO_DETAIL, EFAULT)."""
    pull = py_socket(zctx, zmq.PULL, [(zmq.PLAIN_SERVER, 1)])
    mon = pull.get_monitor_socket()
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    peer = run_peer(
        "--connect", f"127.0.0.1:{port}", "--type", "PUSH", "--mechanism", "plain",
        "--username", "anyone", "--password", "", "--send", "big:70000",
    )
    events = handshake_events(mon)
    assert events and events[-1] == (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, EFAULT), events
    lines = finish(peer, expect_rc=2)
    assert any(line.startswith("failed io") for line in lines), lines
    pull.disable_monitor()
    mon.close(linger=0)


@pytest.mark.parametrize("mechanism", ["plain", "curve"])
def test_our_server_without_zap_handler(zctx, run_peer, mechanism):
    """Our servers answered "no handler": PLAIN closes like libzmq's,
    CURVE lets the client in without a User-Id."""
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    args = ["--bind", "127.0.0.1:0", "--server", "--type", "PULL", "--mechanism", mechanism,
            "--zap", "absent", "--recv", "1"]
    if mechanism == "curve":
        args += ["--secret-key", server_secret.decode()]
        options = [(zmq.CURVE_SERVERKEY, server_public), (zmq.CURVE_PUBLICKEY, client_public),
                   (zmq.CURVE_SECRETKEY, client_secret)]
    else:
        options = [(zmq.PLAIN_USERNAME, b"joe"), (zmq.PLAIN_PASSWORD, b"pw")]
    peer = run_peer(*args)
    push = py_socket(zctx, zmq.PUSH, options)
    push.connect(f"tcp://127.0.0.1:{listening_port(peer)}")
    push.send(b"payload")
    if mechanism == "plain":
        lines = finish(peer, expect_rc=2)
        assert any(line.startswith("failed protocol") for line in lines), lines
        return
    lines = finish(peer)
    assert received(lines) == [[b"payload"]]
    assert "User-Id" not in props(lines)


def test_plain_server_against_libzmq_client(zctx, run_peer):
    peer = run_peer(
        "--bind", "127.0.0.1:0", "--server", "--type", "REP", "--mechanism", "plain",
        "--user-id", "joe-id", "--echo", "2",
    )
    req = py_socket(zctx, zmq.REQ, [(zmq.PLAIN_USERNAME, b"joe"), (zmq.PLAIN_PASSWORD, b"pw")])
    req.connect(f"tcp://127.0.0.1:{listening_port(peer)}")
    for body in [b"ping", b"y" * 100000]:
        req.send(body)
        assert req.recv() == body
    lines = finish(peer)
    assert f"zap PLAIN {b'joe'.hex()} {b'pw'.hex()}" in lines
    md = props(lines)
    assert md["Socket-Type"] == b"REQ"
    assert md["User-Id"] == b"joe-id"
    # REQ puts the empty delimiter first.
    assert received(lines) == [[b"", b"ping"], [b"", b"y" * 100000]]
