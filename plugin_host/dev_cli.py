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
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from .cli_support import friendly
from .errors import PluginHostError
from .sdk.devhost import STATE, DevHost


def _state_file(folder: Path) -> Path:
    return folder / STATE / "state.json"


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
    from .hook_signature import signed_headers

    payload = json.loads(payload_file.read_text()) if payload_file else example(event)
    data = json.dumps(payload).encode()
    r = httpx.post(f"{state['url']}/hooks/{event}", content=data, timeout=60,
                   headers=signed_headers(state["token"], f"/hooks/{event}", data))
    body = r.json()
    if r.status_code != 200:
        raise PluginHostError(f"{r.status_code} {body['error']['message']}")
    click.echo(json.dumps(body["results"], indent=2))


class _Stopped(Exception):
    """SIGTERM or SIGHUP reached ``plugin-host dev``."""


def _stop_on_signal(signum: int, _frame: Any) -> None:
    raise _Stopped(signal.Signals(signum).name)


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
    # a line at a time even into a file or a pipe: the author (or a tool) reads as it goes
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)
    if event:
        _fire(folder, event, payload)
        return
    from watchfiles import watch

    host = DevHost(folder, port, verbose)
    started = time.monotonic()
    # stopped by a supervisor, a closed terminal or `kill`: stop its host too (it runs in
    # a session of its own, which Ctrl-C alone reaches through this process)
    for stop in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, _stop_on_signal)
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
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        host.stop()
