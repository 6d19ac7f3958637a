"""A plugin host of the plugin's own, for its author: a ``plugin-host serve`` process
with its data in a folder of its own, the plugin installed from its source folder,
packed as ``VERSION+dev.N`` and signed with a development key the host trusts; each
``deploy()`` switches it to the folder as it is now, the zero-downtime way. Used by
``plugin-host dev`` and by the pytest plugin's ``plugin_host`` fixture."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import PluginHostError

STATE = ".dev"


def _print_log_lines(stream: Any, name: str, verbose: bool, kept: list[dict],
                     echo: bool = True) -> None:
    """The host's JSON log lines about this plugin (and its errors), short; each one
    about the plugin also kept in ``kept``."""
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").strip()
        try:
            entry = json.loads(line)
        except ValueError:
            if verbose and line and echo:
                print(f"  host: {line}", file=sys.stderr, flush=True)
            continue
        if entry.get("plugin") == name:
            kept.append(entry)
        if not echo or (entry.get("plugin") != name and not verbose
                        and entry.get("level") != "error"):
            continue
        fields = " ".join(f"{k.removeprefix('p_')}={v}" for k, v in entry.items()
                          if k not in ("event", "level", "timestamp", "plugin", "logger"))
        print(f"  [{entry.get('level', 'info')}] {entry.get('event', '')} {fields}".rstrip(),
              file=sys.stderr, flush=True)


class DevHost:
    """A ``plugin-host serve`` of the plugin's own, its data in ``state_dir`` (default
    ``FOLDER/.dev``), the plugin installed from the folder (also the pytest plugin's
    ``plugin_host`` fixture)."""

    def __init__(self, folder: Path, port: int = 0, verbose: bool = False,
                 state_dir: Path | None = None, echo: bool = True):
        self.folder = folder
        self.dir = state_dir or folder / STATE
        self.echo = echo
        self.lines: list[dict] = []
        self.port = port
        self.verbose = verbose
        self.proc: subprocess.Popen | None = None
        self.token = secrets.token_urlsafe(24)
        self.url = ""
        self.name = ""

    def key(self) -> Path:
        from ..package.signing import generate_keypair

        key = self.dir / "dev.key"
        if not key.exists():
            generate_keypair(self.dir / "dev")
        return key

    def start(self) -> None:
        import httpx

        self.dir.mkdir(exist_ok=True)
        self.key()
        port = self.port or _free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PLUGIN_HOST_ADMIN_TOKEN": self.token,
               "PLUGIN_HOST_HOOK_SECRET": self.token}  # the dev host signs its own events
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "plugin_host.cli", "serve", "--port", str(port),
             "--data-dir", str(self.dir / "host"), "--trusted-key", str(self.dir / "dev.pub")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        threading.Thread(target=_print_log_lines, args=(self.proc.stderr, self.name_guess(),
                                                        self.verbose, self.lines, self.echo),
                         daemon=True).start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PluginHostError("the dev host did not start (run with --verbose)")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        else:
            raise PluginHostError("the dev host did not become ready in 30 s")
        state = self.dir / "state.json"
        state.write_text(json.dumps({"url": self.url, "token": self.token,
                                     "pid": self.proc.pid}))
        os.chmod(state, 0o600)

    def name_guess(self) -> str:
        from ..manifest import MANIFEST_FILE, parse_manifest

        try:
            self.name = parse_manifest((self.folder / MANIFEST_FILE).read_bytes()).name
        except PluginHostError:
            self.name = ""
        return self.name

    def stop(self) -> None:
        (self.dir / "state.json").unlink(missing_ok=True)
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def deploy(self) -> str:
        """Pack the folder as VERSION+dev.N, sign it, and install or switch to it."""
        import httpx

        from ..package.archive import pack, read_package
        from ..package.signing import sign_package

        build = f"dev.{time.time_ns() // 1_000_000}"
        path = pack(self.folder, self.dir / "build", build=build)
        sign_package(path, self.key(), replace=True)
        data = path.read_bytes()
        path.unlink()
        name = read_package(data).manifest.name
        admin = httpx.Client(base_url=self.url, timeout=120,
                             headers={"Authorization": f"Bearer {self.token}"})
        zip_ = {"Content-Type": "application/zip"}
        installed = admin.get(f"/admin/plugins/{name}")
        if installed.status_code == 404:
            r = admin.post("/admin/plugins", content=data, headers=zip_)
        else:
            r = admin.post(f"/admin/plugins/{name}/upgrade", content=data, headers=zip_)
        if r.status_code not in (200, 201):
            try:
                message = r.json()["error"]["message"]
            except (ValueError, KeyError):
                message = r.text
            raise PluginHostError(message)
        self.name = name
        return r.json()["version"]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
