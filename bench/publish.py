"""Publish to installable, without the human step, on real processes.

A real registry (SQLite, local storage) and a real host reading the registry's signed
index through a static file server. Each round publishes a new version of bench-echo
(automated checks, including the smoke load in a sandboxed worker), approves it through
the review API at once (standing in for the reviewer), and installs it on the host by
name and range through TUF. Prints the medians of each step and of the total.

With ``--plugins N`` the registry first holds a catalogue of N plugins x ``--versions``
approved releases (written straight into its database between two starts: publishing
half a million packages through the API would take hours), so the figures are at that
size (issue 20: 50,000 x 10, publish-to-installable under 1 s). Then also printed:
the registry's start over that catalogue (it compares every plugin's document with the
published index), and what the host downloads from the static server (sizes of the
index files its requests named, from the server's log; the package itself aside): for
one new release (timestamp, snapshot, one bin, one plugin document) and a refresh with
nothing new (the same install asked again: timestamp.json only).

Usage: python bench/publish.py [--json] [--rounds 5] [--plugins 50000 --versions 10]
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
    return start_server(cmd, log, port=int(url.rsplit(":", 1)[1]), ready_path=path,
                        timeout=900)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="last line: one JSON object")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--plugins", type=int, default=0, help="catalogue size (plugins)")
    ap.add_argument("--versions", type=int, default=10, help="releases per plugin")
    args = ap.parse_args()
    py = sys.executable
    procs: list[Server] = []
    extra: dict = {}
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
            keyid = pub.post("/api/v1/keys", json={"public_key": public.read_text()}) \
                .raise_for_status().json()["keyid"]
            if args.plugins:
                procs.pop().stop()
                loaded = bulk_load(work / "registry" / "registry.db", keyid, args.plugins,
                                   args.versions)
                t0 = time.perf_counter()
                procs.append(spawn([py, "-m", "plugin_host.cli", "registry", "serve",
                                    "--port", str(reg_port), "--data-dir",
                                    str(work / "registry"), "--admin-token", ADMIN],
                                   work / "registry.log", reg))
                extra["first_start_s"] = round(time.perf_counter() - t0, 1)
                extra["bulk_load_s"] = loaded
                procs[-1].stop()
                t0 = time.perf_counter()
                procs[-1] = spawn([py, "-m", "plugin_host.cli", "registry", "serve",
                                   "--port", str(reg_port), "--data-dir",
                                   str(work / "registry"), "--admin-token", ADMIN],
                                  work / "registry.log", reg)
                extra["start_s"] = round(time.perf_counter() - t0, 1)
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
            storage = work / "registry" / "storage"
            seen = [0]
            downloaded(work / "static.log", storage, seen)  # the host's start
            round_bytes: list[int] = []
            nothing_bytes: list[int] = []
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
                round_bytes.append(downloaded(work / "static.log", storage, seen))
                again = host_admin.post("/admin/plugins", json={"name": "bench-echo",
                                                                "range": f"~1.{i}"})
                assert again.status_code == 200, again.text
                nothing_bytes.append(downloaded(work / "static.log", storage, seen))
                for k, v in (("publish", t1 - t0), ("approve", t2 - t1), ("install", t3 - t2),
                             ("total", t3 - t0)):
                    steps[k].append(v * 1000)
        finally:
            for p in procs:
                p.stop()
    figures = {f"{k}_median_ms": round(statistics.median(v)) for k, v in steps.items()}
    figures["rounds"] = args.rounds
    figures["catalogue"] = f"{args.plugins} plugins x {args.versions} releases" \
        if args.plugins else "bench-echo only"
    figures.update(extra)
    # the first round also reads the bench-echo document the first time: the later ones
    # are what one new release costs a host that has been refreshing
    figures["one_release_bytes_median"] = round(statistics.median(round_bytes[1:] or
                                                                  round_bytes))
    figures["nothing_new_bytes_median"] = round(statistics.median(nothing_bytes))
    figures["targets"] = {"total_median_ms": "< 1000", "nothing_new_bytes_median": "<= 4096",
                          "one_release_bytes_median": "<= 65536"}
    print("targets: publish to installable < 1 s; a refresh with nothing new a few KiB "
          "(<= 4 KiB); one new release little more (<= 64 KiB, and its package)")
    report(figures, args.json)


def downloaded(log: Path, storage: Path, seen: list[int]) -> int:
    """Bytes of the index's files (not packages) the static server was asked for since
    the last call (its log names each request; the sizes are those of the files it
    served)."""
    import re

    lines = log.read_text(errors="replace").splitlines()
    total = 0
    for line in lines[seen[0]:]:
        m = re.search(r'"GET (\S+) HTTP/[\d.]+" 200', line)
        if m and not m.group(1).startswith("/targets/packages/"):
            total += (storage / m.group(1).lstrip("/")).stat().st_size
    seen[0] = len(lines)
    return total


def bulk_load(db_path: Path, keyid: str, plugins: int, versions: int) -> float:
    """``plugins`` x ``versions`` approved releases (each depending on one or two plugins
    of the catalogue) written straight into the registry's SQLite database, owned by
    ``pub``. Their packages are not stored (hosts in the bench never install them)."""
    import json
    import random
    import sqlite3

    rnd = random.Random(7)
    t0 = time.perf_counter()
    db = sqlite3.connect(db_path)
    owner = db.execute("SELECT id FROM accounts WHERE name = 'pub'").fetchone()[0]
    now = "2026-12-01 00:00:00.000000"
    with db:
        db.executemany(
            "INSERT INTO plugins (name, owner_id, summary, tags, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            ((f"catalogue-{i:06d}", owner, f"Catalogue plugin {i}", '["bench"]', now)
             for i in range(plugins)))
        rows = []
        for i in range(plugins):
            name = f"catalogue-{i:06d}"
            for v in range(versions):
                deps = {f"catalogue-{rnd.randrange(plugins):06d}": "^1.0"
                        for _ in range(rnd.choice((0, 1, 2)))}
                deps.pop(name, None)
                sha = f"{rnd.getrandbits(256):064x}"
                rows.append((name, f"1.{v}.0", "approved", False, sha, 20_000 + v, keyid,
                             "", "^1.0", json.dumps(deps), "[]",
                             f"targets/packages/{name}/{sha}.{name}-1.{v}.0.kplugin", 0, now))
            if len(rows) >= 50_000:
                db.executemany("INSERT INTO releases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                               "?, ?, ?)", rows)
                rows.clear()
        db.executemany("INSERT INTO releases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                       "?)", rows)
    db.close()
    return round(time.perf_counter() - t0, 1)


if __name__ == "__main__":
    main()
