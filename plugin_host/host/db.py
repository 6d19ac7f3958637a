"""The host's database: installed plugins, their versions, settings and kv data; the
fleet's desired plugin set and each host's report.

SQLAlchemy 2 models; the schema is created and upgraded by Alembic
(plugin_host/host/migrations) at start-up, never by ``create_all``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import JSON, Boolean, DateTime, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ..service.db import utcnow

MIGRATIONS = Path(__file__).parent / "migrations"


class Base(DeclarativeBase):
    pass


class InstalledPlugin(Base):
    """A plugin installed on one host (``instance``: hosts may share a database)."""
    __tablename__ = "plugins"

    instance: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    previous_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    config: Mapped[dict] = mapped_column(JSON, default=dict)
    installed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)


class PluginVersion(Base):
    __tablename__ = "plugin_versions"

    instance: Mapped[str] = mapped_column(String(128), primary_key=True)
    plugin: Mapped[str] = mapped_column(String(63), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    signer: Mapped[str | None] = mapped_column(String(64), nullable=True)
    path: Mapped[str] = mapped_column(String(1024))
    manifest: Mapped[str] = mapped_column(Text)  # plugin.toml text
    installed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FleetDesired(Base):
    """The environment's declared plugin set (one row): what every host converges to.
    ``plugins`` is the resolved set (dependencies included, exact versions), ``previous``
    the set before it, for a rollback."""
    __tablename__ = "fleet_desired"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(Integer)
    plugins: Mapped[list] = mapped_column(JSON)
    previous: Mapped[list | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FleetHost(Base):
    """What one host last reported: its plugins, the generation it converged to, and
    how it differs from the desired set."""
    __tablename__ = "fleet_hosts"

    instance: Mapped[str] = mapped_column(String(128), primary_key=True)
    release: Mapped[str] = mapped_column(String(64))
    generation: Mapped[int] = mapped_column(Integer)
    plugins: Mapped[dict] = mapped_column(JSON)
    drift: Mapped[list] = mapped_column(JSON)
    converged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                          nullable=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PluginSecret(Base):
    """A secret set through the admin API, encrypted (host/secret_store.py); shared by
    the hosts of one database, like kv data."""
    __tablename__ = "plugin_secrets"

    plugin: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class KVEntry(Base):
    __tablename__ = "kv"

    plugin: Mapped[str] = mapped_column(String(63), primary_key=True)
    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)


__all__ = ["MIGRATIONS", "Base", "FleetDesired", "FleetHost", "InstalledPlugin", "KVEntry",
           "PluginSecret", "PluginVersion"]
