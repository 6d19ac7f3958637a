"""``plugin-host``: serve the host; author, pack, sign and verify plugins; manage keys.

Errors are printed as one line naming the problem, with exit status 2; never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from . import __version__
from .backup_cli import backup
from .cli_examples import add_examples
from .cli_support import FullHelpGroup, friendly
from .dev_cli import dev
from .errors import PluginHostError, field_problems
from .fleet_cli import fleet
from .hook_cli import hook
from .host_cli import (
    config,
    disable,
    enable,
    logs,
    profile,
    rollback,
    show,
    status,
    trace,
    uninstall,
    upgrade,
)
from .registry_cli import login, logout, publish, review
from .secrets_cli import secrets

#: at a stop, how long calls in progress may take to finish before they are cut
SHUTDOWN_GRACE = 30


@click.group(cls=FullHelpGroup,
             context_settings={"max_content_width": 120, "help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="plugin-host")
def main() -> None:
    """Koha plugin host: run sandboxed plugins and build them.

    \b
    Authors:    plugin new|pack|sign|verify, dev, keys generate, publish, login, logout
    Reviewers:  review list|show|download|diff|approve|reject
    Operators:  install, upgrade, rollback, status, show, enable, disable, uninstall,
                config get|set, secrets set|unset, logs, trace, profile, fleet, backup, serve,
                registry, sandbox

    Every command has --help with an example. Exit status: 0 done; 2 refused or failed,
    with one line saying why (never a traceback); 1 aborted at a confirmation."""


@main.command()
@click.option("--host", default=None, help="Address to listen on [127.0.0.1]")
@click.option("--port", type=int, default=None, help="Port to listen on [8080]")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Plugins, packages and the SQLite database [./var/host]")
@click.option("--database-url", default=None, help="SQLAlchemy URL (default: SQLite in data dir)")
@click.option("--trusted-key", "trusted_keys", multiple=True, type=click.Path(path_type=Path),
              help="Public key (or folder of *.pub) whose signatures are trusted; repeatable")
@click.option("--admin-token", default=None, help="Admin bearer token (default: generated)")
@click.option("--allow-unsigned", is_flag=True, default=None,
              help="DEVELOPMENT ONLY: install packages without a trusted signature")
@click.option("--sandbox-layers", default=None,
              help="Optional sandbox layers to use, comma-separated (bubblewrap,seccomp,"
                   "landlock,cgroups; 'none' for none) [every one the machine offers]")
@click.option("--sandbox-require", default=None,
              help="Layers every worker must have, comma-separated; refuse plugins otherwise")
@click.option("--worker-pids", type=int, default=None,
              help="Processes and threads per worker, cgroups layer [64]")
@click.option("--worker-cpus", type=float, default=None,
              help="CPU time per worker per second, cgroups layer; 0 = no quota [1.0]")
@click.option("--registry-url", default=None,
              help="Base URL of the registry's signed index (metadata/ and targets/)")
@click.option("--registry-root", type=click.Path(path_type=Path), default=None,
              help="The registry's root.json this host trusts")
@click.option("--registry-api-url", default=None,
              help="The registry's API, told of installs (download counts)")
@click.option("--log-level", default=None, help="debug, info, warning, error")
@friendly
def serve(**options: Any) -> None:
    """Run the plugin host (settings also from PLUGIN_HOST_* variables)."""
    import uvicorn
    from pydantic import ValidationError

    from .host.app import create_app
    from .host.settings import HostSettings, check_plugin_secrets
    from .logging import configure
    from .service.secrets import SecretError

    for key in ("sandbox_layers", "sandbox_require"):
        if options[key] is not None:
            options[key] = [x.strip() for x in options[key].split(",")
                            if x.strip() and x.strip() != "none"]
    given = {k: v for k, v in options.items() if v is not None and v != ()}
    try:
        settings = HostSettings(**given)
    except ValidationError as e:
        problems = "; ".join(field_problems(e.errors()))
        raise PluginHostError(f"bad setting: {problems} "
                              "(options, or PLUGIN_HOST_* variables)") from None
    try:
        check_plugin_secrets()
    except SecretError as e:
        raise PluginHostError(f"bad setting: {e}") from None
    configure(settings.log_level)
    _own_database(settings.db_url, "host")
    app = create_app(settings)
    click.echo(f"plugin host on http://{settings.host}:{settings.port} "
               f"(admin token in {settings.data_dir / 'admin-token'} unless set)", err=True)
    server = uvicorn.Server(uvicorn.Config(
        app, host=settings.host, port=settings.port, log_config=None, access_log=False,
        lifespan="on", timeout_graceful_shutdown=SHUTDOWN_GRACE))
    app.state.stopping = lambda: server.should_exit  # open log streams end at a stop
    server.run()



@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON")
@friendly
def sandbox(as_json: bool) -> None:
    """Which sandbox layers this machine can give plugin workers, and why not if not."""
    from .runtime.sandbox import SandboxPolicy

    report = SandboxPolicy(None, []).report()
    if as_json:
        click.echo(json.dumps(report))
        return
    for layer, info in report["machine"].items():
        mark = "yes" if info["available"] else "NO "
        click.echo(f"{mark} {layer:12} {info['reason'] or ''}".rstrip())
    click.echo(f"workers get: {', '.join(report['layers'])}")


@main.group()
def registry() -> None:
    """The plugin registry (marketplace back end)."""


@registry.command("serve")
@click.option("--host", default=None, help="Address to listen on [127.0.0.1]")
@click.option("--port", type=int, default=None, help="Port to listen on [8090]")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Packages and the SQLite database [./var/registry]")
@click.option("--database-url", default=None, help="SQLAlchemy URL (default: SQLite)")
@click.option("--admin-token", default=None, help="Bootstrap admin token (default: generated)")
@click.option("--storage", type=click.Choice(["local", "s3", "gcs"]), default=None,
              help="Where packages and the signed index go [local]")
@click.option("--storage-bucket", default=None, help="s3/gcs: the bucket")
@click.option("--storage-endpoint", default=None,
              help="s3: an S3-compatible endpoint URL; gcs: an emulator's URL")
@friendly
def registry_serve(**options: Any) -> None:
    """Run the registry (settings also from PLUGIN_REGISTRY_* variables)."""
    import uvicorn

    from .logging import configure
    from .registry.app import create_app

    settings = _registry_settings(options)
    configure("info")
    _own_database(settings.db_url, "registry")
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None,
                access_log=False)


def _own_database(url: str, service: str) -> None:
    """Refuse, before serving, a database that holds the other service's tables or a
    schema a newer release migrated."""
    from .service.db import check_database

    if service == "host":
        from .host.db import MIGRATIONS
    else:
        from .registry.db import MIGRATIONS
    check_database(url, service, MIGRATIONS)


def _registry_settings(options: dict[str, Any]):
    from pydantic import ValidationError

    from .registry.settings import RegistrySettings

    try:
        return RegistrySettings(**{k: v for k, v in options.items() if v is not None})
    except ValidationError as e:
        raise PluginHostError(f"bad setting: {e.errors()[0]['loc'][0]}: "
                              f"{e.errors()[0]['msg']} (options, or PLUGIN_REGISTRY_* "
                              "variables)") from None


@registry.command("index")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="The registry's data folder [./var/registry]")
@click.option("--refresh", is_flag=True,
              help="Re-sign metadata that has used half its lifetime (for cron)")
@friendly
def registry_index(data_dir: Path | None, refresh: bool) -> None:
    """Show the signed index (storage, root SHA-256, versions, expiries); --refresh
    re-signs what is due. Settings from PLUGIN_REGISTRY_* as for `serve`."""
    from .registry.index import TufIndex
    from .registry.storage import open_storage

    settings = _registry_settings({"data_dir": data_dir})
    index = TufIndex.from_settings(open_storage(settings), settings)
    index.keys.load(generate=False, need_root=False)
    if refresh:
        roles = index.refresh()
        click.echo(f"re-signed: {', '.join(roles) or 'nothing was due'}")
    click.echo(json.dumps(index.status(), indent=2))


@registry.command("rotate-keys", short_help="Replace index keys and renew the root (hosts follow).")
@click.argument("roles", nargs=-1)
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="The registry's data folder [./var/registry]")
@friendly
def registry_rotate_keys(roles: tuple[str, ...], data_dir: Path | None) -> None:
    """Replace the index keys of ROLES (root, targets, snapshot, timestamp; default: all)
    and renew the root's expiry, as root metadata version N+1 signed by the old and new
    root keys: hosts follow without being touched. Stop the registry first; give new
    hosts the new root.json. Docs: docs/registry/operating.md."""
    from .registry.index import ROLES, TufIndex
    from .registry.storage import open_storage

    settings = _registry_settings({"data_dir": data_dir})
    index = TufIndex.from_settings(open_storage(settings), settings)
    index.keys.load(generate=False, need_root=False)  # rotate() says if root is missing
    done = index.rotate(list(roles or ROLES))
    click.echo(f"root version {done['root_version']} (sha256 {done['root_sha256']}), "
               f"new keys for {', '.join(done['rotated'])}, expires {done['expires']}")


@main.command(short_help="Install NAME@RANGE from the registry, or upgrade it live.")
@click.argument("requirement")
@click.option("--url", envvar="PLUGIN_HOST_URL", default="http://127.0.0.1:8080",
              show_default=True, help="The plugin host (or PLUGIN_HOST_URL)")
@click.option("--token", envvar="PLUGIN_HOST_ADMIN_TOKEN", required=True,
              help="The host's admin token (or PLUGIN_HOST_ADMIN_TOKEN)")
@click.option("--disabled", is_flag=True, help="Install without enabling")
@friendly
def install(requirement: str, url: str, token: str, disabled: bool) -> None:
    """Install NAME@RANGE (e.g. hello-world@^1) and its dependencies from the registry
    index the host is configured with; an installed plugin is upgraded live to the
    newest release in RANGE (config kept, its upgrade hook run, rollback available)."""
    import httpx

    name, _, range_ = requirement.partition("@")
    try:
        r = httpx.post(f"{url.rstrip('/')}/admin/plugins", params={"enable": not disabled},
                       json={"name": name, "range": range_ or "*"}, timeout=300,
                       headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as e:
        raise PluginHostError(f"cannot reach the host at {url}: {e}") from None
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    if r.status_code not in (200, 201):
        message = body.get("error", {}).get("message") or r.text
        raise PluginHostError(f"{r.status_code}: {message}")
    for item in body["installed"]:
        if item["name"] != name:
            click.echo(f"installed {item['name']} {item['version']}")
    if "upgraded" in body:  # it was installed: upgraded live (or already the newest)
        if body["upgraded"]:
            click.echo(f"upgraded {name} {body['upgraded']['from']} → {body['upgraded']['to']}")
        else:
            click.echo(f"{name} {body['version']} is already the newest release in "
                       f"{range_ or '*'}")
    elif any(item["name"] == name for item in body["installed"]):
        click.echo(f"installed {name} {body['version']}")


@main.group()
def plugin() -> None:
    """Author tools: new, pack, sign, verify."""


@plugin.command("new")
@click.argument("name")
@click.option("--dir", "parent", type=click.Path(path_type=Path), default=Path("."),
              help="Folder to create the plugin in [.]")
@click.option("--author", default="Your Name <you@example.org>")
@friendly
def plugin_new(name: str, parent: Path, author: str) -> None:
    """Create a working plugin folder NAME with a route, a hook, a UI component and tests."""
    from .scaffold import new_plugin

    dest = new_plugin(name, parent, author)
    click.echo(f"created {dest}")
    click.echo(f"next: cd {dest} && pytest tests/ && plugin-host plugin pack .")


@plugin.command("pack")
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for the package [FOLDER/dist]")
@friendly
def plugin_pack(folder: Path, out: Path | None) -> None:
    """Pack FOLDER into NAME-VERSION.kplugin (tests/ and caches are left out)."""
    from .package.archive import pack

    click.echo(str(pack(folder, out)))


@plugin.command("sign")
@click.argument("package", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--key", required=True, type=click.Path(path_type=Path, exists=True),
              help="Ed25519 private key (from `plugin-host keys generate`)")
@click.option("--replace", is_flag=True,
              help="Replace a signature by another key (refused otherwise)")
@friendly
def plugin_sign(package: Path, key: Path, replace: bool) -> None:
    """Sign PACKAGE in place with KEY.

    Example: plugin-host plugin sign hello-1.0.0.kplugin --key ~/.koha/me.key"""
    from .package.signing import sign_package

    keyid = sign_package(package, key, replace=replace)
    click.echo(f"signed {package} with key {keyid}")


@plugin.command("verify")
@click.argument("package", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--trusted-key", "trusted", multiple=True, required=True,
              type=click.Path(path_type=Path, exists=True),
              help="Public key or folder of *.pub; repeatable")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON")
@friendly
def plugin_verify(package: Path, trusted: tuple[Path, ...], as_json: bool) -> None:
    """Check PACKAGE: archive safety, every file's hash, and a trusted signature."""
    from .package.archive import read_package
    from .package.signing import load_trusted_keys, verify_signature

    pkg = read_package(package.read_bytes())
    key = verify_signature(pkg, load_trusted_keys(list(trusted)),
                           "pass its public key with --trusted (a .pub file or a folder of them)")
    result = {"package": pkg.filename, "name": pkg.manifest.name,
              "version": pkg.manifest.version, "files": len(pkg.files), "sha256": pkg.sha256,
              "signed_by": key.keyid, "key_file": key.source}
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(f"OK {pkg.filename}: {len(pkg.files)} files verified, "
                   f"signed by {key.keyid} ({key.source})")


@plugin.command("schema")
def plugin_schema() -> None:
    """Print the JSON Schema of plugin.toml."""
    from .manifest import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@main.group()
def keys() -> None:
    """Signing keys."""


@keys.command("generate")
@click.argument("out", type=click.Path(path_type=Path))
@friendly
def keys_generate(out: Path) -> None:
    """Write an Ed25519 key pair: OUT.key (private, 0600) and OUT.pub."""
    from .package.signing import generate_keypair

    private, public, keyid = generate_keypair(out)
    click.echo(f"key {keyid}: private {private}, public {public}")



main.add_command(fleet)
main.add_command(backup)
main.add_command(secrets)
for _command in (dev, logs, trace, profile, status, show, upgrade, rollback, enable, disable,
                 uninstall, config, hook, login, logout, publish, review):
    main.add_command(_command)

add_examples(main)

if __name__ == "__main__":
    main()
