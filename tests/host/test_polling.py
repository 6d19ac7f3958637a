"""When the host polls for a worker's answer (runtime/process.py, Worker._poll): only
for a worker that last answered from another CPU (on the host's own CPU the worker
cannot run until the host stops, so polling would only add turns), and not while calls
keep outlasting the poll window: a pause of 10 ms, doubling while they stay slow, ended
by one quick answer. The worker side is tests/host/test_framing.py.

The worker here is a fake channel answering when told (no process: the decisions are
the host's, and a real worker's timing could not be held still)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from plugin_host.manifest import parse_manifest
from plugin_host.protocol import messages as m
from plugin_host.protocol.framing import current_cpu, decode, encode
from plugin_host.runtime import process
from plugin_host.runtime.process import Worker, WorkerSpec
from plugin_host.runtime.sandbox import SandboxPolicy

MANIFEST = """
[plugin]
name = "poller"
version = "1.0.0"
summary = "x"
authors = ["a <a@example.org>"]
license = "MIT"
host_api = "^1.0"

[backend]
entry = "poller:plugin"
"""


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[dict] = []

    def write(self, data: bytes) -> None:
        self.sent.append(decode(data[4:]))

    def close(self) -> None:
        pass


@pytest.fixture
def one_cpu():
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})  # the host's CPU stays put
    yield min(allowed)
    os.sched_setaffinity(0, allowed)


def run(scenario):
    loop = asyncio.new_event_loop()  # not asyncio.run: it unsets the thread's loop
    try:
        return loop.run_until_complete(scenario())
    finally:
        loop.close()


def make_worker(tmp_path: Path, poll_us: int) -> tuple[Worker, FakeTransport]:
    spec = WorkerSpec("poller", "1.0.0", parse_manifest(MANIFEST), tmp_path, tmp_path / "s",
                      SandboxPolicy([], []), poll_us=poll_us)
    w = Worker(spec, on_cap=None, on_log=lambda frame: None)  # type: ignore[arg-type]
    transport = FakeTransport()
    w.channel.connection_made(transport)  # type: ignore[arg-type]
    return w, transport


async def call(w: Worker, transport: FakeTransport, answer_after: float, cpu: int,
               yields: list[int]) -> int:
    """One call answered after ``answer_after`` s from ``cpu``; the host's yields meanwhile."""
    before = len(yields)
    fut = w.submit(dict(m.route_call(0, "cid", {"method": "GET", "path": "/", "path_params": {},
                                                 "query": {}, "headers": {}, "body": b""})))
    assert transport.sent[-1]["cpu"] == current_cpu()  # the host says where it is
    await asyncio.sleep(answer_after)
    result = m.route_result(transport.sent[-1]["id"], 200, {}, b"")
    w.channel.data_received(encode({**result, "cpu": cpu}))
    await fut
    await asyncio.sleep(0.002)  # the poll notices the answer
    return len(yields) - before


def test_the_host_polls_only_a_worker_on_another_cpu(tmp_path, one_cpu, monkeypatch):
    yields: list[int] = []
    monkeypatch.setattr(process.os, "sched_yield", lambda: yields.append(1))
    w, transport = make_worker(tmp_path, poll_us=50_000)

    async def scenario() -> list[int]:
        here, elsewhere = current_cpu(), current_cpu() + 1
        return [await call(w, transport, 0.005, cpu, yields)
                for cpu in (elsewhere, here, here, elsewhere, -1, here, "x", here, 1.5)]

    polled = run(scenario)
    # the first call knows nothing yet (polls); then each call follows the last answer,
    # and a CPU that is not a number (a worker may say anything) is no CPU: polled
    assert [n > 0 for n in polled] == [True, True, False, False, True, True, False, True,
                                       False], polled


def test_calls_that_outlast_the_window_pause_polling_then_it_resumes(tmp_path, one_cpu,
                                                                    monkeypatch):
    yields: list[int] = []
    monkeypatch.setattr(process.os, "sched_yield", lambda: yields.append(1))
    monkeypatch.setattr(process, "POLL_PAUSE", (0.05, 1.0))  # first 50 ms, then 100 ms
    w, transport = make_worker(tmp_path, poll_us=1_000)  # a 1 ms window
    elsewhere = current_cpu() + 1

    async def scenario() -> tuple[list[int], list[int], list[int]]:
        slow = [await call(w, transport, 0.004, elsewhere, yields)
                for _ in range(process.SLOW_CALLS + 1)]
        await asyncio.sleep(0.06)  # past the first pause
        again = [await call(w, transport, 0.004, elsewhere, yields)
                 for _ in range(process.SLOW_CALLS + 1)]
        # the second pause began ~9 ms ago (in the last slow call polled): ~60 ms on, a
        # pause as long as the first would be over, the second (twice as long) is not …
        await asyncio.sleep(0.05)
        still = [await call(w, transport, 0.0, elsewhere, yields)]
        await asyncio.sleep(0.06)  # … now it is: a quick answer ends the pauses
        quick = [await call(w, transport, 0.0, elsewhere, yields) for _ in range(2)]
        return slow + again, still, quick

    slow, still, quick = run(scenario)
    n = process.SLOW_CALLS
    assert [x > 0 for x in slow] == ([True] * n + [False]) * 2, slow
    assert still == [0]
    assert all(x > 0 for x in quick), quick
    assert w._pause == 0.0  # the next slow streak starts from the shortest pause again
