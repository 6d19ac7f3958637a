"""The naive floor of a plugin call in this design: one msgpack frame (a plugin call's
shape) echoed between two Python processes over a Unix socket pair, the caller on
asyncio with uvloop. No sandbox, no routing, no handler: what any call across two
processes costs here. Two echoers:

- ``uvloop`` (the floor as issue 20 defines it: "one msgpack frame echoed over a
  socketpair between two Python processes under uvloop"): the echoer is an asyncio
  protocol on uvloop too;
- ``blocking`` (stricter): the echoer is a blocking loop, as the worker is, which costs
  less per frame than an event loop's turn.

Placement dominates, so both are measured, in alternating blocks: ``shared`` (both
processes pinned to one CPU) and ``split`` (each on its own CPU).

Usage: python bench/floor.py [--json] [--calls N]   (plugin_call.py measures it too)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import struct
import subprocess
import sys
import time

import msgpack
from common import ECHO_CALL, percentile, report

HEADER = struct.Struct(">I")
ECHOER = r"""
import os, socket, struct, sys
sock = socket.socket(fileno=int(sys.argv[1]))
H = struct.Struct(">I")
mem = bytearray(262144)  # read into one buffer: recv(262144) allocates 256 KiB a call
view = memoryview(mem)
buf = bytearray()
while True:
    while len(buf) < 4 or len(buf) < 4 + H.unpack_from(buf)[0]:
        k = sock.recv_into(mem)
        if not k:
            sys.exit(0)
        buf += view[:k]
    n = 4 + H.unpack_from(buf)[0]
    sock.sendall(bytes(buf[:n]))
    del buf[:n]
"""
UVLOOP_ECHOER = r"""
import asyncio, socket, struct, sys
import uvloop
H = struct.Struct(">I")

class Echo(asyncio.Protocol):
    def __init__(self):
        self.buf = bytearray()
        self.done = asyncio.get_running_loop().create_future()
    def connection_made(self, transport):
        self.transport = transport
    def data_received(self, data):
        buf = self.buf
        buf += data
        while len(buf) >= 4 and len(buf) >= 4 + H.unpack_from(buf)[0]:
            n = 4 + H.unpack_from(buf)[0]
            self.transport.write(bytes(buf[:n]))
            del buf[:n]
    def connection_lost(self, exc):
        self.done.set_result(None)

async def main():
    sock = socket.socket(fileno=int(sys.argv[1]))
    _, proto = await asyncio.get_running_loop().connect_accepted_socket(Echo, sock)
    await proto.done

uvloop.run(main())
"""
ECHOERS = {"uvloop": UVLOOP_ECHOER, "blocking": ECHOER}


class Echo(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) >= 4 and len(self.buf) >= 4 + HEADER.unpack_from(self.buf)[0]:
            n = 4 + HEADER.unpack_from(self.buf)[0]
            frame = msgpack.unpackb(bytes(self.buf[4:n]))
            del self.buf[:n]
            if self.waiter and not self.waiter.done():
                self.waiter.set_result(frame)


def cpu_ns(pid: int) -> int:
    """Time ``pid``'s main thread has run on a CPU (ns, /proc/PID/schedstat): what one
    process spends of a round trip, kernel work on its behalf included."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


async def round_trips(cpus: tuple[int, int], calls: int, echoer: str = "uvloop",
                      cpu: dict[str, float] | None = None) -> list[float]:
    """Round-trip times (s); with ``cpu``, each side's CPU time per call (µs) is added
    to ``cpu["caller"]`` and ``cpu["echoer"]``."""
    parent, child = socket.socketpair()
    proc = subprocess.Popen([sys.executable, "-c", ECHOERS[echoer], str(child.fileno())],
                            pass_fds=[child.fileno()])
    child.close()
    os.sched_setaffinity(0, {cpus[0]})
    os.sched_setaffinity(proc.pid, {cpus[1]})
    loop = asyncio.get_running_loop()
    transport, proto = await loop.connect_accepted_socket(Echo, parent)
    body = msgpack.packb(ECHO_CALL, use_bin_type=True)
    frame = HEADER.pack(len(body)) + body
    out = []
    try:
        for i in range(calls + 200):
            if i == 200:  # warmed up
                began = cpu_ns(os.getpid()), cpu_ns(proc.pid)
            proto.waiter = loop.create_future()
            t = time.perf_counter()
            transport.write(frame)
            await proto.waiter
            if i >= 200:
                out.append(time.perf_counter() - t)
        if cpu is not None:
            cpu["caller"] = cpu.get("caller", 0.0) + (cpu_ns(os.getpid()) - began[0]) / 1e3
            cpu["echoer"] = cpu.get("echoer", 0.0) + (cpu_ns(proc.pid) - began[1]) / 1e3
            cpu["calls"] = cpu.get("calls", 0) + calls
    finally:
        transport.close()
        await asyncio.sleep(0.01)  # the close happens on the loop's next turn
        proc.wait(timeout=10)
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    return out


def placements() -> dict[str, tuple[int, int]]:
    cpus = sorted(os.sched_getaffinity(0))
    out = {"shared": (cpus[0], cpus[0])}
    if len(cpus) > 1:
        out["split"] = (cpus[0], cpus[1])
    return out


def measure(calls: int = 5000, blocks: int = 4) -> dict:
    """Median and p99 of the round trip per placement and echoer (µs), over alternating
    blocks."""
    import uvloop

    times: dict[str, list[float]] = {}
    for _ in range(blocks):
        for name, cpus in placements().items():
            for echoer in ECHOERS:
                key = f"{name}_{echoer}" if echoer != "uvloop" else name
                times.setdefault(key, [])
                times[key] += uvloop.run(round_trips(cpus, calls // blocks, echoer))
    us = 1e6
    return {f"floor_{name}_median_us": round(statistics.median(t) * us, 1)
            for name, t in times.items()} | {
        f"floor_{name}_p99_us": round(percentile(t, 0.99) * us, 1)
        for name, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="last line: one JSON object")
    ap.add_argument("--calls", type=int, default=8000)
    args = ap.parse_args()
    report(measure(args.calls), args.json)


if __name__ == "__main__":
    main()
