"""Upgrades and rollbacks under concurrent load: no failed request, ever."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..support.paths import TEST_PLUGINS
from ..support.plugins import ZIP, signed
from ..support.waiting import Load as SharedLoad
from ..support.waiting import wait_until


class Load(SharedLoad):
    """Several clients calling versioned's /version without pause; each answer's
    version is in ``versions``."""

    def __init__(self, url: str, clients: int = 4):
        super().__init__(f"{url}/plugins/versioned/api/version", clients, field="version",
                         timeout=10, pause=0)
        self.versions = self.seen


def version_of(src: Path, version: str, *, healthy: bool = True, hook: bool = False,
               broken_import: bool = False) -> Path:
    toml = src / "plugin.toml"
    toml.write_text(toml.read_text().replace('version = "1.0.0"', f'version = "{version}"'))
    code = src / "versioned" / "__init__.py"
    text = code.read_text()
    if not healthy:
        text = text.replace("HEALTHY = True", "HEALTHY = False")
    if hook:
        text += ('\n\n@plugin.on_upgrade\ndef migrate(event, ctx):\n'
                 '    ctx.kv.set("migrated_from", event["from"])\n')
    if broken_import:
        text = "import no_such_module\n" + text
    code.write_text(text)
    return src


@pytest.fixture
def v1_host(host, packages):
    assert host.install(packages["versioned"]).status_code == 201
    return host


def package(plugin_copy, keys, tmp_path, version: str, **kw) -> bytes:
    src = plugin_copy(TEST_PLUGINS / "versioned")
    data = signed(version_of(src, version, **kw), keys["key"], tmp_path / version)
    import shutil
    shutil.rmtree(src)
    return data


def test_upgrade_and_rollback_under_load_fail_no_request(v1_host, plugin_copy, keys, tmp_path):
    host = v1_host
    v11 = package(plugin_copy, keys, tmp_path, "1.1.0", hook=True)
    with Load(host.url) as load:
        assert wait_until(lambda: len(load.versions) >= 50, timeout=30)
        r = host.admin.post("/admin/plugins/versioned/upgrade", content=v11,
                            headers={"Content-Type": "application/zip"})
        assert r.status_code == 200, r.text
        assert r.json()["version"] == "1.1.0"
        assert r.json()["previous_version"] == "1.0.0"
        seen = len(load.versions)
        assert wait_until(lambda: len(load.versions) >= seen + 50, timeout=30)
        r = host.admin.post("/admin/plugins/versioned/rollback")
        assert r.status_code == 200, r.text
        assert r.json()["version"] == "1.0.0"
        seen = len(load.versions)
        assert wait_until(lambda: len(load.versions) >= seen + 50, timeout=30)
    assert load.failures == []
    v = load.versions
    # 1.0.0, then 1.1.0 from the switch on, then 1.0.0 again: no interleaving after a switch
    first_new, last_new = v.index("1.1.0"), len(v) - 1 - v[::-1].index("1.1.0")
    assert set(v[:first_new]) == {"1.0.0"} and set(v[last_new + 1:]) == {"1.0.0"}
    assert v.count("1.1.0") >= 40
    # the upgrade hook ran once, on the switch to 1.1.0; its data stays
    assert host.client.get("/plugins/versioned/api/version").json() == {
        "version": "1.0.0", "migrated_from": "1.0.0"}
    info = host.admin.get("/admin/plugins/versioned").json()
    assert info["previous_version"] == "1.1.0"
    assert 'plugin_host_upgrades_total{action="upgrade",outcome="success",plugin="versioned"}' \
        in host.client.get("/metrics").text


@pytest.mark.parametrize("kind", ["unhealthy", "broken_import"])
def test_a_new_version_that_fails_is_rolled_back(v1_host, plugin_copy, keys, tmp_path, kind):
    host = v1_host
    bad = package(plugin_copy, keys, tmp_path, "1.2.0", healthy=kind != "unhealthy",
                  broken_import=kind == "broken_import")
    with Load(host.url) as load:
        assert wait_until(lambda: len(load.versions) >= 30, timeout=30)
        r = host.admin.post("/admin/plugins/versioned/upgrade", content=bad,
                            headers={"Content-Type": "application/zip"})
        seen = len(load.versions)
        assert wait_until(lambda: len(load.versions) >= seen + 30, timeout=30)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "upgrade_failed"
    assert "1.0.0 is still serving" in err["message"]
    if kind == "unhealthy":
        assert "its GET /healthz answered 500" in err["message"]
    else:
        assert "ModuleNotFoundError" in err["message"]
    assert load.failures == [] and set(load.versions) == {"1.0.0"}
    info = host.admin.get("/admin/plugins/versioned").json()
    assert (info["version"], info["state"]) == ("1.0.0", "enabled")
    assert not (host.data_dir / "plugins" / "versioned" / "1.2.0").exists()


def test_upgrade_from_a_path_survives_restart_and_keeps_two_versions(
        v1_host, plugin_copy, keys, tmp_path):
    host = v1_host
    for version in ("1.1.0", "1.2.0"):
        pkg = tmp_path / f"versioned-{version}.kplugin"
        pkg.write_bytes(package(plugin_copy, keys, tmp_path, version))
        r = host.admin.post("/admin/plugins/versioned/upgrade", json={"path": str(pkg)})
        assert r.status_code == 200, r.text
    host.restart()
    assert host.client.get("/plugins/versioned/api/version").json()["version"] == "1.2.0"
    kept = sorted(p.name for p in (host.data_dir / "plugins" / "versioned").iterdir())
    assert kept == ["1.1.0", "1.2.0"]  # the current one and the one before, for rollback
    assert host.admin.post("/admin/plugins/versioned/rollback").json()["version"] == "1.1.0"
    r = host.admin.post("/admin/plugins/versioned/upgrade", json={"path": "/nope.kplugin"})
    assert r.status_code == 422 and "path: No such file or directory" in r.text


def test_refusals(v1_host, packages):
    host = v1_host
    r = host.admin.post("/admin/plugins/versioned/rollback")
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_previous_version"
    r = host.admin.post("/admin/plugins/versioned/upgrade", content=packages["versioned"],
                        headers={"Content-Type": "application/zip"})
    assert r.status_code == 409 and "already the installed version" in r.text
    r = host.admin.post("/admin/plugins/versioned/upgrade", content=packages["hello-world"],
                        headers={"Content-Type": "application/zip"})
    assert r.status_code == 409 and "the package is hello-world, not versioned" in r.text
    r = host.admin.post("/admin/plugins/nothing/upgrade", content=packages["hello-world"],
                        headers={"Content-Type": "application/zip"})
    assert r.status_code == 404


def test_a_config_the_plugin_cannot_run_with_is_not_switched_to(v1_host):
    """New settings start a new worker beside the old one; one that fails its health check
    under them is stopped and the old settings keep serving, under load, with no failed
    call; settings that could never reach a plugin are refused before any of that."""
    host = v1_host
    with Load(host.url, clients=2) as load:
        r = host.admin.put("/admin/plugins/versioned/config", json={"healthy": False})
        good = host.admin.put("/admin/plugins/versioned/config", json={"healthy": True})
    assert r.status_code == 422 and r.json()["error"]["code"] == "config_failed", r.text
    assert r.json()["error"]["message"].startswith(
        "versioned did not start with the new config (")
    assert r.json()["error"]["message"].endswith("the old config is still in force")
    assert good.status_code == 200, good.text
    assert load.failures == [], load.failures[:5]
    assert host.admin.get("/admin/plugins/versioned").json()["config"]["healthy"] is True
    r = host.admin.put("/admin/plugins/versioned/config", content=b'{"healthy": true, '
                       b'"n": 123456789012345678901234567890}',
                       headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert "is beyond 64 bits" in r.json()["error"]["message"]


def test_a_rollback_to_a_version_whose_files_are_gone_is_refused(v1_host, plugin_copy, keys,
                                                                  tmp_path):
    """The previous version's folder removed by hand: a rollback says so and the current
    version keeps serving."""
    import shutil

    host = v1_host
    r = host.admin.post("/admin/plugins/versioned/upgrade", headers=ZIP,
                        content=package(plugin_copy, keys, tmp_path, "1.1.0"))
    assert r.status_code == 200, r.text
    shutil.rmtree(host.data_dir / "plugins" / "versioned" / "1.0.0")
    r = host.admin.post("/admin/plugins/versioned/rollback")
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_previous_version", r.text
    assert r.json()["error"]["message"] == "versioned 1.0.0 is no longer on this host"
    assert host.client.get("/plugins/versioned/api/version").json()["version"] == "1.1.0"
