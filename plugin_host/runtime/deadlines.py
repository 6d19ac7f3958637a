"""The deadlines of a pool's calls, watched by one timer (runtime/pool.py).

Every call of a plugin has the same timeout, so deadlines come in the order calls are
made: one timer, set for the oldest call still out, wakes at most once per timeout. A
timer per call cost more than the call itself (uvloop: 4 to 5 µs of a ~25 µs round trip;
docs/operations/performance.md)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any


class Deadlines:
    def __init__(self, expire: Callable[[Any, asyncio.Future], None]):
        """``expire(worker, future)`` is called for each call whose time is up (and for
        answered ones passed over: it ignores a future that is done)."""
        self.expire = expire
        self.watched: deque[tuple[float, Any, asyncio.Future]] = deque()
        self.timer: asyncio.TimerHandle | None = None

    def watch(self, deadline: float, worker: Any, fut: asyncio.Future) -> None:
        """``deadline`` on the loop's clock, no earlier than any watched before."""
        self.watched.append((deadline, worker, fut))
        if self.timer is None:
            self.timer = asyncio.get_running_loop().call_at(deadline, self._sweep)

    def answered(self) -> None:
        """Forget the answered calls at the front (calls mostly end in order)."""
        watched = self.watched
        while watched and watched[0][2].done():
            watched.popleft()

    def _sweep(self) -> None:
        self.timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        watched = self.watched
        while watched and (watched[0][2].done() or watched[0][0] <= now):
            _, worker, fut = watched.popleft()
            self.expire(worker, fut)
        if watched:
            self.timer = loop.call_at(watched[0][0], self._sweep)

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
