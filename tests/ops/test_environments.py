"""`./dev up` / `env.*`: real environments (registry, host, Prometheus, Alertmanager),
idempotent, side by side, leaving no process or port behind."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ops.environments import down, environments, logs, status, up
from ops.processes import open_for_workers

from ..support.paths import ROOT
from ..support.waiting import wait_until

#: what every environment publishes and installs: the examples and first-party plugins
PUBLISHED = ["alma", "book-notes", "hello-world", "koha-rest", "oclc-worldcat"]


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def monitoring_expected() -> bool:
    import shutil

    present = shutil.which("prometheus") and shutil.which("prometheus-alertmanager")
    if not present and os.environ.get("CI") == "true":
        pytest.fail("prometheus and prometheus-alertmanager are not installed")
    return bool(present)


def test_two_environments_side_by_side_and_down_leaves_nothing(tmp_path):
    open_for_workers(tmp_path)  # as root, plugin workers run as another uid
    with_monitoring = monitoring_expected()
    a = up(tmp_path, "a")
    try:
        b = up(tmp_path, "b")
        try:
            assert a.plugins == b.plugins == PUBLISHED
            # the examples and first-party plugins came from the environment's registry,
            # through its signed index
            catalogue = httpx.get(f"{a.registry_url}/api/v1/plugins").json()["plugins"]
            assert [p["name"] for p in catalogue] == PUBLISHED
            assert '"source": "registry"' in logs(tmp_path, "a", "host", 200)
            for env in (a, b):
                r = httpx.get(f"{env.url}/plugins/hello-world/api/greet/Ada")
                assert r.json() == {"greeting": "Hello Ada"}
            ports = [s.port for env in (a, b) for s in env.services.values()]
            assert len(ports) == len(set(ports))
            if with_monitoring:
                assert set(a.services) == {"registry", "host", "prometheus", "alertmanager"}
                prom = a.services["prometheus"].url

                def scraped(job):
                    r = httpx.get(f"{prom}/api/v1/query",
                                  params={"query": f'up{{job="{job}"}} == 1'}).json()
                    return r["data"]["result"]

                for job in ("plugin-host", "registry"):
                    assert wait_until(lambda job=job: scraped(job), timeout=30), \
                        f"Prometheus never scraped {job}"
                rules = httpx.get(f"{prom}/api/v1/rules").json()["data"]["groups"]
                assert {"koha-slo", "koha-plugins"} <= {g["name"] for g in rules}
            # up again finds the running environment: same processes, same token
            again = up(tmp_path, "a")
            assert ({k: s.pid for k, s in again.services.items()}
                    == {k: s.pid for k, s in a.services.items()})
            assert again.admin_token == a.admin_token
            st = status(tmp_path, "a")
            assert all(s["running"] and s["ready"] for s in st.values())
            assert set(environments(tmp_path)) == {"a", "b"}
            assert "Uvicorn running" in logs(tmp_path, "a", "host", 200)
        finally:
            assert set(down(tmp_path, "b")) == set(b.services)
    finally:
        assert set(down(tmp_path, "a")) == set(a.services)
    for env in (a, b):
        for svc in env.services.values():
            assert port_free(svc.port), svc
    out = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert out.stdout.strip() == "", "processes were left running"
    assert down(tmp_path, "a") == []


def test_env_tasks_from_the_command_line(tmp_path):
    """`env.up --trust KEY.pub`: a plugin its author signed with their own key installs
    on the environment's host and publishes to its registry; a file that is not a key is
    refused with a message."""
    open_for_workers(tmp_path)
    env = {**os.environ, "INVOKE_DEV_STATE_DIR": str(tmp_path)}
    invoke = [sys.executable, "-m", "invoke", "--search-root", str(ROOT)]
    cli = [sys.executable, "-m", "plugin_host.cli"]
    author = tmp_path / "author"
    subprocess.run([*cli, "keys", "generate", str(author)], check=True, capture_output=True)
    subprocess.run([*cli, "plugin", "new", "my-notes", "--dir", str(tmp_path)], check=True,
                   capture_output=True)
    package = subprocess.run([*cli, "plugin", "pack", str(tmp_path / "my-notes")], check=True,
                             capture_output=True, text=True, cwd=tmp_path).stdout.strip()
    subprocess.run([*cli, "plugin", "sign", package, "--key", f"{author}.key"], check=True,
                   capture_output=True, cwd=tmp_path)
    r = subprocess.run([*invoke, "env.up", "--name", "cli", "--no-monitoring", "--trust",
                        f"{author}.pub"], env=env, capture_output=True, text=True, timeout=120)
    try:
        assert r.returncode == 0, r.stderr
        assert "Koha environment 'cli' is ready in" in r.stdout
        assert f"({author}.pub): the host installs and the registry accepts" in r.stdout
        r = subprocess.run([*invoke, "env.list"], env=env, capture_output=True, text=True)
        assert "cli          2/2 services running" in r.stdout
        r = subprocess.run([*invoke, "env.up", "--name", "cli", "--no-monitoring", "--json"],
                           env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        info = json.loads(r.stdout.strip().splitlines()[-1])
        data = (tmp_path / package if not Path(package).is_absolute() else Path(package)
                ).read_bytes()
        zip_ = {"Content-Type": "application/zip"}
        r = httpx.post(f"{info['url']}/admin/plugins", content=data, timeout=60, headers={
            **zip_, "Authorization": f"Bearer {info['admin_token']}"})
        assert r.status_code == 201, r.text
        r = httpx.post(f"{info['registry_url']}/api/v1/packages", content=data, timeout=60,
                       headers={**zip_, "Authorization": f"Bearer {info['registry_token']}"})
        assert r.status_code == 201 and r.json()["state"] == "in_review", r.text
        (tmp_path / "not-a-key.pub").write_text("hello\n")
        r = subprocess.run([*invoke, "env.up", "--name", "cli", "--no-monitoring", "--trust",
                            str(tmp_path / "not-a-key.pub")], env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode != 0 and "env.up: --trust:" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    finally:
        r = subprocess.run([*invoke, "env.down", "--name", "cli"], env=env,
                           capture_output=True, text=True)
    assert "stopped cli: registry, host" in r.stdout


def test_serve_reports_bad_settings_without_a_traceback(tmp_path):
    def serve(*args, **env):
        return subprocess.run([sys.executable, "-m", "plugin_host.cli", "serve",
                               "--data-dir", str(tmp_path), *args],
                              capture_output=True, text=True, timeout=30,
                              env={**os.environ, **env})

    r = serve("--trusted-key", str(tmp_path / "missing.pub"))
    assert r.returncode == 2 and "missing.pub: cannot read the public key" in r.stderr
    r = serve(PLUGIN_HOST_PORT="eighty")
    assert r.returncode == 2 and "bad setting: port:" in r.stderr
    r = serve("--database-url", "nosuch://db")
    assert r.returncode == 2 and "database_url:" in r.stderr
    assert "Traceback" not in r.stderr


def test_docker_backend_runs_the_same_stack_in_containers(tmp_path):
    """`env.up --backend docker`: registry, host, Prometheus and Alertmanager in
    containers built from this tree (real Docker), the same answers as the local
    backend; `down` removes every container."""
    import shutil as sh

    from ops.containers import docker_ready

    if not (docker_ready() or sh.which("dockerd")):
        if os.environ.get("CI") == "true":
            pytest.fail("Docker is not installed (apt-get install docker.io)")
        pytest.skip("Docker is not installed")
    env = up(tmp_path, "dock", backend="docker")
    try:
        assert set(env.services) == {"registry", "host", "prometheus", "alertmanager"}
        assert all(s.container for s in env.services.values())
        r = httpx.get(f"{env.url}/plugins/hello-world/api/greet/Ada")
        assert r.json() == {"greeting": "Hello Ada"}
        catalogue = httpx.get(f"{env.registry_url}/api/v1/plugins").json()["plugins"]
        assert [p["name"] for p in catalogue] == PUBLISHED
        detail = httpx.get(f"{env.url}/admin/plugins/hello-world",
                           headers={"Authorization": f"Bearer {env.admin_token}"}).json()
        assert "bubblewrap" in detail["sandbox"]["layers"], detail["sandbox"]
        prom = env.services["prometheus"].url

        def scraped():
            r = httpx.get(f"{prom}/api/v1/query", params={"query": "up == 1"}).json()
            return {m["metric"]["job"] for m in r["data"]["result"]}

        assert wait_until(lambda: {"plugin-host", "registry"} <= scraped(), timeout=60), \
            scraped()
        again = up(tmp_path, "dock", backend="docker")  # finds it running
        assert again.url == env.url and again.admin_token == env.admin_token
        assert "Uvicorn running" in logs(tmp_path, "dock", "host", 100)
    finally:
        stopped = down(tmp_path, "dock")
    assert set(stopped) == set(env.services)
    out = subprocess.run(["docker", "ps", "-aq", "--filter", "label=org.koha.env=dock"],
                         capture_output=True, text=True)
    assert out.stdout.strip() == "", "containers were left behind"
    for svc in env.services.values():
        assert port_free(svc.port), svc
