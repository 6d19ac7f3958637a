"""A handler that raises, hangs or exits fails only its own call; the worker comes back
and another plugin answers throughout."""

from __future__ import annotations

import time

import httpx
import pytest

from ..support.waiting import Prober, wait_until


@pytest.fixture
def busy_host(host, packages):
    for name in ("hello-world", "faulty"):
        assert host.install(packages[name]).status_code == 201
    prober = Prober(host.url)
    prober.start()
    assert wait_until(lambda: prober.ok >= 5)
    yield host
    seen = prober.ok
    assert wait_until(lambda: prober.ok >= seen + 5), "hello-world stopped answering"
    prober.finish()
    assert prober.failures == [], "hello-world failed while faulty misbehaved"


CASES = [
    ("/raise", 500, "plugin_error", "the plugin's handler raised ValueError", None),
    ("/sleep?s=30", 504, "plugin_timeout", "took longer than 500 ms", "timeout"),
    ("/exit", 502, "plugin_crashed", "worker exited during the call", "crash"),
]


@pytest.mark.parametrize(("path", "status", "code", "message", "restart"), CASES,
                         ids=["raises", "hangs", "exits"])
def test_failure_is_contained(busy_host, path, status, code, message, restart):
    host = busy_host
    before = host.client.get("/plugins/faulty/api/ok").json()["worker"]
    t0 = time.monotonic()
    r = host.client.get(f"/plugins/faulty/api{path}")
    elapsed = time.monotonic() - t0
    assert r.status_code == status
    err = r.json()["error"]
    assert err["code"] == code
    assert message in err["message"]
    assert err["correlation_id"] == r.headers["x-correlation-id"]
    if code == "plugin_timeout":
        assert elapsed < 3, "a hung call must be cut off at its timeout"
    # the plugin answers again, from the same worker or a new one
    after = host.client.get("/plugins/faulty/api/ok")
    assert after.status_code == 200
    worker = after.json()["worker"]
    if restart:
        assert worker != before
        info = host.admin.get("/admin/plugins/faulty").json()
        assert info["runtime"]["restarts"] == 1
        assert f'plugin_host_worker_restarts_total{{plugin="faulty",reason="{restart}"}} 1.0' \
            in host.client.get("/metrics").text
    else:
        assert worker == before
    if code == "plugin_error":
        # the traceback is in the host log under the correlation id, not in the response
        assert "deliberate failure" not in r.text
        assert err["correlation_id"] in host.log_text()
        assert "deliberate failure" in host.log_text()


def test_correlation_id_from_the_caller_is_kept(busy_host):
    r = busy_host.client.get("/plugins/faulty/api/raise",
                             headers={"X-Request-ID": "koha-req-12345678"})
    assert r.json()["error"]["correlation_id"] == "koha-req-12345678"


def test_worker_killed_from_outside_is_replaced(busy_host):
    import os
    import signal

    host = busy_host
    before = host.client.get("/plugins/faulty/api/ok").json()["worker"]
    pid = host.admin.get("/admin/plugins/faulty").json()["runtime"]["workers"][0]["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        workers = host.admin.get("/admin/plugins/faulty").json()["runtime"]["workers"]
        if workers and workers[0]["pid"] != pid:
            break
        time.sleep(0.05)
    r = host.client.get("/plugins/faulty/api/ok")
    assert r.status_code == 200 and r.json()["worker"] != before


def test_workers_do_not_see_the_hosts_environment(host_factory, packages):
    host = host_factory(env={"PLUGIN_HOST_DATABASE_PASSWORD": "hunter2",
                             "PLUGIN_HOST_SECRET_FAULTY_TOKEN": "s3cret",
                             "PLUGIN_HOST_SECRET_OTHER": "not-yours"})
    host.install(packages["faulty"])
    keys = host.client.get("/plugins/faulty/api/environ").json()["keys"]
    assert not [k for k in keys if k.startswith("PLUGIN_HOST")]
    # secrets reach the plugin only through ctx.secrets, and only the listed ones
    assert host.client.get("/plugins/faulty/api/secret/FAULTY_TOKEN").json() == {
        "value": "s3cret"}
    r = host.client.get("/plugins/faulty/api/secret/OTHER")
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "capability_denied"
    assert "'OTHER' is not listed in permissions.secrets" in r.json()["error"]["message"]


def test_calls_queued_behind_a_hung_call_are_not_blamed_for_it(busy_host):
    """With one worker, calls that arrive while a call hangs queue behind it. When the
    hung call is cut off (504), the queued calls never started: they run on the new
    worker (200), or at worst say the plugin was busy (503), never 502/504."""
    import concurrent.futures

    url = busy_host.url
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        hung = pool.submit(httpx.get, f"{url}/plugins/faulty/api/sleep?s=30", timeout=10)
        time.sleep(0.1)
        queued = [pool.submit(httpx.get, f"{url}/plugins/faulty/api/ok", timeout=10)
                  for _ in range(3)]
        assert hung.result().status_code == 504
        statuses = [f.result().status_code for f in queued]
    assert all(s in (200, 503) for s in statuses), statuses
    assert statuses.count(200) >= 1, statuses


def test_memory_limit_fails_only_the_greedy_call(busy_host):
    """Allocating five times resources.memory (128MiB) fails that call; the plugin
    answers the next one and hello-world never notices (checked by busy_host)."""
    r = busy_host.client.get("/plugins/faulty/api/hog")
    assert r.status_code == 500, r.text
    assert "the plugin's handler raised MemoryError" in r.json()["error"]["message"]
    assert busy_host.client.get("/plugins/faulty/api/ok").status_code == 200
    info = busy_host.admin.get("/admin/plugins/faulty").json()
    assert "rlimits" in info["sandbox"]["layers"]


def test_file_size_limit(busy_host):
    """Writing past the 64 MiB file-size limit fails the call, not the host (the plugin
    has 128 MiB of memory: under bubblewrap /tmp is memory, which the cgroup counts)."""
    r = busy_host.client.get("/plugins/faulty/api/big-file")
    assert r.status_code == 500, r.text
    assert "the plugin's handler raised OSError" in r.json()["error"]["message"]
    assert busy_host.client.get("/plugins/faulty/api/ok").status_code == 200


def test_a_crash_loop_is_detected_backed_off_and_shown(busy_host):
    """A worker that dies on every call: after five deaths within a minute the plugin
    is `crash-looping` (admin API, metrics), restarts back off, and calls are answered
    503 at once instead of waiting; a successful call ends the state."""
    host = busy_host
    responses = [host.client.get("/plugins/faulty/api/exit") for _ in range(8)]
    assert [r.status_code for r in responses] == [502] * 5 + [503] * 3
    # once crash-looping, callers are told so at once (not "busy" after the timeout)
    err = responses[-1].json()["error"]
    assert err["code"] == "plugin_crash_looping"
    assert "faulty is crash-looping" in err["message"]
    info = host.admin.get("/admin/plugins/faulty").json()
    assert info["state"] == "crash-looping"
    assert info["runtime"]["crash_looping"] is True
    metrics = host.client.get("/metrics").text
    assert 'plugin_host_plugin_crash_looping{plugin="faulty"} 1.0' in metrics
    assert 'plugin_host_plugins{state="crash-looping"} 1.0' in metrics
    # the backed-off restart comes, and a good call ends the crash loop
    assert wait_until(lambda: host.client.get("/plugins/faulty/api/ok").status_code == 200,
                      timeout=40)
    assert host.admin.get("/admin/plugins/faulty").json()["state"] == "enabled"


def test_a_plugin_that_does_not_start_in_time_is_refused_and_nothing_kept(
        host_factory, keys, plugin_copy, tmp_path):
    """A backend still loading after ``worker_start_timeout``: the install fails saying
    so, its worker is gone, and nothing of it stays installed."""
    import subprocess

    from ..support.paths import EXAMPLES
    from ..support.plugins import signed

    src = plugin_copy(EXAMPLES / "hello-world")
    module = src / "hello_world" / "__init__.py"
    module.write_text("import time\ntime.sleep(4)\n" + module.read_text())
    host = host_factory(env={"PLUGIN_HOST_WORKER_START_TIMEOUT": "1"})
    package = signed(src, keys["key"], tmp_path / "slow")
    start = time.monotonic()
    r = host.install(package)
    assert r.status_code >= 400, r.text
    assert "hello-world: backend did not start within 1s" in r.json()["error"]["message"]
    assert time.monotonic() - start < 3  # not the 4 s the plugin wanted
    assert host.installed() == []
    left = subprocess.run(["pgrep", "-f", "plugin_host.worker", "-P", str(host.proc.pid)],
                          capture_output=True, text=True)
    assert left.stdout.strip() == "", left.stdout


def test_a_plugin_that_exits_while_loading_is_refused_and_nothing_kept(
        host_factory, keys, plugin_copy, tmp_path):
    """A backend whose import ends its own process (no error reported, just gone)."""
    from ..support.paths import EXAMPLES
    from ..support.plugins import signed

    src = plugin_copy(EXAMPLES / "hello-world")
    module = src / "hello_world" / "__init__.py"
    module.write_text("import os\nos._exit(7)\n" + module.read_text())
    host = host_factory()
    r = host.install(signed(src, keys["key"], tmp_path / "gone"))
    assert r.status_code >= 400, r.text
    assert "hello-world: backend exited while loading" in r.json()["error"]["message"]
    assert host.installed() == []
