"""Worker pools that grow and shrink with load: a plugin whose handler takes 20 ms,
``workers = 1`` and ``max_workers = 8``, called open-loop at 200 requests/s through a
real host (bench/latency.py's load); the pool's size sampled throughout, then how long
it takes to shrink back once the load stops.

Targets (issue 20): p99 < 100 ms at 200 requests/s, 0 errors; the pool back at its
minimum once idle (here `worker_idle_seconds` = 5).
Usage: python bench/autoscale.py [--json] [--rate R] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import httpx
from common import TOKEN, bench_host, report, run
from latency import load

from ops.processes import open_for_workers

IDLE_SECONDS = 5
MANIFEST = """
[plugin]
name = "bench-slow"
version = "1.0.0"
summary = "Answers after 20 ms"
authors = ["bench <bench@example.org>"]
license = "MIT"
host_api = "^1.0"

[backend]
entry = "bench_slow:plugin"

[resources]
timeout_ms = 5000
workers = 1
max_workers = 8
"""
CODE = """
import time
from plugin_host.sdk import Plugin
plugin = Plugin()

@plugin.route("GET", "/work")
def work(request, ctx):
    time.sleep(0.02)  # an upstream call, say
    return {"done": True}
"""


def make_slow_plugin(base: Path) -> Path:
    src = open_for_workers(base) / "bench-slow-1.0.0"
    (src / "bench_slow").mkdir(parents=True)
    (src / "plugin.toml").write_text(MANIFEST)
    (src / "bench_slow" / "__init__.py").write_text(CODE)
    return src


async def measure(url: str, pid: int, rate: float, seconds: float) -> dict:
    sizes: list[int] = []
    admin = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"})

    async def pool_size() -> int:
        info = (await admin.get("/admin/plugins/bench-slow")).json()
        return len(info["runtime"]["workers"])

    async def sample() -> None:
        while True:
            sizes.append(await pool_size())
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample())
    figures = await load(url, "/plugins/bench-slow/api/work", rate, seconds, 64, pid, 5)
    sampler.cancel()
    stopped = time.monotonic()
    while await pool_size() > 1 and time.monotonic() - stopped < 60:
        await asyncio.sleep(0.2)
    figures["shrunk_to_minimum_after_s"] = round(time.monotonic() - stopped, 1)
    figures["workers_at_end"] = await pool_size()
    await admin.aclose()
    figures["workers_peak"] = max(sizes)
    figures["workers_median_under_load"] = sorted(sizes)[len(sizes) // 2]
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="last line: one JSON object")
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=30)
    args = ap.parse_args()
    os.environ["PLUGIN_HOST_WORKER_IDLE_SECONDS"] = str(IDLE_SECONDS)  # the host inherits
    with tempfile.TemporaryDirectory() as tmp, bench_host(Path(tmp)) as host:
        host.post_package("/admin/plugins", make_slow_plugin(Path(tmp)))
        figures = run(measure(host.url, host.proc.pid, args.rate, args.seconds))
    for key in ("rss_samples_mib", "rss_after_warmup_mib", "rss_end_mib", "rss_growth_mib"):
        figures.pop(key)
    figures["targets"] = {"p99_ms": "< 100", "errors": "0",
                          "workers_at_end": f"1 (the minimum), within {IDLE_SECONDS} s idle"}
    figures["verdicts"] = {
        "p99_under_100ms": figures["p99_ms"] < 100, "no_errors": figures["errors"] == 0,
        "grew": figures["workers_peak"] > 1, "shrank": figures["workers_at_end"] == 1}
    figures["meets_targets"] = all(figures["verdicts"].values())
    report(figures, args.json)


if __name__ == "__main__":
    main()
