"""Shared by the benchmarks: a trivial plugin, a real host process, wrk, a uvloop runner."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import httpx

from ops.processes import free_port, open_for_workers, start_server
from plugin_host.package.archive import pack
from plugin_host.package.signing import generate_keypair, sign_package
from plugin_host.protocol import messages

TOKEN = "bench-token-123456"
MANIFEST = """
[plugin]
name = "bench-echo"
version = "{version}"
summary = "Echoes a path parameter"
authors = ["bench <bench@example.org>"]
license = "MIT"
host_api = "^1.0"

[backend]
entry = "bench_echo:plugin"

[resources]
workers = {workers}
"""
CODE = """
from plugin_host.sdk import Plugin
plugin = Plugin()

@plugin.route("GET", "/echo/{word}")
def echo(request, ctx):
    return {"word": request.path_params["word"], "version": ctx.plugin.version}
"""


def make_plugin(base: Path, version: str = "1.0.0", workers: int = 1) -> Path:
    src = open_for_workers(base) / f"bench-echo-{version}"
    (src / "bench_echo").mkdir(parents=True)
    (src / "plugin.toml").write_text(MANIFEST.format(version=version, workers=workers))
    (src / "bench_echo" / "__init__.py").write_text(CODE)
    return src


class BenchHost:
    """A real `plugin-host serve` with a bench signing key trusted."""

    def __init__(self, work: Path, *args: str):
        self.work = open_for_workers(work)
        self.key, pub, _ = generate_keypair(work / "bench")
        port = free_port()
        self.server = start_server(
            [sys.executable, "-m", "plugin_host.cli", "serve", "--port", str(port),
             "--data-dir", str(work / "data"), "--trusted-key", str(pub), "--admin-token",
             TOKEN, "--log-level", "warning", *args], work / "host.log", port=port)
        self.url = self.server.url
        self.proc = self.server.proc
        self.admin = httpx.Client(base_url=self.url, timeout=60,
                                  headers={"Authorization": f"Bearer {TOKEN}"})

    def package(self, src: Path) -> bytes:
        pkg = pack(src, self.work / "pkg")
        sign_package(pkg, self.key)
        return pkg.read_bytes()

    def post_package(self, path: str, src: Path) -> httpx.Response:
        r = self.admin.post(path, content=self.package(src),
                            headers={"Content-Type": "application/zip"})
        r.raise_for_status()
        return r

    def stop(self) -> None:
        self.server.stop()


@contextmanager
def bench_host(work: Path, *args: str):
    host = BenchHost(work, *args)
    try:
        yield host
    finally:
        host.stop()


def wrk(url: str, seconds: int, connections: int, allow_errors: bool = False) -> dict:
    """Run wrk; requests/s, totals and errors as numbers."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url],
                         capture_output=True, text=True, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result = {"rps": float(rps.group(1)) if rps else 0.0,
              "requests": int(total.group(1)) if total else 0,
              "non_2xx": int(non2xx.group(1)) if non2xx else 0,
              "socket_errors": sum(map(int, sock.groups())) if sock else 0}
    if not allow_errors and (not rps or result["non_2xx"] or result["socket_errors"]):
        raise RuntimeError(f"wrk failed or saw errors:\n{out}")
    return result


def run(coro):
    """The host runs on uvloop under uvicorn; measure on the same loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def echo_runtime(src: Path, layers: list[str] | None):
    """A PluginRuntime for the echo plugin with these optional sandbox layers."""
    from plugin_host.manifest import parse_manifest
    from plugin_host.runtime.pool import PluginRuntime, WorkerSpec
    from plugin_host.runtime.sandbox import SandboxPolicy

    async def no_cap(op, args):
        raise RuntimeError("not used")

    manifest = parse_manifest((src / "plugin.toml").read_text())
    spec = WorkerSpec("bench-echo", manifest.version, manifest, src, src.parent / "scratch",
                      SandboxPolicy(layers, []))
    return PluginRuntime(spec, no_cap, lambda frame: None)


ECHO_CALL = messages.route_call(0, "bench", {
    "method": "GET", "path": "/echo/hi", "path_params": {"word": "hi"}, "query": {},
    "headers": {"accept": "application/json"}, "body": b""})


def report(figures: dict, as_json: bool) -> None:
    """Print the figures one per line; with --json, one JSON object as the last line."""
    import json

    width = max(len(k) for k in figures) + 2
    for k, v in figures.items():
        if k != "targets":
            print(f"{k:{width}} {v}")
    if as_json:
        print(json.dumps(figures))
