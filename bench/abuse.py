"""Floods against a real host: its memory before and after each.

A real host runs the test suite's hostile plugin (tests/plugins/hostile) beside
bench-echo; each flood is sent, then the host's resident memory is read again:

- capability: a worker writes 100,000 capability requests without reading answers
  (the host kills it after 4 outstanding), three times;
- log: 20,000 ``ctx.log`` lines of 10 kB and 2,000 printed lines of 100 kB;
- body: 50 plugin-route bodies of 9 MiB, and 20 bodies past the 10 MiB limit
  (declared and streamed);
- hook: 20 event payloads of 9 MiB delivered to the plugins.

Target (issue 12): each flood leaves the host's RSS within 50 MiB of before.
Usage: python bench/abuse.py [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
import time
from pathlib import Path

import httpx
from common import bench_host, make_plugin, report

from ops.paths import ROOT

HOSTILE = ROOT / "tests" / "plugins" / "hostile"
LIMIT_MIB = 50


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def floods(host, client: httpx.Client) -> dict:
    def cap():
        for _ in range(3):
            client.get("/plugins/hostile/api/cap-flood", timeout=60)

    def logs():
        client.get("/plugins/hostile/api/log-flood", params={"n": 20000}, timeout=120)
        client.get("/plugins/hostile/api/print-flood", params={"n": 2000}, timeout=120)

    def bodies():
        body = b"x" * (9 * 1024 * 1024)
        for _ in range(50):
            client.post("/plugins/hostile/api/echo", content=body, timeout=60)
        for _ in range(10):
            client.post("/plugins/hostile/api/echo", content=body + body, timeout=60)

        def stream():
            for _ in range(64):
                yield b"x" * (1024 * 1024)
        for _ in range(10):
            with contextlib.suppress(httpx.HTTPError):  # the host may close after its 413
                client.post("/plugins/hostile/api/echo", content=stream(), timeout=60)

    def hooks():
        # signed-looking: the host reads the 9 MiB body before it finds the signature wrong
        payload = b'{"blob": "' + b"x" * (9 * 1024 * 1024) + b'"}'
        for _ in range(20):
            client.post("/hooks/biblio.after_save", content=payload, timeout=60,
                        headers={"Content-Type": "application/json",
                                 "X-Koha-Hook-Timestamp": str(int(time.time())),
                                 "X-Koha-Hook-Signature": "v1=0"})

    out = {}
    for name, flood in (("capability", cap), ("log", logs), ("body", bodies),
                        ("hook", hooks)):
        before = rss_mib(host.proc.pid)
        flood()
        after = rss_mib(host.proc.pid)
        assert client.get("/plugins/bench-echo/api/echo/alive").status_code == 200
        out[name] = {"rss_before_mib": round(before, 1), "rss_after_mib": round(after, 1),
                     "growth_mib": round(after - before, 1)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="last line: one JSON object")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, bench_host(Path(tmp)) as host:
        work = Path(tmp)
        hostile = work / "hostile"
        shutil.copytree(HOSTILE, hostile)
        host.post_package("/admin/plugins", make_plugin(work))
        host.post_package("/admin/plugins", hostile)
        with httpx.Client(base_url=host.url) as client:
            client.get("/plugins/bench-echo/api/echo/warm")
            figures = {"floods": floods(host, client)}
    worst = max(f["growth_mib"] for f in figures["floods"].values())
    figures["worst_growth_mib"] = worst
    figures["targets"] = {"growth_mib": f"<= {LIMIT_MIB} per flood"}
    figures["meets_targets"] = worst <= LIMIT_MIB
    report(figures, args.json)


if __name__ == "__main__":
    main()
