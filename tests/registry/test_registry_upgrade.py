"""A plugin installed from the registry is upgraded from the registry: `plugin-host
install NAME@RANGE` on an installed plugin (or `POST /admin/plugins/NAME/upgrade
{"range"}`) switches it live through the hot-swap path under load with no failed
request, its config kept, its upgrade hook run, a dependency the new version needs
installed first, and the previous version kept for a rollback."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..support.paths import TEST_PLUGINS
from ..support.plugins import signed, variant
from ..support.servers import ADMIN_TOKEN, publish_and_approve
from ..support.waiting import Load, wait_until


def install_cli(host, requirement: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "plugin_host.cli", "install", requirement, "--url", host.url],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PLUGIN_HOST_ADMIN_TOKEN": ADMIN_TOKEN})


def versioned(tmp: Path, key: Path, version: str, deps: dict[str, str] | None = None,
              hook: bool = False) -> bytes:
    src = tmp / "src" / f"versioned-{version}"
    shutil.copytree(TEST_PLUGINS / "versioned", src)
    toml = (src / "plugin.toml").read_text().replace('version = "1.0.0"',
                                                     f'version = "{version}"')
    if deps:
        lines = "".join(f'"{d}" = "{r}"\n' for d, r in deps.items())
        toml = toml.replace("[backend]", f"[dependencies]\n{lines}\n[backend]")
    (src / "plugin.toml").write_text(toml)
    if hook:
        code = src / "versioned" / "__init__.py"
        code.write_text(code.read_text() + '\n\n@plugin.on_upgrade\ndef migrate(event, ctx):\n'
                        '    ctx.kv.set("migrated_from", event["from"])\n')
    return signed(src, key, tmp / "out" / f"versioned-{version}")


def test_a_plugin_from_the_registry_is_upgraded_from_it_live(
        registry, host_factory, static_server, keys, tmp_path):
    publish_and_approve(registry, versioned(tmp_path, keys["key"], "1.0.0"))
    status = registry.client().get("/api/v1/index").json()
    root = (registry.storage / "metadata" / "root.json").read_bytes()
    assert hashlib.sha256(root).hexdigest() == status["root_sha256"]
    (tmp_path / "root.json").write_bytes(root)
    index = static_server(registry.storage).url
    host = host_factory(extra_args=["--registry-url", index,
                                    "--registry-root", str(tmp_path / "root.json")])
    r = install_cli(host, "versioned@^1")
    assert r.returncode == 0 and r.stdout.splitlines() == ["installed versioned 1.0.0"], r
    config = {"healthy": True, "mode": "kept"}
    assert host.admin.put("/admin/plugins/versioned/config", json=config).status_code == 200

    # 1.1.0 needs base-lib, which the host does not have, and migrates in its hook
    publish_and_approve(registry, variant(tmp_path, "base-lib", "2.0.0", key=keys["key"]))
    publish_and_approve(registry, versioned(tmp_path, keys["key"], "1.1.0",
                                            {"base-lib": "^2"}, hook=True))
    with Load(f"{host.url}/plugins/versioned/api/version", 4, field="version", timeout=10,
              pause=0) as load:
        assert wait_until(lambda: len(load.seen) >= 50, timeout=30)
        r = install_cli(host, "versioned@^1")
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == ["installed base-lib 2.0.0",
                                         "upgraded versioned 1.0.0 → 1.1.0"]
        seen = len(load.seen)
        assert wait_until(lambda: len(load.seen) >= seen + 50, timeout=30)
    assert load.failures == []
    assert load.seen[0] == "1.0.0" and load.seen[-1] == "1.1.0"
    info = host.admin.get("/admin/plugins/versioned").json()
    assert (info["version"], info["previous_version"]) == ("1.1.0", "1.0.0")
    assert info["config"] == config  # kept
    assert host.client.get("/plugins/versioned/api/version").json()["migrated_from"] == "1.0.0"

    # again: nothing newer in the range
    r = install_cli(host, "versioned@^1")
    assert r.returncode == 0 and r.stdout.strip() == \
        "versioned 1.1.0 is already the newest release in ^1", r.stdout
    # the previous version is there to roll back to, and the admin API upgrades by range
    assert host.admin.post("/admin/plugins/versioned/rollback").json()["version"] == "1.0.0"
    r = host.admin.post("/admin/plugins/versioned/upgrade", json={"range": "~1.1"})
    assert r.status_code == 200, r.text
    assert r.json()["upgraded"] == {"from": "1.0.0", "to": "1.1.0"}
    # a range nothing satisfies changes nothing and says so
    r = host.admin.post("/admin/plugins/versioned/upgrade", json={"range": "^2"})
    assert r.status_code == 409 and "versioned ^2" in r.json()["error"]["message"], r.text
    assert host.admin.get("/admin/plugins/versioned").json()["version"] == "1.1.0"
