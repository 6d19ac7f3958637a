"""Accounts, API tokens (kept only as hashes) and publisher signing keys; who the caller
is and what their role lets them do."""

from __future__ import annotations

import hashlib
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from ..errors import Conflict, Forbidden, NotFound, PluginHostError, Unauthorized
from ..package.signing import TrustedKey, load_public_key
from .db import ROLES, Account, ApiToken, PublisherKey


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "kr_" + secrets.token_urlsafe(32)


@dataclass
class Caller:
    account_id: int
    name: str
    role: str

    def require(self, *roles: str) -> None:
        if self.role not in roles and self.role != "admin":
            raise Forbidden(f"{self.name} ({self.role}) may not do this: it needs the "
                            f"{' or '.join(roles)} role")


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
        if not token:
            return None
        with self.sessions() as s:
            row = s.execute(select(ApiToken, Account).join(Account).where(
                ApiToken.token_hash == token_hash(token))).first()
        if row is None or row[0].revoked_at is not None:
            raise Unauthorized("the API token is unknown or revoked")
        return Caller(row[1].id, row[1].name, row[1].role)

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

    def create_token(self, caller: Caller, account_name: str) -> dict[str, Any]:
        with self.sessions.begin() as s:
            account = s.scalar(select(Account).where(Account.name == account_name))
            if account is None:
                raise NotFound(f"no account {account_name!r}")
            if account.id != caller.account_id:
                caller.require("admin")
            token = new_token()
            row = ApiToken(account_id=account.id, token_hash=token_hash(token), scopes=["*"])
            s.add(row)
            s.flush()
            return {"id": row.id, "account": account.name, "token": token,
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
