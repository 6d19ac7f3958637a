"""Accounts, API tokens (kept only as hashes) and publisher signing keys; who the caller
is and what their role lets them do."""

from __future__ import annotations

import hashlib
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from ..errors import Conflict, Forbidden, NotFound, PluginHostError, Unauthorized
from ..identity.store import Principal, aware
from ..package.signing import TrustedKey, load_public_key
from .db import ROLES, SCOPES, Account, ApiToken, PublisherKey

#: an API token's default and longest life
TOKEN_DAYS, MAX_TOKEN_DAYS = 90, 366


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "kr_" + secrets.token_urlsafe(32)


def rank(roles: tuple[str, ...] | list[str]) -> str:
    """The first of ROLES held: what the account's single ``role`` shows."""
    return next((r for r in ROLES if r in roles), "user")


@dataclass
class Caller:
    account_id: int
    name: str
    roles: tuple[str, ...]
    provider: str = "token"
    subject: str = ""

    @property
    def role(self) -> str:
        return rank(self.roles)

    def has(self, *roles: str) -> bool:
        return "admin" in self.roles or any(r in self.roles for r in roles)

    def require(self, *roles: str) -> None:
        if not self.has(*roles):
            raise Forbidden(f"{self.name} ({', '.join(self.roles) or 'no role'}) may not do "
                            f"this: it needs the {' or '.join(roles)} role")

    def principal(self) -> Principal:
        return Principal(self.name, self.provider, self.subject or str(self.account_id),
                         self.roles, extra={"caller": self})


class Accounts:
    def __init__(self, sessions: sessionmaker):
        self.sessions = sessions

    def bootstrap_admin(self, token: str) -> None:
        """Make sure the configured admin token belongs to an `admin` account and works:
        an operator who passes it again at start gets back in, even after revoking it
        (there is no other way in once every admin token is revoked)."""
        with self.sessions.begin() as s:
            existing = s.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
            if existing is not None:
                existing.revoked_at = None
                account = s.get(Account, existing.account_id)
                if account is not None and account.role != "admin":
                    account.role = "admin"
                return
            admin = s.scalar(select(Account).where(Account.name == "admin"))
            if admin is None:
                admin = Account(name="admin", role="admin")
                s.add(admin)
                s.flush()
            s.add(ApiToken(account_id=admin.id, token_hash=token_hash(token), scopes=["*"]))

    def authenticate(self, token: str | None) -> Caller | None:
        """The caller an API token belongs to, limited to the token's scopes."""
        if not token:
            return None
        with self.sessions() as s:
            row = s.execute(select(ApiToken, Account).join(Account).where(
                ApiToken.token_hash == token_hash(token))).first()
        if row is None or row[0].revoked_at is not None:
            raise Unauthorized("the API token is unknown or revoked")
        if row[0].expires_at is not None and aware(row[0].expires_at) < datetime.now(UTC):
            raise Unauthorized("the API token has expired: create a new one")
        roles = roles_of(row[1])
        if "*" not in row[0].scopes:  # an admin's token may be any narrower role
            roles = tuple(r for r in ROLES if r in row[0].scopes
                          and (r in roles or "admin" in roles))
        return Caller(row[1].id, row[1].name, roles, "token", str(row[1].id))

    def caller(self, who: Principal) -> Caller:
        """The account of a person signed in through an identity provider."""
        with self.sessions() as s:
            account = s.scalar(select(Account).where(Account.provider == who.provider,
                                                     Account.subject == who.subject))
        if account is None:
            raise Unauthorized("no account for this sign-in: sign in again")
        return Caller(account.id, account.name, who.roles, who.provider, who.subject)

    def link(self, who: Principal, address: str = "") -> Principal:
        """The account of a person from an identity provider: made at first sign-in
        (named after them, with a suffix if the name is taken), its roles set to what
        their groups give now. Returns the person under the account's name, with
        ``role_change`` in ``extra`` when the roles changed (the audit log records it).
        Two first requests of one person at once (parallel CI jobs) make one account: the
        one that loses the race finds the winner's."""
        try:
            return self._link(who)
        except IntegrityError:
            return self._link(who)

    def _link(self, who: Principal) -> Principal:
        with self.sessions.begin() as s:
            account = s.scalar(select(Account).where(Account.provider == who.provider,
                                                     Account.subject == who.subject))
            before: list[str] | None = None
            if account is None:
                name = who.name
                n = 1
                while s.scalar(select(Account.id).where(Account.name == name)) is not None:
                    n += 1
                    name = f"{who.name[:60]}-{n}"
                account = Account(name=name, role=rank(who.roles), provider=who.provider,
                                  subject=who.subject, roles=list(who.roles))
                s.add(account)
                s.flush()
            elif list(account.roles or []) != list(who.roles):
                before = list(account.roles or [])
                account.roles, account.role = list(who.roles), rank(who.roles)
            extra = {**who.extra, "account_id": account.id}
            if before is not None:
                extra["role_change"] = {"from": before, "to": list(who.roles)}
            return Principal(account.name, who.provider, who.subject, who.roles, who.groups,
                             who.session_id, who.email, extra)

    def create_account(self, caller: Caller, name: str, role: str) -> dict[str, Any]:
        caller.require("admin")
        if role not in ROLES:
            raise PluginHostError(f"role: {role!r} is not one of {', '.join(ROLES)}",
                                  code="invalid_request", status=422)
        try:
            with self.sessions.begin() as s:
                account = Account(name=name, role=role)
                s.add(account)
                s.flush()
                return {"id": account.id, "name": name, "role": role}
        except IntegrityError:
            raise Conflict(f"account {name!r} already exists") from None

    def create_token(self, caller: Caller, account_name: str, scopes: list[str] | None = None,
                     days: float | None = None, label: str = "") -> dict[str, Any]:
        """A new API token (for CI): limited to ``scopes`` (roles of the account, or
        "*"), expiring after ``days`` (default 90, at most 366)."""
        scopes = scopes or ["*"]
        bad = [x for x in scopes if x not in SCOPES]
        if bad:
            raise PluginHostError(f"scopes: {bad[0]!r} is not one of {', '.join(SCOPES)}",
                                  code="invalid_request", status=422)
        days = TOKEN_DAYS if days is None else days
        if not 0 < days <= MAX_TOKEN_DAYS:
            raise PluginHostError(f"days: give 0 < days <= {MAX_TOKEN_DAYS}",
                                  code="invalid_request", status=422)
        with self.sessions.begin() as s:
            account = s.scalar(select(Account).where(Account.name == account_name))
            if account is None:
                raise NotFound(f"no account {account_name!r}")
            if account.id != caller.account_id:
                caller.require("admin")
            token = new_token()
            expires = datetime.now(UTC) + timedelta(days=days)
            row = ApiToken(account_id=account.id, token_hash=token_hash(token), scopes=scopes,
                           expires_at=expires, label=label[:128])
            s.add(row)
            s.flush()
            return {"id": row.id, "account": account.name, "token": token, "scopes": scopes,
                    "expires_at": expires.isoformat(),
                    "note": "shown once: the registry keeps only its hash"}

    def revoke_token(self, caller: Caller, token_id: int) -> None:
        with self.sessions.begin() as s:
            row = s.get(ApiToken, token_id)
            if row is None:
                raise NotFound(f"no token {token_id}")
            if row.account_id != caller.account_id:
                caller.require("admin")
            row.revoked_at = datetime.now(UTC)

    def add_key(self, caller: Caller, public_pem: str) -> dict[str, Any]:
        caller.require("publisher")
        with tempfile.NamedTemporaryFile("w", suffix=".pub") as f:
            f.write(public_pem)
            f.flush()
            key = load_public_key(Path(f.name))
        with self.sessions.begin() as s:
            existing = s.get(PublisherKey, key.keyid)
            if existing and existing.account_id != caller.account_id:
                raise Conflict(f"key {key.keyid} belongs to another publisher")
            if not existing:
                s.add(PublisherKey(keyid=key.keyid, account_id=caller.account_id,
                                   public_pem=public_pem))
        return {"keyid": key.keyid}

    def keys_of(self, account_id: int) -> dict[str, TrustedKey]:
        """A publisher's keys that are not revoked: what their packages may be signed by."""
        from cryptography.hazmat.primitives import serialization

        with self.sessions() as s:
            rows = s.scalars(select(PublisherKey).where(PublisherKey.account_id == account_id,
                                                        PublisherKey.revoked.is_(False)))
            return {r.keyid: TrustedKey(r.keyid, serialization.load_pem_public_key(
                r.public_pem.encode()), f"publisher key {r.keyid}") for r in rows}


def roles_of(account: Account) -> tuple[str, ...]:
    return tuple(account.roles) if account.roles is not None else (account.role,)
