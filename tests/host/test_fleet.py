"""A fleet: three real plugin hosts sharing one real PostgreSQL database and one
registry's signed index, driven as an operator would with `plugin-host fleet …`.

The declared set converges on every host (dependencies included, config applied); each
host keeps its own rows in the shared tables; a plugin removed by hand on one host is
drift (shown by `fleet status`, counted by `plugin_host_fleet_drift`) until a converge
undoes it; an upgrade goes canary first under load with no failed request; a version
that fails its health check on the canary is rolled back there and never reaches the
other hosts; a host that starts later joins at the declared set.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from types import SimpleNamespace

import httpx
import pytest

from ..support.catalogue import CHAIN, publish_chain
from ..support.paths import TEST_PLUGINS
from ..support.plugins import signed
from ..support.servers import ADMIN_TOKEN, publish_and_approve
from ..support.waiting import wait_until
from .test_hot_swap import Load, version_of


def fleet_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "plugin_host.cli", "fleet", *args],
                          capture_output=True, text=True, timeout=300, input=stdin,
                          env={**os.environ, "PLUGIN_HOST_ADMIN_TOKEN": ADMIN_TOKEN})


def apply(hosts, declared: list[dict], settle: str = "0.5") -> subprocess.CompletedProcess:
    return fleet_cli("apply", "-", "--settle", settle,
                     *[a for h in hosts for a in ("--host", h.url)],
                     stdin=json.dumps({"plugins": declared}))


def versions(host) -> dict[str, str]:
    return {p["name"]: p["version"] for p in host.admin.get("/admin/plugins").json()["plugins"]}


def drift_gauge(host) -> float:
    text = host.client.get("/metrics").text
    line = next(x for x in text.splitlines() if x.startswith("plugin_host_fleet_drift "))
    return float(line.split()[1])


@pytest.fixture
def fleet(registry, host_factory, postgres, keys, tmp_path, plugin_copy):
    """A registry with the dependency chain and versioned 1.0.0 to 1.2.0 (1.2.0 fails its
    health check), and a factory of hosts on one shared PostgreSQL database."""
    publish_chain(registry, tmp_path, keys["key"])
    for version, healthy in (("1.0.0", True), ("1.1.0", True), ("1.2.0", False)):
        src = plugin_copy(TEST_PLUGINS / "versioned")
        version_of(src, version, healthy=healthy)
        publish_and_approve(registry, signed(src, keys["key"], tmp_path / f"v{version}"))
        shutil.rmtree(src)
    root = tmp_path / "root.json"
    shutil.copy(registry.storage / "metadata" / "root.json", root)
    database = postgres()

    def start(name: str, shared: bool = True, with_registry: bool = True):
        env = {"PLUGIN_HOST_INSTANCE": name, "PLUGIN_HOST_FLEET_INTERVAL": "0.5"}
        if shared:
            env["PLUGIN_HOST_DATABASE_URL"] = database
        reads = ["--registry-url", f"{registry.url}/index", "--registry-root", str(root)]
        return host_factory(env=env, extra_args=reads if with_registry else [])

    return start


def test_a_declared_set_converges_drifts_upgrades_and_rolls_back(fleet):
    hosts = [fleet(f"host-{c}") for c in "abc"]

    # 1. declare: every host converges, dependencies included, config applied
    declared = [{"name": "hello-world", "range": "^1", "config": {"greeting": "Hej"}},
                {"name": "versioned", "range": "~1.0"}]
    r = apply(hosts, declared)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "declared generation 1" in r.stdout and "canary" in r.stdout
    want = {**{n: v for n, v, _ in CHAIN}, "versioned": "1.0.0"}
    for h in hosts:
        assert versions(h) == want, h.url
        assert h.admin.get("/admin/plugins/hello-world").json()["config"] == {"greeting": "Hej"}
        assert h.client.get("/plugins/versioned/api/version").json()["version"] == "1.0.0"
    status = fleet_cli("status", "--url", hosts[1].url)
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.count(": in sync, generation 1") == 3, status.stdout
    r = apply(hosts, declared)  # the same set again: same generation, nothing touched
    assert r.returncode == 0 and "fleet: 0 changes on 3 hosts, generation 1" in r.stdout, \
        r.stdout + r.stderr

    # 2. drift: versioned removed by hand on one host, nothing else touched
    b = hosts[1]
    assert b.admin.delete("/admin/plugins/versioned").status_code == 200
    assert versions(hosts[0])["versioned"] == "1.0.0"  # its own rows only
    assert wait_until(lambda: drift_gauge(b) == 1, timeout=10, interval=0.2)
    assert drift_gauge(hosts[0]) == 0
    status = fleet_cli("status", "--url", hosts[0].url)
    assert status.returncode == 1
    assert "host-b: DRIFT" in status.stdout and "versioned: missing (want 1.0.0)" in status.stdout
    r = fleet_cli("converge", "--host", b.url)
    assert r.returncode == 0 and "installed versioned 1.0.0" in r.stdout, r.stdout + r.stderr
    assert drift_gauge(b) == 0

    # 3. an upgrade rolls out canary first under load on every host: no failed request
    loads = [Load(h.url, clients=2) for h in hosts]
    for load in loads:
        load.__enter__()
    try:
        r = apply(hosts, [*declared[:1], {"name": "versioned", "range": "~1.1"}])
    finally:
        for load in loads:
            load.__exit__(None, None, None)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "switched versioned 1.0.0 → 1.1.0" in r.stdout
    for h, load in zip(hosts, loads, strict=True):
        assert load.failures == [], load.failures[:5]
        assert {"1.0.0", "1.1.0"} >= set(load.versions) and load.versions[-1] == "1.1.0"
        assert versions(h)["versioned"] == "1.1.0"

    # 4. a version that fails its health check stops on the canary, which goes back
    r = apply(hosts, [*declared[:1], {"name": "versioned", "range": "~1.2"}])
    assert r.returncode == 1, r.stdout + r.stderr
    assert "generation 3 failed on " + hosts[0].url in r.stderr, r.stderr
    assert "health" in r.stderr and "declared the previous set again" in r.stdout
    for h in hosts:
        assert versions(h)["versioned"] == "1.1.0", h.url
        assert h.client.get("/plugins/versioned/api/version").json()["version"] == "1.1.0"
    status = json.loads(fleet_cli("status", "--json", "--url", hosts[2].url).stdout)
    assert status["desired"]["generation"] == 4
    assert {p["name"]: p["version"] for p in status["desired"]["plugins"]}["versioned"] == "1.1.0"

    # 5. a host started later joins at the declared set
    d = fleet("host-d")
    assert versions(d) == {**want, "versioned": "1.1.0"}


def test_bad_declarations_are_refused_with_each_field_named(fleet):
    host = fleet("host-a")
    r = host.admin.put("/admin/fleet", json={"plugins": [
        {"name": "Hello World", "range": "^1"},
        {"name": "versioned", "range": "one", "secrets": {"KEY": "plain-text-value"}},
        {"name": "versioned"},
        {"name": "hello-world", "colour": "red"}]})
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    for part in ("plugins[0].name", "plugins[1].range: 'one' is not a version range",
                 "plugins[1].secrets: KEY: a secret reference", "plugins[3].colour"):
        assert part in message, message
    r = host.admin.put("/admin/fleet", json={"plugins": [{"name": "no-such-plugin"}]})
    assert r.status_code == 409 and "no-such-plugin" in r.json()["error"]["message"], r.text
    r = host.admin.put("/admin/fleet", json=[1, 2])
    assert r.status_code == 422
    # nothing was declared by any of these
    assert host.admin.get("/admin/fleet").json()["desired"]["generation"] == 0
    r = host.admin.post("/admin/fleet/rollback")
    assert r.status_code == 409
    # a host on a database of its own is not part of the fleet: the rollout says so
    alone = fleet("host-z", shared=False)
    r = apply([host, alone], [{"name": "base-lib", "range": "^2"}])
    assert r.returncode == 1
    assert f"{alone.url}" in r.stderr and "does not share" in r.stderr, r.stderr
    assert "base-lib" not in versions(alone)
    assert httpx.get(f"{host.url}/admin/fleet").status_code == 401


def test_a_host_out_of_reach_stops_the_rollout_and_rollback_needs_a_set_before(fleet):
    host = fleet("host-a")
    r = fleet_cli("rollback", "--host", host.url)
    assert r.returncode == 1 and "there is no previous plugin set" in r.stderr, r.stderr
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        gone = SimpleNamespace(url=f"http://127.0.0.1:{s.getsockname()[1]}")
    r = apply([host, gone], [{"name": "versioned", "range": "~1.0"}])
    assert r.returncode == 1
    assert f"{gone.url}: cannot reach the host" in r.stderr, r.stderr
    assert "it is the first set declared, so there is none to go back to" in r.stderr
    assert versions(host)["versioned"] == "1.0.0"  # nothing before it: kept
    r = apply([host, gone], [{"name": "versioned", "range": "~1.1"}])
    assert r.returncode == 1
    assert "the previous set was declared again and 1 of 2 host(s) went back" in r.stderr, \
        r.stderr
    assert "could not roll back" in r.stdout
    assert versions(host)["versioned"] == "1.0.0"  # the canary went back
    r = fleet_cli("apply", "-", stdin='{"plugins": []}')
    assert r.returncode == 2 and "Missing option '--host'" in r.stderr


def test_what_leaves_the_declared_set_leaves_every_host(fleet):
    """A plugin taken out of the declared set is uninstalled on every host with what it
    alone needed, dependents before what they depend on; an empty set empties the hosts.
    A host with no registry cannot declare a set, and says why it cannot follow one."""
    hosts = [fleet(f"host-{c}") for c in "ab"]
    declared = [{"name": "hello-world", "range": "^1"}, {"name": "versioned", "range": "~1.0"}]
    assert apply(hosts, declared).returncode == 0
    r = apply(hosts, declared[1:])
    assert r.returncode == 0, r.stdout + r.stderr
    for h in hosts:
        assert (f"{h.url}: removed hello-world, removed marc-utils, removed base-lib"
                in r.stdout), r.stdout
    for h in hosts:
        assert versions(h) == {"versioned": "1.0.0"}, h.url
        assert h.client.get("/plugins/hello-world/api/greet/x").status_code == 404
    assert apply(hosts, []).returncode == 0
    assert [versions(h) for h in hosts] == [{}, {}]

    bare = fleet("host-c", with_registry=False)
    r = bare.admin.put("/admin/fleet", json={"plugins": declared[1:]})
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "registry_not_configured"
    assert "set registry_url and registry_root" in r.json()["error"]["message"]
    assert apply(hosts, declared[1:]).returncode == 0
    r = fleet_cli("converge", "--host", bare.url)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "this host has no registry to download plugins from" in r.stdout + r.stderr
    assert versions(bare) == {}


def test_rollback_brings_every_host_back_to_the_set_before(fleet):
    """`plugin-host fleet rollback`: the set before is declared again and every host
    converges to it, checked healthy after."""
    hosts = [fleet(f"host-{c}") for c in "ab"]
    assert apply(hosts, [{"name": "versioned", "range": "~1.0"}]).returncode == 0
    assert apply(hosts, [{"name": "versioned", "range": "~1.1"}]).returncode == 0
    assert [versions(h) for h in hosts] == [{"versioned": "1.1.0"}] * 2
    r = fleet_cli("rollback", *[a for h in hosts for a in ("--host", h.url)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert [versions(h) for h in hosts] == [{"versioned": "1.0.0"}] * 2
    for h in hosts:
        assert h.client.get("/plugins/versioned/api/version").json()["version"] == "1.0.0"
    status = json.loads(fleet_cli("status", "--json", "--url", hosts[0].url).stdout)
    assert status["desired"]["generation"] == 3
    assert [p["version"] for p in status["desired"]["plugins"]] == ["1.0.0"]


def test_a_declaration_that_is_not_json_is_refused_before_any_host_is_asked(tmp_path):
    bad = tmp_path / "plugins.json"
    bad.write_text("plugins:\n  - hello-world\n")  # YAML, not JSON
    r = fleet_cli("apply", str(bad), "--host", "http://127.0.0.1:1")
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{bad}: not JSON: " in r.stderr and "Traceback" not in r.stderr
    assert "cannot reach" not in r.stderr


def test_a_version_that_dies_after_it_started_stops_on_the_canary(fleet, registry, keys,
                                                                  tmp_path, plugin_copy):
    """A release that starts, passes its health check and then falls over (its workers
    exit a moment later): the settle time after converging catches it on the canary,
    which goes back; the other hosts never see it."""
    src = plugin_copy(TEST_PLUGINS / "versioned")
    version_of(src, "1.3.0")
    code = src / "versioned" / "__init__.py"
    code.write_text("import os, threading, time\n"
                    "threading.Thread(target=lambda: (time.sleep(0.5), os._exit(3)),"
                    " daemon=True).start()\n" + code.read_text())
    publish_and_approve(registry, signed(src, keys["key"], tmp_path / "v1.3.0"))
    hosts = [fleet(f"host-{c}") for c in "ab"]
    assert apply(hosts, [{"name": "versioned", "range": "~1.1"}]).returncode == 0
    r = apply(hosts, [{"name": "versioned", "range": "~1.3"}], settle="3")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"canary {hosts[0].url}: FAILED: versioned: " in r.stdout, r.stdout
    assert "the previous set was declared again" in r.stderr
    assert [versions(h)["versioned"] for h in hosts] == ["1.1.0", "1.1.0"]
