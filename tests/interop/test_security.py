"""PLAIN and CURVE between ferromq sockets (the `ferromq peer` CLI) and
libzmq ones (pyzmq), with ZAP: pyzmq's ThreadAuthenticator checks the
clients of a pyzmq server, ferromq's Authenticator (the CLI's --auth-*
flags) those of a ferromq server.

For REQ/REP, DEALER/ROUTER and PUB/SUB (the PUB serving, and a SUB serving
PUB clients), in both directions: messages flow and the server sees the
client's User-Id. Refusals (a wrong PLAIN password, a CURVE key not on the
server's list, a wrong server key) show on both sides' monitors as libzmq
reports them, let nothing through, and the server goes on serving a good
client that comes after the refused one. A client refused by ZAP gives up,
one with the wrong server key keeps trying, as libzmq's do.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import zmq
from zmq.auth import CURVE_ALLOW_ANY
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import recv_monitor_message

from conftest import ANY_PORT, TIMEOUT, FerroError, FerroPeer, py_socket

pytestmark = pytest.mark.skipif(not zmq.has("curve"), reason="this libzmq has no CURVE")

# libzmq's ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC: a box that does not open.
CRYPTOGRAPHIC = 0x11000001
# The ZAP status code of a refusal, which both sides' monitors report.
ZAP_REFUSED = 400
USERS = {"admin": "secret", "guest": "letmein"}
OUTCOMES = {
    "HANDSHAKE_SUCCEEDED",
    "HANDSHAKE_FAILED_AUTH",
    "HANDSHAKE_FAILED_PROTOCOL",
    "HANDSHAKE_FAILED_NO_DETAIL",
}
EVENT_NAMES = {
    getattr(zmq, name): name[len("EVENT_") :]
    for name in dir(zmq)
    if name.startswith("EVENT_") and name not in ("EVENT_ALL", "EVENT_ALL_V1", "EVENT_ALL_V2")
}


@dataclass(frozen=True)
class Pattern:
    """A server socket type and the client type that connects to it."""

    server: str
    client: str

    @property
    def id(self) -> str:
        return f"{self.client}-to-{self.server}"


PATTERNS = [
    Pattern("REP", "REQ"),
    Pattern("ROUTER", "DEALER"),
    Pattern("PUB", "SUB"),
    Pattern("SUB", "PUB"),
]


def z85(key) -> str:
    return key.decode() if isinstance(key, bytes) else key


# --- one socket of either kind, driven the same way -----------------------------


def prop(frame: zmq.Frame, name: str) -> str | None:
    """A message property, None when the message has none of that name
    (libzmq: EINVAL; a client's messages carry no User-Id)."""
    try:
        return frame.get(name)
    except zmq.ZMQError as e:
        if e.errno == zmq.EINVAL:
            return None
        raise


class PyEnd:
    """A pyzmq socket with its monitor (started before bind/connect)."""

    def __init__(self, sock: zmq.Socket):
        self.sock = sock
        self.monitor = sock.get_monitor_socket()

    def send(self, parts: list[bytes]) -> None:
        self.sock.send_multipart(parts)

    def try_send(self, parts: list[bytes]) -> bool:
        """Sends without waiting; False if the socket cannot take it now."""
        try:
            self.sock.send_multipart(parts, zmq.NOBLOCK)
            return True
        except zmq.Again:
            return False

    def try_recv_user(self, timeout: float):
        """(parts, User-Id, Socket-Type) of the next message, or None."""
        if not self.sock.poll(int(timeout * 1000)):
            return None
        frames = self.sock.recv_multipart(copy=False)
        return [f.bytes for f in frames], prop(frames[0], "User-Id"), prop(frames[0], "Socket-Type")

    def try_recv(self, timeout: float) -> list[bytes] | None:
        got = self.try_recv_user(timeout)
        return None if got is None else got[0]

    def wait_event(self, names=OUTCOMES, timeout: float = TIMEOUT) -> tuple[str, int]:
        deadline = time.monotonic() + timeout
        seen = []
        while (left := deadline - time.monotonic()) > 0:
            if not self.monitor.poll(int(left * 1000) + 1):
                break
            ev = recv_monitor_message(self.monitor)
            name = EVENT_NAMES.get(ev["event"], hex(ev["event"]))
            if name in names:
                return name, ev["value"]
            seen.append(name)
        pytest.fail(f"pyzmq socket: none of {sorted(names)} in time (saw {seen})", pytrace=False)

    def events_now(self) -> list[str]:
        """The names of the monitor events already there."""
        names = []
        while self.monitor.poll(50):
            names.append(EVENT_NAMES.get(recv_monitor_message(self.monitor)["event"], "?"))
        return names


class FerroEnd:
    """A `ferromq peer` running with --monitor."""

    def __init__(self, peer: FerroPeer):
        self.peer = peer

    def send(self, parts: list[bytes]) -> None:
        self.peer.send(parts)

    def try_send(self, parts: list[bytes]) -> bool:
        """Sends; False on EAGAIN (immediately so with sndtimeo=0)."""
        try:
            self.peer.send(parts)
            return True
        except FerroError as e:
            if e.kind == "EAGAIN":
                return False
            raise

    def try_recv_user(self, timeout: float):
        try:
            parts, props = self.peer.recv_props(timeout)
        except FerroError as e:
            if e.kind == "EAGAIN":
                return None
            raise
        user = props.get("User-Id")
        kind = props.get("Socket-Type")
        return parts, user.decode() if user else user, kind.decode() if kind else kind

    def try_recv(self, timeout: float) -> list[bytes] | None:
        return self.peer.try_recv(timeout)

    def wait_event(self, names=OUTCOMES, timeout: float = TIMEOUT) -> tuple[str, int]:
        name, value, _ = self.peer.wait_event(names, timeout)
        return name, value

    def events_now(self) -> list[str]:
        names = []
        while (ev := self.peer.next_event(0.05)) is not None:
            names.append(ev[0])
        return names


def recv_user(end, timeout: float = TIMEOUT):
    got = end.try_recv_user(timeout)
    assert got is not None, f"no message within {timeout:.0f} s"
    return got


def exchange(pattern: Pattern, server, client, tag: bytes):
    """One round trip (or, for PUB/SUB, one message delivered) between a
    connected client and its server. Returns (User-Id, Socket-Type) as the
    server saw them, or None for a PUB server (it receives nothing)."""
    big = tag + b"." * 70_000  # longer than a short frame: CURVE's long boxes
    if pattern.server in ("REP", "ROUTER"):
        client.send([tag, big])
        parts, user, kind = recv_user(server)
        envelope = parts[:-2]
        assert parts[-2:] == [tag, big]
        server.send(envelope + [b"re:" + tag, big])
        reply = client.try_recv(TIMEOUT)
        assert reply == [b"re:" + tag, big]
        return user, kind
    # PUB/SUB: publish until the subscription is in place and a copy
    # arrives (the first ones are dropped while it is on its way).
    publisher, subscriber = (server, client) if pattern.server == "PUB" else (client, server)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        publisher.send([tag, big])
        got = subscriber.try_recv_user(0.05)
        if got is not None and got[0][0] == tag:
            parts, user, kind = got
            assert parts == [tag, big]
            return None if pattern.server == "PUB" else (user, kind)
        # Otherwise nothing yet, or a late copy of an earlier round's.
    pytest.fail(f"{tag!r}: nothing reached the subscriber within {TIMEOUT:.0f} s")


def drain_for(end, unwanted: bytes, timeout: float = 0.3) -> None:
    """Reads what `end` still gets for a short while (copies of the last
    publication may follow it); none of it may carry `unwanted`."""
    while (parts := end.try_recv(timeout)) is not None:
        assert unwanted not in parts, f"a refused peer's message got through: {parts!r}"


# --- keys, servers and clients -----------------------------------------------


@pytest.fixture(scope="session")
def keygen(ferromq_bin):
    """keygen() -> (public, secret): a key pair from `ferromq keygen`."""

    def make() -> tuple[str, str]:
        out = subprocess.run(
            [ferromq_bin, "keygen"], capture_output=True, text=True, check=True, timeout=TIMEOUT
        ).stdout.split("\n")
        assert out[0].startswith("public ") and out[1].startswith("secret "), out
        public, secret = out[0].split(" ", 1)[1], out[1].split(" ", 1)[1]
        assert len(public) == len(secret) == 40
        return public, secret

    return make


def new_keys(side: str, keygen) -> tuple[str, str]:
    """A CURVE key pair made by the side that uses it."""
    if side == "ferromq":
        return keygen()
    public, secret = zmq.curve_keypair()
    return z85(public), z85(secret)


def write_public_cert(directory: Path, name: str, public: str) -> None:
    """A public certificate (ZPL, as zmq.auth.create_certificates writes
    them) that pyzmq's authenticator loads from its directory."""
    (directory / f"{name}.key").write_text(
        f'metadata\ncurve\n    public-key = "{public}"\n', encoding="utf-8"
    )


@pytest.fixture
def py_auth(zctx):
    """py_auth() -> a started ThreadAuthenticator in zctx, stopped at
    teardown (before zctx is destroyed)."""
    started = []

    def start() -> ThreadAuthenticator:
        auth = ThreadAuthenticator(zctx)
        auth.start()
        started.append(auth)
        return auth

    yield start
    for auth in started:
        auth.stop()


@dataclass
class Setup:
    """Everything a test needs to make a server on one side and clients
    on the other."""

    server_side: str
    mechanism: str
    pattern: Pattern
    peers: object
    zctx: zmq.Context
    py_auth: object
    keygen: object
    tmp_path: Path

    def __post_init__(self):
        self.client_side = "pyzmq" if self.server_side == "ferromq" else "ferromq"
        self.server_keys = new_keys(self.server_side, self.keygen)
        self.endpoint = None

    def client_keys(self) -> tuple[str, str]:
        return new_keys(self.client_side, self.keygen)

    def server(self, curve_clients=(), curve_any=False):
        """The bound server with its authenticator: PLAIN knows USERS;
        CURVE admits the public keys `curve_clients` (or any key)."""
        stype = self.pattern.server
        public, secret = self.server_keys
        if self.server_side == "ferromq":
            if self.mechanism == "PLAIN":
                args = ["--plain-server"] + [f"--auth-plain={u}:{p}" for u, p in USERS.items()]
            else:
                args = ["--curve-server", f"--curve-secret={secret}", f"--curve-public={public}"]
                if curve_any:
                    args.append("--auth-curve-any")
                args += [f"--auth-curve-key={k}" for k in curve_clients]
            # 127.0.0.1 is every client's address here: an allow list that
            # holds it leaves the decision to the credentials.
            args.append("--auth-allow=127.0.0.1")
            subscribe = [""] if stype == "SUB" else []
            peer = self.peers(
                stype, bind=[ANY_PORT], subscribe=subscribe, monitor=True, extra_args=args
            )
            self.endpoint = peer.endpoint
            return FerroEnd(peer)
        auth = self.py_auth()
        auth.allow("127.0.0.1")
        sock = py_socket(self.zctx, getattr(zmq, stype))
        if self.mechanism == "PLAIN":
            auth.configure_plain("*", USERS)
            sock.plain_server = True
        else:
            if curve_any:
                auth.configure_curve("*", CURVE_ALLOW_ANY)
            else:
                certs = self.tmp_path / "certs"
                certs.mkdir(exist_ok=True)
                for i, key in enumerate(curve_clients):
                    write_public_cert(certs, f"client{i}", key)
                auth.configure_curve("*", str(certs))
            sock.curve_secretkey = secret.encode()
            sock.curve_publickey = public.encode()
            sock.curve_server = True
        if stype == "SUB":
            sock.setsockopt(zmq.SUBSCRIBE, b"")
        end = PyEnd(sock)
        sock.bind(ANY_PORT)
        self.endpoint = sock.getsockopt(zmq.LAST_ENDPOINT).decode()
        return end

    def client(self, user=None, password=None, keys=None, server_key=None, **peer_kwargs):
        """A client connected to the server: PLAIN with user/password, or
        CURVE with its key pair `keys` and the server's key (the real one
        unless `server_key` says otherwise). `peer_kwargs` go to a ferromq
        client's FerroPeer."""
        assert self.endpoint, "make the server first"
        ctype = self.pattern.client
        server_key = server_key or self.server_keys[0]
        if self.client_side == "ferromq":
            if self.mechanism == "PLAIN":
                args = [f"--plain-user={user}", f"--plain-password={password}"]
            else:
                args = [
                    f"--curve-public={keys[0]}",
                    f"--curve-secret={keys[1]}",
                    f"--curve-serverkey={server_key}",
                ]
            subscribe = [""] if ctype == "SUB" else []
            peer = self.peers(
                ctype,
                connect=[self.endpoint],
                subscribe=subscribe,
                monitor=True,
                extra_args=args,
                **peer_kwargs,
            )
            return FerroEnd(peer)
        sock = py_socket(self.zctx, getattr(zmq, ctype))
        if self.mechanism == "PLAIN":
            sock.plain_username = user.encode()
            sock.plain_password = password.encode()
        else:
            sock.curve_publickey = keys[0].encode()
            sock.curve_secretkey = keys[1].encode()
            sock.curve_serverkey = server_key.encode()
        if ctype == "SUB":
            sock.setsockopt(zmq.SUBSCRIBE, b"")
        end = PyEnd(sock)
        sock.connect(self.endpoint)
        return end


@pytest.fixture
def setup(peers, zctx, py_auth, keygen, tmp_path):
    """setup(server_side, mechanism, pattern) -> Setup."""

    def make(server_side: str, mechanism: str, pattern: Pattern) -> Setup:
        return Setup(server_side, mechanism, pattern, peers, zctx, py_auth, keygen, tmp_path)

    return make


# --- the tests -------------------------------------------------------------------

SIDES = ["ferromq", "pyzmq"]


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p.id)
@pytest.mark.parametrize("mechanism", ["PLAIN", "CURVE"])
@pytest.mark.parametrize("server_side", SIDES, ids=lambda s: f"{s}-serves")
def test_messages_flow_and_the_server_knows_the_user(setup, server_side, mechanism, pattern):
    s = setup(server_side, mechanism, pattern)
    if mechanism == "PLAIN":
        expected_user = "admin"
        server = s.server()
        client = s.client(user="admin", password=USERS["admin"])
    else:
        keys = s.client_keys()
        expected_user = keys[0]  # a CURVE client is known by its public key
        server = s.server(curve_clients=[keys[0]])
        client = s.client(keys=keys)
    assert server.wait_event() == ("HANDSHAKE_SUCCEEDED", 0)
    assert client.wait_event() == ("HANDSHAKE_SUCCEEDED", 0)
    for round_ in range(3):
        seen = exchange(pattern, server, client, f"hello {round_}".encode())
        if seen is not None:
            assert seen == (expected_user, pattern.client)


@pytest.mark.parametrize("server_side", SIDES, ids=lambda s: f"{s}-serves")
def test_curve_allow_any_admits_every_key(setup, server_side):
    pattern = Pattern("ROUTER", "DEALER")
    s = setup(server_side, "CURVE", pattern)
    server = s.server(curve_any=True)
    for _ in range(2):
        keys = s.client_keys()
        client = s.client(keys=keys)
        assert exchange(pattern, server, client, b"anyone") == (keys[0], "DEALER")


def test_keygen_pairs_are_libzmq_key_pairs(ferromq_bin, keygen):
    public, secret = keygen()
    assert zmq.curve_public(secret.encode()) == public.encode()
    py_public, py_secret = zmq.curve_keypair()
    out = subprocess.run(
        [ferromq_bin, "keygen", f"--public-of={py_secret.decode()}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT,
    ).stdout
    assert out == f"public {py_public.decode()}\n"


@pytest.mark.parametrize("server_side", SIDES, ids=lambda s: f"{s}-serves")
def test_a_denied_address_is_refused_whatever_its_password(setup, server_side):
    s = setup(server_side, "PLAIN", Pattern("ROUTER", "DEALER"))
    if server_side == "ferromq":
        peer = s.peers(
            "ROUTER",
            bind=[ANY_PORT],
            monitor=True,
            extra_args=["--plain-server", "--auth-plain=admin:secret", "--auth-deny=127.0.0.1"],
        )
        s.endpoint = peer.endpoint
        server = FerroEnd(peer)
    else:
        auth = s.py_auth()
        auth.deny("127.0.0.1")
        auth.configure_plain("*", USERS)
        sock = py_socket(s.zctx, zmq.ROUTER)
        sock.plain_server = True
        server = PyEnd(sock)
        sock.bind(ANY_PORT)
        s.endpoint = sock.getsockopt(zmq.LAST_ENDPOINT).decode()
    client = s.client(user="admin", password="secret", sndtimeo=0)
    assert server.wait_event() == ("HANDSHAKE_FAILED_AUTH", ZAP_REFUSED)
    assert client.wait_event() == ("HANDSHAKE_FAILED_AUTH", ZAP_REFUSED)
    client.try_send([b"denied"])
    assert server.try_recv(0.3) is None


REFUSALS = {
    # failure: (mechanism, server's event, client's event; None: any value)
    "wrong-password": (
        "PLAIN",
        ("HANDSHAKE_FAILED_AUTH", ZAP_REFUSED),
        ("HANDSHAKE_FAILED_AUTH", ZAP_REFUSED),
    ),
    "unknown-client-key": (
        "CURVE",
        ("HANDSHAKE_FAILED_AUTH", ZAP_REFUSED),
        ("HANDSHAKE_FAILED_AUTH", ZAP_REFUSED),
    ),
    # The server cannot open the client's HELLO and drops the connection,
    # which is all the client learns (libzmq: NO_DETAIL with an errno).
    "wrong-server-key": (
        "CURVE",
        ("HANDSHAKE_FAILED_PROTOCOL", CRYPTOGRAPHIC),
        ("HANDSHAKE_FAILED_NO_DETAIL", None),
    ),
}


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p.id)
@pytest.mark.parametrize("failure", list(REFUSALS))
@pytest.mark.parametrize("server_side", SIDES, ids=lambda s: f"{s}-serves")
def test_a_refused_client_gets_nothing_through_and_others_are_served(
    setup, server_side, failure, pattern
):
    mechanism, server_event, client_event = REFUSALS[failure]
    s = setup(server_side, mechanism, pattern)
    # A refused connection is dropped: a ferromq intruder must not wait in
    # send for a peer that never comes.
    never_wait = dict(sndtimeo=0)
    if mechanism == "PLAIN":
        server = s.server()
        intruder = s.client(user="admin", password="guess", **never_wait)
        friend_creds = dict(user="guest", password=USERS["guest"])
        expected_user = "guest"
    else:
        friend_keys, intruder_keys = s.client_keys(), s.client_keys()
        if failure == "unknown-client-key":
            server = s.server(curve_clients=[friend_keys[0]])
            intruder = s.client(keys=intruder_keys, **never_wait)
        else:
            # The intruder's key is on the list: only the server key is wrong.
            server = s.server(curve_clients=[friend_keys[0], intruder_keys[0]])
            not_the_server = s.client_keys()[0]
            intruder = s.client(keys=intruder_keys, server_key=not_the_server, **never_wait)
        friend_creds = dict(keys=friend_keys)
        expected_user = friend_keys[0]
    if pattern.client != "SUB":
        # Queued if the connection is still being tried, refused (EAGAIN)
        # once it was dropped: either way it must never arrive.
        intruder.try_send([b"intruder"])
    # Both monitors show the refusal.
    assert server.wait_event() == server_event
    name, value = intruder.wait_event()
    assert name == client_event[0], (name, value)
    if client_event[1] is not None:
        assert value == client_event[1]
    if failure == "wrong-server-key":
        # A dropped connection is tried again (and fails again).
        intruder.wait_event({"CONNECT_RETRIED"})
    # A good client that comes next is served.
    friend = s.client(**friend_creds)
    seen = exchange(pattern, server, friend, b"friend")
    if seen is not None:
        assert seen == (expected_user, pattern.client)
    if pattern.server == "PUB":
        assert intruder.try_recv(0.3) is None, "the refused SUB received a publication"
    else:
        drain_for(server, b"intruder")
    if failure != "wrong-server-key":
        # libzmq 4.3: a ZAP refusal (an ERROR command) ends the connection
        # for good; the client does not try again.
        later = intruder.events_now()
        assert "CONNECT_RETRIED" not in later and "CONNECTED" not in later, later
