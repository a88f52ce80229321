"""Fault tests across implementations (issue 7): a libzmq (pyzmq) peer and a
ferromq peer, one of them killed with SIGKILL mid-stream and restarted on
the same port, or frozen with SIGSTOP under heartbeats, while the other
survives. Each test states what arrives and what is lost, and checks that
nothing arrives twice or out of order.

The killable peers are processes: `ferromq seq-send` / `seq-recv` on the
ferromq side, libzmq_peer.py on the libzmq side; both print one flushed
line per message, so after a SIGKILL their output still tells exactly what
they got. Waits are on conditions (lines printed, monitor events) with
deadlines; the only sleeps make a fault or a quiet period last.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from conftest import TIMEOUT, LineCollector, free_endpoints, py_socket

HERE = Path(__file__).resolve().parent
LIBZMQ_PEER = [sys.executable, str(HERE / "libzmq_peer.py")]
# The senders' pace: plenty in flight when the fault hits, light on the CPU.
PACE = 0.0002


class LineProc(LineCollector):
    """A child process whose stdout lines are collected as they come."""

    def __init__(self, name: str, args: list[str]):
        self.name = name
        self.args = args
        self._collect(
            subprocess.Popen(
                args,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
        )

    def describe(self) -> str:
        rc = self.proc.poll()
        state = "running" if rc is None else f"exit code {rc}"
        tail = "\n".join(self.lines[-20:])
        return (
            f"{self.name} (pid {self.proc.pid}, {state}), {len(self.lines)} lines; last:\n"
            f"{tail}\nstderr: {''.join(self._stderr).strip()}"
        )

    def poll_for(self, cond, timeout: float) -> bool:
        """Waits up to `timeout` for cond(lines); False if it did not hold."""
        end = time.monotonic() + timeout
        with self._changed:
            while not cond(self.lines):
                left = end - time.monotonic()
                if self.eof or left <= 0:
                    return False
                self._changed.wait(min(left, 0.1))
            return True

    def wait_for(self, what: str, cond, timeout: float = TIMEOUT * 2) -> None:
        """Waits until cond(lines) holds; fails at the deadline or if the
        process ends first."""
        if not self.poll_for(cond, timeout):
            pytest.fail(f"waiting for {what}: {self.describe()}", pytrace=False)

    def numbers(self, verb: str = "recv", prefix: str = "") -> list[int]:
        """The numbers n of the lines `<verb> <prefix><n>`, in order."""
        pattern = re.compile(rf"^{verb} {re.escape(prefix)}(\d+)$")
        with self._changed:
            return [int(m.group(1)) for m in map(pattern.match, self.lines) if m]

    def events(self) -> list[str]:
        """The names of the `event NAME ...` lines (ferromq --events)."""
        with self._changed:
            return [l.split(" ")[1] for l in self.lines if l.startswith("event ")]

    def write(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def kill9(self) -> None:
        """SIGKILL, then waits until everything it printed is read."""
        self.proc.kill()
        self.proc.wait(timeout=TIMEOUT)
        with self._changed:
            self._changed.wait_for(lambda: self.eof, timeout=TIMEOUT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=TIMEOUT)


@pytest.fixture
def procs():
    """Factory: procs(name, args) -> LineProc; procs.bound(name, args)
    also waits for its `ready` line, retrying while the port is still
    held by a killed predecessor. All are killed at teardown."""
    started: list[LineProc] = []

    def start(name: str, args: list[str]) -> LineProc:
        p = LineProc(name, args)
        started.append(p)
        return p

    def bound(name: str, args: list[str]) -> LineProc:
        end = time.monotonic() + TIMEOUT
        while True:
            p = start(name, args)
            p.wait_for("ready or exit", lambda ls: p.eof or any(l.startswith("ready ") for l in ls))
            if any(l.startswith("ready ") for l in p.lines):
                return p
            p.stop()
            err = "".join(p._stderr)
            if "in use" not in err or time.monotonic() > end:
                pytest.fail(f"{name} did not start: {p.describe()}", pytrace=False)
            time.sleep(0.05)

    start.bound = bound
    yield start
    for p in started:
        p.stop()


class MonitorLog:
    """A pyzmq socket's monitor events, kept in order."""

    def __init__(self, sock: zmq.Socket):
        self.mon = sock.get_monitor_socket()
        self.seen: list[int] = []

    def pump(self, timeout: float = 0.0) -> None:
        """Reads the events that come within `timeout`."""
        end = time.monotonic() + timeout
        while True:
            left = max(0.0, end - time.monotonic())
            if not self.mon.poll(int(left * 1000)):
                return
            self.seen.append(recv_monitor_message(self.mon)["event"])

    def find(self, event: int, after: int = -1) -> int | None:
        for i in range(after + 1, len(self.seen)):
            if self.seen[i] == event:
                return i
        return None

    def wait_for(self, event: int, after: int = -1, timeout: float = TIMEOUT * 2) -> int:
        """Waits for `event` after position `after`; returns its position."""
        end = time.monotonic() + timeout
        while (i := self.find(event, after)) is None:
            left = end - time.monotonic()
            if left <= 0:
                pytest.fail(f"no event {event:#x} after #{after}: {self.names()}", pytrace=False)
            self.pump(min(left, 0.1))
        return i

    def names(self) -> str:
        names = {getattr(zmq, n): n for n in dir(zmq) if n.startswith("EVENT_")}
        return " ".join(names.get(e, hex(e)).removeprefix("EVENT_") for e in self.seen)

    def close(self) -> None:
        self.mon.close(linger=0)


def assert_run(what: str, seq: list[int], first: int) -> None:
    """seq is exactly first, first+1, ...: nothing twice, out of order or missing."""
    assert seq == list(range(first, first + len(seq))), f"{what}: {seq[:20]}...{seq[-20:]}"


def ferro_recv(ferromq_bin: str, *args: str) -> list[str]:
    return [ferromq_bin, "seq-recv", *args]


# --- SIGKILL mid-stream ---------------------------------------------------------


def test_libzmq_push_reconnects_to_a_ferromq_pull_killed_and_restarted(zctx, procs, ferromq_bin):
    """libzmq PUSH (here, SNDHWM 10) -> ferromq PULL (a process), which is
    frozen, sent 300 more, killed with SIGKILL and restarted on its port.

    The first incarnation printed exactly 0..=a (a below the freeze
    point); the second exactly b..=last, everything sent after it came
    back; at most SNDHWM of the messages sent before the kill were still
    queued to survive it, so b + 10 >= (sent at the kill) and the gap is
    what died with the connection. libzmq sees DISCONNECTED, then
    HANDSHAKE_SUCCEEDED with the new process."""
    (ep,) = free_endpoints(1)
    pull_args = ferro_recv(ferromq_bin, "--type", "PULL", "--bind", ep)
    first = procs.bound("ferromq PULL #1", pull_args)
    push = py_socket(zctx, zmq.PUSH, [(zmq.SNDHWM, 10)])
    events = MonitorLog(push)
    push.connect(ep)
    sent = 0

    def send_paced():
        nonlocal sent
        try:
            push.send_string(str(sent), zmq.NOBLOCK)
        except zmq.Again:
            time.sleep(0.001)
            return
        sent += 1
        time.sleep(PACE)

    end = time.monotonic() + TIMEOUT
    while len(first.numbers()) < 100:
        send_paced()
        assert time.monotonic() < end, first.describe()
    first.signal(signal.SIGSTOP)
    frozen_at = sent
    while sent < frozen_at + 300:
        send_paced()
        assert time.monotonic() < end, "sending into the frozen connection"
    killed_at = sent
    events.pump()
    mark = len(events.seen) - 1
    first.kill9()
    got1 = first.numbers()
    while events.find(zmq.EVENT_DISCONNECTED, mark) is None:
        send_paced()
        events.pump()
        assert time.monotonic() < end + TIMEOUT, f"no DISCONNECTED: {events.names()}"
    disconnected = events.find(zmq.EVENT_DISCONNECTED, mark)
    second = procs.bound("ferromq PULL #2", pull_args)
    while events.find(zmq.EVENT_HANDSHAKE_SUCCEEDED, disconnected) is None:
        send_paced()
        events.pump()
        assert time.monotonic() < end + 2 * TIMEOUT, f"no reconnect: {events.names()}"
    after = sent
    while sent < after + 200:
        send_paced()
    last = sent - 1
    second.wait_for(f"message {last}", lambda ls: f"recv {last}" in ls)
    got2 = second.numbers()
    events.close()

    assert len(got1) >= 100
    assert_run("first incarnation", got1, 0)
    a, b = got1[-1], got2[0]
    assert a < frozen_at
    assert b > a
    assert b + 10 >= killed_at, (b, killed_at)
    assert_run("second incarnation", got2, b)
    assert got2[-1] == last
    print(f"libzmq PUSH: sent {sent} (frozen at {frozen_at}, killed at {killed_at}); first got "
          f"0..={a}, second {b}..={last}; lost {b - a - 1}; events: {events.names()}")


def test_ferromq_push_reconnects_to_a_libzmq_pull_killed_and_restarted(procs, ferromq_bin):
    """ferromq PUSH (a process, SNDHWM 10) -> libzmq PULL (a process),
    which is frozen, sent 300 more, killed with SIGKILL and restarted.

    ferromq reports DISCONNECTED, then HANDSHAKE_SUCCEEDED again; the
    first libzmq process printed exactly 0..=a; the second an unbroken
    run from b, with b + 10 >= what ferromq had sent at the kill (only its
    queue survives; the rest died with the connection) and reaching past
    what was sent after the reconnect."""
    (ep,) = free_endpoints(1)
    pull_args = [*LIBZMQ_PEER, "PULL", "bind", ep]
    first = procs.bound("libzmq PULL #1", pull_args)
    push = procs(
        "ferromq PUSH",
        [ferromq_bin, "seq-send", "--type", "PUSH", "--connect", ep, "--sndhwm", "10",
         "--events", "--interval-us", "200"],
    )
    first.wait_for("100 messages", lambda ls: len(ls) > 100)
    first.signal(signal.SIGSTOP)
    frozen_seen = len(push.numbers("sent"))
    push.wait_for("300 sent into the frozen connection",
                  lambda ls: len(push.numbers("sent")) >= frozen_seen + 300)
    killed_seen = len(push.numbers("sent"))
    first.kill9()
    got1 = first.numbers()
    push.wait_for("DISCONNECTED", lambda ls: "DISCONNECTED" in push.events())
    second = procs.bound("libzmq PULL #2", pull_args)
    push.wait_for("the second HANDSHAKE_SUCCEEDED",
                  lambda ls: push.events().count("HANDSHAKE_SUCCEEDED") == 2)
    reconnected_seen = len(push.numbers("sent"))
    second.wait_for("200 sent after the reconnect",
                    lambda ls: any(n >= reconnected_seen + 200 for n in second.numbers()))
    got2 = second.numbers()
    ev = push.events()

    assert ev.index("HANDSHAKE_SUCCEEDED") < ev.index("DISCONNECTED")
    assert_run("first incarnation", got1, 0)
    a, b = got1[-1], got2[0]
    assert a < frozen_seen + 300
    assert b > a
    assert b + 10 >= killed_seen, (b, killed_seen)
    assert_run("second incarnation", got2, b)
    print(f"ferromq PUSH: killed when it had sent {killed_seen}; first got 0..={a}, second "
          f"{b}..={got2[-1]}; lost {b - a - 1}; ferromq events: {ev}")


# --- heartbeats across implementations --------------------------------------------


def test_libzmq_heartbeats_are_answered_by_ferromq(zctx, procs, ferromq_bin):
    """libzmq DEALER (here, HEARTBEAT_IVL 100 ms, HEARTBEAT_TIMEOUT 500 ms)
    connected to a ferromq DEALER (a process) that has no heartbeats of
    its own. Quiet for 15 heartbeat intervals, the connection stays up:
    ferromq answers libzmq's PINGs. Control: the ferromq process frozen
    with SIGSTOP is dropped (so heartbeats were on), and after SIGCONT
    libzmq reconnects and everything sent arrives once, in order."""
    (ep,) = free_endpoints(1)
    peer = procs.bound("ferromq DEALER", ferro_recv(ferromq_bin, "--type", "DEALER", "--bind", ep))
    dealer = py_socket(
        zctx, zmq.DEALER, [(zmq.HEARTBEAT_IVL, 100), (zmq.HEARTBEAT_TIMEOUT, 500)]
    )
    events = MonitorLog(dealer)
    dealer.connect(ep)
    up = events.wait_for(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    events.pump(1.5)  # the quiet period
    assert events.find(zmq.EVENT_DISCONNECTED, up) is None, events.names()
    dealer.send_string("0")
    peer.wait_for("message 0", lambda ls: "recv 0" in ls)

    peer.signal(signal.SIGSTOP)
    dropped = events.wait_for(zmq.EVENT_DISCONNECTED, up)
    dealer.send_string("1")  # waits in libzmq's queue for the reconnect
    peer.signal(signal.SIGCONT)
    events.wait_for(zmq.EVENT_HANDSHAKE_SUCCEEDED, dropped)
    dealer.send_string("2")
    peer.wait_for("message 2", lambda ls: "recv 2" in ls)
    events.close()
    assert peer.numbers() == [0, 1, 2]


def test_ferromq_heartbeats_are_answered_by_libzmq(procs, ferromq_bin):
    """ferromq DEALER (a process, HEARTBEAT_IVL 100 ms, HEARTBEAT_TIMEOUT
    500 ms) connected to a libzmq DEALER (a process) without heartbeats.
    Quiet for 15 heartbeat intervals, ferromq keeps the connection:
    libzmq answers its PINGs. Control: libzmq frozen with SIGSTOP is
    dropped; after SIGCONT ferromq reconnects and messages flow, each
    once and in order."""
    (ep,) = free_endpoints(1)
    peer = procs.bound("libzmq DEALER", [*LIBZMQ_PEER, "DEALER", "bind", ep])
    ferro = procs(
        "ferromq DEALER",
        [ferromq_bin, "seq-recv", "--type", "DEALER", "--connect", ep, "--heartbeat-ivl", "100",
         "--heartbeat-timeout", "500", "--events"],
    )
    ferro.wait_for("the handshake", lambda ls: "HANDSHAKE_SUCCEEDED" in ferro.events())
    time.sleep(1.5)  # the quiet period
    assert "DISCONNECTED" not in ferro.events(), ferro.describe()
    peer.write("send 0")
    ferro.wait_for("message 0", lambda ls: "recv 0" in ls)

    peer.signal(signal.SIGSTOP)
    ferro.wait_for("DISCONNECTED", lambda ls: "DISCONNECTED" in ferro.events())
    peer.signal(signal.SIGCONT)
    ferro.wait_for("the reconnect", lambda ls: ferro.events().count("HANDSHAKE_SUCCEEDED") == 2)
    # The thawed libzmq may still hold the dropped connection for a
    # moment, and a DEALER sends round-robin: resend until one arrives.
    n = 1
    end = time.monotonic() + TIMEOUT
    while len(ferro.numbers()) < 2:
        peer.write(f"send {n}")
        n += 1
        ferro.poll_for(lambda ls: len(ferro.numbers()) >= 2, 0.1)
        assert time.monotonic() < end, ferro.describe()
    got = ferro.numbers()
    assert got[0] == 0 and got[1] >= 1
    assert got == sorted(set(got)), got
    print(f"ferromq heartbeats: got {got} after {n - 1} sends; events: {ferro.events()}")
