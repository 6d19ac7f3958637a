"""The index stays fresh while the registry runs, freezes when it stops, and the operator's
`plugin-host registry index --refresh` brings it back: real registry, real host, real
clock (a timestamp lifetime of 6 seconds instead of a day)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from ..support.plugins import variant
from ..support.servers import publish_and_approve
from ..support.waiting import wait_until

LIFETIME_DAYS = 6 / 86400  # 6 s


def test_refresh_keeps_the_index_alive_and_a_stopped_registry_freezes_it(
        registry_factory, host_factory, static_server, keys, tmp_path):
    env = {"PLUGIN_REGISTRY_TUF_TIMESTAMP_EXPIRY_DAYS": str(LIFETIME_DAYS),
           "PLUGIN_REGISTRY_INDEX_REFRESH_SECONDS": "0.5"}
    reg = registry_factory(env)
    publish_and_approve(reg, variant(tmp_path, "hello-world", "1.0.0", key=keys["key"]))
    mirror = static_server(reg.storage)
    host = host_factory(extra_args=["--registry-url", mirror.url, "--registry-root",
                                    str(reg.storage / "metadata" / "root.json"),
                                    "--registry-api-url", reg.url])

    def timestamp_version() -> int:
        return reg.client().get("/api/v1/index").json()["roles"]["timestamp"]["version"]

    first = timestamp_version()
    assert wait_until(lambda: timestamp_version() >= first + 2, timeout=15), \
        "the registry did not re-sign the timestamp"
    time.sleep(7)  # longer than one lifetime: only re-signing keeps it valid
    r = host.admin.post("/admin/plugins", json={"name": "hello-world", "range": "^1"})
    assert r.status_code == 201, r.text
    host.admin.delete("/admin/plugins/hello-world")
    # the host told the registry: an install from the static index still counts
    assert wait_until(lambda: reg.client().get("/api/v1/plugins/hello-world").json()[
        "versions"][0]["downloads"] == 1, timeout=10)

    reg.stop()
    time.sleep(7)  # the last timestamp expires: a frozen index is refused
    r = host.admin.post("/admin/plugins", json={"name": "hello-world", "range": "^1"})
    assert r.status_code == 502 and "has expired" in r.json()["error"]["message"], r.text
    assert host.installed() == []

    # the operator re-signs by hand (cron, or while the registry is down)
    out = subprocess.run(
        [sys.executable, "-m", "plugin_host.cli", "registry", "index", "--refresh",
         "--data-dir", str(reg.data)], capture_output=True, text=True, timeout=60,
        env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("re-signed: timestamp")
    status = json.loads(out.stdout.split("\n", 1)[1])
    assert status["roles"]["timestamp"]["version"] > first
    r = host.admin.post("/admin/plugins", json={"name": "hello-world", "range": "^1"})
    assert r.status_code == 201, r.text


def test_targets_and_snapshot_are_re_signed_before_they_expire(registry_factory, host_factory,
                                                                static_server, keys, tmp_path):
    """Not only the timestamp: the targets and snapshot roles are signed again (and the
    roles above them) once half their lifetime is gone, so an index nobody publishes to
    stays installable past every role's first expiry."""
    seconds = {"TARGETS": 5, "SNAPSHOT": 3, "TIMESTAMP": 60}
    env = {**{f"PLUGIN_REGISTRY_TUF_{role}_EXPIRY_DAYS": str(s / 86400)
              for role, s in seconds.items()},
           "PLUGIN_REGISTRY_INDEX_REFRESH_SECONDS": "0.5"}
    reg = registry_factory(env)
    publish_and_approve(reg, variant(tmp_path, "hello-world", "1.0.0", key=keys["key"]))

    def versions() -> dict[str, int]:
        roles = reg.client().get("/api/v1/index").json()["roles"]
        return {role: roles[role]["version"] for role in ("targets", "snapshot")}

    first = versions()
    assert wait_until(lambda: versions()["snapshot"] >= first["snapshot"] + 1, timeout=10)
    assert wait_until(lambda: versions()["targets"] >= first["targets"] + 1, timeout=10)
    time.sleep(5.5)  # past the first targets' lifetime
    host = host_factory(extra_args=["--registry-url", static_server(reg.storage).url,
                                    "--registry-root",
                                    str(reg.storage / "metadata" / "root.json")])
    r = host.admin.post("/admin/plugins", json={"name": "hello-world", "range": "^1"})
    assert r.status_code == 201, r.text
