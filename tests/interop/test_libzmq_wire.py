"""Pins what libzmq itself puts on the wire for a SUB's subscription, which
ferromq-proto mirrors: a fake PUB (a raw TCP server in this file) speaks
the ZMTP handshake to a pyzmq SUB and records the bytes that follow.

ZMTP 3.1 peer  -> a SUBSCRIBE command frame: 04 0b 09 "SUBSCRIBE" "A"
ZMTP 3.0 peer  -> a legacy message frame:     00 02 01 "A"
"""

from __future__ import annotations

import socket

import pytest
import zmq

from conftest import TIMEOUT, py_socket


def greeting(minor: int) -> bytes:
    """A 64-octet ZMTP 3.x greeting for the NULL mechanism, as-server 0."""
    signature = b"\xff" + bytes(8) + b"\x7f"
    return signature + bytes([3, minor]) + b"NULL".ljust(20, b"\x00") + b"\x00" + bytes(31)


def command_frame(body: bytes) -> bytes:
    assert len(body) < 256
    return bytes([0x04, len(body)]) + body


def ready(socket_type: bytes) -> bytes:
    name = b"Socket-Type"
    prop = bytes([len(name)]) + name + len(socket_type).to_bytes(4, "big") + socket_type
    return command_frame(b"\x05READY" + prop)


def read_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise AssertionError(f"peer closed after {data!r} (wanted {n} bytes)")
        data += chunk
    return data


def read_frame(conn: socket.socket) -> bytes:
    """One whole frame, header included."""
    flags = read_exact(conn, 1)
    if flags[0] & 0x02:
        size_bytes = read_exact(conn, 8)
        size = int.from_bytes(size_bytes, "big")
    else:
        size_bytes = read_exact(conn, 1)
        size = size_bytes[0]
    return flags + size_bytes + read_exact(conn, size)


def parse_properties(data: bytes) -> dict[bytes, bytes]:
    props = {}
    while data:
        n = data[0]
        name, data = data[1 : 1 + n], data[1 + n :]
        size = int.from_bytes(data[:4], "big")
        props[name], data = data[4 : 4 + size], data[4 + size :]
    return props


@pytest.mark.parametrize(
    "minor, expected",
    [
        (1, b"\x04\x0b\x09SUBSCRIBEA"),
        (0, b"\x00\x02\x01A"),
    ],
    ids=["zmtp-3.1-command", "zmtp-3.0-message"],
)
def test_libzmq_sub_subscription_on_the_wire(zctx, minor, expected):
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(TIMEOUT)
    port = server.getsockname()[1]
    sub = py_socket(zctx, zmq.SUB)
    try:
        sub.connect(f"tcp://127.0.0.1:{port}")
        sub.setsockopt(zmq.SUBSCRIBE, b"A")
        conn, _ = server.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            conn.sendall(greeting(minor) + ready(b"PUB"))
            theirs = read_exact(conn, 64)
            # libzmq's padding is 00 x7 01 (a ZMTP 1.0 length of 1); any is valid.
            assert theirs[0] == 0xFF and theirs[9] == 0x7F, theirs[:10]
            assert theirs[10:12] == b"\x03\x01", "libzmq 4.x announces ZMTP 3.1"
            assert theirs[12:32] == b"NULL".ljust(20, b"\x00")

            their_ready = read_frame(conn)
            assert their_ready[0] == 0x04 and their_ready[2:8] == b"\x05READY", their_ready
            assert parse_properties(their_ready[8:])[b"Socket-Type"] == b"SUB"

            assert read_frame(conn) == expected
    finally:
        sub.close(linger=0)
        server.close()
