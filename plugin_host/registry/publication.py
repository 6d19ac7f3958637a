"""Publishing the signed index: the index document (``index.json``) built from the
approved releases, the package targets, and the TUF metadata over them, written to
storage inside the transaction that changed the catalogue (if storage fails, the change
is rolled back too)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from ..package.index import INDEX_TARGET, IndexDocument, IndexPlugin, IndexRelease, package_target
from .db import Account, PluginRecord, PublisherKey, Release
from .index import TufIndex, target_key
from .records import package_file
from .settings import RegistrySettings
from .storage import Storage, StorageError, open_index_storage, open_storage

log = structlog.get_logger("registry")

#: PostgreSQL advisory lock id: one index publisher at a time across replicas
PUBLISH_LOCK = 7243


class IndexPublisher:
    def __init__(self, settings: RegistrySettings, sessions: sessionmaker,
                 storage: Storage | None = None):
        self.settings = settings
        self.sessions = sessions
        #: uploads and packages in review; ``index_storage``: what hosts read
        self.storage = storage or open_storage(settings)
        self.index_storage = open_index_storage(settings, self.storage)
        self.index = TufIndex.from_settings(self.index_storage, settings)

    def check_storage(self) -> None:
        """Before serving: storage is usable and the index keys match its root (a clear
        error otherwise, before the registry accepts anything)."""
        self.storage.check()
        if self.index_storage is not self.storage:
            self.index_storage.check()
        if self.settings.tuf_keys_secret:
            self.index.keys.load_secret(self.settings.tuf_keys_secret)
        else:
            first = self.index.root() is None  # a new index: its keys are made here
            self.index.keys.load(generate=first, need_root=first)
        self.index.ensure_root()

    def release_package(self, key: str) -> None:
        """An approved package goes where hosts read (when that is another bucket)."""
        if self.index_storage is self.storage:
            return
        data = self.storage.get(key)
        if data is None:
            raise StorageError(f"{key} is missing from {self.storage.description}")
        self.index_storage.put(key, data, "application/zip")

    def _released_missing(self) -> list[str]:
        """Approved packages the index storage lacks (a new index bucket, or an approval
        killed between copying and committing): copied now."""
        if self.index_storage is self.storage:
            return []
        with self.sessions() as s:
            approved = set(s.scalars(select(Release.path).where(Release.state == "approved")))
        present = {key for key, _ in self.index_storage.list("targets/packages/")}
        for key in sorted(approved - present):
            self.release_package(key)
        return sorted(approved - present)

    def start(self) -> None:
        """Move packages kept by older versions (files in data_dir/packages) into
        storage, and make sure a signed index exists (an empty one on first start) so
        hosts can read it from the beginning."""
        moved = self._adopt_old_package_files()
        copied = self._released_missing()
        current = self.index.current()
        with self.sessions() as s:
            stale = moved or copied or "timestamp" not in current or self._differs(s, current)
            if stale:  # e.g. an approval killed after writing the index, before commit
                self.publish(s)
        removed = self._remove_stray_files()
        if stale or removed:
            log.warning("index.reconciled", republished=bool(stale), removed=removed,
                        reason="the index or stored files did not match the database")
        self.index.update_expiry_metric()

    def _differs(self, s: Session, current: dict[str, Any]) -> bool:
        """Does the published index.json say other than the database?"""
        targets = current.get("targets")
        listed = targets.signed.targets.get(INDEX_TARGET) if targets else None
        doc, _ = self.document(s)
        return listed is None or listed.hashes.get("sha256") != \
            hashlib.sha256(doc.to_json()).hexdigest()

    def _remove_stray_files(self) -> list[str]:
        """Package files no release refers to (a publish killed between storing the file
        and committing its row) and half-written temporary files. With several
        registries on one PostgreSQL database another may be mid-publish: there only
        files older than an hour go."""
        with self.sessions() as s:
            known = set(s.scalars(select(Release.path)))
            several = s.bind.dialect.name == "postgresql"
        cutoff = time.time() - (3600 if several else 0)
        removed = []
        for key, written in list(self.storage.list("targets/packages/")):
            base = key.rsplit("/", 1)[-1]
            temporary = base.startswith(".") and base.endswith(".tmp")
            if (key not in known or temporary) and written <= cutoff:
                self.storage.delete(key)
                removed.append(key)
        for prefix in ("metadata/", "targets/"):  # the index's own writes cut short
            for key, written in list(self.index_storage.list(prefix)):
                base = key.rsplit("/", 1)[-1]
                if base.startswith(".") and base.endswith(".tmp") and written <= cutoff:
                    self.index_storage.delete(key)
                    removed.append(key)
        return removed

    def _adopt_old_package_files(self) -> int:
        moved = 0
        with self.sessions.begin() as s:
            for r in s.scalars(select(Release).where(Release.path.like("/%"))):
                old = Path(r.path)
                if not old.is_file():
                    continue
                key = target_key(package_target(r.plugin, old.name), r.sha256)
                self.storage.put(key, old.read_bytes(), "application/zip")
                r.path = key
                moved += 1
        return moved

    def refresh(self) -> list[str]:
        """Re-sign any role past half its lifetime; the roles re-signed."""
        roles = self.index.refresh()
        self.index.update_expiry_metric()
        return roles

    def status(self) -> dict[str, Any]:
        return {**self.index.status(), "url": self.settings.index_url}

    @staticmethod
    def document(s: Session) -> tuple[IndexDocument, dict[str, tuple[int, str]]]:
        """The index document and the package targets (path → (length, sha256)) of the
        approved releases visible in session ``s``."""
        owners = {a.id: a.name for a in s.scalars(select(Account))}
        records = {p.name: p for p in s.scalars(select(PluginRecord))}
        doc = IndexDocument()
        packages: dict[str, tuple[int, str]] = {}
        signers: set[str] = set()
        for r in s.scalars(select(Release).where(Release.state == "approved")
                           .order_by(Release.plugin, Release.version)):
            p = records[r.plugin]
            entry = doc.plugins.get(r.plugin)
            if entry is None:
                entry = doc.plugins[r.plugin] = IndexPlugin(
                    summary=p.summary, tags=p.tags or [], deprecated=p.deprecated,
                    publisher=owners.get(p.owner_id))
            target = package_target(r.plugin, package_file(r))
            entry.releases[r.version] = IndexRelease(
                host_api=r.host_api, dependencies=r.dependencies, yanked=r.yanked,
                sha256=r.sha256, size=r.size, signer=r.signer, target=target)
            packages[target] = (r.size, r.sha256)
            signers.add(r.signer)
        doc.keys = {k.keyid: k.public_pem for k in s.scalars(
            select(PublisherKey).where(PublisherKey.keyid.in_(signers)))}
        return doc, packages

    def publish(self, s: Session) -> None:
        """Publish the index from session ``s`` (inside its transaction)."""
        if s.bind.dialect.name == "postgresql":
            s.execute(text(f"SELECT pg_advisory_xact_lock({PUBLISH_LOCK})"))
        s.flush()
        doc, packages = self.document(s)
        self.index.publish(doc, packages)
        self.index.update_expiry_metric()
