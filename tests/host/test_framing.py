"""The channel's framing on the worker's side, over a real socket pair: a message over the
64 MiB limit is refused before it is sent, a header announcing one is refused before it
is read, a frame that is not a message is refused, replies are written out once 256 KiB
wait (a plugin logging in a loop cannot buffer without bound), and a closed channel
reads as the end."""

from __future__ import annotations

import os
import socket
import threading
import time

import msgpack
import pytest

from plugin_host.protocol import framing
from plugin_host.protocol.framing import HEADER, MAX_FRAME, BlockingChannel, ProtocolError


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_messages_past_the_limit_are_refused_both_ways(pair, monkeypatch):
    a, b = pair
    monkeypatch.setattr(framing, "MAX_FRAME", 1024)
    with pytest.raises(ProtocolError, match=r"frame of \d+ bytes is above 1024"):
        framing.encode({"t": "log", "line": "x" * 2000})
    a.sendall(HEADER.pack(MAX_FRAME + 1))
    with pytest.raises(ProtocolError, match="is above"):
        BlockingChannel(b).recv()


def test_a_frame_that_is_not_a_message_is_refused(pair):
    a, b = pair
    for body in (msgpack.packb([1, 2]), msgpack.packb({"no": "type"})):
        a.sendall(HEADER.pack(len(body)) + body)
        with pytest.raises(ProtocolError, match="frame is not a message"):
            BlockingChannel(b).recv()


def test_replies_are_batched_but_never_without_bound(pair):
    a, b = pair
    ch = BlockingChannel(a)
    ch.FLUSH_AT = 16 * 1024  # (256 KiB would not fit a socket pair's buffer unread)
    ch.send({"t": "log", "line": "small"})
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        b.recv(1)  # a small reply waits for the next read or flush
    for _ in range(20):
        ch.send({"t": "log", "line": "y" * 1000})
    got = b.recv(1 << 20)
    assert len(got) >= ch.FLUSH_AT  # written out once FLUSH_AT bytes waited
    assert ch.pending < ch.FLUSH_AT


def test_a_closed_channel_reads_as_the_end(pair):
    a, b = pair
    a.close()
    assert BlockingChannel(b).recv() is None


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def test_a_polling_channel_answers_at_once_and_stops_polling_when_idle(pair):
    """A worker polls for its next call (framing.POLL_US) only while calls come that
    often: frames still arrive whole, and a channel left waiting sleeps in the kernel
    instead of spending CPU on polls it gave up on."""
    a, b = pair
    channel = BlockingChannel(b)
    channel.poll = 0.0002
    got: list[dict] = []

    def serve() -> None:
        while (msg := channel.recv()) is not None:
            got.append(msg)
            channel.send({"t": "result", "id": msg["id"]})

    thread = threading.Thread(target=serve)
    thread.start()
    for i in range(200):  # back to back: each answer read before the next call
        a.sendall(framing.encode({"t": "call", "id": i}))
        assert framing.decode(a.recv(65536)[HEADER.size:])["id"] == i
    time.sleep(0.05)  # idle: the first wait polls 0.2 ms, then the channel sleeps
    a.sendall(framing.encode({"t": "call", "id": 999}))
    assert framing.decode(a.recv(65536)[HEADER.size:])["id"] == 999
    used = _cpu_seconds()
    time.sleep(0.5)
    idle_cpu = _cpu_seconds() - used
    a.shutdown(socket.SHUT_WR)
    thread.join(timeout=5)
    assert [m["id"] for m in got] == [*range(200), 999]
    assert idle_cpu < 0.05, f"{idle_cpu:.3f} s of CPU spent waiting for nothing"


def test_a_channel_polls_only_for_a_host_on_another_cpu(pair, monkeypatch):
    """Polling for the next call pays only when the host runs on another CPU: on the
    worker's own, the host cannot send until the worker sleeps, so a channel told the
    host's CPU (each call carries it) sleeps in the kernel at once when it is its own."""
    a, b = pair
    channel = BlockingChannel(b)
    channel.poll = 0.2
    yields: list[int] = []
    monkeypatch.setattr(framing.os, "sched_yield", lambda: yields.append(1))
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})  # this thread stays on one CPU
    try:
        here = framing.current_cpu()
        assert here == min(allowed)
        for peer, polls in ((here, False), (here + 1, True), (-1, True)):
            channel.peer_cpu = peer
            yields.clear()
            late = threading.Timer(0.05, a.sendall, [framing.encode({"t": "call", "id": peer})])
            late.start()
            assert channel.recv()["id"] == peer
            late.join()
            assert bool(yields) is polls, (peer, len(yields))
        monkeypatch.setattr(framing, "current_cpu", lambda: -1)  # no sched_getcpu here
        channel.peer_cpu, yields[:] = -1, []
        late = threading.Timer(0.05, a.sendall, [framing.encode({"t": "call", "id": 7})])
        late.start()
        assert channel.recv()["id"] == 7
        late.join()
        assert yields, "where the CPU is not known, the channel polls as before"
    finally:
        os.sched_setaffinity(0, allowed)
