"""A plugin with ``resources.max_workers`` gets more workers while calls find every
worker busy, and gives them back once idle (``worker_idle_seconds``); a plugin without
it keeps exactly ``resources.workers``. Each running plugin keeps a spare worker,
spawned in its sandbox but given no plugin code until it replaces or joins a worker."""

from __future__ import annotations

import threading
import time

import pytest

from ..support.paths import TEST_PLUGINS
from ..support.plugins import signed
from ..support.waiting import wait_until


@pytest.fixture
def scaling_host(host_factory, keys, plugin_copy, tmp_path):
    src = plugin_copy(TEST_PLUGINS / "faulty")
    toml = (src / "plugin.toml").read_text()
    (src / "plugin.toml").write_text(
        toml.replace("timeout_ms = 500\nworkers = 1", "timeout_ms = 5000\nworkers = 1\n"
                     "max_workers = 3"))
    host = host_factory(env={"PLUGIN_HOST_WORKER_IDLE_SECONDS": "1"})
    assert host.install(signed(src, keys["key"], tmp_path / "pkg")).status_code == 201
    return host


def _workers(host) -> int:
    return len(host.admin.get("/admin/plugins/faulty").json()["runtime"]["workers"])


def test_the_pool_grows_under_load_and_shrinks_when_idle(scaling_host):
    host = scaling_host
    runtime = host.admin.get("/admin/plugins/faulty").json()["runtime"]
    assert (runtime["configured_workers"], runtime["max_workers"]) == (1, 3)
    assert _workers(host) == 1
    answers: list[int] = []
    peak = 0

    def call() -> None:
        answers.append(host.client.get("/plugins/faulty/api/sleep", params={"s": 0.6},
                                       timeout=30).status_code)

    threads = [threading.Thread(target=call) for _ in range(6)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, _workers(host))
        time.sleep(0.05)
    elapsed = time.monotonic() - t0
    assert answers == [200] * 6
    assert peak == 3, "three workers at the peak: the minimum and two grown"
    # one worker would take 6 x 0.6 = 3.6 s; three take two rounds plus their starts
    assert elapsed < 3.0, elapsed
    assert wait_until(lambda: _workers(host) == 1, timeout=10), "idle workers stay"
    assert host.client.get("/plugins/faulty/api/ok").status_code == 200


def test_a_fixed_pool_does_not_grow(host, packages):
    assert host.install(packages["faulty"]).status_code == 201
    threads = [threading.Thread(target=host.client.get, args=("/plugins/faulty/api/sleep",),
                                kwargs={"params": {"s": 0.1}, "timeout": 30})
               for _ in range(3)]
    for t in threads:
        t.start()
    seen = set()
    while any(t.is_alive() for t in threads):
        seen.add(_workers(host))
        time.sleep(0.02)
    assert seen == {1}
    runtime = host.admin.get("/admin/plugins/faulty").json()["runtime"]
    assert runtime["max_workers"] == 1


def _imports(host) -> list[str]:
    return [line for line in host.log_text().splitlines()
            if "faulty: module imported by worker" in line]


def test_a_crashed_worker_is_replaced_from_the_spare_which_ran_no_plugin_code(host, packages):
    import os
    import signal

    assert host.install(packages["faulty"]).status_code == 201
    runtime = lambda: host.admin.get("/admin/plugins/faulty").json()["runtime"]  # noqa: E731
    assert wait_until(lambda: runtime()["spare"], timeout=10)
    assert len(_imports(host)) == 1, "the spare imported the plugin before it was needed"
    before = host.client.get("/plugins/faulty/api/ok").json()["worker"]
    os.killpg(runtime()["workers"][0]["pid"], signal.SIGKILL)
    assert wait_until(lambda: host.client.get("/plugins/faulty/api/ok").json().get("worker")
                      not in (None, before), timeout=10)
    assert wait_until(lambda: runtime()["spare"], timeout=10), "no new spare after it"
    assert len(_imports(host)) == 2  # the replacement, and still not the new spare
    assert runtime()["restarts"] == 1


def test_without_a_spare_only_the_workers_run(host_factory, packages):
    host = host_factory(env={"PLUGIN_HOST_WORKER_SPARE": "false"})
    assert host.install(packages["faulty"]).status_code == 201
    time.sleep(0.5)
    assert host.admin.get("/admin/plugins/faulty").json()["runtime"]["spare"] is False
    assert host.client.get("/plugins/faulty/api/ok").status_code == 200
