"""The deadlines of a pool's calls, watched by one timer (runtime/pool.py).

A timer per call cost more than the call itself (uvloop: 4 to 5 µs of a ~25 µs round
trip; docs/operations/performance.md). Deadlines are kept in a heap (a call that waited
for a worker is watched after later calls that did not), and one timer is set for the
earliest; calls mostly end in order, so the answered ones are dropped from the top."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Any


class Deadlines:
    def __init__(self, expire: Callable[[Any, asyncio.Future], None]):
        """``expire(worker, future)`` is called for each call whose time is up (it
        ignores a future that is done)."""
        self.expire = expire
        self.heap: list[tuple[float, int, Any, asyncio.Future]] = []
        self.order = itertools.count()
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = float("inf")

    def watch(self, deadline: float, worker: Any, fut: asyncio.Future) -> None:
        """``deadline`` on the event loop's clock."""
        heapq.heappush(self.heap, (deadline, next(self.order), worker, fut))
        if deadline < self.timer_at:
            self._arm(deadline)

    def answered(self) -> None:
        """Drop answered calls from the top."""
        heap = self.heap
        while heap and heap[0][3].done():
            heapq.heappop(heap)

    def _arm(self, when: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_at(when, self._sweep)
        self.timer_at = when

    def _sweep(self) -> None:
        self.timer, self.timer_at = None, float("inf")
        now = asyncio.get_running_loop().time()
        heap = self.heap
        while heap and (heap[0][3].done() or heap[0][0] <= now):
            _, _, worker, fut = heapq.heappop(heap)
            self.expire(worker, fut)
        if heap:
            self._arm(heap[0][0])

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer, self.timer_at = None, float("inf")
