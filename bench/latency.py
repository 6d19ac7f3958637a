"""API latency through the full stack at a steady rate: a real host (`plugin-host
serve`), the plugin route, a sandboxed worker; requests sent open-loop at a fixed rate
(each one's latency counted from when it was due, not from when a connection was free,
so a stall is not hidden), with the RSS of the host and its workers sampled throughout.

Targets (issue 20): at 500 requests/s for 60 s, p99 < 10 ms, 0 errors, flat RSS (the
host's and workers' RSS at the end within 5 % or 4 MiB of what it was after warm-up).
Usage: python bench/latency.py [--json] [--rate R] [--seconds S] [--connections C]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from common import bench_host, make_plugin, percentile, report, run

MIB = 1024 * 1024


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (the host and its workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


class Connection:
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await self.reader.readexactly(length)
        return status


async def load(url: str, path: str, rate: float, seconds: float, connections: int,
               pid: int, warmup: float) -> dict:
    host, port = url.split("//", 1)[1].split(":")
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        free.put_nowait(Connection(host, int(port)))
    latencies: list[float] = []
    errors: list[str] = []
    rss: list[tuple[float, int]] = []

    async def one(due: float, measured: bool) -> None:
        conn = await free.get()
        try:
            status = await conn.get(path)
            if measured:
                latencies.append(time.perf_counter() - due)
                if status != 200:
                    errors.append(f"status {status}")
        except (OSError, asyncio.IncompleteReadError, ValueError) as e:
            conn.writer = None
            if measured:
                errors.append(f"{type(e).__name__}: {e}")
        finally:
            free.put_nowait(conn)

    tasks = set()
    start = time.perf_counter()
    total = int((warmup + seconds) * rate)
    next_rss = start + warmup
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(due, i >= warmup * rate))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        if time.perf_counter() >= next_rss:
            rss.append((time.perf_counter() - start, tree_rss(pid)))
            next_rss += 5
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start - warmup
    rss.append((time.perf_counter() - start, tree_rss(pid)))
    ms = 1000
    first, last = rss[0][1], rss[-1][1]
    return {
        "rate_rps": rate, "seconds": seconds, "requests": len(latencies),
        "achieved_rps": round(len(latencies) / elapsed, 1), "errors": len(errors),
        "error_examples": sorted(set(errors))[:3],
        "p50_ms": round(statistics.median(latencies) * ms, 2),
        "p99_ms": round(percentile(latencies, 0.99) * ms, 2),
        "p999_ms": round(percentile(latencies, 0.999) * ms, 2),
        "max_ms": round(max(latencies) * ms, 2),
        "rss_after_warmup_mib": round(first / MIB, 1), "rss_end_mib": round(last / MIB, 1),
        "rss_growth_mib": round((last - first) / MIB, 2),
        "rss_samples_mib": [round(r / MIB, 1) for _, r in rss],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="last line: one JSON object")
    ap.add_argument("--rate", type=float, default=500)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, bench_host(Path(tmp)) as host:
        host.post_package("/admin/plugins", make_plugin(Path(tmp)))
        figures = run(load(host.url, "/plugins/bench-echo/api/echo/hi", args.rate,
                           args.seconds, args.connections, host.proc.pid, args.warmup))
    growth = figures["rss_growth_mib"]
    figures["targets"] = {"p99_ms": "< 10", "errors": "0",
                          "rss_growth": "<= 5 % or 4 MiB of the size after warm-up"}
    figures["verdicts"] = {
        "p99_under_10ms": figures["p99_ms"] < 10, "no_errors": figures["errors"] == 0,
        "rss_flat": growth <= max(4.0, 0.05 * figures["rss_after_warmup_mib"])}
    figures["meets_targets"] = all(figures["verdicts"].values())
    report(figures, args.json)


if __name__ == "__main__":
    main()
