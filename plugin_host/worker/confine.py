"""What a worker does to itself before it imports plugin code: rlimits, Landlock, seccomp.

The host decides the layers (plugin_host/runtime/sandbox.py) and sends them in ``init``;
the worker applies them in this order, each irreversible for the process:

1. rlimits: address space, open files, file size, core dumps;
2. Landlock (when the host asks, i.e. bubblewrap is absent): the file system shrinks to
   read-only runtime paths plus the plugin's private data and tmp folders;
3. seccomp: no new sockets (the channel is already open; socketpairs for in-process
   use), no connecting, binding or listening, no io_uring (it would bypass the rest), no
   new processes or exec, no signals, pidfds, rlimits, scheduling or priorities of other
   processes, no ptrace, mount, namespaces, bpf, keyrings, kexec, modules, personality,
   no memfds (memory RLIMIT_AS would not count).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import resource
import sys
from typing import Any

RLIMITS = {"address_space": resource.RLIMIT_AS, "open_files": resource.RLIMIT_NOFILE,
           "file_size": resource.RLIMIT_FSIZE, "core": resource.RLIMIT_CORE}


class ConfineError(Exception):
    """A layer the host asked for could not be applied: the worker must not go on."""


def apply_rlimits(limits: dict[str, int]) -> None:
    """Lower this process's rlimits (never raise them)."""
    for name, value in limits.items():
        which = RLIMITS[name]
        _soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))


# ---- seccomp --------------------------------------------------------------------

#: Refused outright with EPERM.
DENIED_SYSCALLS = [
    "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root",
    "chroot", "unshare", "setns", "bpf", "keyctl", "add_key", "request_key", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "personality",
    "reboot", "swapon", "swapoff", "perf_event_open", "userfaultfd", "open_by_handle_at",
    "name_to_handle_at", "fork", "vfork", "execve", "execveat", "acct", "quotactl",
    "syslog", "settimeofday", "clock_settime", "adjtimex", "iopl", "ioperm",
    "mount_setattr", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig",
    # io_uring performs socket, open and other calls without the filter seeing them
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    # other processes: signals through pidfds, their memory, scheduling, priorities
    "pidfd_open", "pidfd_send_signal", "pidfd_getfd", "kcmp", "process_madvise",
    "process_mrelease", "sched_setscheduler", "sched_setparam", "sched_setattr",
    "setpriority", "ioprio_set", "migrate_pages", "move_pages",
    # the network: the channel is connected already; nothing else is needed
    "connect", "bind", "listen", "accept", "accept4",
    # memory the address-space limit does not count
    "memfd_create", "memfd_secret",
]
AF_UNIX = 1
CLONE_THREAD = 0x00010000


def _load_seccomp() -> Any:
    # Finding libseccomp may run ldconfig: do it before Landlock narrows the file system.
    try:
        import pyseccomp
    except (ImportError, OSError, RuntimeError) as e:
        raise ConfineError(f"seccomp: {e}") from None
    return pyseccomp


def apply_seccomp() -> None:
    """Install the worker's seccomp filter (default: allow; the list above: refuse)."""
    sc = _load_seccomp()
    pid = os.getpid()
    f = sc.SyscallFilter(defaction=sc.ALLOW)
    eperm = sc.ERRNO(errno.EPERM)
    for name in DENIED_SYSCALLS:
        with contextlib.suppress(RuntimeError, ValueError, OSError):
            f.add_rule(eperm, name)  # may not be a syscall on this architecture
    # Sockets: none new (the channel is already open); AF_UNIX pairs for in-process use.
    f.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), "socket")
    f.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), "socketpair", sc.Arg(0, sc.NE, AF_UNIX))
    # New processes: threads only. clone3 says "no such call" so libc falls back to clone,
    # whose flags a filter can see.
    f.add_rule(sc.ERRNO(errno.EPERM), "clone",
               sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    # Signals: only to itself, by any of the calls that send one.
    f.add_rule(sc.ERRNO(errno.EPERM), "kill", sc.Arg(0, sc.NE, pid))
    f.add_rule(sc.ERRNO(errno.EPERM), "tgkill", sc.Arg(0, sc.NE, pid))
    f.add_rule(sc.ERRNO(errno.EPERM), "rt_sigqueueinfo", sc.Arg(0, sc.NE, pid))
    f.add_rule(sc.ERRNO(errno.EPERM), "rt_tgsigqueueinfo", sc.Arg(0, sc.NE, pid))
    f.add_rule(sc.ERRNO(errno.EPERM), "tkill")
    # Limits and CPUs: only its own (0 is "this process")
    f.add_rule(sc.ERRNO(errno.EPERM), "prlimit64", sc.Arg(0, sc.NE, 0))
    f.add_rule(sc.ERRNO(errno.EPERM), "sched_setaffinity", sc.Arg(0, sc.NE, 0))
    try:
        f.load()
    except OSError as e:
        raise ConfineError(f"seccomp: {e}") from None


# ---- Landlock -------------------------------------------------------------------

SYS_LANDLOCK = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38
# access rights by the ABI that introduced them
FS_READ = 0x1 | 0x4 | 0x8  # execute, read_file, read_dir
FS_WRITE_V1 = 0x2 | 0x10 | 0x20 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800 | 0x1000
FS_REFER_V2 = 0x2000
FS_TRUNCATE_V3 = 0x4000
FS_IOCTL_DEV_V5 = 0x8000
NET_BIND_TCP, NET_CONNECT_TCP = 0x1, 0x2
#: ABI 6: no connecting to abstract Unix sockets, no signals, outside the sandbox
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 0x1, 0x2
#: The rights that apply to a single file (the others concern directories).
FILE_RIGHTS = 0x1 | 0x2 | 0x4 | FS_TRUNCATE_V3 | FS_IOCTL_DEV_V5


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64),
                ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 if there is none."""
    nums = SYS_LANDLOCK.get(os.uname().machine)
    if nums is None:
        return 0
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    v = libc.syscall(nums[0], None, ctypes.c_size_t(0),
                     ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return max(int(v), 0)


def apply_landlock(read_paths: list[str], write_paths: list[str]) -> int:
    """Confine the file system to these paths; returns the ABI used."""
    abi = landlock_abi()
    if abi < 1:
        raise ConfineError("landlock: not supported by this kernel")
    create, add_rule, restrict = SYS_LANDLOCK[os.uname().machine]
    fs_all = FS_READ | FS_WRITE_V1
    if abi >= 2:
        fs_all |= FS_REFER_V2
    if abi >= 3:
        fs_all |= FS_TRUNCATE_V3
    if abi >= 5:
        fs_all |= FS_IOCTL_DEV_V5
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    attr = _RulesetAttr(fs_all, net, scoped)
    size = (ctypes.sizeof(_RulesetAttr) if abi >= 6 else 2 * ctypes.sizeof(ctypes.c_uint64)
            if abi >= 4 else ctypes.sizeof(ctypes.c_uint64))
    ruleset = libc.syscall(create, ctypes.byref(attr), ctypes.c_size_t(size),
                           ctypes.c_uint32(0))
    if ruleset < 0:
        raise ConfineError(f"landlock: create_ruleset: {os.strerror(ctypes.get_errno())}")
    try:
        for paths, access in ((read_paths, FS_READ), (write_paths, fs_all)):
            for path in paths:
                if not os.path.exists(path):
                    continue
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                try:
                    allowed = access if os.path.isdir(path) else access & FILE_RIGHTS
                    rule = _PathBeneath(allowed, fd)
                    if libc.syscall(add_rule, ctypes.c_int(ruleset),
                                    ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
                                    ctypes.byref(rule), ctypes.c_uint32(0)) < 0:
                        raise ConfineError(f"landlock: add_rule {path}: "
                                           f"{os.strerror(ctypes.get_errno())}")
                finally:
                    os.close(fd)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise ConfineError("landlock: cannot set no_new_privs")
        if libc.syscall(restrict, ctypes.c_int(ruleset), ctypes.c_uint32(0)) < 0:
            raise ConfineError(f"landlock: restrict_self: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(ruleset)
    return abi


def preload() -> None:
    """Import what confining needs before the plugin is known (a spare worker waits
    with it loaded, so its start is the plugin's import, not libseccomp's)."""
    with contextlib.suppress(ConfineError):  # said at confine() if it is wanted
        _load_seccomp()


def confine(spec: dict[str, Any]) -> list[str]:
    """Apply what ``init["confine"]`` asks for; returns the layers now in force here."""
    applied = []
    if spec.get("seccomp"):
        _load_seccomp()
    apply_rlimits(spec.get("rlimits") or {})
    applied.append("rlimits")
    landlock = spec.get("landlock")
    if landlock:
        apply_landlock(landlock["read"], landlock["write"])
        applied.append("landlock")
    if spec.get("seccomp"):
        apply_seccomp()
        applied.append("seccomp")
    sys.dont_write_bytecode = True
    return applied
