"""``plugin-host secrets``: set and unset a plugin's secrets on a host through its admin
API. The value is read from standard input or a hidden prompt, never from the command
line (where `ps` and shell history would keep it), and never printed."""

from __future__ import annotations

import sys

import click

from .cli_client import HOST_TOKEN, HOST_URL, Api
from .cli_support import FullHelpGroup, friendly


@click.group(cls=FullHelpGroup)
def secrets() -> None:
    """A plugin's secrets on a host (write-only: values are never shown)."""


@secrets.command("set")
@click.argument("plugin")
@click.argument("name")
@HOST_URL
@HOST_TOKEN
@friendly
def secrets_set(plugin: str, name: str, url: str, token: str) -> None:
    """Set secret NAME of PLUGIN, read from standard input or a hidden prompt.

    Example: plugin-host secrets set book-notes OPENLIBRARY_KEY < key.txt"""
    if sys.stdin.isatty():
        value = click.prompt(f"{name} for {plugin}", hide_input=True)
    else:
        value = sys.stdin.read().rstrip("\r\n")
    body = Api(url, token).json("PUT", f"/admin/plugins/{plugin}/secrets/{name}",
                                json={"value": value})
    click.echo(f"{plugin} {name}: {body['secrets'][name]}")


@secrets.command("unset")
@click.argument("plugin")
@click.argument("name")
@HOST_URL
@HOST_TOKEN
@friendly
def secrets_unset(plugin: str, name: str, url: str, token: str) -> None:
    """Forget secret NAME of PLUGIN set through the admin API.

    Example: plugin-host secrets unset book-notes OPENLIBRARY_KEY"""
    body = Api(url, token).json("DELETE", f"/admin/plugins/{plugin}/secrets/{name}")
    click.echo(f"{plugin} {name}: {body['secrets'][name]}")
