"""Plugin secrets set through the admin API (``PUT /admin/plugins/NAME/secrets/SECRET``):
kept in the host's database encrypted (Fernet: AES-128-CBC with an HMAC-SHA256) with the
host's secrets key, and never returned by any route.

The key is the setting ``secrets_key`` (which may name a secret: aws-sm://, gcp-sm://,
file://) or, without it, ``DATA_DIR/secrets.key`` made on first use (mode 0600). Hosts
sharing one database (a fleet) must share the key: a secret written with another key is
reported as such and reads as not set.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, select
from sqlalchemy.orm import sessionmaker

from .db import PluginSecret

#: a value read from the database is reused this long (a fleet's other hosts see a
#: change within it)
CACHE_SECONDS = 5.0


def load_key(configured: str | None, data_dir: Path) -> bytes:
    """The Fernet key: the configured one, else the host's own file (made once)."""
    if configured:
        key = configured.strip().encode()
    else:
        path = data_dir / "secrets.key"
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as f:
                    f.write(Fernet.generate_key() + b"\n")
        key = path.read_bytes().strip()
    try:
        Fernet(key)
    except ValueError:
        from ..errors import PluginHostError
        raise PluginHostError("secrets_key: not a Fernet key (32 url-safe base64 bytes; "
                              "make one with `python -c 'from cryptography.fernet import "
                              "Fernet; print(Fernet.generate_key().decode())'`)",
                              code="bad_setting") from None
    return key


class SecretStore:
    def __init__(self, sessions: sessionmaker, key: bytes):
        self.sessions = sessions
        self.fernet = Fernet(key)
        self._cache: dict[tuple[str, str], tuple[float, str | None]] = {}

    def set(self, plugin: str, name: str, value: str) -> None:
        token = self.fernet.encrypt(value.encode())
        with self.sessions.begin() as s:
            row = s.get(PluginSecret, (plugin, name))
            if row is None:
                s.add(PluginSecret(plugin=plugin, name=name, value=token,
                                   updated_at=datetime.now(UTC)))
            else:
                row.value, row.updated_at = token, datetime.now(UTC)
        self._cache.pop((plugin, name), None)

    def unset(self, plugin: str, name: str) -> bool:
        with self.sessions.begin() as s:
            gone = s.execute(delete(PluginSecret).where(
                PluginSecret.plugin == plugin, PluginSecret.name == name)).rowcount > 0
        self._cache.pop((plugin, name), None)
        return gone

    def purge(self, plugin: str) -> None:
        with self.sessions.begin() as s:
            s.execute(delete(PluginSecret).where(PluginSecret.plugin == plugin))
        for key in [k for k in self._cache if k[0] == plugin]:
            self._cache.pop(key, None)

    def get(self, plugin: str, name: str) -> str | None:
        """The value, or None (not set here, or written with another key)."""
        cached = self._cache.get((plugin, name))
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        with self.sessions() as s:
            row = s.get(PluginSecret, (plugin, name))
            token = row.value if row else None
        try:
            value = self.fernet.decrypt(token).decode() if token else None
        except InvalidToken:
            value = None
        self._cache[(plugin, name)] = (time.monotonic(), value)
        return value

    def status(self, plugin: str) -> dict[str, str]:
        """name → "set", or "unreadable" (written with another host's key)."""
        with self.sessions() as s:
            rows = list(s.scalars(select(PluginSecret).where(PluginSecret.plugin == plugin)))
        out = {}
        for row in rows:
            try:
                self.fernet.decrypt(row.value)
                out[row.name] = "set"
            except InvalidToken:
                out[row.name] = "unreadable"
        return out
