"""Plugins' key-value data in the host's database (``ctx.kv``): msgpack values per plugin,
counted against the plugin's byte quota."""

from __future__ import annotations

from typing import Any

import msgpack
from sqlalchemy import delete, func, select
from sqlalchemy.orm import sessionmaker

from ..protocol.capabilities import CapabilityPolicy
from .db import KVEntry


class KVStore:
    def __init__(self, sessions: sessionmaker):
        self.sessions = sessions

    def get(self, plugin: str, key: str) -> tuple[bool, Any]:
        with self.sessions() as s:
            e = s.get(KVEntry, (plugin, key))
            return (True, msgpack.unpackb(e.value, raw=False)) if e else (False, None)

    def set(self, plugin: str, key: str, value: Any, policy: CapabilityPolicy) -> None:
        """Write ``key``; refused (CapabilityRefused) past the plugin's quota."""
        data = msgpack.packb(value, use_bin_type=True)
        size = len(key.encode()) + len(data)
        with self.sessions.begin() as s:
            used = s.scalar(select(func.coalesce(func.sum(KVEntry.size), 0))
                            .where(KVEntry.plugin == plugin, KVEntry.key != key))
            policy.check_quota(used, size)
            e = s.get(KVEntry, (plugin, key))
            if e:
                e.value, e.size = data, size
            else:
                s.add(KVEntry(plugin=plugin, key=key, value=data, size=size))

    def delete(self, plugin: str, key: str) -> bool:
        with self.sessions.begin() as s:
            return s.execute(delete(KVEntry).where(KVEntry.plugin == plugin,
                                                   KVEntry.key == key)).rowcount > 0

    def keys(self, plugin: str, prefix: str) -> list[str]:
        with self.sessions() as s:
            q = select(KVEntry.key).where(KVEntry.plugin == plugin).order_by(KVEntry.key)
            return [k for k in s.scalars(q) if k.startswith(prefix)]

    def usage(self, plugin: str) -> int:
        with self.sessions() as s:
            return s.scalar(select(func.coalesce(func.sum(KVEntry.size), 0))
                            .where(KVEntry.plugin == plugin))

    def usage_by_plugin(self) -> dict[str, int]:
        with self.sessions() as s:
            q = select(KVEntry.plugin, func.sum(KVEntry.size)).group_by(KVEntry.plugin)
            return {plugin: int(total) for plugin, total in s.execute(q)}

    def purge(self, plugin: str) -> None:
        with self.sessions.begin() as s:
            s.execute(delete(KVEntry).where(KVEntry.plugin == plugin))
