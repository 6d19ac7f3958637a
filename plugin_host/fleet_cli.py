"""``plugin-host fleet``: the environment's declared plugin set, rolled out over its
hosts (host/fleet.py on each host, host/fleet_rollout.py from the operator's machine)."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import click

from .cli_support import FullHelpGroup, friendly
from .errors import PluginHostError


@click.group(cls=FullHelpGroup)
def fleet() -> None:
    """The environment's declared plugin set, rolled out over its hosts."""


@contextlib.contextmanager
def _failure_exits_1() -> Iterator[None]:
    """A rollout that failed (and went back) exits 1; bad input still exits 2."""
    from .host.fleet_rollout import FleetError

    try:
        yield
    except FleetError as e:
        click.secho(f"error: {e.message}", fg="red", err=True)
        sys.exit(1)


def _token_option(fn: Any) -> Any:
    return click.option("--token", envvar="PLUGIN_HOST_ADMIN_TOKEN", required=True,
                        help="The hosts' admin token (or PLUGIN_HOST_ADMIN_TOKEN)")(fn)


@fleet.command("apply", short_help="Declare the plugin set in FILE and roll it out, canary first.")
@click.argument("file", type=click.File("r"))
@click.option("--host", "hosts", multiple=True, required=True,
              help="A plugin host's URL; repeatable, in rollout order (the first is the "
                   "canary)")
@click.option("--settle", type=float, default=2.0, show_default=True,
              help="Seconds a host's plugins must stay healthy before the next host")
@_token_option
@friendly
def fleet_apply(file: Any, hosts: tuple[str, ...], settle: float, token: str) -> None:
    """Declare the plugin set in FILE (JSON: {"plugins": [{"name", "range", "config",
    "secrets", "enabled"}]}, or - for stdin) and roll it out host by host; on a failure
    the previous set comes back on every host touched, and the exit status is 1."""
    from .host.fleet_rollout import rollout

    try:
        declared = json.load(file)
    except json.JSONDecodeError as e:
        raise PluginHostError(f"{file.name}: not JSON: {e}") from None
    if isinstance(declared, list):
        declared = {"plugins": declared}
    with _failure_exits_1():
        rollout(list(hosts), token, declared, settle=settle, log=click.echo)


@fleet.command("status")
@click.option("--url", envvar="PLUGIN_HOST_URL", default="http://127.0.0.1:8080",
              show_default=True, help="Any plugin host of the fleet (or PLUGIN_HOST_URL)")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON")
@_token_option
@friendly
def fleet_status(url: str, as_json: bool, token: str) -> None:
    """The declared set against what each host runs; exit status 1 if any host drifts
    or is stale."""
    from .host.fleet_rollout import Admin, status_lines

    status = Admin(url, token).call("GET", "/admin/fleet")
    if as_json:
        click.echo(json.dumps(status, indent=2))
    else:
        for line in status_lines(status):
            click.echo(line)
    if any(h["drift"] or h["stale"] for h in status["hosts"]):
        sys.exit(1)


@fleet.command("converge")
@click.option("--host", "hosts", multiple=True, required=True,
              help="A plugin host's URL; repeatable")
@_token_option
@friendly
def fleet_converge(hosts: tuple[str, ...], token: str) -> None:
    """Bring each host back to the declared set (undo drift), one at a time."""
    from .host.fleet_rollout import Admin

    failed = False
    for url in hosts:
        done = Admin(url, token).call("POST", "/admin/fleet/converge")
        click.echo(f"{url}: " + (", ".join(done["actions"]) or "no change"))
        for problem in done["errors"] + done["drift"]:
            click.echo(f"  - {problem}")
            failed = True
    if failed:
        sys.exit(1)


@fleet.command("rollback", short_help="Go back to the plugin set declared before, host by host.")
@click.option("--host", "hosts", multiple=True, required=True,
              help="A plugin host's URL; repeatable, in rollout order")
@_token_option
@friendly
def fleet_rollback(hosts: tuple[str, ...], token: str) -> None:
    """Declare the plugin set before the current one again and bring each host back to
    it, one at a time (each switch without dropping a request)."""
    from .host.fleet_rollout import roll_back

    with _failure_exits_1():
        roll_back(list(hosts), token, log=click.echo)

