"""The systemd path, as on production hosts: a Debian 12 container with systemd as PID 1.

`invoke deploy` installs systemd units (hardened: NoNewPrivileges, ProtectSystem=strict,
only the data and log folders writable); the services run under them, plugin workers
still get bubblewrap and seccomp inside that hardening, a plugin published to the
deployed registry installs on the deployed host through the signed index, and it
survives a restart of the unit. A second deploy changes nothing.
"""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
import testinfra

from ..support.paths import ROOT

ENV = "test-systemd"
NAME = f"koha-{ENV}-0"
HOST_TOKEN = "test-hosts-admin-token-0123456789"
REGISTRY_TOKEN = "test-hosts-registry-token-0123456789"


def deploy(wheelhouse) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "invoke", "--search-root", str(ROOT),
                           "deploy", "--env", ENV, "--wheelhouse", str(wheelhouse)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)


@pytest.fixture(scope="module")
def systemd_host(testhosts, wheelhouse, tmp_path_factory):
    from ops.deploy import testhosts_down, testhosts_up

    inventory = testhosts_up(tmp_path_factory.mktemp("sd"), 1, log=lambda m: None, env=ENV,
                             systemd=True)
    import yaml

    address = yaml.safe_load(inventory.read_text().split("\n", 1)[1])["all"]["children"][
        "plugin_hosts"]["hosts"][NAME]["koha_address"]
    try:
        r = deploy(wheelhouse)
        assert r.returncode == 0, r.stdout[-4000:]
        yield address
    finally:
        testhosts_down(ENV)


def test_services_run_as_hardened_systemd_units(systemd_host):
    h = testinfra.get_host(f"docker://{NAME}")
    assert h.run("systemctl is-system-running").stdout.strip() in ("running", "degraded")
    for unit in ("plugin-host", "registry", "koha-prometheus", "koha-alertmanager"):
        svc = h.service(unit)
        assert svc.is_running and svc.is_enabled, unit
    for debian_unit in ("prometheus", "prometheus-alertmanager"):  # ours replace them
        assert not h.service(debian_unit).is_running
    props = h.run("systemctl show plugin-host -p User -p NoNewPrivileges -p ProtectSystem"
                  ).stdout
    assert "User=koha" in props and "NoNewPrivileges=yes" in props
    assert "ProtectSystem=strict" in props


def test_a_plugin_from_the_deployed_registry_runs_sandboxed_and_survives_a_restart(
        systemd_host, packages, keys):
    registry = httpx.Client(base_url=f"http://{systemd_host}:8090", timeout=60,
                            headers={"Authorization": f"Bearer {REGISTRY_TOKEN}"})
    assert registry.post("/api/v1/keys", json={"public_key": keys["pub"].read_text()}
                         ).status_code == 201
    r = registry.post("/api/v1/packages", content=packages["hello-world"],
                      headers={"Content-Type": "application/zip"})
    assert r.status_code == 201 and r.json()["state"] == "in_review", r.text
    assert registry.post("/api/v1/review/hello-world/1.0.0",
                         json={"decision": "approve"}).status_code == 200
    host = httpx.Client(base_url=f"http://{systemd_host}:8080", timeout=60,
                        headers={"Authorization": f"Bearer {HOST_TOKEN}"})
    r = host.post("/admin/plugins", json={"name": "hello-world", "range": "^1"})
    assert r.status_code == 201, r.text
    assert {"bubblewrap", "seccomp"} <= set(r.json()["sandbox"]["layers"])
    assert host.get("/plugins/hello-world/api/greet/Ada").json() == {"greeting": "Hello Ada"}

    h = testinfra.get_host(f"docker://{NAME}")
    assert h.run("systemctl restart plugin-host").rc == 0
    from ..support.waiting import wait_until

    def serves():
        try:
            return host.get("/plugins/hello-world/api/greet/Ada").status_code == 200
        except httpx.HTTPError:
            return False

    assert wait_until(serves, timeout=60), "the plugin did not come back after a restart"


def test_a_second_deploy_changes_nothing(systemd_host, wheelhouse):
    r = deploy(wheelhouse)
    assert r.returncode == 0 and ", 0 changes on 1 hosts" in r.stdout, r.stdout[-3000:]
