"""Registry API tokens for CI: limited to some of the account's roles, expiring, and
refused with a message saying why; bad requests name the field."""

from __future__ import annotations

import time

import httpx

from tests.identity.conftest import bearer


def test_a_scoped_token_has_only_its_scopes(registry):
    admin = registry.client("admin")
    r = admin.post("/api/v1/accounts", json={"name": "both", "role": "admin"})
    assert r.status_code == 201
    made = admin.post("/api/v1/accounts/both/tokens", json={"scopes": ["publisher"],
                                                             "days": 7, "label": "ci"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["scopes"] == ["publisher"] and body["expires_at"]
    token = body["token"]
    me = httpx.get(f"{registry.url}/api/v1/me", headers=bearer(token)).json()
    assert me["roles"] == ["publisher"] and me["name"] == "both"  # not admin: not a scope
    r = httpx.post(f"{registry.url}/api/v1/accounts", headers=bearer(token),
                   json={"name": "nope", "role": "user"})
    assert r.status_code == 403
    publisher = registry.client("publisher")
    scoped = publisher.post("/api/v1/accounts/publisher/tokens",
                            json={"scopes": ["publisher"]}).json()["token"]
    queue = httpx.get(f"{registry.url}/api/v1/review/queue", headers=bearer(scoped))
    assert queue.status_code == 403
    keys = httpx.post(f"{registry.url}/api/v1/keys", headers=bearer(scoped),
                      json={"public_key": "not a key"})
    assert keys.status_code not in (401, 403)  # allowed; the key itself is refused


def test_an_expired_token_is_refused_saying_so(registry):
    r = registry.client("user").post("/api/v1/accounts/user/tokens", json={"days": 0.00002})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert httpx.get(f"{registry.url}/api/v1/me", headers=bearer(token)).status_code == 200
    time.sleep(2.0)
    r = httpx.get(f"{registry.url}/api/v1/me", headers=bearer(token))
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]


def test_bad_token_requests_name_the_field(registry):
    user = registry.client("user")
    for body, field in (({"scopes": ["root"]}, "scopes"), ({"days": 0}, "days"),
                        ({"days": 1000}, "days")):
        r = user.post("/api/v1/accounts/user/tokens", json=body)
        assert r.status_code == 422 and field in r.json()["error"]["message"], r.text
