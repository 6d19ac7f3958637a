"""A worker's scratch folder outside bubblewrap (Landlock mode): a fresh folder below the
plugin's data folder, its working directory and ``TMPDIR``, removed with the worker.

When the host runs as root the folder is a tmpfs of its own, capped at the same size as
bubblewrap's ``/tmp`` (64 MiB), owned by the worker's uid, ``nosuid,nodev,noexec``: a
plugin cannot fill the host's disk, and what it writes is memory the cgroups layer
counts. A host running as a plain user cannot mount; its workers' scratch is a plain
folder on disk, capped per file (64 MiB) but not in total (docs/security/sandbox.md).

A host killed outright leaves mounted scratch folders behind; :func:`sweep` detaches and
removes them at the next start.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
from pathlib import Path

MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


def cap(folder: Path, size: int, uid: int, gid: int) -> None:
    """Mount a ``size``-byte tmpfs owned by uid/gid on ``folder`` (root only)."""
    options = f"size={size},mode=0700,uid={uid},gid={gid}".encode()
    if _libc.mount(b"tmpfs", os.fsencode(folder), b"tmpfs",
                   MS_NOSUID | MS_NODEV | MS_NOEXEC, options) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"cannot mount the worker's scratch tmpfs: {os.strerror(err)}",
                      str(folder))


def release(folder: Path) -> None:
    """Detach the scratch tmpfs if there is one, and remove the folder."""
    if os.path.ismount(folder):
        _libc.umount2(os.fsencode(folder), MNT_DETACH)
    shutil.rmtree(folder, ignore_errors=True)


def _mounts_below(root: Path) -> list[Path]:
    prefix = str(root.resolve()) + "/"
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix):
                found.append(Path(point))
    return found


def sweep(root: Path) -> list[str]:
    """At start, before any worker runs: every scratch folder left by a host that was
    killed (mounted or not) goes."""
    removed = []
    for point in sorted(_mounts_below(root), reverse=True):
        _libc.umount2(os.fsencode(point), MNT_DETACH)
        removed.append(str(point))
    if root.is_dir():
        for plugin in root.iterdir():
            for folder in plugin.glob("w-*") if plugin.is_dir() else []:
                shutil.rmtree(folder, ignore_errors=True)
                if str(folder) not in removed:
                    removed.append(str(folder))
    return removed
