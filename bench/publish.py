"""Publish to installable, without the human step, on real processes.

A real registry (SQLite, local storage) and a real host reading the registry's signed
index through a static file server. Each round publishes a new version of bench-echo
(automated checks, including the smoke load in a sandboxed worker), approves it through
the review API at once (standing in for the reviewer), and installs it on the host by
name and range through TUF. Prints the medians of each step and of the total.

Usage: python bench/publish.py [--json] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import TOKEN, make_plugin, report

from ops.processes import Server, free_port, open_for_workers, start_server
from plugin_host.package.archive import pack
from plugin_host.package.signing import generate_keypair, sign_package

ADMIN = "bench-registry-admin-123"


def spawn(cmd: list[str], log: Path, url: str, path: str = "/readyz") -> Server:
    return start_server(cmd, log, port=int(url.rsplit(":", 1)[1]), ready_path=path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="last line: one JSON object")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    py = sys.executable
    procs: list[Server] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = open_for_workers(Path(tmp))
        try:
            reg_port, static_port, host_port = free_port(), free_port(), free_port()
            reg = f"http://127.0.0.1:{reg_port}"
            procs.append(spawn([py, "-m", "plugin_host.cli", "registry", "serve", "--port",
                                str(reg_port), "--data-dir", str(work / "registry"),
                                "--admin-token", ADMIN], work / "registry.log", reg))
            admin = httpx.Client(base_url=reg, timeout=60,
                                 headers={"Authorization": f"Bearer {ADMIN}"})
            for name, role in (("pub", "publisher"), ("rev", "reviewer")):
                admin.post("/api/v1/accounts", json={"name": name, "role": role})
            pub = httpx.Client(base_url=reg, timeout=60, headers={
                "Authorization": "Bearer " + admin.post("/api/v1/accounts/pub/tokens")
                .json()["token"]})
            rev = httpx.Client(base_url=reg, timeout=60, headers={
                "Authorization": "Bearer " + admin.post("/api/v1/accounts/rev/tokens")
                .json()["token"]})
            key, public, _ = generate_keypair(work / "publisher")
            pub.post("/api/v1/keys", json={"public_key": public.read_text()}).raise_for_status()
            static = f"http://127.0.0.1:{static_port}"
            procs.append(spawn([py, "-m", "http.server", str(static_port), "--bind",
                                "127.0.0.1", "--directory", str(work / "registry" / "storage")],
                               work / "static.log", static, "/"))
            host = f"http://127.0.0.1:{host_port}"
            procs.append(spawn([py, "-m", "plugin_host.cli", "serve", "--port", str(host_port),
                                "--data-dir", str(work / "host"), "--admin-token", TOKEN,
                                "--registry-url", static, "--registry-root",
                                str(work / "registry" / "storage" / "metadata" / "root.json"),
                                "--log-level", "warning"], work / "host.log", host))
            host_admin = httpx.Client(base_url=host, timeout=120,
                                      headers={"Authorization": f"Bearer {TOKEN}"})
            steps: dict[str, list[float]] = {"publish": [], "approve": [], "install": [],
                                             "total": []}
            for i in range(args.rounds):
                src = make_plugin(work / f"r{i}", f"1.{i}.0")
                pkg = pack(src, work / f"r{i}" / "out")
                sign_package(pkg, key)
                data = pkg.read_bytes()
                t0 = time.perf_counter()
                r = pub.post("/api/v1/packages", content=data,
                             headers={"Content-Type": "application/zip"})
                assert r.json().get("state") == "in_review", r.text
                t1 = time.perf_counter()
                rev.post(f"/api/v1/review/bench-echo/1.{i}.0",
                         json={"decision": "approve"}).raise_for_status()
                t2 = time.perf_counter()
                if i:
                    host_admin.delete("/admin/plugins/bench-echo").raise_for_status()
                r = host_admin.post("/admin/plugins", json={"name": "bench-echo",
                                                            "range": f"~1.{i}"})
                assert r.status_code == 201 and r.json()["version"] == f"1.{i}.0", r.text
                t3 = time.perf_counter()
                for k, v in (("publish", t1 - t0), ("approve", t2 - t1), ("install", t3 - t2),
                             ("total", t3 - t0)):
                    steps[k].append(v * 1000)
        finally:
            for p in procs:
                p.stop()
    figures = {f"{k}_median_ms": round(statistics.median(v)) for k, v in steps.items()}
    figures["rounds"] = args.rounds
    report(figures, args.json)


if __name__ == "__main__":
    main()
