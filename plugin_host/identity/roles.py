"""Roles from what the provider says: its groups (an OIDC claim, a SAML attribute, LDAP
group entries) through ``role_groups``; a machine client (OAuth client credentials)
through ``oidc_machine_roles``. A role a service does not know is ignored; a person in
no mapped group signs in with the service's base role (the registry's ``user``) or none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .settings import IdentitySettings
from .store import Principal

#: account names the registry accepts: ^[a-z][a-z0-9_.-]{1,63}$
_BAD = re.compile(r"[^a-z0-9_.-]+")


def account_name(raw: str) -> str:
    """A person's user name as an account name (lower case, other characters as '-')."""
    name = _BAD.sub("-", raw.strip().lower()).strip("-.")[:63]
    if not name or not name[0].isalpha():
        name = "u-" + name
    return name[:64] if len(name) >= 2 else name + "-user"


def roles_for(groups: Iterable[str], settings: IdentitySettings, known: tuple[str, ...],
              base: tuple[str, ...] = ()) -> tuple[str, ...]:
    have = set(groups)
    roles = [r for r in known if have & set(settings.role_groups.get(r, ()))]
    return tuple(dict.fromkeys([*roles, *base]))


def group_names(value: Any) -> list[str]:
    """Groups as a list of names, whatever shape the provider sends (a list, one string,
    a comma-separated string; LDAP DNs and SAML memberOf values keep their full text
    and their first RDN value, so either may be mapped)."""
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",") \
        if not str(value).lower().startswith(("cn=", "uid=", "ou=")) else [value]
    out: list[str] = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            continue
        out.append(item.strip())
        first = item.split(",", 1)[0]
        if "=" in first:
            out.append(first.split("=", 1)[1].strip())
    return list(dict.fromkeys(out))


def oidc_principal(claims: dict[str, Any], settings: IdentitySettings,
                   known: tuple[str, ...], base: tuple[str, ...]) -> Principal:
    """Who an OIDC token is for. A client-credentials token (``sub`` is its client) gets
    the roles ``oidc_machine_roles`` gives that client and nothing from claims it could
    have asked for itself."""
    sub = str(claims["sub"])
    client = claims.get("client_id") or claims.get("azp")
    if client is not None and sub == client:
        roles = tuple(r for r in settings.oidc_machine_roles.get(str(client), ())
                      if r in known)
        return Principal(account_name(sub), "oidc", sub, roles, (), extra={"machine": True})
    groups = group_names(claims.get(settings.oidc_groups_claim))
    raw = next((str(claims[c]) for c in settings.oidc_username_claims
                if isinstance(claims.get(c), str) and claims[c]), sub)
    if "@" in raw and raw != sub:
        raw = raw.split("@", 1)[0]
    return Principal(account_name(raw), "oidc", sub, roles_for(groups, settings, known, base),
                     tuple(groups), email=claims.get("email") if isinstance(
                         claims.get("email"), str) else None)
