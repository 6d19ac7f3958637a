"""What a plugin call costs: the worker round trip against the naive floor, and
throughput against a bare route.

1. Overhead, per placement (``shared``: the host side and the worker on one CPU;
   ``split``: each on its own), in alternating blocks so that both see the same machine:
   the same trivial handler called in process and through a real worker (PluginRuntime,
   full sandbox: framed msgpack over a Unix socket pair); the overhead is the difference
   of their medians. Beside it, in the same blocks, the naive floor of this design
   (bench/floor.py: one msgpack frame echoed between two processes, pinned the same way):
   as issue 20 defines it (both on uvloop), and the stricter one (a blocking echoer).
   Then where the time goes: each side's CPU time per call (/proc/PID/schedstat), the
   host's and the worker's against the floor's caller and echoer.
2. Throughput: a real host (`plugin-host serve`) under wrk; requests/s of the plugin
   route against the host's bare FastAPI route /healthz in the same process.

Targets (issue 20): overhead median ≤ the floor in the same placement; ≤ 40 µs shared;
p99 ≤ 2 x median; throughput ratio ≥ 0.75.
Usage: python bench/plugin_call.py [--json] [--calls N] [--seconds S] [--blocks B]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import floor
from common import ECHO_CALL, bench_host, echo_runtime, make_plugin, percentile, report, run, wrk

from plugin_host.sdk import Context, Request, encode_response

#: calls not counted at the start of each block, for the worker as for the floor
#: (bench/floor.py): the block before ran elsewhere, with other caches
WARM_UP = 200


class NoTransport:
    def cap(self, op, args):
        raise RuntimeError("not used")

    def log(self, level, event, fields):
        pass


def in_process_call(src: Path):
    sys.path.insert(0, str(src))
    from bench_echo import plugin  # type: ignore[import-not-found]

    handler = plugin.routes[0][1]
    ctx = Context(NoTransport(), "bench-echo", "1.0.0")
    req = ECHO_CALL["request"]
    return lambda: encode_response(handler(Request(**req), ctx))


async def start_pinned(src: Path, host_cpu: int, worker_cpu: int):
    """A fully sandboxed runtime whose workers run on ``worker_cpu`` (they inherit the
    affinity of the process that starts them), this process back on ``host_cpu``."""
    os.sched_setaffinity(0, {worker_cpu})
    runtime = echo_runtime(src, None)
    await runtime.start()
    os.sched_setaffinity(0, {host_cpu})
    return runtime


async def measure_overhead(src: Path, calls: int, blocks: int) -> dict:
    allowed = os.sched_getaffinity(0)
    placements = floor.placements()
    local = in_process_call(src)
    # one copy of the plugin per placement: each runtime has its own scratch space
    runtimes = {name: await start_pinned(make_plugin(src.parent / name), *cpus)
                for name, cpus in placements.items()}
    times: dict[str, dict[str, list[float]]] = {
        name: {"worker": [], "in_process": [], "floor": [], "floor_blocking": []}
        for name in placements}
    cpu: dict[str, dict[str, float]] = {name: {} for name in placements}
    msg = dict(ECHO_CALL)
    try:
        for name, runtime in runtimes.items():  # warm up
            os.sched_setaffinity(0, {placements[name][0]})
            for _ in range(500):
                local()
                await runtime.call(msg)
        per_block = max(1, calls // blocks)
        for b in range(blocks):
            order = list(runtimes) if b % 2 == 0 else list(reversed(list(runtimes)))
            for name in order:
                os.sched_setaffinity(0, {placements[name][0]})
                for _ in range(WARM_UP):  # as the floor does in each block
                    local()
                    await runtimes[name].call(msg)
                t = times[name]
                for _ in range(per_block):
                    s = time.perf_counter()
                    local()
                    t["in_process"].append(time.perf_counter() - s)
                    s = time.perf_counter()
                    await runtimes[name].call(msg)
                    t["worker"].append(time.perf_counter() - s)
                t["floor"] += await floor.round_trips(placements[name], per_block, "uvloop",
                                                      cpu[name])
                t["floor_blocking"] += await floor.round_trips(placements[name], per_block,
                                                               "blocking")
        for name, runtime in runtimes.items():
            os.sched_setaffinity(0, {placements[name][0]})
            cpu[name].update(await cpu_per_call(runtime, msg, calls // 2))
    finally:
        for runtime in runtimes.values():
            await runtime.stop()
        os.sched_setaffinity(0, allowed)
    us = 1e6
    out: dict = {"calls_per_placement": per_block * blocks}
    for name, t in times.items():
        worker, local_t, fl = t["worker"], t["in_process"], t["floor"]
        out[f"{name}_worker_median_us"] = round(statistics.median(worker) * us, 1)
        out[f"{name}_worker_p99_us"] = round(percentile(worker, 0.99) * us, 1)
        out[f"{name}_in_process_median_us"] = round(statistics.median(local_t) * us, 1)
        out[f"{name}_overhead_median_us"] = round(
            (statistics.median(worker) - statistics.median(local_t)) * us, 1)
        out[f"{name}_overhead_p99_us"] = round(
            (percentile(worker, 0.99) - percentile(local_t, 0.99)) * us, 1)
        out[f"{name}_floor_median_us"] = round(statistics.median(fl) * us, 1)
        out[f"{name}_floor_p99_us"] = round(percentile(fl, 0.99) * us, 1)
        out[f"{name}_floor_blocking_median_us"] = round(
            statistics.median(t["floor_blocking"]) * us, 1)
        c = cpu[name]
        out[f"{name}_cpu_per_call_us"] = {
            "host": c["host"], "worker": c["worker"],
            "floor_caller": round(c["caller"] / c["calls"], 1),
            "floor_echoer": round(c["echoer"] / c["calls"], 1)}
    return out


def _worker_pid(runtime) -> int:
    """The worker's own process (below the sandbox's launcher): the busiest descendant."""
    def below(pid: int) -> list[int]:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [pid, *(q for c in f.read().split() for q in below(int(c)))]
    return max(below(runtime.workers[0].pid), key=floor.cpu_ns)


async def cpu_per_call(runtime, msg: dict, calls: int) -> dict[str, float]:
    """CPU time per call (µs) of this process (the host's side) and of the worker."""
    worker = _worker_pid(runtime)
    began = floor.cpu_ns(os.getpid()), floor.cpu_ns(worker)
    for _ in range(calls):
        await runtime.call(msg)
    return {"host": round((floor.cpu_ns(os.getpid()) - began[0]) / calls / 1e3, 1),
            "worker": round((floor.cpu_ns(worker) - began[1]) / calls / 1e3, 1)}


def measure_throughput(src: Path, work: Path, seconds: int) -> dict:
    with bench_host(work) as host:
        host.post_package("/admin/plugins", src)
        wrk(f"{host.url}/healthz", 2, 16)  # warm up
        bare = wrk(f"{host.url}/healthz", seconds, 16)["rps"]
        plugin = wrk(f"{host.url}/plugins/bench-echo/api/echo/hi", seconds, 16)["rps"]
    return {"bare_route_rps": round(bare), "plugin_route_rps": round(plugin),
            "throughput_ratio": round(plugin / bare, 3), "wrk_connections": 16,
            "wrk_seconds": seconds}


def verdicts(f: dict) -> dict:
    out = {}
    for name in ("shared", "split"):
        if f"{name}_overhead_median_us" in f:
            out[f"{name}_overhead_at_most_floor"] = \
                f[f"{name}_overhead_median_us"] <= f[f"{name}_floor_median_us"]
            out[f"{name}_p99_within_2x_median"] = \
                f[f"{name}_overhead_p99_us"] <= 2 * f[f"{name}_overhead_median_us"]
    out["shared_overhead_at_most_40us"] = f["shared_overhead_median_us"] <= 40
    out["throughput_ratio_at_least_0.75"] = f["throughput_ratio"] >= 0.75
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="last line: one JSON object")
    ap.add_argument("--calls", type=int, default=8000, help="per placement")
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--seconds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = make_plugin(work)
        figures = run(measure_overhead(src, args.calls, args.blocks))
        figures.update(measure_throughput(src, work, args.seconds))
    figures["targets"] = {"overhead_median_us": "<= the floor (uvloop), same placement",
                          "shared_overhead_median_us": "<= 40",
                          "overhead_p99_us": "<= 2 x median", "throughput_ratio": ">= 0.75"}
    figures["verdicts"] = verdicts(figures)
    figures["meets_targets"] = all(figures["verdicts"].values())
    report(figures, args.json)


if __name__ == "__main__":
    main()
