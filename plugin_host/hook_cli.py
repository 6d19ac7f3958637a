"""``plugin-host hook EVENT``: deliver a Koha event to a host, signed with its hook
secret exactly as the Koha bridge signs (plugin_host/hook_signature.py): to try a
plugin's hook on a real host, or to check a host's hook secret."""

from __future__ import annotations

import json

import click

from .cli_client import AS_JSON, HOST_URL, Api, ApiError, emit
from .cli_support import friendly
from .errors import PluginHostError
from .hook_signature import signed_headers


@click.command(short_help="Deliver a Koha event to a host, signed like the Koha bridge.")
@click.argument("event")
@click.option("--payload", type=click.File("rb"), default=None,
              help="The event as a JSON file (- for standard input) [the event's example "
                   "from docs/plugins/koha-events.md]")
@HOST_URL
@click.option("--secret", envvar="PLUGIN_HOST_HOOK_SECRET", required=True,
              help="The host's hook secret (or PLUGIN_HOST_HOOK_SECRET; a host without one "
                   "set keeps it in DATA_DIR/hook-secret)")
@AS_JSON
@friendly
def hook(event: str, payload, url: str, secret: str, as_json: bool) -> None:
    """Deliver EVENT to every plugin subscribed to it on the host, and print each one's
    result.

    Example: echo '{"biblionumber": 42}' | plugin-host hook biblio.after_save --payload -"""
    from .koha import example

    body = payload.read() if payload is not None else json.dumps(example(event)).encode()
    path = f"/hooks/{event}"
    try:
        answer = Api(url, None).json("POST", path, content=body,
                                     headers=signed_headers(secret, path, body))
    except ApiError as e:
        raise PluginHostError(f"{url} refused the event: {e.message}") from None

    def human(data: dict) -> None:
        if not data["results"]:
            click.echo(f"no enabled plugin is subscribed to {event}")
        for r in data["results"]:
            outcome = ("ok " + json.dumps(r.get("result"), separators=(",", ":"))) \
                if r["ok"] else f"error: {r.get('error')}"
            click.echo(f"{r['plugin']} {r['version']}: {outcome}")

    emit(answer, as_json, human)
