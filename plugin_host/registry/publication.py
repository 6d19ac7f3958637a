"""Publishing the signed index: a document per plugin (``plugins/<name>.json``) built from
its approved releases, and the TUF metadata over them, written to storage inside the
transaction that changed the catalogue (if storage fails, the change is rolled back
too). A change publishes only the plugins it touched; start-up compares the whole
catalogue with what is published and puts right any difference."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Text, select, text, type_coerce
from sqlalchemy.orm import Session, sessionmaker

from ..package.index import FORMAT, document_bytes, package_target
from .db import Account, PluginRecord, PublisherKey, Release
from .index import TufIndex, target_key
from .records import stored_file
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
        storage, and make the signed index say what the database says (an empty index on
        first start, so hosts can read it from the beginning; after an approval killed
        between writing the index and committing, the index without it)."""
        self._adopt_old_package_files()
        self._released_missing()
        with self.sessions() as s:
            republished = self.publish(s) is not None
        removed = self._remove_stray_files()
        if republished or removed:
            log.warning("index.reconciled", republished=republished, removed=removed,
                        reason="the index or stored files did not match the database")
        self.index.update_expiry_metric()

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
    def documents(s: Session, names: list[str] | None = None) -> dict[str, bytes]:
        """The document (:func:`document_bytes` of a :class:`PluginDocument`) of each
        plugin with an approved release visible in session ``s`` (of ``names`` only,
        when given). Built as plain data from plain rows: at 500,000 releases the
        models and the ORM took three quarters of a registry's start."""
        c = s.connection()
        owners = dict(c.execute(select(Account.id, Account.name)).all())
        plugins = select(PluginRecord.name, PluginRecord.summary, PluginRecord.tags,
                         PluginRecord.deprecated, PluginRecord.owner_id)
        rows = select(Release.plugin, Release.version, Release.host_api,
                      type_coerce(Release.dependencies, Text), Release.yanked,
                      Release.sha256, Release.size, Release.signer, Release.path) \
            .where(Release.state == "approved")
        if names is not None:
            plugins = plugins.where(PluginRecord.name.in_(names))
            rows = rows.where(Release.plugin.in_(names))
        records = {r.name: r for r in c.execute(plugins)}
        docs: dict[str, dict[str, Any]] = {}
        signers: dict[str, set[str]] = {}
        for plugin, version, host_api, deps, yanked, sha, size, signer, path in c.execute(rows):
            doc = docs.get(plugin)
            if doc is None:
                p = records[plugin]
                doc = docs[plugin] = {
                    "format": FORMAT, "name": plugin, "summary": p.summary,
                    "tags": _json(p.tags) or [], "deprecated": p.deprecated,
                    "publisher": owners.get(p.owner_id), "releases": {}, "keys": {}}
            doc["releases"][version] = {
                "host_api": host_api, "dependencies": _json(deps) or {},
                "yanked": bool(yanked), "sha256": sha, "size": size, "signer": signer,
                "target": package_target(plugin, stored_file(path))}
            signers.setdefault(signer, set()).add(plugin)
        for keyid, pem in c.execute(select(PublisherKey.keyid, PublisherKey.public_pem)
                                    .where(PublisherKey.keyid.in_(list(signers)))):
            for name in signers[keyid]:
                docs[name]["keys"][keyid] = pem
        return {name: document_bytes(doc) for name, doc in docs.items()}

    def publish(self, s: Session, names: list[str] | None = None) -> int | None:
        """Publish the documents of plugins ``names`` (every plugin when None: the
        whole catalogue compared with the published index) from session ``s``, inside its
        transaction. Returns the new snapshot version (None: nothing differed)."""
        if s.bind.dialect.name == "postgresql":
            s.execute(text(f"SELECT pg_advisory_xact_lock({PUBLISH_LOCK})"))
        s.flush()
        bodies: dict[str, bytes | None] = dict(self.documents(s, names))
        for name in names or ():
            bodies.setdefault(name, None)  # nothing approved any more: not listed
        version = self.index.publish(bodies, everything=names is None)
        self.index.update_expiry_metric()
        return version


def _json(value: Any) -> Any:
    """A JSON column as read without its type (text on SQLite, parsed on PostgreSQL)."""
    if isinstance(value, str):
        return {} if value == "{}" else json.loads(value)
    return value
