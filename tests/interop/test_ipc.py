"""ipc between ferromq and libzmq (pyzmq): the kinds of ipc address, each
used across the two libraries with either side binding.

test_interop.py runs REQ/REP, PUB/SUB and PUSH/PULL over ipc socket files
at explicit paths. Here: `ipc://*` (the binding side reports where it went
and the other connects there), relative paths, Linux's abstract namespace,
the longest path that fits and one byte more, connecting before the path
exists, and a binder that goes away and comes back on the same path.

Every round trip is REQ/REP, so data goes both ways over each connection.
Socket files live in `ipc_dir` (a short directory under /tmp).
"""

from __future__ import annotations

import errno
import os
import re
import time
import uuid
from pathlib import Path

import pytest
import zmq

from conftest import IPC_PATH_MAX, TIMEOUT, FerroError, FerroPeer, py_socket

BOTH_WAYS = pytest.mark.parametrize(
    "ferro_binds", [True, False], ids=["ferro-binds", "py-binds"]
)

# Where libzmq looks for a directory for `ipc://*`, in this order; with
# none set it uses the working directory.
TMP_VARS = ("TMPDIR", "TEMPDIR", "TMP")


def request(i: int) -> list[bytes]:
    return [b"ipc request", b"", str(i).encode(), bytes(range(256)) * i]


def reply(i: int) -> list[bytes]:
    return [b"ipc reply", str(i).encode(), b""]


def ferro_asks(req: FerroPeer, rep: zmq.Socket, rounds: int = 3) -> None:
    for i in range(rounds):
        req.send(request(i))
        assert rep.recv_multipart() == request(i)
        rep.send_multipart(reply(i))
        assert req.recv() == reply(i)


def py_asks(req: zmq.Socket, rep: FerroPeer, rounds: int = 3) -> None:
    for i in range(rounds):
        req.send_multipart(request(i))
        assert rep.recv() == request(i)
        rep.send(reply(i))
        assert req.recv_multipart() == reply(i)


def unique_abstract_name() -> str:
    return f"fmq-{os.getpid()}-{uuid.uuid4().hex}"


# --- ipc://* ------------------------------------------------------------------


@pytest.mark.parametrize("where", ["TMPDIR", "cwd"])
def test_py_binds_wildcard_ferro_connects_to_its_last_endpoint(
    ipc_dir, monkeypatch, peers, zctx, where
):
    # libzmq makes a directory tmpXXXXXX holding "socket": under $TMPDIR,
    # or, with none of TMP_VARS set, in the working directory, when
    # LAST_ENDPOINT is relative. The ferromq peer runs in the same
    # directory, so it can connect to that too.
    monkeypatch.chdir(ipc_dir)
    for var in TMP_VARS:
        monkeypatch.delenv(var, raising=False)
    if where == "TMPDIR":
        monkeypatch.setenv("TMPDIR", str(ipc_dir))
    rep = py_socket(zctx, zmq.REP)
    rep.bind("ipc://*")
    endpoint = rep.getsockopt(zmq.LAST_ENDPOINT).decode()
    m = re.fullmatch(r"ipc://(.+)/socket", endpoint)
    assert m, endpoint
    directory = Path(m.group(1))
    if where == "TMPDIR":
        assert directory.parent == ipc_dir, endpoint
    else:
        assert not directory.is_absolute() and len(directory.parts) == 1, endpoint
    assert (ipc_dir / directory.name / "socket").is_socket(), endpoint

    req = peers("REQ", connect=[endpoint])
    ferro_asks(req, rep)


def test_ferro_binds_wildcard_py_connects_to_what_it_reports(ipc_dir, monkeypatch, peers, zctx):
    monkeypatch.setenv("TMPDIR", str(ipc_dir))
    rep = peers("REP", bind=["ipc://*"])
    first = rep.endpoint
    assert rep.last_endpoint() == first
    # A second `ipc://*` gets a place of its own.
    rep.bind("ipc://*")
    second = rep.last_endpoint()
    assert second != first
    paths = []
    for endpoint in (first, second):
        m = re.fullmatch(r"ipc://(/.+)", endpoint)
        assert m, endpoint
        path = Path(m.group(1))
        assert path.parent.parent == ipc_dir, endpoint  # $TMPDIR/<new dir>/<socket>
        assert path.is_socket(), endpoint
        paths.append(path)

    for endpoint in (first, second):
        req = py_socket(zctx, zmq.REQ)
        req.connect(endpoint)
        py_asks(req, rep)
        req.close()

    # As with libzmq, the socket files and the directories made for them
    # go away with the socket.
    assert rep.close() is None
    for path in paths:
        assert not path.exists(), path
        assert not path.parent.exists(), path.parent


def test_wildcard_skips_a_missing_tmpdir_like_libzmq(ipc_dir, monkeypatch, peers, zctx):
    # TMPDIR names nothing: both libraries fall back to the next variable.
    monkeypatch.setenv("TMPDIR", str(ipc_dir / "missing"))
    monkeypatch.setenv("TEMPDIR", str(ipc_dir))
    rep = peers("REP", bind=["ipc://*"])
    path = Path(rep.endpoint[len("ipc://"):])
    assert path.parent.parent == ipc_dir, rep.endpoint
    py = py_socket(zctx, zmq.REP)
    py.bind("ipc://*")
    py_path = Path(py.getsockopt(zmq.LAST_ENDPOINT).decode()[len("ipc://"):])
    assert py_path.parent.parent == ipc_dir, py_path
    req = py_socket(zctx, zmq.REQ)
    req.connect(rep.endpoint)
    py_asks(req, rep)


def test_wildcard_in_a_too_long_tmpdir_is_enametoolong(ipc_dir, monkeypatch, peers, zctx):
    deep = ipc_dir / ("d" * 100)
    deep.mkdir()
    monkeypatch.setenv("TMPDIR", str(deep))
    ferro = peers("PULL")
    with pytest.raises(FerroError) as e:
        ferro.bind("ipc://*")
    assert e.value.kind == "ENAMETOOLONG", e.value
    # ferromq's attempt leaves no directory behind.
    assert list(deep.iterdir()) == []
    py = py_socket(zctx, zmq.PULL)
    with pytest.raises(zmq.ZMQError) as z:
        py.bind("ipc://*")
    assert z.value.errno == errno.ENAMETOOLONG, z.value


# --- relative, abstract, longest ----------------------------------------------


def address(kind: str, ipc_dir: Path) -> tuple[str, Path | None]:
    """(endpoint, the socket file it makes or None), run from ipc_dir."""
    if kind == "relative":
        return "ipc://relative.ipc", ipc_dir / "relative.ipc"
    if kind == "abstract":
        return f"ipc://@{unique_abstract_name()}", None
    if kind == "longest-path":
        path = ipc_dir / ("x" * (IPC_PATH_MAX - len(str(ipc_dir)) - 1))
        assert len(str(path).encode()) == IPC_PATH_MAX
        return f"ipc://{path}", path
    if kind == "longest-abstract":
        name = unique_abstract_name()
        name += "y" * (IPC_PATH_MAX - 1 - len(name))  # "@" + name
        return f"ipc://@{name}", None
    raise ValueError(kind)


@BOTH_WAYS
@pytest.mark.parametrize("kind", ["relative", "abstract", "longest-path", "longest-abstract"])
def test_address_kinds(ipc_dir, monkeypatch, peers, zctx, kind, ferro_binds):
    monkeypatch.chdir(ipc_dir)
    endpoint, socket_file = address(kind, ipc_dir)
    rep = py_socket(zctx, zmq.REP)
    if ferro_binds:
        req = peers("REQ", bind=[endpoint])
        assert req.endpoint == endpoint
        rep.connect(endpoint)
    else:
        rep.bind(endpoint)
        assert rep.getsockopt(zmq.LAST_ENDPOINT).decode() == endpoint
        req = peers("REQ", connect=[endpoint])
    ferro_asks(req, rep)
    # A path is a socket file in the working directory; an abstract name
    # leaves nothing on the filesystem.
    if socket_file is None:
        assert os.listdir(ipc_dir) == []
    else:
        assert os.listdir(ipc_dir) == [socket_file.name]
        assert socket_file.is_socket()


@pytest.mark.parametrize("kind", ["path", "abstract"])
def test_one_byte_too_long_is_refused_by_both(ipc_dir, peers, zctx, kind):
    if kind == "path":
        endpoint = f"ipc://{ipc_dir}/" + "x" * (IPC_PATH_MAX - len(str(ipc_dir)))
    else:
        endpoint = "ipc://@" + "y" * IPC_PATH_MAX
    assert len(endpoint) - len("ipc://") == IPC_PATH_MAX + 1
    ferro = peers("PULL")
    py = py_socket(zctx, zmq.PULL)
    for op in ("bind", "connect"):
        with pytest.raises(FerroError) as e:
            getattr(ferro, op)(endpoint)
        assert e.value.kind == "ENAMETOOLONG", (op, e.value)
        with pytest.raises(zmq.ZMQError) as z:
            getattr(py, op)(endpoint)
        assert z.value.errno == errno.ENAMETOOLONG, (op, z.value)
    assert os.listdir(ipc_dir) == []


# --- the path appearing late, and the binder coming back -----------------------


def numbered(i: int) -> list[bytes]:
    return [b"n", str(i).encode(), bytes([i]) * i]


@BOTH_WAYS
def test_connect_before_the_path_exists(ipc_dir, peers, zctx, ferro_binds):
    # Both keep retrying a path that is not there yet; what was sent
    # meanwhile is delivered once the other side binds.
    path = ipc_dir / "late.ipc"
    endpoint = f"ipc://{path}"
    if ferro_binds:
        push = py_socket(zctx, zmq.PUSH)
        push.connect(endpoint)
        for i in range(5):
            push.send_multipart(numbered(i))
        assert not path.exists()
        pull = peers("PULL", bind=[endpoint])
        got = [pull.recv() for _ in range(5)]
    else:
        push = peers("PUSH", connect=[endpoint])
        for i in range(5):
            push.send(numbered(i))
        assert not path.exists()
        pull = py_socket(zctx, zmq.PULL)
        pull.bind(endpoint)
        got = [pull.recv_multipart() for _ in range(5)]
    assert got == [numbered(i) for i in range(5)]


@BOTH_WAYS
def test_connecter_reaches_a_binder_restarted_on_the_same_path(
    ipc_dir, peers, zctx, ferro_binds
):
    # The binder goes away leaving its socket file behind (a killed ferromq
    # peer runs no cleanup; libzmq never removes a named path's file), a
    # new binder takes the path over the stale file, and the connecter
    # finds it by reconnecting.
    path = ipc_dir / "restart.ipc"
    endpoint = f"ipc://{path}"
    if ferro_binds:
        push = py_socket(zctx, zmq.PUSH)
        first = peers("PULL", bind=[endpoint])
        push.connect(endpoint)
        push.send_multipart([b"to first"])
        assert first.recv() == [b"to first"]
        first.kill()
        second = peers("PULL", bind=[endpoint])  # over the file `first` left

        def send(msg):
            push.send_multipart(msg)

        try_recv = second.try_recv
    else:
        push = peers("PUSH", connect=[endpoint])
        first = py_socket(zctx, zmq.PULL)
        first.bind(endpoint)
        push.send([b"to first"])
        assert first.recv_multipart() == [b"to first"]
        first.close()
        assert path.is_socket()  # left by libzmq
        second = py_socket(zctx, zmq.PULL)
        second.bind(endpoint)
        send = push.send

        def try_recv(timeout):
            if second.poll(int(timeout * 1000), zmq.POLLIN):
                return second.recv_multipart()
            return None

    # Messages sent while the link was down may be lost with it; probe
    # until one gets through, then nothing may be lost or reordered.
    probe = [b"probe"]
    end = time.monotonic() + TIMEOUT
    while True:
        send(probe)
        got = try_recv(0.05)
        if got is not None:
            break
        if time.monotonic() > end:
            pytest.fail(f"nothing reached the second binder within {TIMEOUT:.0f} s")
    assert got == probe
    for i in range(20):
        send(numbered(i))
    received = []
    while len(received) < 20:
        msg = try_recv(TIMEOUT)
        assert msg is not None, f"got only {len(received)} of 20"
        if msg != probe:
            received.append(msg)
    assert received == [numbered(i) for i in range(20)]
