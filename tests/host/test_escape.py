"""The escape suite: one plugin per attempt, each contained, while hello-world answers.

Every attempt runs in a real sandboxed worker. A plugin's /attempt route returns
``{"escaped": true, ...}`` only if the forbidden thing worked. The suite runs with every
layer the machine offers, and the file-system attempts again with Landlock standing in
for bubblewrap. In CI a missing layer fails the suite: the host is started with
``sandbox_require`` naming every layer it expects.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from ops.processes import open_for_workers

from ..support.plugins import signed
from ..support.servers import Host
from ..support.waiting import Prober, wait_until

TEMPLATE = '''
[plugin]
name = "escape-{slug}"
version = "1.0.0"
summary = "Tries to {slug}"
authors = ["Tests <tests@example.org>"]
license = "MIT"
host_api = "^1.0"

[backend]
entry = "escape:plugin"

[permissions]
network = ["covers.openlibrary.org:443"]

[resources]
memory = "64MiB"
timeout_ms = 1500
'''

CODE = '''
import ctypes, errno, os, signal, socket, subprocess, time
from plugin_host.sdk import Plugin

plugin = Plugin()


@plugin.route("POST", "/attempt")
def attempt(request, ctx):
    args = request.json() or {{}}
    try:
        result = run(args, ctx)
    except BaseException as e:
        return {{"escaped": False, "error": f"{{type(e).__name__}}: {{e}}"}}
    return {{"escaped": True, "result": repr(result)[:200]}}


def run(args, ctx):
{body}
'''

# name → (body of run(args, ctx), needs a file system layer only)
ATTEMPTS = {
    "read-etc-shadow": ('return open("/etc/shadow").read()', True),
    "read-host-database": ('return open(args["host_db"], "rb").read(64)', True),
    "read-admin-token": ('return open(args["admin_token"]).read()', True),
    "read-trusted-key": ('return open(args["trusted_key"]).read()', True),
    "read-other-plugin-data": ('return open(args["other_data"]).read()', True),
    "write-own-code": ('for p in ("/plugin/escape/__init__.py",\n'
                       '              os.path.join(args["code_dir"], "escape", "__init__.py")):\n'
                       '        try:\n'
                       '            open(p, "a").write("#")\n'
                       '            return p\n'
                       '        except OSError as e:\n'
                       '            err = e\n'
                       '    raise err', True),
    "write-host-data": ('open(os.path.join(args["host_data"], "planted"), "w").write("x")',
                        True),
    "write-usr": ('open("/usr/planted", "w").write("x")', True),
    "symlink-out": ('os.symlink(args["admin_token"], "link")\n'
                    '    return open("link").read()', True),
    "tcp-connect": ('return socket.create_connection(("127.0.0.1", args["host_port"]), 1)',
                    False),
    "udp-send": ('s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n'
                 '    return s.sendto(b"x", ("127.0.0.1", 53))', False),
    "raw-socket": ('return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)',
                   False),
    "dns-lookup": ('return socket.getaddrinfo("example.org", 443)', False),
    "http-outside-allow-list": ('return ctx.http.get("https://example.org/").status', False),
    "http-loopback": ('return ctx.http.get(f"http://127.0.0.1:{args[\'host_port\']}/").status',
                      False),
    "http-metadata": ('return ctx.http.get("http://169.254.169.254/latest/meta-data/").status',
                      False),
    "fork-bomb": ('for _ in range(50):\n'
                  '        if os.fork() == 0:\n'
                  '            os._exit(0)', False),
    "exec-shell": ('return subprocess.run(["/bin/sh", "-c", "id"], capture_output=True)',
                   False),
    "execv-shell": ('os.execv("/bin/sh", ["sh", "-c", "id"])', False),
    "ptrace-host": ('libc = ctypes.CDLL(None, use_errno=True)\n'
                    '    if libc.ptrace(16, args["host_pid"], 0, 0) != 0:\n'
                    '        raise OSError(ctypes.get_errno(), "ptrace refused")', False),
    "signal-host": ('os.kill(args["host_pid"], signal.SIGTERM)', False),
    "read-host-environment": ('return open(f"/proc/{args[\'host_pid\']}/environ", "rb").read()',
                              False),
    "see-host-secrets-in-env": ('leaked = [k for k in os.environ if "PLUGIN_HOST" in k]\n'
                                '    if not leaked:\n'
                                '        raise LookupError("nothing to see")\n'
                                '    return leaked', False),
    "fill-the-disk": ('for i in range(4096):\n'
                      '        with open(f"fill-{i}", "wb") as f:\n'
                      '            f.write(b"\\0" * (1024 * 1024))', False),
    "allocate-ten-times-memory": ('return len(bytearray(640 * 1024 * 1024))', False),
    "write-proc-sys": ('open("/proc/sys/kernel/core_pattern", "w").write("|/tmp/pwn")', True),
    "write-sysrq": ('open("/proc/sysrq-trigger", "w").write("h")', True),
    # resources outside the limits
    "fill-dev-shm": ('f = open("/dev/shm/fill", "wb")\n'
                     '    for _ in range(256):\n'
                     '        f.write(b"x" * (1024 * 1024))', False),
    "memfd-memory": ('fd = os.memfd_create("hoard")\n'
                     '    for _ in range(256):\n'
                     '        os.write(fd, b"x" * (1024 * 1024))\n'
                     '    return fd', False),
    # descriptors: only the channel, and output to the host's pipe, not its log
    "inherited-descriptors": ('import stat\n'
                              '    found = []\n'
                              '    for fd in range(3, 1024):\n'
                              '        try:\n'
                              '            st = os.fstat(fd)\n'
                              '        except OSError:\n'
                              '            continue\n'
                              '        if not stat.S_ISSOCK(st.st_mode):\n'
                              '            found.append(fd)\n'
                              '    for fd in (1, 2):\n'
                              '        if stat.S_ISREG(os.fstat(fd).st_mode):\n'
                              '            found.append(fd)\n'
                              '    if not found:\n'
                              '        raise LookupError("only the channel")\n'
                              '    return found', False),
    # syscalls that reach other processes or bypass the filter
    "io-uring": ('libc = ctypes.CDLL(None, use_errno=True)\n'
                 '    params = ctypes.create_string_buffer(120)\n'
                 '    fd = libc.syscall(425, 8, params)\n'
                 '    if fd < 0:\n'
                 '        raise OSError(ctypes.get_errno(), "io_uring_setup refused")\n'
                 '    return fd', False),
    "sigqueue-host": ('libc = ctypes.CDLL(None, use_errno=True)\n'
                      '    info = ctypes.create_string_buffer(128)\n'
                      '    if libc.syscall(129, args["host_pid"], 0, info) != 0:\n'
                      '        raise OSError(ctypes.get_errno(), "rt_sigqueueinfo refused")',
                      False),
    "pidfd-signal-host": ('libc = ctypes.CDLL(None, use_errno=True)\n'
                          '    pidfd = libc.syscall(434, args["host_pid"], 0)\n'
                          '    if pidfd < 0:\n'
                          '        raise OSError(ctypes.get_errno(), "pidfd_open refused")\n'
                          '    if libc.syscall(424, pidfd, 0, None, 0) != 0:\n'
                          '        raise OSError(ctypes.get_errno(), "pidfd_send_signal refused")',
                          False),
    "prlimit-host": ('import resource\n'
                     '    limit = resource.RLIMIT_NOFILE\n'
                     '    return resource.prlimit(args["host_pid"], limit, (8, 8))', False),
    "renice-host": ('os.setpriority(os.PRIO_PROCESS, args["host_pid"], 19)', False),
    "realtime-priority": ('os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))', False),
    "abstract-socket": ('s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n'
                        '    s.connect("\\0koha-test")\n'
                        '    return s', False),
}
#: what Landlock mode does not promise (docs/security/sandbox.md): its scratch folder is
#: on the host's disk, capped per file (64 MiB), not in total
NOT_IN_LANDLOCK_MODE = {"fill-the-disk"}
#: Attempts that do not return: the host cuts them off.
HANGS = {"endless-loop": "while True:\n        pass"}


def make_plugin(root: Path, slug: str, body: str) -> Path:
    src = root / f"escape-{slug}"
    (src / "escape").mkdir(parents=True)
    (src / "plugin.toml").write_text(TEMPLATE.format(slug=slug))
    (src / "escape" / "__init__.py").write_text(
        CODE.format(body="    " + body))  # later lines carry their own indent
    return src


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
    # the token file a host keeps when it generates its own admin token
    (host.data_dir / "admin-token").write_text("generated-admin-token\n")
    # something private of another plugin's, where a careless host would keep it
    other = host.data_dir / "plugin-data" / "book-notes"
    other.mkdir(parents=True, exist_ok=True)
    (other / "private.txt").write_text("book-notes only")
    return host


def targets(host: Host, code_dir: Path) -> dict:
    return {"host_db": str(host.data_dir / "host.db"),
            "admin_token": str(host.data_dir / "admin-token"),
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


def assert_contained(outcomes: dict[str, dict]) -> None:
    escaped = {k: v for k, v in outcomes.items() if v.get("escaped") is not False}
    assert escaped == {}, f"escaped or not answered: {escaped}"


@pytest.fixture(scope="module")
def full_host(tmp_path_factory, keys, packages):
    host = start_host(tmp_path_factory.mktemp("escape-full"), keys, packages, None,
                      ["bubblewrap", "seccomp"])
    yield host
    host.stop()


def test_every_escape_is_contained(full_host, tmp_path, keys):
    info = full_host.admin.get("/admin/plugins/hello-world").json()
    layers = info["sandbox"]["layers"]
    outcomes = run_attempts(full_host, tmp_path, keys, {k: b for k, (b, _) in ATTEMPTS.items()})
    assert_contained(outcomes)
    if "bubblewrap" in layers:
        assert "No such file or directory" in outcomes["read-etc-shadow"]["error"]
        assert "No space left on device" in outcomes["fill-the-disk"]["error"]
    if "seccomp" in layers:
        assert "Operation not permitted" in outcomes["fork-bomb"]["error"]
        assert "Operation not permitted" in outcomes["execv-shell"]["error"]
    assert "MemoryError" in outcomes["allocate-ten-times-memory"]["error"]
    for name in ("http-outside-allow-list", "http-loopback", "http-metadata"):
        assert "not in permissions.network" in outcomes[name]["error"], outcomes[name]
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
    host = start_host(tmp_path, keys, packages, ["landlock", "seccomp"],
                      ["landlock", "seccomp"])
    try:
        layers = host.admin.get("/admin/plugins/hello-world").json()["sandbox"]["layers"]
        assert {"landlock", "seccomp"} <= set(layers)
        assert "bubblewrap" not in layers
        cases = {k: b for k, (b, _fs) in ATTEMPTS.items() if k not in NOT_IN_LANDLOCK_MODE}
        outcomes = run_attempts(host, tmp_path, keys, cases)
        assert_contained(outcomes)
        for name in ("read-etc-shadow", "read-host-database", "read-admin-token",
                     "read-other-plugin-data", "write-host-data", "symlink-out"):
            assert "Permission denied" in outcomes[name]["error"], outcomes[name]
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
    assert set(report["machine"]) == {"bubblewrap", "seccomp", "landlock"}
    for info in report["machine"].values():
        assert info["available"] is (info["reason"] is None)
    out = subprocess.run([sys.executable, "-m", "plugin_host.cli", "sandbox", "--json"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["machine"] == report["machine"]
    if os.environ.get("CI") == "true":
        assert report["machine"]["bubblewrap"]["available"]
        assert report["machine"]["seccomp"]["available"]


def worker_uids(host: Host, plugin: str) -> dict[int, int]:
    """pid → real uid of every process of a plugin's workers (their sessions), seen from
    outside, where it matters."""
    leaders = {w["pid"] for w in host.admin.get(f"/admin/plugins/{plugin}").json()
               ["runtime"]["workers"]}
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if int(stat_fields[3]) in leaders:  # its session is a worker's
            found[int(entry.name)] = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
    return found


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


#: the attempts that depend on who runs the host: its files, its processes
AS_PLAIN_USER = ["read-host-database", "read-admin-token", "write-host-data", "write-own-code",
                 "signal-host", "ptrace-host", "prlimit-host", "renice-host",
                 "read-host-environment", "sigqueue-host", "pidfd-signal-host",
                 "write-proc-sys", "tcp-connect", "exec-shell", "memfd-memory",
                 "inherited-descriptors"]


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
