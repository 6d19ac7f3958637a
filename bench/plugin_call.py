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
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plugin_host.devenv import free_port, wait_ready  # noqa: E402
from plugin_host.host.sandbox import SandboxPolicy  # noqa: E402
from plugin_host.host.workers import PluginRuntime, WorkerSpec  # noqa: E402
from plugin_host.manifest import parse_manifest  # noqa: E402
from plugin_host.package.archive import pack  # noqa: E402
from plugin_host.package.signing import generate_keypair, sign_package  # noqa: E402
from plugin_host.sdk import Context, Request, encode_response  # noqa: E402

MANIFEST = """
[plugin]
name = "bench-echo"
version = "1.0.0"
summary = "Echoes a path parameter"
authors = ["bench <bench@example.org>"]
license = "MIT"
host_api = "^1.0"

[backend]
entry = "bench_echo:plugin"
"""
CODE = """
from plugin_host.sdk import Plugin
plugin = Plugin()

@plugin.route("GET", "/echo/{word}")
def echo(request, ctx):
    return {"word": request.path_params["word"]}
"""


def make_plugin(base: Path) -> Path:
    src = base / "bench-echo"
    (src / "bench_echo").mkdir(parents=True)
    (src / "plugin.toml").write_text(MANIFEST)
    (src / "bench_echo" / "__init__.py").write_text(CODE)
    return src


class NoTransport:
    def cap(self, op, args):
        raise RuntimeError("not used")

    def log(self, level, event, fields):
        pass


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def measure_overhead(src: Path, calls: int, layers: list[str] | None) -> dict:
    manifest = parse_manifest((src / "plugin.toml").read_text())
    sys.path.insert(0, str(src))
    from bench_echo import plugin  # type: ignore[import-not-found]

    handler = plugin.routes[0][1]
    ctx = Context(NoTransport(), "bench-echo", "1.0.0")
    req = {"method": "GET", "path": "/echo/hi", "path_params": {"word": "hi"}, "query": {},
           "headers": {"accept": "application/json"}, "body": b""}

    def in_process() -> None:
        encode_response(handler(Request(**req), ctx))

    async def no_cap(op, args):
        raise RuntimeError("not used")

    runtime = PluginRuntime(WorkerSpec("bench-echo", "1.0.0", manifest, src,
                                       src.parent / "scratch",
                                       SandboxPolicy(layers, [])), no_cap, lambda f: None)
    await runtime.start()
    msg = {"t": "call", "kind": "route", "route": 0, "request": req}
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


def wrk(url: str, seconds: int, connections: int) -> float:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not m or errors:
        raise RuntimeError(f"wrk failed or saw errors:\n{out}")
    return float(m.group(1))


def measure_throughput(src: Path, work: Path, seconds: int) -> dict:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed for the throughput figure: apt-get install wrk")
    key, pub, _ = generate_keypair(work / "bench")
    pkg = pack(src, work / "pkg")
    sign_package(pkg, key)
    port = free_port()
    log = (work / "host.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "plugin_host.cli", "serve", "--port",
                             str(port), "--data-dir", str(work / "data"), "--trusted-key",
                             str(pub), "--admin-token", "bench-token-123456",
                             "--log-level", "warning"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc=proc)
        import httpx

        r = httpx.post(f"{url}/admin/plugins", content=pkg.read_bytes(), timeout=30,
                       headers={"Authorization": "Bearer bench-token-123456",
                                "Content-Type": "application/zip"})
        r.raise_for_status()
        wrk(f"{url}/healthz", 2, 16)  # warm up
        bare = wrk(f"{url}/healthz", seconds, 16)
        plugin = wrk(f"{url}/plugins/bench-echo/api/echo/hi", seconds, 16)
    finally:
        proc.terminate()
        proc.wait(10)
    return {"bare_route_rps": round(bare), "plugin_route_rps": round(plugin),
            "throughput_ratio": round(plugin / bare, 3), "wrk_connections": 16,
            "wrk_seconds": seconds}


def run(coro):
    """The host runs on uvloop under uvicorn; measure on the same loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


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
    for k, v in figures.items():
        if k != "targets":
            print(f"{k:24} {v}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
