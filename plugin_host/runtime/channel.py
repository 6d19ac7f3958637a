"""The host's end of a worker's socket (runtime/process.py starts the worker): frames
in, frames out, corked per loop turn; and the small pieces the worker and its pool share.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ..protocol.framing import HEADER, MAX_FRAME, decode, encode, lone_frame


class WorkerDied(Exception):
    pass


class Background:
    """Tasks started and not awaited: kept referenced until done, cancelled together."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task] = set()

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def cancel_all(self) -> None:
        for t in list(self.tasks):
            t.cancel()


#: removals of killed workers' groups still waiting for their processes to go


class Channel(asyncio.Protocol):
    """The host's end of a worker socket: frames in, frames out (corked per loop turn)."""

    def __init__(self, on_frame: Callable[[dict[str, Any]], None],
                 on_lost: Callable[[], None]):
        self.on_frame = on_frame
        self.on_lost = on_lost
        self.buf = bytearray()
        self.out: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        if not buf and (body := lone_frame(data, len(data))) is not None:
            try:
                frame = decode(body)
            except Exception:  # anything a hostile worker can make msgpack raise
                self.close()
                return
            self.on_frame(frame)
            return
        buf += data
        while len(buf) >= HEADER.size:
            (n,) = HEADER.unpack_from(buf)
            end = HEADER.size + n
            if n > MAX_FRAME:
                self.close()
                return
            if len(buf) < end:
                break
            try:
                frame = decode(bytes(buf[HEADER.size:end]))
            except Exception:  # anything a hostile worker can make msgpack raise
                self.close()
                return
            del buf[:end]
            self.on_frame(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.on_lost()

    def write(self, msg: dict[str, Any], now: bool = False) -> None:
        """Queue a frame for this loop turn's write; ``now`` writes at once if nothing
        is queued (the worker is idle, so waiting would only add latency)."""
        if self.closed or self.transport is None:
            raise WorkerDied("the worker's channel is closed")
        if now and not self.out:
            self.transport.write(encode(msg))
            return
        if not self.out:
            asyncio.get_running_loop().call_soon(self.flush)
        self.out.append(encode(msg))

    def flush(self) -> None:
        if self.out and not self.closed and self.transport is not None:
            self.transport.write(b"".join(self.out))
        self.out.clear()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
