"""Hot swap under load: an upgrade and a rollback while wrk hammers a plugin route.

A real host serves bench-echo 1.0.0; wrk runs for --seconds; a third of the way in the
plugin is upgraded to 1.1.0 and two thirds in rolled back. Prints the swap durations,
requests/s and failed requests (non-2xx and socket errors, as wrk counts them).

Targets (issue 3): >= 200 requests/s for 30 s; 0 failed requests.
Usage: python bench/hot_swap.py [--json] [--seconds 30]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from common import bench_host, make_plugin, report, wrk


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="last line: one JSON object")
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--connections", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, bench_host(Path(tmp)) as host:
        v1 = make_plugin(Path(tmp), "1.0.0", workers=2)
        v2 = make_plugin(Path(tmp), "1.1.0", workers=2)
        host.post_package("/admin/plugins", v1)
        upgrade_pkg = host.package(v2)
        result: dict = {}
        load = threading.Thread(target=lambda: result.update(wrk(
            f"{host.url}/plugins/bench-echo/api/echo/hi", args.seconds, args.connections,
            allow_errors=True)))
        load.start()
        time.sleep(args.seconds / 3)
        t = time.perf_counter()
        r = host.admin.post("/admin/plugins/bench-echo/upgrade", content=upgrade_pkg,
                            headers={"Content-Type": "application/zip"})
        upgrade_s = time.perf_counter() - t
        upgraded = r.status_code == 200 and r.json()["version"] == "1.1.0"
        time.sleep(args.seconds / 3 - upgrade_s)
        t = time.perf_counter()
        r = host.admin.post("/admin/plugins/bench-echo/rollback")
        rollback_s = time.perf_counter() - t
        rolled_back = r.status_code == 200 and r.json()["version"] == "1.0.0"
        load.join()
    failed = result["non_2xx"] + result["socket_errors"]
    figures = {"seconds": args.seconds, "connections": args.connections,
               "requests": result["requests"], "requests_per_s": round(result["rps"]),
               "failed_requests": failed, "upgrade_ok": upgraded, "rollback_ok": rolled_back,
               "upgrade_duration_ms": round(upgrade_s * 1e3), "rollback_duration_ms":
               round(rollback_s * 1e3),
               "targets": {"requests_per_s": ">= 200", "failed_requests": "0"}}
    figures["meets_targets"] = (failed == 0 and result["rps"] >= 200 and upgraded
                                and rolled_back)
    report(figures, args.json)


if __name__ == "__main__":
    main()
