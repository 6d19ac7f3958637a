"""The host ⇄ worker wire format: length-prefixed msgpack frames over a Unix socket.

A frame is a 4-byte big-endian length followed by one msgpack map with a ``t`` (type):

host → worker   ``init``  (plugin, code dir, entry, config) · ``call`` · ``cap_result``
worker → host   ``ready`` (routes, hooks) · ``fatal`` · ``result`` · ``cap`` · ``log``

A worker runs one call at a time; during a call it may send ``cap`` requests
(kv, http, secrets) and waits for each ``cap_result`` before going on.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import msgpack

HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024


class ProtocolError(Exception):
    pass


def encode(msg: dict[str, Any]) -> bytes:
    body = msgpack.packb(msg, use_bin_type=True)
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(body)} bytes is above {MAX_FRAME}")
    return HEADER.pack(len(body)) + body


def decode(body: bytes) -> dict[str, Any]:
    msg = msgpack.unpackb(body, raw=False)
    if not isinstance(msg, dict) or "t" not in msg:
        raise ProtocolError("frame is not a message")
    return msg


class BlockingChannel:
    """The worker's side: blocking reads and writes on its socket."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._rfile = sock.makefile("rb", buffering=65536)

    def send(self, msg: dict[str, Any]) -> None:
        self.sock.sendall(encode(msg))

    def recv(self) -> dict[str, Any] | None:
        head = self._rfile.read(HEADER.size)
        if len(head) < HEADER.size:
            return None
        (n,) = HEADER.unpack(head)
        if n > MAX_FRAME:
            raise ProtocolError(f"frame of {n} bytes is above {MAX_FRAME}")
        body = self._rfile.read(n)
        if len(body) < n:
            return None
        return decode(body)
