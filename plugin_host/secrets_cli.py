"""``plugin-host secrets``: set and unset a plugin's secrets on a host through its admin
API. The value is read from standard input or a hidden prompt, never from the command
line (where `ps` and shell history would keep it), and never printed."""

from __future__ import annotations

import sys

import click

from .cli_support import FullHelpGroup, friendly
from .errors import PluginHostError

URL = click.option("--url", envvar="PLUGIN_HOST_URL", default="http://127.0.0.1:8080",
                   show_default=True, help="The plugin host (or PLUGIN_HOST_URL)")
TOKEN = click.option("--token", envvar="PLUGIN_HOST_ADMIN_TOKEN", required=True,
                     help="The host's admin token (or PLUGIN_HOST_ADMIN_TOKEN)")


def _call(method: str, url: str, token: str, path: str, json: dict | None = None) -> dict:
    import httpx

    try:
        r = httpx.request(method, f"{url.rstrip('/')}{path}", json=json, timeout=30,
                          headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as e:
        raise PluginHostError(f"cannot reach the host at {url}: {e}") from None
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    if r.status_code != 200:
        raise PluginHostError(f"{r.status_code}: {body.get('error', {}).get('message', r.text)}")
    return body


@click.group(cls=FullHelpGroup)
def secrets() -> None:
    """A plugin's secrets on a host (write-only: values are never shown)."""


@secrets.command("set")
@click.argument("plugin")
@click.argument("name")
@URL
@TOKEN
@friendly
def secrets_set(plugin: str, name: str, url: str, token: str) -> None:
    """Set secret NAME of PLUGIN, read from standard input or a hidden prompt.

    Example: plugin-host secrets set book-notes OPENLIBRARY_KEY < key.txt"""
    if sys.stdin.isatty():
        value = click.prompt(f"{name} for {plugin}", hide_input=True)
    else:
        value = sys.stdin.read().rstrip("\r\n")
    body = _call("PUT", url, token, f"/admin/plugins/{plugin}/secrets/{name}",
                 {"value": value})
    click.echo(f"{plugin} {name}: {body['secrets'][name]}")


@secrets.command("unset")
@click.argument("plugin")
@click.argument("name")
@URL
@TOKEN
@friendly
def secrets_unset(plugin: str, name: str, url: str, token: str) -> None:
    """Forget secret NAME of PLUGIN set through the admin API.

    Example: plugin-host secrets unset book-notes OPENLIBRARY_KEY"""
    body = _call("DELETE", url, token, f"/admin/plugins/{plugin}/secrets/{name}")
    click.echo(f"{plugin} {name}: {body['secrets'][name]}")
