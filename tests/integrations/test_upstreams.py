"""``ctx.upstream`` on a real host against a real (programmable) library service: the
credentials the host holds and the plugin never sees, 429 with Retry-After, 503 retried
until the circuit opens, fails fast, half-opens and closes, an expired OAuth token
refreshed once, a slow upstream cut at its timeout; metrics and the health view show
each."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.support.upstream_fake import Fake, Plan, upstream_fake

PLUGIN = "upstream-user"


@pytest.fixture
def fake() -> Iterator[Fake]:
    with upstream_fake() as f:
        yield f


def upstream_host(host_factory, packages, fake: Fake, lib: dict, keyed: dict,
                  secrets: bool = True, **env: str):
    """A host with upstream-user installed, its two upstreams pointed at ``fake`` (with
    ``lib`` and ``keyed`` merged into their overrides) and their credentials set
    (``secrets=False``: the keyed upstream's API key left unset)."""
    overrides = {PLUGIN: {
        "lib": {"url": f"{fake.url}/api", "auth": {"token_url": f"{fake.url}/oauth/token"},
                **lib},
        "keyed": {"url": fake.url, **keyed}}}
    h = host_factory(env={"PLUGIN_HOST_UPSTREAMS": json.dumps(overrides), **env})
    assert h.install(packages[PLUGIN]).status_code == 201
    given = [("LIB_CLIENT_ID", fake.client_id), ("LIB_CLIENT_SECRET", fake.client_secret)]
    if secrets:
        given.append(("KEYED_API_KEY", fake.api_key))
    for name, value in given:
        r = h.admin.put(f"/admin/plugins/{PLUGIN}/secrets/{name}", json={"value": value})
        assert r.status_code == 200, r.text
    return h


@pytest.fixture
def host(host_factory, packages, fake):
    return upstream_host(host_factory, packages, fake, lib={}, keyed={"timeout_ms": 1000},
                         PLUGIN_HOST_SECRET_PLAIN_SECRET="plain")


def call(host, **params) -> dict:
    r = host.client.get(f"/plugins/{PLUGIN}/api/call", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def metric(host, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    total = 0.0
    for line in host.client.get("/metrics").text.splitlines():
        if line.startswith(name + "{"):
            got = line[len(name) + 1:line.index("}")]
            if all(part in got.split(",") for part in want.split(",") if part):
                total += float(line.rsplit(" ", 1)[1])
    return total


def health(host) -> dict:
    return host.admin.get(f"/admin/plugins/{PLUGIN}").json()["upstreams"]


def test_the_host_adds_the_credentials(host, fake):
    r = call(host, path="/echo", q="bn:9780441013593")
    assert r["status"] == 200, r
    body = json.loads(r["body"])
    assert body == {"path": "/api/echo", "query": {"q": ["bn:9780441013593"]},
                    "authenticated_as": fake.client_id}
    assert fake.token_requests == 1
    call(host, path="/echo")
    assert fake.token_requests == 1  # the token is cached
    keyed = call(host, upstream="keyed", path="/echo")
    assert json.loads(keyed["body"])["authenticated_as"] == "keyed"
    view = health(host)
    assert view["lib"]["breaker"] == "closed" and view["lib"]["token_expires_in"] > 250
    assert view["keyed"]["auth"] == "api_key"


def test_the_plugin_never_sees_the_credentials(host, fake):
    seen = host.client.get(f"/plugins/{PLUGIN}/api/steal").json()
    text = json.dumps(seen)
    # (the client id is a name, not a credential: the echo says who called, as APIs do)
    for secret in (fake.client_secret, fake.api_key, "tok-"):
        assert secret not in text, (secret, text[:2000])
    assert seen["secret:LIB_CLIENT_SECRET"].startswith("refused")
    assert "capability_denied" in seen["own Authorization header"]
    assert "capability_denied" in seen["own wskey"]
    for what in ("leave the base path", "leave it encoded", "leave it by an encoded slash"):
        assert "capability_denied" in seen[what], (what, seen[what])
    assert seen["another host"].startswith("refused")
    assert "capability_denied" in seen["an undeclared upstream"]
    assert "capability_denied" in seen["token endpoint through ctx.http"]
    assert seen["echo what the host sends"]["status"] == 200


def test_429_with_retry_after_is_honoured(host, fake):
    call(host, path="/echo")  # a token first
    fake.plan(Plan(429, retry_after="1"))
    start = time.monotonic()
    r = call(host, path="/books")
    assert r["status"] == 200 and time.monotonic() - start >= 1.0, r
    assert metric(host, "plugin_host_upstream_throttled_total", upstream="lib",
                  source="upstream") == 1
    assert metric(host, "plugin_host_upstream_retries_total", upstream="lib") == 1
    # a Retry-After beyond the call's budget: the 429 itself comes back at once
    fake.plan(Plan(429, retry_after="3600"))
    start = time.monotonic()
    r = call(host, path="/books")
    assert r["status"] == 429 and time.monotonic() - start < 2, r


def test_503_opens_the_circuit_which_half_opens_and_closes(host, fake):
    call(host, path="/echo")
    fake.default = Plan(503)
    before = fake.api_calls()
    for _ in range(2):  # each: 1 + 2 retries, all 503; the second opens the circuit
        assert call(host, path="/books")["status"] == 503
    assert fake.api_calls() - before == 6
    assert health(host)["lib"]["breaker"] == "open"
    assert metric(host, "plugin_host_upstream_circuit_state", upstream="lib") == 1
    start = time.monotonic()
    r = call(host, path="/books")
    assert r["error"] == "UpstreamUnavailable" and "circuit open" in r["message"], r
    assert time.monotonic() - start < 0.5 and fake.api_calls() - before == 6  # fail fast
    assert metric(host, "plugin_host_upstream_requests_total", upstream="lib",
                  outcome="rejected") == 1
    fake.default = Plan(200)
    time.sleep(2.1)  # reset_seconds: one trial call goes through, succeeds, closes it
    assert call(host, path="/books")["status"] == 200
    assert health(host)["lib"]["breaker"] == "closed"
    assert metric(host, "plugin_host_upstream_circuit_state", upstream="lib") == 0


def test_an_expired_token_is_refreshed_once(host, fake):
    call(host, path="/echo")
    fake.revoke()
    r = call(host, path="/books")
    assert r["status"] == 200 and fake.token_requests == 2, r
    # a token the upstream keeps refusing: one refresh, then its 401 comes back
    fake.client_secret = "rotated-elsewhere"
    fake.revoke()
    r = call(host, path="/books")
    assert r.get("status") != 200 and fake.token_requests == 3, r
    assert metric(host, "plugin_host_upstream_token_requests_total", upstream="lib",
                  outcome="ok") == 2


def test_a_slow_upstream_is_cut_at_its_timeout(host, fake):
    fake.plan(Plan(delay=4))
    start = time.monotonic()
    r = call(host, upstream="keyed", path="/slow")  # timeout_ms 1000 here, no retries
    took = time.monotonic() - start
    assert r["error"] == "UpstreamUnavailable" and "no answer within" in r["message"], r
    assert 0.9 < took < 2.5, took
    assert metric(host, "plugin_host_upstream_requests_total", upstream="keyed",
                  outcome="timeout") == 1
