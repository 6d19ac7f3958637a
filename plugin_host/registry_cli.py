"""Registry commands for publishers and reviewers: ``login``, ``logout``, ``publish``
and ``review list|show|download|diff|approve|reject``. The registry is ``--registry``,
PLUGIN_REGISTRY_URL, or the one logged in to last; the token PLUGIN_REGISTRY_TOKEN or
the one `login` kept (cli_client.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .cli_client import (
    AS_JSON,
    REGISTRY_URL,
    Api,
    ApiError,
    emit,
    load_credentials,
    registry_session,
    save_credentials,
)
from .cli_support import FullHelpGroup, friendly
from .errors import PluginHostError


@click.command(short_help="Sign in to a registry: single sign-on or an API token.")
@click.option("--registry", "registry", envvar="PLUGIN_REGISTRY_URL", required=True,
              help="The registry's URL (or PLUGIN_REGISTRY_URL)")
@click.option("--sso", is_flag=True, help="Sign in through your browser with the library's "
              "identity provider (OpenID Connect, PKCE) instead of pasting an API token")
@click.option("--no-browser", is_flag=True, help="With --sso: only print the address to "
              "open (on a machine without a browser)")
@friendly
def login(registry: str, sso: bool, no_browser: bool) -> None:
    """Sign in to REGISTRY; later commands use what is kept. With ``--sso`` your browser
    signs you in at the library's identity provider and the CLI keeps its tokens
    (refreshed when they expire); without, an API token is read from standard input or
    a hidden prompt, and checked first.

    Example: plugin-host login --registry https://plugins.example.org --sso"""
    url = registry.rstrip("/")
    entry: dict = {}
    if sso:
        from .identity import client

        oidc = client.providers(url)

        def show(address: str) -> None:
            click.echo(f"Open this address to sign in (waiting for the browser):\n{address}")
            if not no_browser:
                import webbrowser

                webbrowser.open(address)

        answer = client.browser_login(oidc, show)
        token = answer["access_token"]
        entry = {"refresh_token": answer.get("refresh_token"),
                 "token_endpoint": answer["token_endpoint"],
                 "client_id": oidc["cli_client_id"], "expires_at": answer["expires_at"]}
    elif sys.stdin.isatty():
        token = click.prompt("API token", hide_input=True)
    else:
        token = sys.stdin.read().strip()
    try:
        me = Api(url, token).json("GET", "/api/v1/me")
    except ApiError as e:
        raise PluginHostError(f"{url} refused the token ({e.message})") from None
    creds = load_credentials()
    creds.setdefault("registries", {})[url] = {"token": token, "account": me["name"],
                                               "role": me["role"], **entry}
    creds["default"] = url
    path = save_credentials(creds)
    how = " through single sign-on" if sso else ""
    click.echo(f"logged in to {url} as {me['name']} ({me['role']}){how}; kept in {path}")


@click.command()
@REGISTRY_URL
@friendly
def logout(registry: str | None) -> None:
    """Forget the token kept for a registry (the last logged in to by default)."""
    creds = load_credentials()
    url = (registry or creds.get("default") or "").rstrip("/")
    if creds.get("registries", {}).pop(url, None) is None:
        click.echo(f"not logged in to {url or 'any registry'}")
        return
    if creds.get("default") == url:
        creds["default"] = next(iter(creds["registries"]), None)
    save_credentials(creds)
    click.echo(f"logged out of {url}")


def _checks(checks: list[dict]) -> None:
    for c in checks:
        mark = {"pass": "ok  ", "flag": "FLAG", "fail": "FAIL", "skip": "skip"}.get(
            c["status"], c["status"])
        click.echo(f"  {mark} {c['name']:12} {c['detail']}")


@click.command()
@click.argument("package", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@REGISTRY_URL
@AS_JSON
@friendly
def publish(package: Path, registry: str | None, as_json: bool) -> None:
    """Publish a signed PACKAGE: the automated checks run, and it waits for review.

    Example: plugin-host publish dist/shelf-check-0.1.0.kplugin"""
    api = registry_session(registry)
    try:
        body = api.json("POST", "/api/v1/packages", content=package.read_bytes(),
                        headers={"Content-Type": "application/zip"})
    except ApiError as e:
        if as_json and e.body:
            click.echo(__import__("json").dumps(e.body, indent=2))
        elif e.body.get("error", {}).get("checks"):
            click.secho(f"error: {e.message}", fg="red", err=True)
            _checks(e.body["error"]["checks"])
            sys.exit(2)
        raise

    def human(b: dict) -> None:
        click.echo(f"published {b['plugin']} {b['version']}: {b['state'].replace('_', ' ')}")
        _checks(b["checks"])
    emit(body, as_json, human)


@click.group(cls=FullHelpGroup)
def review() -> None:
    """Review releases: list the queue, read a package and its diff, approve or reject."""


@review.command("list")
@REGISTRY_URL
@AS_JSON
@friendly
def review_list(registry: str | None, as_json: bool) -> None:
    """Releases waiting for review, oldest first."""
    body = registry_session(registry).json("GET", "/api/v1/review/queue")

    def human(b: dict) -> None:
        for r in b["queue"]:
            flags = sum(c["status"] == "flag" for c in r.get("checks", []))
            click.echo(f"{r['plugin']} {r['version']}  published {r['published_at'][:16]}"
                       + (f"  {flags} flag(s)" if flags else ""))
        if not b["queue"]:
            click.echo("nothing waits for review")
    emit(body, as_json, human)


@review.command("show")
@click.argument("name")
@click.argument("version")
@REGISTRY_URL
@AS_JSON
@friendly
def review_show(name: str, version: str, registry: str | None, as_json: bool) -> None:
    """A release: its state, checks and the review comments."""
    plugin = registry_session(registry).json("GET", f"/api/v1/plugins/{name}")
    release = next((r for r in plugin.get("versions", []) if r["version"] == version), None)
    if release is None:
        raise PluginHostError(f"{name} has no release {version} you may see")
    reviews = [r for r in plugin.get("reviews", []) if r["version"] == version]

    def human(r: dict) -> None:
        click.echo(f"{name} {version}: {r['state'].replace('_', ' ')}")
        _checks(r.get("checks", []))
        for rv in reviews:
            click.echo(f"  {rv['decision']}: {rv['comment']}")
    emit({**release, "reviews": reviews}, as_json, human)


@review.command("download")
@click.argument("name")
@click.argument("version")
@click.option("-o", "--out", type=click.Path(path_type=Path), default=None,
              help="File to write [NAME-VERSION.kplugin here]")
@REGISTRY_URL
@friendly
def review_download(name: str, version: str, out: Path | None, registry: str | None) -> None:
    """Download the package of a release in review, to read its code (a zip)."""
    r = registry_session(registry).call("GET", f"/api/v1/review/{name}/{version}/download")
    out = out or Path(f"{name}-{version}.kplugin")
    out.write_bytes(r.content)
    click.echo(f"{out} ({len(r.content)} bytes)")


@review.command("diff")
@click.argument("name")
@click.argument("version")
@REGISTRY_URL
@AS_JSON
@friendly
def review_diff(name: str, version: str, registry: str | None, as_json: bool) -> None:
    """What changed against the previous approved version."""
    body = registry_session(registry).json("GET", f"/api/v1/review/{name}/{version}/diff")

    def human(b: dict) -> None:
        click.echo(f"{name} {version} against {b['against'] or 'nothing (a first version)'}")
        for f in b["files"]:
            if f["diff"]:
                click.echo(f["diff"].rstrip("\n"))
            else:
                click.echo(f"{f['change']}: {f['path']}"
                           + (" (binary)" if f.get("binary") else " (too large to show)"
                              if f.get("too_large") else ""))
    emit(body, as_json, human)


def _decide(name: str, version: str, decision: str, comment: str, registry: str | None) -> None:
    body = registry_session(registry).json("POST", f"/api/v1/review/{name}/{version}",
                                           json={"decision": decision, "comment": comment})
    click.echo(f"{name} {version}: {body['state']}")


@review.command("approve")
@click.argument("name")
@click.argument("version")
@click.option("--comment", default="", help="A note for the publisher")
@REGISTRY_URL
@friendly
def review_approve(name: str, version: str, comment: str, registry: str | None) -> None:
    """Approve a release: the registry re-signs its index and hosts can install it."""
    _decide(name, version, "approve", comment, registry)


@review.command("reject")
@click.argument("name")
@click.argument("version")
@click.option("--comment", required=True, help="What the publisher must change")
@REGISTRY_URL
@friendly
def review_reject(name: str, version: str, comment: str, registry: str | None) -> None:
    """Reject a release with a comment the publisher can act on."""
    _decide(name, version, "reject", comment, registry)
