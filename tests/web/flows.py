"""What the web UI tests and the recorded tutorials share: the demo plugin with a
setting of each kind, a registry with its signed index on a static mirror, signing in to
the console and to the marketplace, a changed hello-world package."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..support.paths import EXAMPLES
from ..support.plugins import signed
from ..support.servers import (
    ADMIN_TOKEN,
    Host,
    RegistryProc,
    publish_and_approve,
    start_registry,
    static_files,
)

DEMO = "console-demo"


def demo_plugin(root: Path, version: str) -> Path:
    """A plugin with a setting of each kind, a secret, a route and a log line per call."""
    src = root / f"{DEMO}-{version}"
    (src / "console_demo").mkdir(parents=True)
    (src / "plugin.toml").write_text(f'''[plugin]
name = "{DEMO}"
version = "{version}"
summary = "Settings of every kind, a secret and a log line per call"
authors = ["Tests <tests@example.org>"]
license = "MIT"
host_api = "^1.0"

[backend]
entry = "console_demo:plugin"

[permissions]
secrets = ["DEMO_TOKEN"]

[resources]
workers = 1

[config.greeting]
type = "string"
default = "Hello"
description = "What the plugin says first"

[config.limit]
type = "integer"
required = true
description = "How many records a page shows"

[config.loud]
type = "boolean"
default = false

[config.colour]
type = "string"
choices = ["red", "green"]
default = "green"

[config.branches]
type = "array"
default = ["CPL"]
''')
    (src / "console_demo" / "__init__.py").write_text(f'''
from plugin_host.sdk import Plugin

plugin = Plugin()


@plugin.route("GET", "/state")
def state(request, ctx):
    ctx.log.info("state.read", version="{version}")
    return {{"version": "{version}", "config": dict(ctx.config),
            "token": ctx.secrets.get("DEMO_TOKEN")}}
''')
    return src


@contextmanager
def registry_with_mirror(tmp: Path, keys: dict, versions=("1.0.0", "1.1.0")
                         ) -> Iterator[tuple[RegistryProc, str, Path]]:
    """A registry with console-demo at ``versions`` approved, its signed index served by a
    static mirror: (registry, mirror URL, root.json for hosts)."""
    reg = start_registry(tmp / "registry", tmp / "registry.log", keys["pub"].read_text())
    served = None
    try:
        for version in versions:
            publish_and_approve(reg, signed(demo_plugin(tmp / "src", version), keys["key"],
                                            tmp / "packages"))
        root = tmp / "root.json"
        shutil.copy(reg.storage / "metadata" / "root.json", root)
        served = static_files(reg.storage, tmp / "mirror.log")
        yield reg, served.url, root
    finally:
        for s in (served, reg):
            if s is not None:
                s.stop()


def console_sign_in(bp, host: Host) -> None:
    p = bp.page
    p.goto(f"{host.url}/console")
    p.get_by_label("Token", exact=True).fill(ADMIN_TOKEN)
    p.get_by_role("button", name="Sign in with the token").click()
    p.get_by_role("heading", level=1, name="Plugins on this host").wait_for()


def market_sign_in(bp, reg: RegistryProc, role: str, next_: str) -> None:
    p = bp.page
    p.goto(f"{reg.url}/sign-in?next={next_}")
    if hasattr(bp, "axe"):
        p.get_by_role("heading", name="Sign in").wait_for()
        bp.axe("marketplace sign-in")
    p.get_by_label("Token", exact=True).focus()
    p.keyboard.type(reg.tokens[role])
    p.keyboard.press("Enter")
    p.wait_for_url(f"{reg.url}{next_}")
    p.get_by_text(f"Signed in as {role}").wait_for()


def changed_hello(tmp: Path, key: Path, version: str, readme: str | None = None) -> Path:
    """hello-world at ``version`` with one line of its code changed (and ``readme`` as
    its README.md): a package file."""
    src = tmp / f"hello-{version}"
    shutil.copytree(EXAMPLES / "hello-world", src)
    if readme is not None:
        (src / "README.md").write_text(readme)
    toml = src / "plugin.toml"
    toml.write_text(toml.read_text().replace('version = "1.0.0"', f'version = "{version}"'))
    code = src / "hello_world" / "__init__.py"
    code.write_text(code.read_text().replace('f"Hello {', 'f"Hello there, {'))
    out = tmp / "out" / f"hello-world-{version}.kplugin"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(signed(src, key, tmp / "built"))
    return out
