"""The registry's role matrix: every route and who may use it, run with any kind of
credential (local API tokens, OIDC sessions and access tokens, LDAP and SAML sessions).

The table names the plugin ``hello-world`` 1.0.0 (approved, the publisher's), the
accounts ``user`` and ``publisher`` and token 5, the first one the table's own token
route makes for the user; a run maps these to what its set-up made (``names``)."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

PUBLIC = {None, "user", "publisher", "reviewer", "admin"}
SIGNED_IN = PUBLIC - {None}
ROLES = (None, "user", "publisher", "reviewer", "admin")
ZIP = {"Content-Type": "application/zip"}
ROUTES = [
    ("GET", "/api/v1/me", None, SIGNED_IN),
    ("POST", "/api/v1/accounts", {"name": "x1", "role": "user"}, {"admin"}),
    ("POST", "/api/v1/accounts/user/tokens", None, {"user", "admin"}),
    ("POST", "/api/v1/keys", {"public_key": "-----BEGIN PUBLIC KEY-----"},
     {"admin", "publisher"}),
    ("POST", "/api/v1/packages", "zip", {"admin", "publisher"}),
    ("GET", "/api/v1/review/queue", None, {"admin", "reviewer"}),
    ("POST", "/api/v1/review/hello-world/1.0.0", {"decision": "approve"},
     {"admin", "reviewer"}),
    # the package's owner (the publisher) and reviewers read it in any state
    ("GET", "/api/v1/review/hello-world/1.0.0/download", None,
     {"admin", "reviewer", "publisher"}),
    ("GET", "/api/v1/review/hello-world/1.0.0/diff", None, {"admin", "reviewer", "publisher"}),
    ("GET", "/api/v1/plugins", None, PUBLIC),
    ("GET", "/api/v1/plugins/hello-world", None, PUBLIC),
    ("GET", "/api/v1/publishers/publisher", None, PUBLIC),
    ("GET", "/api/v1/index", None, PUBLIC),
    ("POST", "/api/v1/resolve", {"requirements": {"hello-world": "^1"}}, PUBLIC),
    ("GET", "/api/v1/plugins/hello-world/1.0.0/download", None, PUBLIC),
    ("POST", "/api/v1/plugins/hello-world/1.0.0/installed", None, PUBLIC),
    ("POST", "/api/v1/usage", {"installation": "0" * 32, "plugins": []}, PUBLIC),
    ("POST", "/api/v1/plugins/hello-world/1.0.0/yank", None, {"admin", "publisher"}),
    ("POST", "/api/v1/plugins/hello-world/1.0.0/unyank", None, {"admin", "publisher"}),
    ("POST", "/api/v1/plugins/hello-world/deprecate", {"message": None},
     {"admin", "publisher"}),
    ("PUT", "/api/v1/plugins/hello-world/rating", {"stars": 4}, SIGNED_IN),
    ("GET", "/api/v1/audit", None, {"admin"}),
    ("GET", "/auth/providers", None, PUBLIC),
    ("GET", "/auth/me", None, SIGNED_IN),
    ("DELETE", "/api/v1/tokens/5", None, {"user", "admin"}),  # the user's, made above
    ("POST", "/auth/logout", None, SIGNED_IN),  # last: ends the sessions
]
#: sign-in flows: they prove who is calling by their own means (state, password, SAML
#: assertion, refresh token); tests/identity/ attacks each
SIGN_IN_FLOWS = {("GET", "/auth/oidc/login"), ("GET", "/auth/oidc/callback"),
                 ("POST", "/auth/ldap"), ("GET", "/auth/saml/metadata"),
                 ("GET", "/auth/saml/login"), ("POST", "/auth/saml/acs"),
                 ("POST", "/auth/refresh"), ("POST", "/auth/handoff")}
PROBES = {("GET", "/healthz"), ("GET", "/readyz")}


def templates() -> set[tuple[str, str]]:
    return {(m, p.replace("hello-world/1.0.0", "{name}/{version}")
             .replace("hello-world", "{name}").replace("/user/", "/{name}/")
             .replace("publishers/publisher", "publishers/{name}")
             .replace("/5", "/{token_id}"))
            for m, p, _, _ in ROUTES}


def unlisted_routes(url: str) -> set[tuple[str, str]]:
    """Routes of the registry's OpenAPI document the table does not cover."""
    spec = httpx.get(f"{url}/openapi.json").json()
    documented = {(m.upper(), path) for path, ops in spec["paths"].items() for m in ops}
    return documented - PROBES - SIGN_IN_FLOWS - templates()


def run_matrix(url: str, tokens: Mapping[str | None, str | None],
               names: Mapping[str, str] | None = None) -> None:
    """Each route with each role's token (and none): refused with 401/403 exactly where
    the table says. ``names``: the plugin, user, publisher and token id to use."""
    n = {"plugin": "hello-world", "user": "user", "publisher": "publisher", "token": "5",
         **(names or {})}
    for method, path, body, allowed in ROUTES:
        path = (path.replace("hello-world", n["plugin"])
                .replace("/accounts/user/", f"/accounts/{n['user']}/")
                .replace("publishers/publisher", f"publishers/{n['publisher']}")
                .replace("/tokens/5", f"/tokens/{n['token']}"))
        if isinstance(body, dict) and "requirements" in body:
            body = {"requirements": {n["plugin"]: "^1"}}
        for role in ROLES:
            token = tokens.get(role)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            if body == "zip":
                kw = {"content": b"PK", "headers": {**ZIP, **headers}}
            else:
                kw = {"json": body, "headers": headers} if body is not None else \
                    {"headers": headers}
            r = httpx.request(method, f"{url}{path}", timeout=60, **kw)
            if role in allowed:
                assert r.status_code not in (401, 403), (role, method, path, r.text)
            elif role is None:
                assert r.status_code == 401, (role, method, path, r.text)
                assert r.headers["www-authenticate"] == "Bearer", (method, path)
            else:
                assert r.status_code == 403, (role, method, path, r.text)
                assert "needs the" in r.json()["error"]["message"]
