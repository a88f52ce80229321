"""Nothing silently lost across implementations: a fast ferromq PUSH and a
slow libzmq (pyzmq) PULL, small HWMs on both sides, every message
delivered in order and none counted as dropped."""

from __future__ import annotations

import threading
import time

import pytest
import zmq

from conftest import TIMEOUT

N = 20_000
HWM = 10
# Bodies much bigger than the numbers in them, so that the stream is far
# larger than the kernel's buffers and the HWMs really hold the PUSH back.
SIZE = 1000


@pytest.mark.parametrize("transport", ["tcp", "ipc"])
@pytest.mark.parametrize("ferro_binds", [True, False], ids=["ferro-binds", "py-binds"])
def test_slow_libzmq_pull_gets_every_message_from_a_fast_ferromq_push(pair, ferro_binds):
    peer, ps = pair(
        "PUSH",
        zmq.PULL,
        ferro_binds,
        py_options=[(zmq.RCVHWM, HWM), (zmq.RCVBUF, 4096)],
        sndhwm=HWM,
    )
    outcome: dict[str, object] = {}

    def produce():
        try:
            peer.send_seq(N, size=SIZE, timeout=10 * TIMEOUT)
            outcome["done"] = True
        except BaseException as e:  # reported by the main thread
            outcome["error"] = e

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    for i in range(N):
        body = ps.recv()  # gives up after TIMEOUT
        assert body.rstrip(b".") == b"%d" % i, f"message {i} (every one, in order)"
        assert len(body) == SIZE
        if i % 500 == 499:
            # The consumer's own slowness (load, not synchronisation).
            time.sleep(0.002)
    producer.join(TIMEOUT)
    assert outcome == {"done": True}, outcome
    assert not ps.poll(100), "nothing more than was sent"
    stats = peer.stats()
    assert (stats["sent"], stats["dropped"]) == (N, 0), stats
