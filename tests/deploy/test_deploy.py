"""`invoke deploy --env test` against three real Debian 12 containers over SSH.

testinfra (through `docker exec`) checks what an operator would: the processes and
their user, the listening ports, /readyz, file modes and owners, the rendered settings,
and Prometheus scraping every host (services and node_exporter). A second deploy
changes nothing. A release that cannot start is rolled back on the first host, which
keeps serving the previous version, and the rollout stops before the other hosts.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import testinfra

from plugin_host import __version__

from ..support.paths import ROOT

HOSTS = ["koha-test-0", "koha-test-1", "koha-test-2"]


def deploy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "invoke", "--search-root", str(ROOT),
                           "deploy", "--env", "test", *args],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)


def host(name: str):
    return testinfra.get_host(f"docker://{name}")


def curl(h, url: str) -> tuple[int, str]:
    r = h.run(f"curl -s -o /tmp/body -w '%{{http_code}}' {url}; echo; cat /tmp/body")
    code, _, body = r.stdout.partition("\n")
    return int(code or 0), body


@pytest.fixture(scope="module")
def deployed(testhosts, wheelhouse):
    r = deploy("--wheelhouse", str(wheelhouse))
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    return r


def test_rolling_deploy_serves_everywhere(deployed):
    assert "deploy to test: ok" in deployed.stdout
    for name in HOSTS:
        h = host(name)
        service = h.process.filter(comm="plugin-host") or [
            p for p in h.process.filter(user="koha") if "serve" in p.args]
        assert service, f"{name}: no plugin host process"
        assert all(p.user == "koha" for p in service), service
        assert h.socket("tcp://0.0.0.0:8080").is_listening, name
        code, body = curl(h, "http://127.0.0.1:8080/readyz")
        assert code == 200 and json.loads(body)["status"] == "ready", (name, body)
        assert h.file("/opt/koha/plugin-host").linked_to == f"/opt/koha/releases/{__version__}"
        etc = h.file("/etc/koha")
        assert (etc.user, etc.group, etc.mode) == ("root", "koha", 0o750)
        env = h.file("/etc/koha/plugin-host.env")
        assert (env.user, env.group, env.mode) == ("root", "koha", 0o640)
        assert "PLUGIN_HOST_REGISTRY_URL='http://" in env.content_string
        assert "PLUGIN_HOST_ADMIN_TOKEN='test-hosts-admin-token-0123456789'" in env.content_string
        data = h.file("/var/lib/koha")
        assert (data.user, data.group, data.mode) == ("koha", "koha", 0o750)
        assert h.file("/var/lib/koha/host/host.db").user == "koha"
        sshd = h.file("/etc/ssh/sshd_config.d/50-koha.conf").content_string
        assert "PasswordAuthentication no" in sshd and "PermitRootLogin no" in sshd
        code, _ = curl(h, "http://127.0.0.1:8080/metrics")
        assert code == 200
        # node_exporter on every host, as the prometheus user
        assert h.socket("tcp://0.0.0.0:9100").is_listening, name
        exporter = [p for p in h.process.filter(user="prometheus")
                    if "prometheus-node-exporter" in p.args]
        assert exporter, f"{name}: no node_exporter"
        code, body = curl(h, "http://127.0.0.1:9100/metrics")
        assert code == 200 and "node_filesystem_avail_bytes" in body


def test_registry_and_monitoring_on_the_first_host(deployed):
    h = host("koha-test-0")
    assert h.socket("tcp://0.0.0.0:8090").is_listening
    code, body = curl(h, "http://127.0.0.1:8090/api/v1/index")
    assert code == 200 and json.loads(body)["roles"]["timestamp"]["version"] >= 1
    # every plugin host trusts the registry's root, and can read its signed index
    for name in HOSTS:
        root = host(name).file("/etc/koha/registry-root.json")
        assert root.exists and root.mode == 0o640
    prom = h.file("/etc/prometheus/prometheus.yml").content_string
    assert prom.count(":8080") == 3 and ":8090" in prom
    assert h.socket("tcp://0.0.0.0:9090").is_listening
    assert h.socket("tcp://0.0.0.0:9093").is_listening

    def up_targets():
        _, body = curl(h, "'http://127.0.0.1:9090/api/v1/query?query=up%3D%3D1'")
        return {r["metric"]["job"] + "@" + r["metric"]["instance"]
                for r in json.loads(body)["data"]["result"]}

    import time
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(up_targets()) < 7:
        time.sleep(2)
    targets = up_targets()
    assert sum(t.startswith("plugin-host@") for t in targets) == 3, targets
    assert any(t.startswith("registry@") for t in targets), targets
    assert sum(t.startswith("node@") for t in targets) == 3, targets  # every host's metrics


def test_a_second_deploy_changes_nothing(deployed, wheelhouse):
    r = deploy("--wheelhouse", str(wheelhouse))
    assert r.returncode == 0, r.stdout[-4000:]
    assert "deploy to test: ok" in r.stdout and ", 0 changes on 3 hosts" in r.stdout, \
        r.stdout[-3000:]


def test_a_release_that_cannot_start_is_rolled_back(deployed, wheelhouse, broken_build):
    broken, version = broken_build
    r = deploy("--wheelhouse", str(broken), "--version", version)
    assert r.returncode != 0
    assert (f"plugin-host {version} did not become ready on koha-test-0; rolled back to "
            f"{__version__}, which is serving") in " ".join(r.stdout.split()), r.stdout[-4000:]
    first = host("koha-test-0")
    assert first.file("/opt/koha/plugin-host").linked_to == f"/opt/koha/releases/{__version__}"
    code, _ = curl(first, "http://127.0.0.1:8080/readyz")
    assert code == 200
    for name in HOSTS[1:]:  # the rollout stopped: the others never saw it
        h = host(name)
        assert not h.file(f"/opt/koha/releases/{version}").exists, name
        assert curl(h, "http://127.0.0.1:8080/readyz")[0] == 200
    # and the next good deploy brings everything back in line
    r = deploy("--wheelhouse", str(wheelhouse))
    assert r.returncode == 0, r.stdout[-3000:]
