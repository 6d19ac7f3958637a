"""Where installed plugins are kept: their rows in the database (the installed version,
the one before it for rollback, enabled, config) and their package files on disk.

Writes that touch both undo the file when the database refuses, so a failed install
leaves nothing behind. Hosts may share one database (a fleet on PostgreSQL): every row
carries its host's ``instance`` name, and a host reads and writes only its own.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import sessionmaker

from ..manifest import parse_manifest
from ..package.archive import Package
from .db import InstalledPlugin, PluginVersion
from .installed import Installed, integrity
from .kv import KVStore


class PluginStore:
    def __init__(self, sessions: sessionmaker, packages_dir: Path, kv: KVStore,
                 instance: str):
        self.sessions = sessions
        self.packages_dir = packages_dir
        self.kv = kv
        self.instance = instance

    def adopt_unowned(self) -> int:
        """Rows from before hosts were named (instance ''): this host's. How many."""
        with self.sessions.begin() as s:
            n = s.execute(update(InstalledPlugin).where(InstalledPlugin.instance == "")
                          .values(instance=self.instance)).rowcount
            s.execute(update(PluginVersion).where(PluginVersion.instance == "")
                      .values(instance=self.instance))
        return n

    def load(self) -> list[Installed]:
        """Every installed plugin at its installed version (not running yet)."""
        with self.sessions() as s:
            q = select(InstalledPlugin, PluginVersion).join(
                PluginVersion, (PluginVersion.plugin == InstalledPlugin.name)
                & (PluginVersion.version == InstalledPlugin.version)
                & (PluginVersion.instance == InstalledPlugin.instance)).where(
                InstalledPlugin.instance == self.instance)
            rows = [(r, v) for r, v in s.execute(q)]
        out = []
        for row, ver in rows:
            manifest = parse_manifest(ver.manifest)
            code_dir = Path(ver.path)
            item = Installed(manifest=manifest, code_dir=code_dir, enabled=row.enabled,
                             config=dict(row.config or {}), signer=ver.signer,
                             sha256=ver.sha256, previous_version=row.previous_version)
            item.integrity = integrity(manifest, code_dir)
            out.append(item)
        return out

    def remove_leftovers(self, plugins_dir: Path) -> list[str]:
        """After a crash: code folders and package files no row refers to (an install
        killed between unpacking and committing), and half-written ``.partial`` folders.
        The database is the truth; what it does not know is removed."""
        with self.sessions() as s:
            mine = s.scalars(select(PluginVersion).where(
                PluginVersion.instance == self.instance)).all()
            known_dirs = {Path(v.path) for v in mine}
            known_files = {f"{v.plugin}-{v.version}.kplugin" for v in mine}
        removed = []
        if plugins_dir.is_dir():
            for plugin in plugins_dir.iterdir():
                if not plugin.is_dir():
                    continue
                for version in plugin.iterdir():
                    if version not in known_dirs:
                        shutil.rmtree(version, ignore_errors=True)
                        removed.append(str(version))
                if not any(plugin.iterdir()):
                    plugin.rmdir()
        if self.packages_dir.is_dir():
            for f in self.packages_dir.iterdir():
                if f.name not in known_files:
                    f.unlink(missing_ok=True)
                    removed.append(str(f))
        return removed

    def version(self, name: str, version: str) -> PluginVersion | None:
        with self.sessions() as s:
            return s.get(PluginVersion, (self.instance, name, version))

    def _keep_package(self, pkg: Package, data: bytes) -> Path:
        self.packages_dir.mkdir(parents=True, exist_ok=True)
        kept = self.packages_dir / pkg.filename
        kept.write_bytes(data)
        return kept

    def save_install(self, item: Installed, pkg: Package, data: bytes) -> None:
        kept = self._keep_package(pkg, data)
        try:
            with self.sessions.begin() as s:
                s.add(InstalledPlugin(instance=self.instance, name=item.name,
                                      version=item.version, enabled=item.enabled, config={}))
                s.add(PluginVersion(instance=self.instance, plugin=item.name,
                                    version=item.version, sha256=pkg.sha256, signer=item.signer,
                                    path=str(item.code_dir),
                                    manifest=pkg.files["plugin.toml"].decode()))
        except BaseException:
            kept.unlink(missing_ok=True)
            raise

    def save_upgrade(self, item: Installed, pkg: Package, data: bytes) -> None:
        """Record the new version; keep only it and the one before (for rollback)."""
        self._keep_package(pkg, data)
        keep = {item.version, item.previous_version}
        with self.sessions.begin() as s:
            row = s.get(InstalledPlugin, (self.instance, item.name))
            row.version, row.previous_version = item.version, item.previous_version
            s.merge(PluginVersion(instance=self.instance, plugin=item.name,
                                  version=item.version, sha256=pkg.sha256, signer=item.signer,
                                  path=str(item.code_dir),
                                  manifest=pkg.files["plugin.toml"].decode()))
            stale = s.scalars(select(PluginVersion).where(
                PluginVersion.instance == self.instance, PluginVersion.plugin == item.name,
                PluginVersion.version.not_in(keep))).all()
            for v in stale:
                s.delete(v)
        for v in stale:
            shutil.rmtree(v.path, ignore_errors=True)
            (self.packages_dir / f"{item.name}-{v.version}.kplugin").unlink(missing_ok=True)

    def save(self, name: str, **values: Any) -> None:
        """Update columns of a plugin's row (enabled, config, version…)."""
        with self.sessions.begin() as s:
            row = s.get(InstalledPlugin, (self.instance, name))
            for k, v in values.items():
                setattr(row, k, v)

    def delete(self, name: str, purge: bool) -> None:
        """Forget a plugin (and its kv data if ``purge``); its package files go too."""
        with self.sessions.begin() as s:
            s.execute(delete(PluginVersion).where(PluginVersion.instance == self.instance,
                                                  PluginVersion.plugin == name))
            s.execute(delete(InstalledPlugin).where(InstalledPlugin.instance == self.instance,
                                                    InstalledPlugin.name == name))
        if purge:
            self.kv.purge(name)
        for f in self.packages_dir.glob(f"{name}-*.kplugin"):
            f.unlink(missing_ok=True)
