"""The identity tables both services keep (created by each service's migrations):
one-time values (OIDC ``state`` with its nonce and PKCE verifier, SAML request and
assertion ids), sessions, and the audit log.

A session is what a sign-in gives: a short-lived access token and, where the provider
lets roles be checked again, a refresh token that is rotated at each use and revoked by
logout. Only SHA-256 hashes of either are stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from ..service.db import utcnow

ACCESS_PREFIX, REFRESH_PREFIX = "ksa_", "ksr_"


class IdentityBase(DeclarativeBase):
    pass


class OnceValue(IdentityBase):
    __tablename__ = "auth_once"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of kind+value
    kind: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuthSession(IdentityBase):
    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    principal: Mapped[str] = mapped_column(String(128))
    provider: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(255))
    roles: Mapped[list] = mapped_column(JSON, default=list)
    groups: Mapped[list] = mapped_column(JSON, default=list)
    access_hash: Mapped[str] = mapped_column(String(64), unique=True)
    access_expires: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    refresh_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    refresh_expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                             nullable=True)
    max_expires: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: the provider's own refresh token (OIDC), to read the groups again at refresh; of
    #: no use without this service's client secret, which the database does not hold
    upstream_refresh: Mapped[str | None] = mapped_column(Text, nullable=True)
    address: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                        nullable=True)


class AuditEvent(IdentityBase):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(255), default="")
    outcome: Mapped[str] = mapped_column(String(16))
    status: Mapped[int] = mapped_column(Integer)
    address: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who a request comes from, however they signed in."""

    name: str
    provider: str  # oidc, saml, ldap, token (an API or bootstrap token)
    subject: str
    roles: tuple[str, ...]
    groups: tuple[str, ...] = ()
    session_id: int | None = None
    email: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def has(self, role: str) -> bool:
        return role in self.roles


class IdentityStore:
    def __init__(self, sessions: sessionmaker):
        self.sessions = sessions

    # one-time values
    def put_once(self, kind: str, value: str, data: dict[str, Any], seconds: int) -> None:
        with self.sessions.begin() as s:
            s.execute(delete(OnceValue).where(OnceValue.expires_at < utcnow()))
            s.add(OnceValue(key=digest(kind + ":" + value), kind=kind, data=data,
                            expires_at=utcnow() + timedelta(seconds=seconds)))

    def take_once(self, kind: str, value: str) -> dict[str, Any] | None:
        """The data put with ``value``, once: a second take (a replay) gets None."""
        key = digest(kind + ":" + value)
        with self.sessions.begin() as s:
            row = s.get(OnceValue, key)
            if row is None:
                return None
            gone = s.execute(delete(OnceValue).where(OnceValue.key == key))
            if gone.rowcount != 1 or aware(row.expires_at) < utcnow():
                return None
            return dict(row.data)

    def first_use(self, kind: str, value: str, seconds: int) -> bool:
        """True the first time ``value`` is seen (until it expires), then False."""
        try:
            self.put_once(kind, value, {}, seconds)
            return True
        except IntegrityError:
            return False

    # sessions
    def open(self, who: Principal, *, access_seconds: int, refresh_seconds: int | None,
             max_seconds: int, address: str, upstream_refresh: str | None = None
             ) -> dict[str, Any]:
        access = ACCESS_PREFIX + secrets.token_urlsafe(32)
        refresh = REFRESH_PREFIX + secrets.token_urlsafe(32) if refresh_seconds else None
        now = utcnow()
        with self.sessions.begin() as s:
            row = AuthSession(
                principal=who.name, provider=who.provider, subject=who.subject,
                roles=list(who.roles), groups=list(who.groups), access_hash=digest(access),
                access_expires=now + timedelta(seconds=access_seconds),
                refresh_hash=digest(refresh) if refresh else None,
                refresh_expires=now + timedelta(seconds=refresh_seconds) if refresh else None,
                max_expires=now + timedelta(seconds=max_seconds),
                upstream_refresh=upstream_refresh, address=address[:64])
            s.add(row)
            s.flush()
            return tokens(row.id, access, refresh, access_seconds, who)

    def principal(self, access_token: str) -> Principal | None:
        """The session's principal, or None for an unknown, expired or revoked token."""
        now = utcnow()
        with self.sessions() as s:
            row = s.scalar(select(AuthSession).where(
                AuthSession.access_hash == digest(access_token)))
        if row is None or row.revoked_at is not None or aware(row.access_expires) < now:
            return None
        return Principal(row.principal, row.provider, row.subject, tuple(row.roles),
                         tuple(row.groups), row.id)

    def by_refresh(self, refresh_token: str) -> AuthSession | None:
        now = utcnow()
        with self.sessions() as s:
            row = s.scalar(select(AuthSession).where(
                AuthSession.refresh_hash == digest(refresh_token)))
        if (row is None or row.revoked_at is not None or row.refresh_expires is None
                or aware(row.refresh_expires) < now or aware(row.max_expires) < now):
            return None
        return row

    def rotate(self, row: AuthSession, who: Principal, *, access_seconds: int,
               refresh_seconds: int, upstream_refresh: str | None) -> dict[str, Any] | None:
        """New access and refresh tokens for a session, with roles read again; None if
        another refresh used the same token first (only one of two racing refreshes
        wins)."""
        access = ACCESS_PREFIX + secrets.token_urlsafe(32)
        refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
        now = utcnow()
        with self.sessions.begin() as s:
            done = s.execute(update(AuthSession).where(
                AuthSession.id == row.id, AuthSession.refresh_hash == row.refresh_hash,
                AuthSession.revoked_at.is_(None)).values(
                roles=list(who.roles), groups=list(who.groups), access_hash=digest(access),
                access_expires=min(now + timedelta(seconds=access_seconds),
                                   aware(row.max_expires)),
                refresh_hash=digest(refresh),
                refresh_expires=now + timedelta(seconds=refresh_seconds),
                upstream_refresh=upstream_refresh or row.upstream_refresh))
            if done.rowcount != 1:
                return None
        return tokens(row.id, access, refresh, access_seconds, who)

    def revoke(self, session_id: int) -> bool:
        with self.sessions.begin() as s:
            done = s.execute(update(AuthSession).where(
                AuthSession.id == session_id, AuthSession.revoked_at.is_(None)).values(
                revoked_at=utcnow()))
            return done.rowcount == 1

    def revoke_refresh(self, refresh_token: str) -> int | None:
        row = self.by_refresh(refresh_token)
        if row is not None and self.revoke(row.id):
            return row.id
        return None


def aware(t: datetime) -> datetime:
    """SQLite gives back naive datetimes; they were stored in UTC."""
    return t if t.tzinfo is not None else t.replace(tzinfo=utcnow().tzinfo)


def tokens(session_id: int, access: str, refresh: str | None, seconds: int,
           who: Principal) -> dict[str, Any]:
    return {"access_token": access, "token_type": "Bearer", "expires_in": seconds,
            "refresh_token": refresh, "session": session_id, "name": who.name,
            "provider": who.provider, "roles": list(who.roles)}
