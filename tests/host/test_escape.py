"""The escape suite: one plugin per attempt, each contained, while hello-world answers.

Every attempt (tests/support/escapes.py) runs in a real sandboxed worker. The suite runs
with bubblewrap + seccomp and again with Landlock + seccomp; the attempts that depend on
who runs the host run again with the host as a plain user, in both modes. In CI a
missing layer fails the suite: the host is started with ``sandbox_require`` naming
every layer it expects.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ops.processes import open_for_workers

from ..support.escapes import (
    AS_PLAIN_USER,
    ATTEMPTS,
    HANGS,
    NEEDS_CGROUPS,
    NOT_IN_LANDLOCK_MODE,
    make_plugin,
    worker_uids,
)
from ..support.plugins import signed
from ..support.servers import Host
from ..support.waiting import Prober, wait_until


def start_host(tmp: Path, keys, packages, layers: list[str] | None, require: list[str],
               user: tuple[int, int] | None = None) -> Host:
    args = []
    if layers is not None:
        args += ["--sandbox-layers", ",".join(layers)]
    if require and os.environ.get("CI") == "true":
        args += ["--sandbox-require", ",".join(require)]
    trusted = keys["pub"]
    if user is not None:  # a key file the host's user can read
        trusted = open_for_workers(tmp / "keys") / "trusted.pub"
        trusted.write_text(keys["pub"].read_text())
        trusted.chmod(0o644)
    host = Host(tmp / "host", trusted, extra_args=args, user=user,
                env={"PLUGIN_HOST_SECRET_TOKEN": "top-secret"}).start()
    assert host.install(packages["hello-world"]).status_code == 201
    assert host.install(packages["book-notes"]).status_code == 201
    # the token file a host keeps when it generates its own admin token, and the hook
    # secret it keeps when none is set
    (host.data_dir / "admin-token").write_text("generated-admin-token\n")
    (host.data_dir / "hook-secret").write_text("kept-hook-secret-" + "x" * 32 + "\n")
    # something private of another plugin's, where a careless host would keep it
    other = host.data_dir / "plugin-data" / "book-notes"
    other.mkdir(parents=True, exist_ok=True)
    (other / "private.txt").write_text("book-notes only")
    return host


def targets(host: Host, code_dir: Path) -> dict:
    return {"host_db": str(host.data_dir / "host.db"),
            "admin_token": str(host.data_dir / "admin-token"),
            "hook_secret": str(host.data_dir / "hook-secret"),
            "trusted_key": str(host.trusted),
            "other_data": str(host.data_dir / "plugin-data" / "book-notes" / "private.txt"),
            "host_data": str(host.data_dir), "code_dir": str(code_dir),
            "host_port": host.port, "host_pid": host.proc.pid}


def run_attempts(host: Host, root: Path, keys, cases: dict[str, str]) -> dict[str, dict]:
    prober = Prober(host.url)
    prober.start()
    assert wait_until(lambda: prober.ok >= 3)
    outcomes = {}
    try:
        for slug, body in cases.items():
            src = make_plugin(root, slug, body)
            r = host.install(signed(src, keys["key"], root / "pkg"))
            assert r.status_code == 201, r.text
            code_dir = host.data_dir / "plugins" / f"escape-{slug}" / "1.0.0"
            resp = host.client.post(f"/plugins/escape-{slug}/api/attempt",
                                    json=targets(host, code_dir))
            outcomes[slug] = {"status": resp.status_code, **resp.json()}
            assert host.admin.delete(f"/admin/plugins/escape-{slug}").status_code == 200
        seen = prober.ok
        assert wait_until(lambda: prober.ok >= seen + 3), "hello-world stopped answering"
    finally:
        prober.finish()
    assert prober.failures == [], "hello-world failed during the escape attempts"
    return outcomes


#: the layers a host run as root must give its workers here (CI fails without them)
AS_ROOT = ["cgroups"] if os.geteuid() == 0 else []


def killed_at_memory_limit(outcome: dict) -> bool:
    error = outcome.get("error")
    return (outcome["status"] == 502 and isinstance(error, dict)
            and error.get("code") == "plugin_out_of_memory")


def assert_contained(outcomes: dict[str, dict]) -> None:
    """Each attempt failed inside the plugin, or the kernel killed its worker at the
    memory limit (the cgroups layer): anything else escaped."""
    escaped = {k: v for k, v in outcomes.items()
               if v.get("escaped") is not False and not killed_at_memory_limit(v)}
    assert escaped == {}, f"escaped or not answered: {escaped}"


def assert_nothing_left(host: Host) -> None:
    """Every attempt's plugin was uninstalled (some while a replacement worker was
    starting): none of their scratch mounts, control groups or worker processes remain."""
    from plugin_host.runtime.cgroups import groups_of

    def leftovers() -> list[str]:
        points = [line.split()[4]
                  for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        left = [m for m in points
                if "/plugin-data/escape-" in m and m.startswith(str(host.data_dir))]
        for controller, own in groups_of(host.proc.pid).items():
            subtree = own / f"plugin-host-{host.proc.pid}"
            if subtree.is_dir():
                left += [f"{controller}:{d.name}" for d in subtree.iterdir()
                         if d.is_dir() and d.name.startswith("escape-")]
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:  # bubblewrap binds the plugin's code; Landlock runs in its scratch
                cmd = (entry / "cmdline").read_bytes()
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if (b"bwrap" in cmd and f"{host.data_dir}/plugins/escape-".encode() in cmd) or \
                    cwd.startswith(f"{host.data_dir}/plugin-data/escape-"):
                left.append(f"process {entry.name}")
        return left

    # a killed worker's group goes once its last process has (the host retries for a
    # minute); one whose start was cancelled mid-spawn too
    assert wait_until(lambda: not leftovers(), timeout=30, interval=0.2), leftovers()


def assert_cgroups_hold(outcomes: dict[str, dict], layers: list[str]) -> None:
    if "cgroups" not in layers:
        return
    assert killed_at_memory_limit(outcomes["hoard-memory-in-pipes"]), outcomes
    assert "can't start new thread" in outcomes["thread-bomb"]["error"], outcomes
    tmpfs = outcomes["hoard-memory-in-tmpfs"]
    if "bubblewrap" in layers:
        assert killed_at_memory_limit(tmpfs), tmpfs
    else:  # Landlock mode has no tmpfs: the worker cannot even write there
        assert "Permission denied" in tmpfs["error"], tmpfs


@pytest.fixture(scope="module")
def full_host(tmp_path_factory, keys, packages):
    host = start_host(tmp_path_factory.mktemp("escape-full"), keys, packages, None,
                      ["bubblewrap", "seccomp", *AS_ROOT])
    yield host
    host.stop()


def test_every_escape_is_contained(full_host, tmp_path, keys):
    info = full_host.admin.get("/admin/plugins/hello-world").json()
    layers = info["sandbox"]["layers"]
    outcomes = run_attempts(full_host, tmp_path, keys, {k: b for k, (b, _) in ATTEMPTS.items()})
    assert_contained(outcomes)
    if "bubblewrap" in layers:
        assert "No such file or directory" in outcomes["read-etc-shadow"]["error"]
        fill = outcomes["fill-the-disk"]  # the tmpfs is memory: the cgroup stops it first
        assert (killed_at_memory_limit(fill) if "cgroups" in layers
                else "No space left on device" in fill["error"]), fill
    if "seccomp" in layers:
        assert "Operation not permitted" in outcomes["fork-bomb"]["error"]
        assert "Operation not permitted" in outcomes["execv-shell"]["error"]
    assert "MemoryError" in outcomes["allocate-ten-times-memory"]["error"]
    assert_cgroups_hold(outcomes, layers)
    assert_nothing_left(full_host)
    for name in ("http-outside-allow-list", "http-loopback", "http-metadata"):
        assert "not in permissions.network" in outcomes[name]["error"], outcomes[name]
    for name in ("read-upstream-key-through-secrets", "upstream-leave-base-path",
                 "upstream-leave-by-dots", "upstream-another-host",
                 "upstream-own-credential-header", "upstream-own-authorization",
                 "undeclared-upstream"):  # refused by the host before anything is sent
        assert outcomes[name]["error"].startswith("PermissionDenied"), outcomes[name]
    # the host is unharmed: still serving, nothing planted
    assert full_host.proc.poll() is None
    assert not (full_host.data_dir / "planted").exists()
    assert not Path("/usr/planted").exists()


def test_endless_loop_is_cut_off_and_the_worker_replaced(full_host, tmp_path, keys):
    src = make_plugin(tmp_path, "endless-loop", HANGS["endless-loop"])
    assert full_host.install(signed(src, keys["key"], tmp_path / "pkg")).status_code == 201
    r = full_host.client.post("/plugins/escape-endless-loop/api/attempt", json={})
    assert r.status_code == 504
    assert r.json()["error"]["code"] == "plugin_timeout"
    info = full_host.admin.get("/admin/plugins/escape-endless-loop").json()
    assert wait_until(lambda: full_host.admin.get(
        "/admin/plugins/escape-endless-loop").json()["runtime"]["workers"])
    assert info["runtime"]["restarts"] == 1


def test_landlock_and_seccomp_contain_every_escape_without_bubblewrap(tmp_path, keys,
                                                                     packages):
    from plugin_host.runtime.sandbox import detect

    if "landlock" not in detect().available and os.environ.get("CI") != "true":
        pytest.skip("no Landlock on this kernel")
    host = start_host(tmp_path, keys, packages, ["landlock", "seccomp", "cgroups"],
                      ["landlock", "seccomp", *AS_ROOT])
    try:
        layers = host.admin.get("/admin/plugins/hello-world").json()["sandbox"]["layers"]
        assert {"landlock", "seccomp"} <= set(layers)
        assert "bubblewrap" not in layers
        cases = {k: b for k, (b, _fs) in ATTEMPTS.items()
                 if k not in NOT_IN_LANDLOCK_MODE or os.geteuid() == 0}
        outcomes = run_attempts(host, tmp_path, keys, cases)
        assert_contained(outcomes)
        for name in ("read-etc-shadow", "read-host-database", "read-admin-token",
                     "read-other-plugin-data", "write-host-data", "symlink-out"):
            assert "Permission denied" in outcomes[name]["error"], outcomes[name]
        assert_cgroups_hold(outcomes, layers)
        assert_nothing_left(host)
        if os.geteuid() == 0:  # the scratch is a 64 MiB tmpfs: memory, or full
            fill = outcomes["fill-the-disk"]
            assert killed_at_memory_limit(fill) or "No space left" in fill["error"], fill
    finally:
        host.stop()


def test_a_required_layer_that_is_missing_refuses_the_plugin(host_factory, packages):
    host = host_factory(extra_args=["--sandbox-layers", "seccomp",
                                    "--sandbox-require", "bubblewrap"])
    r = host.install(packages["hello-world"])
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "sandbox_unavailable"
    assert "requires sandbox layer(s) bubblewrap" in err["message"]
    assert "turned off by the sandbox_layers setting" in err["message"]
    assert host.installed() == []


def test_layers_are_reported(full_host):
    info = full_host.admin.get("/admin/plugins/hello-world").json()
    layers = info["sandbox"]["layers"]
    assert {"rlimits", "scrubbed-env", "no-inherited-fds", "process"} <= set(layers)
    metrics = full_host.client.get("/metrics").text
    for layer in layers:
        assert (f'plugin_host_plugin_sandbox_layer{{layer="{layer}",plugin="hello-world"}} 1.0'
                in metrics)



def test_operators_can_see_the_sandbox_level(full_host):
    import json
    import subprocess
    import sys

    report = full_host.admin.get("/admin/sandbox").json()
    assert report["layers"] == full_host.admin.get(
        "/admin/plugins/hello-world").json()["sandbox"]["layers"]
    assert set(report["machine"]) == {"bubblewrap", "seccomp", "landlock", "cgroups"}
    for info in report["machine"].values():
        assert info["available"] is (info["reason"] is None)
    out = subprocess.run([sys.executable, "-m", "plugin_host.cli", "sandbox", "--json"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["machine"] == report["machine"]
    if os.environ.get("CI") == "true":
        assert report["machine"]["bubblewrap"]["available"]
        assert report["machine"]["seccomp"]["available"]


@pytest.mark.parametrize("layers", [None, ["landlock", "seccomp"]],
                         ids=["bubblewrap", "landlock"])
def test_no_worker_process_is_root_outside(layers, tmp_path, keys, packages):
    """The host may run as root (./dev up, containers): its workers never do."""
    host = start_host(tmp_path, keys, packages, layers, [])
    try:
        uids = worker_uids(host, "hello-world")
        assert uids, "no worker processes found"
        if os.geteuid() == 0:
            assert set(uids.values()) == {65534}, uids
        else:
            assert set(uids.values()) == {os.geteuid()}, uids
        report = host.admin.get("/admin/sandbox").json()
        assert report["worker_uid"] == (65534 if os.geteuid() == 0 else os.geteuid())
        assert "unprivileged" in report["layers"]
    finally:
        host.stop()


@pytest.fixture(scope="module")
def plain_user() -> tuple[int, int]:
    """A plain (not root) user to run the host as: the test's own user, or, as root, a
    system user made for it."""
    import pwd
    import subprocess

    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    name = "koha-test-host"
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", name], check=True, capture_output=True)
        entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid




@pytest.mark.parametrize("layers", [None, ["landlock", "seccomp"]],
                         ids=["bubblewrap", "landlock"])
def test_a_host_run_as_a_plain_user_contains_the_same_escapes(layers, tmp_path, keys,
                                                              packages, plain_user):
    host = start_host(open_for_workers(tmp_path / "plain"), keys, packages, layers, [],
                      user=plain_user)
    try:
        assert set(worker_uids(host, "hello-world").values()) == {plain_user[0]}
        cases = {k: ATTEMPTS[k][0] for k in AS_PLAIN_USER}
        assert_contained(run_attempts(host, tmp_path, keys, cases))
        assert not (host.data_dir / "planted").exists()
    finally:
        host.stop()


def test_a_plain_user_host_reports_no_cgroups_and_can_insist_on_them(tmp_path, keys,
                                                                     packages, plain_user):
    """cgroup v1 needs root and this machine has no delegated cgroup v2 memory
    controller: a host run as a plain user says why it has no cgroups layer, and one
    that requires it refuses plugins rather than run them without it (the attempts in
    NEEDS_CGROUPS would get through, as docs/security/sandbox.md says)."""
    trusted = open_for_workers(tmp_path / "keys") / "trusted.pub"
    trusted.write_text(keys["pub"].read_text())
    trusted.chmod(0o644)
    host = Host(open_for_workers(tmp_path / "plain") / "host", trusted, user=plain_user,
                extra_args=["--sandbox-require", "cgroups"]).start()
    try:
        report = host.admin.get("/admin/sandbox").json()
        assert "cgroups" not in report["layers"]
        reason = report["machine"]["cgroups"]["reason"]
        assert report["machine"]["cgroups"]["available"] is False
        assert "not writable" in reason or "delegate" in reason, reason
        r = host.install(packages["hello-world"])
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "sandbox_unavailable"
        assert "requires sandbox layer(s) cgroups" in r.json()["error"]["message"]
        assert set(ATTEMPTS) >= NEEDS_CGROUPS
    finally:
        host.stop()


def test_without_the_cgroups_layer_these_attacks_get_through(tmp_path, keys, packages):
    """The attempts in NEEDS_CGROUPS are real: with bubblewrap and seccomp but no cgroups
    layer (a host run as a plain user here) each one succeeds. This is the gap
    docs/security/sandbox.md states, and the reason to require cgroups in production."""
    host = start_host(tmp_path, keys, packages, ["bubblewrap", "seccomp"], [])
    try:
        outcomes = run_attempts(host, tmp_path, keys,
                                {k: ATTEMPTS[k][0] for k in sorted(NEEDS_CGROUPS)})
        assert {k: v.get("escaped") for k, v in outcomes.items()} == \
            dict.fromkeys(NEEDS_CGROUPS, True), outcomes
    finally:
        host.stop()
