"""What a plugin call costs: the worker round trip, and throughput against a bare route.

1. Overhead: the same trivial handler called in-process, then through a real worker
   process (PluginRuntime: framed msgpack over a Unix socket pair); median and p99 of
   the difference, in microseconds.
2. Throughput: a real host (`plugin-host serve`) under wrk; requests/s of the plugin
   route against the host's bare FastAPI route /healthz in the same process.

Targets (issue 2): median overhead <= 100 us; throughput ratio >= 0.5.
Usage: python bench/plugin_call.py [--json] [--calls N] [--seconds S]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import ECHO_CALL, bench_host, echo_runtime, make_plugin, percentile, report, run, wrk

from plugin_host.sdk import Context, Request, encode_response


class NoTransport:
    def cap(self, op, args):
        raise RuntimeError("not used")

    def log(self, level, event, fields):
        pass


async def measure_overhead(src: Path, calls: int, layers: list[str] | None) -> dict:
    sys.path.insert(0, str(src))
    from bench_echo import plugin  # type: ignore[import-not-found]

    handler = plugin.routes[0][1]
    ctx = Context(NoTransport(), "bench-echo", "1.0.0")
    req = ECHO_CALL["request"]

    def in_process() -> None:
        encode_response(handler(Request(**req), ctx))

    runtime = echo_runtime(src, layers)
    await runtime.start()
    msg = dict(ECHO_CALL)
    try:
        for _ in range(500):  # warm up both paths
            in_process()
            await runtime.call(msg)
        inproc, worker = [], []
        for _ in range(calls):
            t = time.perf_counter()
            in_process()
            inproc.append(time.perf_counter() - t)
            t = time.perf_counter()
            await runtime.call(msg)
            worker.append(time.perf_counter() - t)
    finally:
        await runtime.stop()
    us = 1e6
    return {
        "calls": calls,
        "in_process_median_us": round(statistics.median(inproc) * us, 1),
        "worker_median_us": round(statistics.median(worker) * us, 1),
        "worker_p99_us": round(percentile(worker, 0.99) * us, 1),
        "overhead_median_us": round((statistics.median(worker) - statistics.median(inproc))
                                    * us, 1),
        "overhead_p99_us": round((percentile(worker, 0.99) - percentile(inproc, 0.99)) * us, 1),
    }


def measure_throughput(src: Path, work: Path, seconds: int) -> dict:
    with bench_host(work) as host:
        host.post_package("/admin/plugins", src)
        wrk(f"{host.url}/healthz", 2, 16)  # warm up
        bare = wrk(f"{host.url}/healthz", seconds, 16)["rps"]
        plugin = wrk(f"{host.url}/plugins/bench-echo/api/echo/hi", seconds, 16)["rps"]
    return {"bare_route_rps": round(bare), "plugin_route_rps": round(plugin),
            "throughput_ratio": round(plugin / bare, 3), "wrk_connections": 16,
            "wrk_seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="last line: one JSON object")
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--seconds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = make_plugin(work)
        figures = run(measure_overhead(src, args.calls, None))
        figures.update(measure_throughput(src, work, args.seconds))
    figures["targets"] = {"overhead_median_us": "<= 100", "throughput_ratio": ">= 0.5"}
    figures["meets_targets"] = (figures["overhead_median_us"] <= 100
                                and figures["throughput_ratio"] >= 0.5)
    report(figures, args.json)


if __name__ == "__main__":
    main()
