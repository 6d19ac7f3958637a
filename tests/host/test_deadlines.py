"""A pool's call deadlines (runtime/deadlines.py): one timer for all of them. A call
that waited for a worker is watched after later calls with later deadlines; it must
still be expired at its own deadline, not theirs, and answered calls never are."""

from __future__ import annotations

import asyncio

from plugin_host.runtime.deadlines import Deadlines


def test_each_call_expires_at_its_own_deadline_whatever_the_order_watched():
    async def scenario() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        expired: list[tuple[str, float]] = []
        deadlines = Deadlines(lambda worker, fut: None if fut.done()
                              else expired.append((worker, loop.time() - start)))
        start = loop.time()
        late, early, answered = (loop.create_future() for _ in range(3))
        deadlines.watch(start + 0.30, "late", late)
        deadlines.watch(start + 0.10, "early", early)  # watched second, due first
        deadlines.watch(start + 0.05, "answered", answered)
        answered.set_result("done")
        deadlines.answered()
        await asyncio.sleep(0.45)
        deadlines.cancel()
        return expired

    loop = asyncio.new_event_loop()  # not asyncio.run: it unsets the thread's loop,
    try:  # which later tests (Pulumi's mocks) ask for
        expired = loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert [name for name, _ in expired] == ["early", "late"]
    assert 0.09 <= expired[0][1] < 0.25, expired  # at its deadline, not the later one
    assert expired[1][1] >= 0.29
