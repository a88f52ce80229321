"""Fixtures for the interop suite: the `ferromq peer` CLI driven over its
stdin/stdout line protocol, against pyzmq (libzmq) sockets.

Set FERROMQ_BIN to use a prebuilt `ferromq` binary; otherwise the CLI is
built once per session with `cargo build -p ferromq-cli`.

The guide's example programs (test_examples.py) run as they are, told their
endpoints through environment variables; set FERROMQ_EXAMPLES_DIR to a
directory of prebuilt ones, or they are built once per session with
`cargo build -p ferromq --examples`.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import zmq

REPO = Path(__file__).resolve().parents[2]

# Every wait in this suite is bounded: nothing may hang the run.
TIMEOUT = 10.0
ANY_PORT = "tcp://127.0.0.1:*"
# A unix socket address holds at most this many bytes of path.
IPC_PATH_MAX = 107


def hexpart(part: bytes) -> str:
    return part.hex() if part else "-"


def unhexpart(token: str) -> bytes:
    return b"" if token == "-" else bytes.fromhex(token)


class FerroError(Exception):
    """The peer answered `err KIND message`."""

    def __init__(self, kind: str, message: str, command: str):
        super().__init__(f"{command!r} failed: {kind} {message}")
        self.kind = kind
        self.message = message


class FerroPeer:
    """One `ferromq peer` subprocess: one ferromq socket, driven line by line."""

    def __init__(
        self,
        binary: str,
        socket_type: str,
        *,
        bind=(),
        connect=(),
        subscribe=(),
        identity: str | None = None,
        linger: int = 200,
        sndtimeo: int = 5000,
        router_mandatory: bool = False,
        xpub_verbose: bool = False,
        conflate: bool = False,
        sndhwm: int | None = None,
        rcvhwm: int | None = None,
        monitor: bool = False,
        extra_args=(),
    ):
        """`monitor` starts the socket's monitor before any bind or connect
        (read it with next_event/wait_event); `extra_args` are more command
        line options (security: --curve-server, --auth-plain U:P, ...)."""
        self.socket_type = socket_type
        args = [binary, "peer", "--type", socket_type]
        if monitor:
            args.append("--monitor")
        for ep in bind:
            args += ["--bind", ep]
        for ep in connect:
            args += ["--connect", ep]
        for topic in subscribe:
            args += [f"--subscribe={topic}"]
        if identity is not None:
            args += ["--identity", identity]
        args += [f"--linger={linger}", f"--sndtimeo={sndtimeo}"]
        if router_mandatory:
            args.append("--router-mandatory")
        if xpub_verbose:
            args.append("--xpub-verbose")
        if conflate:
            args.append("--conflate")
        if sndhwm is not None:
            args.append(f"--sndhwm={sndhwm}")
        if rcvhwm is not None:
            args.append(f"--rcvhwm={rcvhwm}")
        args += [str(a) for a in extra_args]
        self.args = args
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        threading.Thread(target=self._pump_stderr, daemon=True).start()
        line = self._read_line(TIMEOUT, "startup")
        if not line.startswith("ready "):
            self.kill()
            raise RuntimeError(f"{self._describe()} did not start: {line!r}{self._stderr_note()}")
        self.endpoint = line.split(" ", 1)[1]

    # -- plumbing ---------------------------------------------------------

    def _pump_stdout(self):
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _pump_stderr(self):
        for line in self.proc.stderr:
            self._stderr.append(line)

    def _describe(self) -> str:
        return f"ferromq peer ({self.socket_type}, pid {self.proc.pid})"

    def _stderr_note(self) -> str:
        time.sleep(0.05)
        text = "".join(self._stderr).strip()
        return f"\nstderr: {text}" if text else ""

    def _read_line(self, timeout: float, what: str) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(
                f"{self._describe()} gave no reply to {what!r} within {timeout:.0f} s"
            ) from None
        if line is None:
            self._lines.put(None)  # stay at EOF for later reads
            rc = self.proc.poll()
            raise RuntimeError(
                f"{self._describe()} exited (code {rc}) instead of answering {what!r}"
                f"{self._stderr_note()}"
            )
        return line

    def command(self, line: str, timeout: float = TIMEOUT) -> str:
        """Sends one command line and returns the reply line (raises on `err`)."""
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise RuntimeError(f"{self._describe()} is gone: {e}{self._stderr_note()}") from None
        reply = self._read_line(timeout, line[:80])
        if reply.startswith("err "):
            _, kind, *rest = reply.split(" ", 2)
            raise FerroError(kind, rest[0] if rest else "", line[:80])
        return reply

    # -- socket operations -------------------------------------------------

    def send(self, parts: list[bytes]) -> None:
        assert parts, "a message needs at least one part"
        reply = self.command("send " + " ".join(hexpart(p) for p in parts))
        assert reply == "ok", reply

    def recv(self, timeout: float = TIMEOUT) -> list[bytes]:
        """Receives one multipart message; FerroError(EAGAIN) on timeout."""
        reply = self.command(f"recv {int(timeout * 1000)}", timeout=timeout + TIMEOUT)
        kind, *parts = reply.split(" ")
        assert kind == "msg", reply
        return [unhexpart(p) for p in parts]

    def try_recv(self, timeout: float) -> list[bytes] | None:
        """Like recv, but None when nothing arrived in time."""
        try:
            return self.recv(timeout)
        except FerroError as e:
            if e.kind == "EAGAIN":
                return None
            raise

    def recv_props(self, timeout: float = TIMEOUT) -> tuple[list[bytes], dict[str, bytes]]:
        """Receives one message and the properties of its first frame
        (User-Id, Socket-Type, Peer-Address, ...); FerroError(EAGAIN) on
        timeout."""
        reply = self.command(f"recvprops {int(timeout * 1000)}", timeout=timeout + TIMEOUT)
        head, _, props = reply.partition(" props")
        kind, *parts = head.split(" ")
        assert kind == "msg", reply
        properties = {}
        for item in props.split():
            name, _, value = item.partition("=")
            properties[name] = unhexpart(value)
        return [unhexpart(p) for p in parts], properties

    def next_event(self, timeout: float = TIMEOUT) -> tuple[str, int, str] | None:
        """The next monitor event as (NAME, value, endpoint), or None when
        none came in time (the peer must have been started with monitor)."""
        try:
            reply = self.command(f"event {int(timeout * 1000)}", timeout=timeout + TIMEOUT)
        except FerroError as e:
            if e.kind == "EAGAIN":
                return None
            raise
        _, name, value, endpoint = reply.split(" ", 3)
        return name, int(value), endpoint

    def wait_event(self, names, timeout: float = TIMEOUT) -> tuple[str, int, str]:
        """Skips monitor events until one named in `names` comes; fails
        the test if none does within `timeout`."""
        deadline = time.monotonic() + timeout
        seen = []
        while (left := deadline - time.monotonic()) > 0:
            ev = self.next_event(left)
            if ev is None:
                break
            if ev[0] in names:
                return ev
            seen.append(ev[0])
        pytest.fail(
            f"{self._describe()}: none of {sorted(names)} within {timeout:.0f} s "
            f"(saw {seen})",
            pytrace=False,
        )

    def send_seq(self, count: int, first: int = 0, size: int = 0, timeout: float = TIMEOUT) -> None:
        """Sends `count` one-part messages whose bodies are the decimal
        numbers first, first+1, ... (padded with b"." to `size` bytes);
        returns once all were sent."""
        reply = self.command(f"sendseq {count} {first} {size}", timeout=timeout)
        assert reply == "ok", reply

    def stats(self) -> dict[str, int]:
        """The socket's counters: sent, received, dropped (the total) and
        the dropped count of each reason (hwm, peer_gone, conflated, ...)."""
        kind, *fields = self.command("stats").split(" ")
        assert kind == "stats", kind
        return {k: int(v) for k, v in (f.split("=", 1) for f in fields)}

    def sub(self, topic: bytes) -> None:
        self.command("sub " + hexpart(topic))

    def unsub(self, topic: bytes) -> None:
        self.command("unsub " + hexpart(topic))

    def bind(self, endpoint: str) -> None:
        self.command("bind " + endpoint)

    def connect(self, endpoint: str) -> None:
        self.command("connect " + endpoint)

    def events(self) -> int:
        """ZMQ_EVENTS. Also makes the socket take in new connections, which
        an idle socket (one not inside any call) does not do, as in libzmq."""
        return int(self.command("events").split(" ", 1)[1])

    def last_endpoint(self) -> str:
        return self.command("endpoint").split(" ", 1)[1]

    # -- shutdown ------------------------------------------------------------

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=TIMEOUT)

    def close(self) -> str | None:
        """Quits; returns a complaint if the peer did not exit cleanly."""
        if self.proc.poll() is not None:
            return None
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.stdin.close()
            rc = self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            return f"{self._describe()} did not exit within {TIMEOUT:.0f} s of quit"
        except (BrokenPipeError, OSError):
            rc = self.proc.wait(timeout=TIMEOUT)
        if rc != 0:
            return f"{self._describe()} exited with {rc} after quit{self._stderr_note()}"
        return None


@pytest.fixture(scope="session")
def ferromq_bin() -> str:
    given = os.environ.get("FERROMQ_BIN")
    if given:
        if not os.access(given, os.X_OK):
            pytest.fail(f"FERROMQ_BIN={given!r} is not an executable file")
        return os.path.abspath(given)  # some tests change directory
    subprocess.run(
        ["cargo", "build", "--quiet", "-p", "ferromq-cli", "--bin", "ferromq"],
        cwd=REPO,
        check=True,
        timeout=900,
    )
    binary = cargo_target_dir() / "debug" / "ferromq"
    assert binary.exists(), binary
    return str(binary)


def cargo_target_dir() -> Path:
    """Cargo's target directory (CARGO_TARGET_DIR and config respected)."""
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Path(json.loads(meta.stdout)["target_directory"])


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    """Where the guide's example programs (crates/ferromq/examples) are
    built: FERROMQ_EXAMPLES_DIR if set, else they are built once per
    session with `cargo build -p ferromq --examples`."""
    given = os.environ.get("FERROMQ_EXAMPLES_DIR")
    if given:
        if not Path(given).is_dir():
            pytest.fail(f"FERROMQ_EXAMPLES_DIR={given!r} is not a directory")
        return Path(given).resolve()
    subprocess.run(
        ["cargo", "build", "--quiet", "-p", "ferromq", "--examples"],
        cwd=REPO,
        check=True,
        timeout=900,
    )
    return cargo_target_dir() / "debug" / "examples"


@pytest.fixture
def zctx():
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


def py_socket(ctx: zmq.Context, socket_type: int, options=()) -> zmq.Socket:
    """A pyzmq socket whose blocking calls give up after TIMEOUT."""
    s = ctx.socket(socket_type)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, int(TIMEOUT * 1000))
    s.setsockopt(zmq.SNDTIMEO, int(TIMEOUT * 1000))
    for opt, value in options:
        s.setsockopt(opt, value)
    return s


@pytest.fixture
def peers(ferromq_bin):
    """Factory for FerroPeer processes; all are closed (and must exit
    cleanly) at teardown."""
    started: list[FerroPeer] = []

    def make(socket_type: str, **kwargs) -> FerroPeer:
        peer = FerroPeer(ferromq_bin, socket_type, **kwargs)
        started.append(peer)
        return peer

    yield make
    complaints = [c for c in (p.close() for p in started) if c]
    if complaints:
        pytest.fail("; ".join(complaints), pytrace=False)


@pytest.fixture
def ipc_dir():
    """A fresh directory for ipc socket files, removed afterwards. It is
    made under /tmp, not in pytest's tmp_path, so that paths in it stay
    well within IPC_PATH_MAX. A test should request it before `peers`
    and `zctx`, so that it is removed after they are closed."""
    path = Path(tempfile.mkdtemp(prefix="fmq", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def transport() -> str:
    """What `pair` connects over: "tcp" (an ephemeral loopback port) unless
    a test parametrises it, e.g. @pytest.mark.parametrize("transport",
    ["tcp", "ipc"]); "ipc" is a socket file in a fresh ipc_dir."""
    return "tcp"


@pytest.fixture
def pair(ipc_dir, peers, zctx, transport):
    """make(ferro_type, py_type, ferro_binds, py_options=(), **peer_kwargs)
    -> (FerroPeer, pyzmq socket), connected one way or the other over
    `transport`."""

    def endpoint_to_bind(name: str) -> str:
        if transport == "tcp":
            return ANY_PORT
        if transport == "ipc":
            return f"ipc://{ipc_dir}/{name}"
        raise ValueError(f"pair cannot connect over {transport!r}")

    def make(ferro_type: str, py_type: int, ferro_binds: bool, py_options=(), **kwargs):
        ps = py_socket(zctx, py_type, py_options)
        if ferro_binds:
            wanted = endpoint_to_bind("ferro")
            peer = peers(ferro_type, bind=[wanted], **kwargs)
            if transport == "tcp":
                assert peer.endpoint.startswith("tcp://127.0.0.1:"), peer.endpoint
            else:
                assert peer.endpoint == wanted
            ps.connect(peer.endpoint)
        else:
            wanted = endpoint_to_bind("py")
            ps.bind(wanted)
            endpoint = ps.getsockopt(zmq.LAST_ENDPOINT).decode()
            if transport != "tcp":
                assert endpoint == wanted
            peer = peers(ferro_type, connect=[endpoint], **kwargs)
        return peer, ps

    return make


# --- the guide's example programs ---------------------------------------------


class LineCollector:
    """Collects a child process's stdout lines (and its stderr) as they
    come, on two daemon threads. `lines` grows under `_changed`, which is
    notified on every line and once more at end of output (`eof`)."""

    def _collect(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._stderr: list[str] = []
        self._changed = threading.Condition()
        self.eof = False
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        threading.Thread(target=self._pump_stderr, daemon=True).start()

    def _pump_stdout(self):
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.eof = True
            self._changed.notify_all()

    def _pump_stderr(self):
        for line in self.proc.stderr:
            self._stderr.append(line)


class ExampleProcess(LineCollector):
    """One example program (target/debug/examples/<name>) running with
    its endpoint overrides in the environment; stdout is collected line by
    line."""

    def __init__(self, directory: Path, name: str, args=(), env=None, stdin_pipe=False):
        binary = directory / name
        if not os.access(binary, os.X_OK):
            pytest.fail(f"example {name!r} is not built: {binary}")
        self.name = name
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env.setdefault("RUST_BACKTRACE", "1")
        self._collect(
            subprocess.Popen(
                [str(binary), *args],
                stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                bufsize=1,
                env=full_env,
            )
        )

    def describe(self) -> str:
        """Name, pid, state, and what it printed: for failure messages."""
        rc = self.proc.poll()
        state = "running" if rc is None else f"exit code {rc}"
        time.sleep(0.05)  # let the pumps catch up
        out = "\n".join(self.lines[-20:])
        err = "".join(self._stderr).strip()
        return (
            f"example {self.name} (pid {self.proc.pid}, {state})"
            f"\nstdout (last 20 lines):\n{out}\nstderr:\n{err}"
        )

    def write_stdin(self, text: str, close: bool = True) -> None:
        self.proc.stdin.write(text)
        self.proc.stdin.flush()
        if close:
            self.proc.stdin.close()

    def wait_for_lines(self, pattern: str, count: int = 1, timeout: float = TIMEOUT) -> list[str]:
        """Waits until `count` stdout lines match the regex `pattern`."""
        regex = re.compile(pattern)
        end = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [line for line in self.lines if regex.search(line)]
                if len(found) >= count:
                    return found
                left = end - time.monotonic()
                if left <= 0 or self.eof:
                    break
                self._changed.wait(left)
        pytest.fail(
            f"wanted {count} stdout lines matching {pattern!r} within {timeout:.0f} s, "
            f"got {len(found)}\n{self.describe()}",
            pytrace=False,
        )

    def wait_exit(self, timeout: float = TIMEOUT) -> list[str]:
        """Waits for the program to end by itself with status 0; returns
        all of its stdout lines."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"did not exit within {timeout:.0f} s\n{self.describe()}", pytrace=False
            )
        self._drained()
        if rc != 0:
            pytest.fail(f"exited with {rc}\n{self.describe()}", pytrace=False)
        return list(self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=TIMEOUT)

    def stop(self) -> str | None:
        """Ends a program that runs until killed (a server, a broker);
        returns a complaint if it had already stopped on its own."""
        rc = self.proc.poll()
        if rc is not None:
            return f"ended on its own before the test stopped it\n{self.describe()}"
        self.proc.terminate()
        try:
            self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            return f"ignored SIGTERM for {TIMEOUT:.0f} s\n{self.describe()}"
        self._drained()
        return None

    def _drained(self) -> None:
        """Waits (bounded) until all stdout, a last unfinished line
        included, is in self.lines."""
        with self._changed:
            self._changed.wait_for(lambda: self.eof, timeout=TIMEOUT)


@pytest.fixture
def examples(examples_dir):
    """Factory: examples(name, args=(), env={...}, stdin_pipe=False) ->
    ExampleProcess. Whatever is still running at teardown is killed."""
    started: list[ExampleProcess] = []

    def start(name: str, args=(), env=None, stdin_pipe=False) -> ExampleProcess:
        example = ExampleProcess(examples_dir, name, args, env, stdin_pipe)
        started.append(example)
        return example

    yield start
    for example in started:
        example.kill()


def free_endpoints(count: int) -> list[str]:
    """`count` distinct loopback TCP endpoints, free a moment ago, for a
    program that can only be told a concrete port to bind."""
    holders = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            holders.append(s)
        return [f"tcp://127.0.0.1:{s.getsockname()[1]}" for s in holders]
    finally:
        for s in holders:
            s.close()


@pytest.fixture
def threads(zctx):
    """Factory: threads(fn, *args, on_stop=None) runs fn(stop, *args) in a
    thread, where `stop` is a threading.Event set at teardown (after which
    on_stop, if given, is called: to wake a thread stuck in something that
    does not look at `stop`). Each thread must finish within TIMEOUT and
    close its own sockets (zctx outlives them); an exception raised in a
    thread fails the test."""
    stop = threading.Event()
    started: list[threading.Thread] = []
    stoppers = []
    errors: list[str] = []

    def run(fn, args):
        try:
            fn(stop, *args)
        except BaseException as e:  # reported at teardown
            errors.append(f"{fn.__name__}: {e!r}")

    def start(fn, *args, on_stop=None) -> threading.Thread:
        t = threading.Thread(target=run, args=(fn, args), daemon=True)
        t.start()
        started.append(t)
        if on_stop is not None:
            stoppers.append(on_stop)
        return t

    yield start
    stop.set()
    for on_stop in stoppers:
        on_stop()
    for t in started:
        t.join(TIMEOUT)
    stuck = [t.name for t in started if t.is_alive()]
    if stuck or errors:
        pytest.fail(f"background threads: stuck {stuck}, errors {errors}", pytrace=False)
