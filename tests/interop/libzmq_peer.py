"""A libzmq (pyzmq) socket in a process of its own, for the fault tests
(test_faults.py): a peer that can be killed with SIGKILL, frozen with
SIGSTOP and restarted, as `ferromq seq-send`/`seq-recv` are on the
ferromq side.

    python libzmq_peer.py TYPE (bind|connect) ENDPOINT [--heartbeat-ivl MS]
                          [--heartbeat-timeout MS]

It prints, one line each, flushed at once:
    ready ENDPOINT        bound (the resolved endpoint) or connected
    recv TEXT             a message arrived (its last frame, as text)
    sent TEXT             after a `send TEXT` line on stdin was sent

and exits when stdin closes, so a test that dies leaves nothing behind.
"""

from __future__ import annotations

import argparse
import os
import sys

import zmq


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("type", help="socket type: PULL, PUSH, DEALER, ...")
    ap.add_argument("mode", choices=["bind", "connect"])
    ap.add_argument("endpoint")
    ap.add_argument("--heartbeat-ivl", type=int)
    ap.add_argument("--heartbeat-timeout", type=int)
    args = ap.parse_args()

    ctx = zmq.Context()
    sock = ctx.socket(getattr(zmq, args.type.upper()))
    sock.setsockopt(zmq.LINGER, 0)
    if args.heartbeat_ivl is not None:
        sock.setsockopt(zmq.HEARTBEAT_IVL, args.heartbeat_ivl)
    if args.heartbeat_timeout is not None:
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, args.heartbeat_timeout)
    if args.mode == "bind":
        sock.bind(args.endpoint)
        say("ready " + sock.getsockopt(zmq.LAST_ENDPOINT).decode())
    else:
        sock.connect(args.endpoint)
        say("ready " + args.endpoint)

    stdin = sys.stdin.fileno()
    poller = zmq.Poller()
    can_recv = sock.type not in (zmq.PUSH, zmq.PUB)
    if can_recv:
        poller.register(sock, zmq.POLLIN)
    poller.register(stdin, zmq.POLLIN)
    pending = b""
    while True:
        for what, _ in poller.poll():
            if what is sock:
                while True:
                    try:
                        frames = sock.recv_multipart(zmq.DONTWAIT)
                    except zmq.Again:
                        break
                    say("recv " + frames[-1].decode(errors="backslashreplace"))
            else:
                chunk = os.read(stdin, 4096)
                if not chunk:
                    return 0
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    verb, _, text = line.decode().partition(" ")
                    if verb == "send":
                        sock.send_string(text)
                        say("sent " + text)


if __name__ == "__main__":
    sys.exit(main())
