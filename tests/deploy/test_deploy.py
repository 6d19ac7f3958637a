"""`invoke deploy --env test` against real Debian 12 containers over SSH: three plugin
hosts (the first also runs the registry and monitoring) behind a fourth running the
load balancer.

testinfra (through `docker exec`) checks what an operator would: the processes and
their user, the listening ports, /readyz, file modes and owners, the rendered settings,
the balancer's view of its servers, and Prometheus scraping every host (services,
node_exporter, HAProxy). A second deploy changes nothing. A settings change restarts
every host one at a time, each drained at the balancer first: requests through the
balancer all the while, none fails. A release that cannot start is rolled back on the
first host, which keeps serving the previous version, and the rollout stops before the
other hosts. A host killed under load is taken out by the balancer's health checks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest
import testinfra
import yaml

from ops.deploy import INVENTORIES, command, run
from plugin_host import __version__

from ..support.paths import MONITORING, ROOT
from ..support.waiting import Load, wait_until

HOSTS = ["koha-test-0", "koha-test-1", "koha-test-2"]
BALANCER = "koha-test-3"


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


def balancer_url() -> str:
    from ops.docker_engine import address
    return f"https://{address(BALANCER)}"


def servers() -> dict[str, str]:
    """The balancer's servers ("backend/host") and their status (UP, DOWN, DRAIN…)."""
    r = host(BALANCER).run("echo 'show stat' | socat stdio unix-connect:/run/haproxy/admin.sock")
    rows = [line.split(",") for line in r.stdout.splitlines() if line and line[0] != "#"]
    return {f"{f[0]}/{f[1]}": f[17] for f in rows if f[1] not in ("FRONTEND", "BACKEND")}


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


def test_the_on_call_helper_reaches_the_admin_api(deployed):
    """The runbooks' commands: `koha-admin METHOD PATH` as root on a host, no token to
    copy; the helper itself is readable by root only."""
    h = host(HOSTS[1])
    helper = h.file("/usr/local/sbin/koha-admin")
    assert (helper.user, helper.mode) == ("root", 0o700)
    r = h.run("koha-admin GET /admin/plugins")
    assert r.rc == 0, r.stderr
    assert "plugins" in json.loads(r.stdout)
    r = h.run("koha-admin GET /admin/plugins/no-such-plugin")
    assert r.rc != 0 and "not_found" in r.stdout, (r.rc, r.stdout)
    r = h.run("koha-admin GET")
    assert r.rc == 2 and "koha-admin METHOD PATH" in r.stderr


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
    while time.monotonic() < deadline and len(up_targets()) < 11:  # 3 + 1 + 4 + 1 + 2
        time.sleep(2)
    targets = up_targets()
    assert sum(t.startswith("plugin-host@") for t in targets) == 3, targets
    assert any(t.startswith("registry@") for t in targets), targets
    assert sum(t.startswith("node@") for t in targets) == 4, targets  # every host's metrics
    assert sum(t.startswith("haproxy@") for t in targets) == 1, targets
    # what libraries reach, probed through the balancer's TLS frontends, its certificate
    # verified (the one it made for itself, trusted by name) and its expiry known
    probes = query(h, "probe_success")
    assert {r["metric"]["instance"].rsplit(":", 1)[1] for r in probes} == {
        "443/readyz", "8443/readyz"}, probes
    assert all(r["value"][1] == "1" for r in probes), probes
    days = query(h, "(probe_ssl_earliest_cert_expiry - time()) / 86400")
    assert len(days) == 2 and all(800 < float(r["value"][1]) <= 825 for r in days), days
    # a verified backup of the registry and of every plugin host, seen by Prometheus
    backups = query(h, "koha_backup_archives")
    assert sorted(r["metric"]["service"] for r in backups) == ["host", "host", "host",
                                                               "registry"], backups
    assert all(r["value"][1] != "0" for r in backups), backups
    assert all(r["value"][1] == "0" for r in query(h, "koha_backup_last_failed"))
    assert not query(h, 'ALERTS{alertname=~"KohaEndpointDown|KohaCertificate.*|KohaBackup.*"}')
    archives = h.run("ls /var/backups/koha/registry")
    assert archives.rc == 0 and archives.stdout.startswith("registry-"), archives.stderr
    folder = h.file("/var/backups/koha")
    assert (folder.user, folder.mode) == ("koha", 0o700)
    r = h.run("sudo -u koha /opt/koha/registry/bin/plugin-host backup verify "
              f"/var/backups/koha/registry/{archives.stdout.split()[-1]}")
    assert r.rc == 0 and "database sqlite" in r.stdout, r.stdout + r.stderr


def query(h, promql: str) -> list[dict]:
    from urllib.parse import quote
    _, body = curl(h, f"'http://127.0.0.1:9090/api/v1/query?query={quote(promql)}'")
    return json.loads(body)["data"]["result"]


def test_the_balancer_sends_requests_to_every_healthy_host(deployed):
    lb = host(BALANCER)
    assert lb.socket("tcp://0.0.0.0:443").is_listening
    assert lb.file("/etc/haproxy/koha.pem").mode == 0o640
    assert servers() == {**{f"plugin_hosts/{h}": "UP" for h in HOSTS},
                         "registry/koha-test-0": "UP"}
    r = httpx.get(balancer_url() + "/readyz", verify=False, timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "ready"
    r = httpx.get(balancer_url() + ":8443/api/v1/index", verify=False, timeout=10)
    assert r.status_code == 200 and "roles" in r.json()
    with pytest.raises(httpx.ConnectError):  # TLS only: the certificate is the balancer's
        httpx.get(balancer_url() + "/readyz", timeout=10)


def test_a_host_whose_key_changed_is_refused(deployed, wheelhouse, tmp_path):
    """Host keys are checked against the environment's known_hosts (recorded from inside
    the containers by testhosts.up): another key, as a machine in the middle would
    present, stops the deploy before anything is sent to that host."""
    from ops.deploy import known_hosts_path

    known = known_hosts_path("test")
    saved = known.read_text()
    hosts = yaml.safe_load((INVENTORIES / "test.yml").read_text())["all"]["children"][
        "plugin_hosts"]["hosts"]
    name, port = next((h, hv["ansible_port"]) for h, hv in hosts.items())
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                    str(tmp_path / "other")], check=True)
    other = " ".join((tmp_path / "other.pub").read_text().split()[:2])
    known.write_text("".join(f"[127.0.0.1]:{port} {other}\n"
                             if line.startswith(f"[127.0.0.1]:{port} ") else line + "\n"
                             for line in saved.splitlines()))
    try:
        r = deploy("--wheelhouse", str(wheelhouse), "--limit", name)
    finally:
        known.write_text(saved)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "UNREACHABLE" in out or "unreachable=1" in out, out[-3000:]
    assert ("Host key verification failed" in out or "HOST IDENTIFICATION HAS CHANGED" in out
            or "host key" in out.lower()), out[-3000:]


def test_a_second_deploy_changes_nothing(deployed, wheelhouse):
    r = deploy("--wheelhouse", str(wheelhouse))
    assert r.returncode == 0, r.stdout[-4000:]
    assert "deploy to test: ok" in r.stdout and ", 0 changes on 4 hosts" in r.stdout, \
        r.stdout[-3000:]


def test_new_rules_reload_prometheus_without_a_restart(deployed, wheelhouse, tmp_path):
    """A rule change is a SIGHUP, not a restart: no gap in scraping or alerting. A rule
    file no longer shipped is removed from the host (and reloaded away)."""
    first = host(HOSTS[0])
    pid = first.run("cat /run/koha-koha-prometheus.pid").stdout.strip()
    assert pid
    rules = tmp_path / "rules"
    rules.mkdir()
    for path in (MONITORING / "rules").glob("*.rules.yml"):
        (rules / path.name).write_text(path.read_text())
    (rules / "extra.rules.yml").write_text(
        "groups:\n- name: extra\n  rules:\n  - record: koha:test_reload:one\n"
        "    expr: vector(1)\n")

    def loaded() -> set[str]:
        _, body = curl(first, "http://127.0.0.1:9090/api/v1/rules")
        return {r["name"] for g in json.loads(body)["data"]["groups"] for r in g["rules"]}

    r = run(command("test", wheelhouse, extra_vars={"prometheus_rules_src": str(rules)}),
            echo=False)
    assert r.returncode == 0, r.output[-3000:]
    assert wait_until(lambda: "koha:test_reload:one" in loaded(), timeout=20)
    assert first.run("cat /run/koha-koha-prometheus.pid").stdout.strip() == pid
    r = deploy("--wheelhouse", str(wheelhouse))  # the shipped rules again
    assert r.returncode == 0, r.stdout[-3000:]
    assert not first.file("/etc/prometheus/rules/extra.rules.yml").exists
    assert wait_until(lambda: "koha:test_reload:one" not in loaded(), timeout=20)
    assert first.run("cat /run/koha-koha-prometheus.pid").stdout.strip() == pid


def test_a_rolling_restart_behind_the_balancer_fails_no_request(deployed, wheelhouse):
    """A settings change (here the log level) restarts every plugin host, one at a time,
    each drained at the balancer before and put back once ready."""
    path = INVENTORIES / "test.yml"
    saved = path.read_text()
    inventory = yaml.safe_load(saved)
    inventory["all"]["vars"]["plugin_host_log_level"] = "debug"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    try:
        with Load(balancer_url() + "/readyz") as load:
            time.sleep(1)
            r = deploy("--wheelhouse", str(wheelhouse))
            time.sleep(1)
    finally:
        path.write_text(saved)
    assert r.returncode == 0, r.stdout[-4000:]
    for name in HOSTS:
        env = host(name).file("/etc/koha/plugin-host.env").content_string
        assert "PLUGIN_HOST_LOG_LEVEL='debug'" in env
    assert r.stdout.count("Balancer sets this host to the new state | plugin-host drain") == 3
    assert load.ok > 100 and load.failures == [], (load.ok, load.failures[:10])
    assert servers() == {**{f"plugin_hosts/{h}": "UP" for h in HOSTS},
                         "registry/koha-test-0": "UP"}


def test_a_check_run_of_a_new_release_says_what_would_change_and_changes_nothing(
        deployed, broken_build):
    """`invoke deploy --check` (check mode, with diffs) on a release the hosts do not
    have yet, with a settings change: it succeeds, says each switch it would make, shows
    no secret, and every host is as it was."""
    broken, version = broken_build
    before = {name: host(name).file("/etc/koha/plugin-host.env").content_string
              for name in HOSTS}
    r = run(command("test", broken, version=version, check=True,
                    extra_vars={"plugin_host_log_level": "warning"}), echo=False)
    assert r.returncode == 0, r.output[-4000:]
    text = " ".join(r.output.split())
    for name in HOSTS:
        assert f"changed: [{name}] => msg: would switch plugin-host from {__version__} to " \
               f"{version}, drained at the balancer meanwhile" in text, name
    assert "would install koha-plugin-host" in text
    assert "test-hosts-admin-token" not in r.output  # the settings' diff is not shown
    for name in HOSTS:
        h = host(name)
        assert h.file("/opt/koha/plugin-host").linked_to == f"/opt/koha/releases/{__version__}"
        assert not h.file(f"/opt/koha/releases/{version}").exists
        assert h.file("/etc/koha/plugin-host.env").content_string == before[name]
    assert all(s.startswith("UP") for s in servers().values()), servers()


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
    for name in HOSTS[1:]:  # the rollout stopped: the others were never switched
        h = host(name)
        # staged side by side before the rollout, never pointed at
        assert h.file(f"/opt/koha/releases/{version}").exists, name
        assert h.file("/opt/koha/plugin-host").linked_to == \
            f"/opt/koha/releases/{__version__}", name
        assert curl(h, "http://127.0.0.1:8080/readyz")[0] == 200
    # and the next good deploy brings everything back in line
    r = deploy("--wheelhouse", str(wheelhouse))
    assert r.returncode == 0, r.stdout[-3000:]


def test_a_host_killed_under_load_is_taken_out_by_the_balancer(deployed):
    """Last: the killed host stays down. Only requests in flight on it may fail, and the
    balancer marks it DOWN within its checks: 2 failures 2 s apart, each failing after
    its 2 s timeout (a killed container drops packets, nothing refuses them), so about
    8 s; 10 s allows for this 2-core machine's scheduling."""
    from ops.docker_engine import kill

    victim = HOSTS[2]
    with Load(balancer_url() + "/readyz") as load:
        time.sleep(2)
        before = load.ok
        kill(victim)
        killed = time.monotonic()
        deadline = killed + 20
        while time.monotonic() < deadline and not servers()[
                f"plugin_hosts/{victim}"].startswith("DOWN"):
            time.sleep(0.2)
        taken_out = time.monotonic() - killed
        time.sleep(2)
    assert servers()[f"plugin_hosts/{victim}"].startswith("DOWN"), servers()
    assert taken_out <= 10, f"the balancer took {taken_out:.1f} s to mark it down"
    assert load.ok > before
    assert len(load.failures) <= 3, load.failures  # at most one in flight per client

