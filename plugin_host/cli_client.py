"""What the CLI's network commands share: where the host and the registry are, the
registry credentials `plugin-host login` keeps, one HTTP call whose failure is one line
naming the status and the server's message, and `--json` output.

Credentials: ``$XDG_CONFIG_HOME/koha-plugin-host/credentials.json`` (default
``~/.config/…``), mode 0600 in a 0700 folder, written atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .errors import PluginHostError

HOST_URL = click.option("--url", envvar="PLUGIN_HOST_URL", default="http://127.0.0.1:8080",
                        show_default=True, help="The plugin host (or PLUGIN_HOST_URL)")
HOST_TOKEN = click.option("--token", envvar="PLUGIN_HOST_ADMIN_TOKEN", required=True,
                          help="The host's admin token (or PLUGIN_HOST_ADMIN_TOKEN)")
REGISTRY_URL = click.option("--registry", "registry", envvar="PLUGIN_REGISTRY_URL",
                            default=None, help="The registry (or PLUGIN_REGISTRY_URL) "
                                               "[the one you logged in to last]")
AS_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON")


def credentials_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "koha-plugin-host" / "credentials.json"


def load_credentials() -> dict[str, Any]:
    path = credentials_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"default": None, "registries": {}}
    except (OSError, ValueError) as e:
        raise PluginHostError(f"{path}: unreadable ({e}); remove it and log in again") from None
    return data if isinstance(data, dict) else {"default": None, "registries": {}}


def save_credentials(data: dict[str, Any]) -> Path:
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)
    return path


def registry_session(url: str | None, need_token: bool = True) -> Api:
    """The registry given (option or PLUGIN_REGISTRY_URL) or the last logged in to, with
    PLUGIN_REGISTRY_TOKEN, a token from the identity provider for the CI client
    PLUGIN_REGISTRY_CLIENT_ID / PLUGIN_REGISTRY_CLIENT_SECRET, or the stored token (an
    expired single sign-on token is refreshed first)."""
    creds = load_credentials()
    url = (url or creds.get("default") or "").rstrip("/")
    if not url:
        raise PluginHostError("no registry: log in first (`plugin-host login --registry URL`) "
                              "or pass --registry")
    token = os.environ.get("PLUGIN_REGISTRY_TOKEN")
    if not token and os.environ.get("PLUGIN_REGISTRY_CLIENT_ID"):
        from .identity import client

        token = client.client_credentials(
            client.providers(url), os.environ["PLUGIN_REGISTRY_CLIENT_ID"],
            os.environ.get("PLUGIN_REGISTRY_CLIENT_SECRET", ""))["access_token"]
    if not token:
        token = _stored_token(creds, url)
    if need_token and not token:
        raise PluginHostError(f"not logged in to {url}: `plugin-host login --registry {url}` "
                              "(or set PLUGIN_REGISTRY_TOKEN)")
    return Api(url, token)


def _stored_token(creds: dict[str, Any], url: str) -> str | None:
    import time

    entry = creds.get("registries", {}).get(url, {})
    if entry.get("refresh_token") and entry.get("expires_at", 0) < time.time() + 30:
        from .identity import client

        try:
            answer = client.refresh(entry["token_endpoint"], entry["client_id"],
                                    entry["refresh_token"])
        except PluginHostError as e:
            raise PluginHostError(f"your single sign-on to {url} has ended ({e}): "
                                  f"`plugin-host login --registry {url} --sso`") from None
        entry.update(token=answer["access_token"], expires_at=answer["expires_at"],
                     refresh_token=answer.get("refresh_token") or entry["refresh_token"])
        save_credentials(creds)
    return entry.get("token")


class Api:
    def __init__(self, url: str, token: str | None):
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201, 204),
             **kw: Any):
        import httpx

        headers = dict(kw.pop("headers", None) or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            r = httpx.request(method, f"{self.url}{path}", headers=headers, timeout=300, **kw)
        except httpx.HTTPError as e:
            raise PluginHostError(f"cannot reach {self.url}: {e}") from None
        if r.status_code not in ok:
            raise ApiError(r)
        return r

    def json(self, method: str, path: str, **kw: Any) -> Any:
        r = self.call(method, path, **kw)
        return r.json() if r.content else {}


class ApiError(PluginHostError):
    """The server refused: its status, code and message on one line; the body kept for
    a command that shows more (a publish's check report)."""

    def __init__(self, response: Any):
        try:
            self.body = response.json()
            err = self.body.get("error", {})
            text = f"{err.get('code', 'error')}: {err.get('message', response.text)}"
        except ValueError:
            self.body, text = {}, response.text[:300] or response.reason_phrase
        super().__init__(f"{response.status_code} {text}", status=response.status_code)


def emit(data: Any, as_json: bool, human: Callable[[Any], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        human(data)
