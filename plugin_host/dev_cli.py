"""``plugin-host dev [FOLDER]``: the author's loop. The plugin runs in a real sandboxed
worker behind a host of its own (a ``plugin-host serve`` process with its data in
``FOLDER/.dev/``, which packing leaves out), installed from the folder, packed and
signed with a development key the command makes and the host trusts. Every save packs
it again as ``VERSION+dev.N`` and switches the host to it the zero-downtime way (the
upgrade path: config and kv data kept, ``on_upgrade`` run), with no version bump; a
change that does not pack or start says why and the previous one keeps serving. The
plugin's log lines are printed as they come. ``--event EVENT`` delivers a Koha event to
the running dev host (a valid example payload, or ``--payload FILE``).
"""

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

import click

from .cli_support import friendly
from .errors import PluginHostError

STATE = ".dev"


def _state_file(folder: Path) -> Path:
    return folder / STATE / "state.json"


def _print_log_lines(stream: Any, name: str, verbose: bool) -> None:
    """The host's JSON log lines about this plugin (and its errors), short."""
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").strip()
        try:
            entry = json.loads(line)
        except ValueError:
            if verbose and line:
                click.echo(f"  host: {line}", err=True)
            continue
        if entry.get("plugin") != name and not verbose and entry.get("level") != "error":
            continue
        fields = " ".join(f"{k.removeprefix('p_')}={v}" for k, v in entry.items()
                          if k not in ("event", "level", "timestamp", "plugin", "logger"))
        click.echo(f"  [{entry.get('level', 'info')}] {entry.get('event', '')} {fields}"
                   .rstrip(), err=True)


class DevHost:
    def __init__(self, folder: Path, port: int, verbose: bool):
        self.folder = folder
        self.dir = folder / STATE
        self.port = port
        self.verbose = verbose
        self.proc: subprocess.Popen | None = None
        self.token = secrets.token_urlsafe(24)
        self.url = ""
        self.name = ""

    def key(self) -> Path:
        from .package.signing import generate_keypair

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
        env = {**os.environ, "PLUGIN_HOST_ADMIN_TOKEN": self.token}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "plugin_host.cli", "serve", "--port", str(port),
             "--data-dir", str(self.dir / "host"), "--trusted-key", str(self.dir / "dev.pub")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        threading.Thread(target=_print_log_lines, args=(self.proc.stderr, self.name_guess(),
                                                        self.verbose), daemon=True).start()
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
        _state_file(self.folder).write_text(json.dumps(
            {"url": self.url, "token": self.token, "pid": self.proc.pid}))
        os.chmod(_state_file(self.folder), 0o600)

    def name_guess(self) -> str:
        from .manifest import MANIFEST_FILE, parse_manifest

        try:
            self.name = parse_manifest((self.folder / MANIFEST_FILE).read_bytes()).name
        except PluginHostError:
            self.name = ""
        return self.name

    def stop(self) -> None:
        _state_file(self.folder).unlink(missing_ok=True)
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def deploy(self) -> str:
        """Pack the folder as VERSION+dev.N, sign it, and install or switch to it."""
        import httpx

        from .package.archive import pack, read_package
        from .package.signing import sign_package

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


def _ignored(change: Any, path: str) -> bool:
    parts = Path(path).parts
    return any(p in (STATE, "dist", "__pycache__", ".git", "tests", ".pytest_cache")
               for p in parts) or path.endswith((".pyc", ".kplugin", "~", ".swp"))


def _fire(folder: Path, event: str, payload_file: Path | None) -> None:
    import httpx

    from .koha import example

    try:
        state = json.loads(_state_file(folder).read_text())
    except FileNotFoundError:
        raise PluginHostError(f"no dev host runs for {folder}: start `plugin-host dev "
                              f"{folder}` first") from None
    payload = json.loads(payload_file.read_text()) if payload_file else example(event)
    r = httpx.post(f"{state['url']}/hooks/{event}", json=payload, timeout=60)
    body = r.json()
    if r.status_code != 200:
        raise PluginHostError(f"{r.status_code} {body['error']['message']}")
    click.echo(json.dumps(body["results"], indent=2))


@click.command(short_help="Run a plugin folder in a sandboxed dev host; reload on save.")
@click.argument("folder", default=".", type=click.Path(path_type=Path, exists=True,
                                                       file_okay=False))
@click.option("--port", type=int, default=0, help="The dev host's port [a free one]")
@click.option("--event", default=None, metavar="EVENT",
              help="Deliver EVENT to the dev host running for FOLDER and print the results")
@click.option("--payload", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="With --event: the payload (JSON) [a valid example of the event]")
@click.option("--verbose", is_flag=True, help="Print all of the host's log, not only the plugin's")
@friendly
def dev(folder: Path, port: int, event: str | None, payload: Path | None,
        verbose: bool) -> None:
    """Run the plugin in FOLDER in a real sandboxed worker behind a host of its own, and
    switch to every saved change at once (no version bump, no failed request).

    \b
    Example:
      plugin-host dev shelf-check            # prints the URL; Ctrl-C stops
      plugin-host dev shelf-check --event biblio.after_save"""
    folder = folder.resolve()
    if event:
        _fire(folder, event, payload)
        return
    from watchfiles import watch

    host = DevHost(folder, port, verbose)
    started = time.monotonic()
    try:
        host.start()
        version = host.deploy()
        click.echo(f"{host.name} {version} serving at {host.url}/plugins/{host.name}/api/ "
                   f"({time.monotonic() - started:.1f} s)")
        click.echo(f"  admin token: {host.token}   events: plugin-host dev {folder} --event "
                   "EVENT   stop: Ctrl-C")
        click.echo(f"  watching {folder}")
        for _changes in watch(folder, watch_filter=lambda c, p: not _ignored(c, p),
                              debounce=50, step=20):
            t0 = time.monotonic()
            try:
                version = host.deploy()
            except PluginHostError as e:
                click.secho(f"not reloaded: {e.message} (the previous version keeps serving)",
                            fg="red", err=True)
                continue
            click.echo(f"reloaded {host.name} {version} in {time.monotonic() - t0:.2f} s")
    except KeyboardInterrupt:
        pass
    finally:
        host.stop()
