"""The host ⇄ worker wire format: length-prefixed msgpack frames over a Unix socket.

A frame is a 4-byte big-endian length followed by one msgpack map with a ``t`` (type):

host → worker   ``init``  (plugin, code dir, entry, config) · ``call`` · ``cap_result``
worker → host   ``ready`` (routes, hooks) · ``fatal`` · ``result`` · ``cap`` · ``log``

A worker runs one call at a time; during a call it may send ``cap`` requests
(kv, http, secrets) and waits for each ``cap_result`` before going on.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import time
from collections import deque
from typing import Any

import msgpack

HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024
#: how long a worker keeps polling for the next frame before it sleeps (µs; the host's
#: ``worker_poll_us`` setting). A sleeping process costs a wake-up per call (~10 µs on one
#: CPU, ~50 µs across two): polling, which yields the CPU between tries, saves it.
POLL_US = 200


class ProtocolError(Exception):
    pass


def _cpu_reader():
    try:
        getcpu = ctypes.CDLL(None, use_errno=True).sched_getcpu
        getcpu.restype = ctypes.c_int
        getcpu()
        return getcpu
    except (OSError, AttributeError):
        return lambda: -1


#: the CPU this process runs on now (glibc reads it without a system call), -1 if
#: unknown. Each side of a call sends it with its frames (``cpu``): polling for the
#: other's answer pays only when the other runs on another CPU; on this one, the
#: other cannot run until this side stops, and polling only adds turns.
current_cpu = _cpu_reader()


def elsewhere(peer_cpu: int, here: int) -> bool:
    """The other side was last on another CPU than this one (``here``), or it is not
    known: polling for it may pay."""
    return here < 0 or peer_cpu != here


def sender_cpu(msg: dict[str, Any]) -> int:
    """The CPU a frame's sender says it was on (-1: not said, or not a number)."""
    cpu = msg.get("cpu")
    return cpu if type(cpu) is int else -1


def lone_frame(data: bytes | bytearray, n: int) -> memoryview | None:
    """The body of the one whole frame that ``data[:n]`` is, if it is exactly that (the
    usual read: decoded where it lies, no copies through a buffer)."""
    if n >= HEADER.size and HEADER.unpack_from(data)[0] == n - HEADER.size:
        return memoryview(data)[HEADER.size:n]
    return None


def encode(msg: dict[str, Any]) -> bytes:
    body = msgpack.packb(msg, use_bin_type=True)
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(body)} bytes is above {MAX_FRAME}")
    return HEADER.pack(len(body)) + body


def decode(body: bytes | memoryview) -> dict[str, Any]:
    msg = msgpack.unpackb(body, raw=False)
    if not isinstance(msg, dict) or "t" not in msg:
        raise ProtocolError("frame is not a message")
    return msg


class BlockingChannel:
    """The worker's side: blocking reads; replies are batched while more calls wait.

    ``recv`` flushes what was sent before it blocks, so a burst of queued calls is
    answered with one write, and a lone call is answered at once.

    With ``poll`` (seconds) set, ``recv`` first polls the socket that long, yielding the
    CPU between tries, and only then sleeps in the kernel; it polls only while that pays:
    the last wait was shorter than the window (a worker called now and then does not
    spend a window of CPU on every call), and the host (``peer_cpu``, as its last call
    said) is on another CPU (on this one it cannot send until this side sleeps).
    """

    #: written out once this much waits, whatever else is coming (a plugin logging in a
    #: loop must not buffer without bound)
    FLUSH_AT = 256 * 1024

    #: bytes read per ``recv_into``. Read into one buffer allocated once: ``recv(n)``
    #: allocates n bytes per call, and at 256 KiB that (an mmap, its page faults, its
    #: munmap) cost more than the rest of a round trip on one CPU (bench/floor.py)
    READ_SIZE = 256 * 1024

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._mem = bytearray(self.READ_SIZE)
        self._view = memoryview(self._mem)
        self.buf = bytearray()
        self.frames: deque[dict[str, Any]] = deque()
        self.out: list[bytes] = []
        self.pending = 0
        self.poll = 0.0
        self._last_wait = 0.0
        self.peer_cpu = -1  # the CPU the other side was on when it last sent

    def send(self, msg: dict[str, Any]) -> None:
        frame = encode(msg)
        self.out.append(frame)
        self.pending += len(frame)
        if self.pending >= self.FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        if self.out:
            data = self.out[0] if len(self.out) == 1 else b"".join(self.out)
            self.out.clear()
            self.pending = 0
            self.sock.sendall(data)

    def _parse(self) -> None:
        buf = self.buf
        while len(buf) >= HEADER.size:
            (n,) = HEADER.unpack_from(buf)
            if n > MAX_FRAME:
                raise ProtocolError(f"frame of {n} bytes is above {MAX_FRAME}")
            end = HEADER.size + n
            if len(buf) < end:
                return
            self.frames.append(decode(bytes(buf[HEADER.size:end])))
            del buf[:end]

    def recv(self) -> dict[str, Any] | None:
        """The next frame; None when the host has closed the channel."""
        while not self.frames:
            self.flush()
            began = time.perf_counter()
            n = (self._poll(began) if self.poll and self._last_wait < self.poll
                 and elsewhere(self.peer_cpu, current_cpu()) else None)
            if n is None:
                n = self.sock.recv_into(self._mem)
            self._last_wait = time.perf_counter() - began
            if not n:
                return None
            if not self.buf and (body := lone_frame(self._mem, n)) is not None:
                return decode(body)
            self.buf += self._view[:n]
            self._parse()
        return self.frames.popleft()

    def _poll(self, began: float) -> int | None:
        """How many bytes arrived (in ``_mem``) within the poll window; None if none
        did."""
        recv, mem, now, give_way = self.sock.recv_into, self._mem, time.perf_counter, os.sched_yield
        end = began + self.poll
        while True:
            try:
                return recv(mem, 0, socket.MSG_DONTWAIT)
            except BlockingIOError:
                if now() > end:
                    return None
                give_way()
