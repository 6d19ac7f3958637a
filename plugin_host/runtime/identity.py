"""Who a worker is outside its namespaces: never root. A host running as root switches
each worker to ``worker_uid``/``worker_gid`` before anything else runs; ``unreachable``
says why that uid could not reach a path the worker needs."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import PluginHostError

#: who workers run as when the host runs as root (``nobody``); never root itself
DEFAULT_WORKER_UID = DEFAULT_WORKER_GID = 65534


@dataclass(frozen=True)
class Identity:
    """Who a worker is outside its namespaces. A host running as root switches each
    worker to ``uid``/``gid`` (no groups, no capabilities) before anything else runs, so
    no worker is ever real root; a host running as a plain user gives workers its own
    uid (there is nothing to switch to), which bubblewrap maps to 65534 inside."""

    uid: int = DEFAULT_WORKER_UID
    gid: int = DEFAULT_WORKER_GID

    def __post_init__(self) -> None:
        if self.uid == 0 or self.gid == 0:
            raise PluginHostError("worker_uid and worker_gid must not be 0 (root)",
                                  code="bad_setting")

    @property
    def switches(self) -> bool:
        return os.geteuid() == 0

    @property
    def effective_uid(self) -> int:
        return self.uid if self.switches else os.geteuid()

    def prefix(self) -> list[str]:
        """The command that drops to the worker's identity (empty if not root)."""
        if not self.switches:
            return []
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--"]


def unreachable(path: str, uid: int, gid: int) -> str | None:
    """Why ``uid``/``gid`` (no other groups) cannot reach and read ``path``; None if it
    can."""
    target = Path(path)
    for d in [*reversed(target.parents), target]:
        try:
            st = d.stat()
        except OSError as e:
            return f"{d}: {e.strerror}"
        need = stat.S_IXUSR if st.st_uid == uid else stat.S_IXGRP if st.st_gid == gid \
            else stat.S_IXOTH
        if d == target:
            need |= need << 2  # read as well as search
        if d.is_dir() and st.st_mode & need != need:
            return f"{d} is mode {stat.filemode(st.st_mode)}, owned by uid {st.st_uid}"
    return None


#: the identity of a host that sets no worker_uid
DEFAULT_IDENTITY = Identity()
