"""The registry's database: accounts, API tokens, publisher keys, plugins, releases,
reviews. Created and upgraded by Alembic (plugin_host/registry/migrations)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ..service.db import utcnow

MIGRATIONS = Path(__file__).parent / "migrations"
ROLES = ("admin", "reviewer", "publisher", "user")
#: what an API token may be limited to (its scopes); "*" is every role of its account
SCOPES = ("*", *ROLES)


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("provider", "subject",
                                       name="uq_accounts_provider_subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: "local" for accounts made through the API; else the identity provider (oidc,
    #: saml, ldap) and its subject, with the roles its groups gave at the last sign-in
    provider: Mapped[str] = mapped_column(String(16), default="local")
    subject: Mapped[str | None] = mapped_column(String(255), nullable=True)
    roles: Mapped[list | None] = mapped_column(JSON, nullable=True)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256, never the token
    scopes: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    label: Mapped[str] = mapped_column(String(128), default="")


class PublisherKey(Base):
    __tablename__ = "publisher_keys"

    keyid: Mapped[str] = mapped_column(String(16), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    public_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class PluginRecord(Base):
    __tablename__ = "plugins"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    summary: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list] = mapped_column(JSON, default=list)
    deprecated: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Release(Base):
    __tablename__ = "releases"

    plugin: Mapped[str] = mapped_column(ForeignKey("plugins.name"), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # in_review, approved, rejected
    yanked: Mapped[bool] = mapped_column(Boolean, default=False)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    signer: Mapped[str] = mapped_column(String(16))
    manifest: Mapped[str] = mapped_column(Text)
    host_api: Mapped[str] = mapped_column(String(64))
    dependencies: Mapped[dict] = mapped_column(JSON, default=dict)
    checks: Mapped[list] = mapped_column(JSON, default=list)
    path: Mapped[str] = mapped_column(String(1024))
    downloads: Mapped[int] = mapped_column(Integer, default=0)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Review(Base):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plugin: Mapped[str] = mapped_column(String(63))
    version: Mapped[str] = mapped_column(String(64))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    decision: Mapped[str] = mapped_column(String(16))  # approved, rejected
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Rating(Base):
    """One rating per user per plugin; editable."""

    __tablename__ = "ratings"

    plugin: Mapped[str] = mapped_column(ForeignKey("plugins.name"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    stars: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)


class UsageReport(Base):
    """A host (by the random installation id it made for itself) ran a plugin on a day:
    what active installs are counted from. Hosts report only when their operator turns
    ``usage_reporting`` on (docs/registry/operating.md)."""

    __tablename__ = "usage_reports"

    installation: Mapped[str] = mapped_column(String(32), primary_key=True)
    plugin: Mapped[str] = mapped_column(ForeignKey("plugins.name"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True, index=True)
    version: Mapped[str] = mapped_column(String(64))
