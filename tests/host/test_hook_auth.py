"""Only trusted senders deliver Koha events (``hook_auth``): each of these must fail
against a real host: no signature, another secret, a changed body, a delivery moved to
another event, a replay, an old or future timestamp, a malformed one; and the
``token`` and ``none`` modes do what they say."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from plugin_host.hook_signature import signed_headers
from tests.support.servers import HOOK_SECRET

EVENT = "biblio.after_save"
PATH = f"/hooks/{EVENT}"
BODY = json.dumps({"biblionumber": 7}).encode()


@pytest.fixture
def host(host_factory, packages):
    h = host_factory()
    assert h.install(packages["hello-world"]).status_code == 201
    return h


def post(host, headers: dict, body: bytes = BODY, path: str = PATH) -> httpx.Response:
    return host.client.post(path, content=body, headers=headers)


def test_a_signed_delivery_arrives_once(host):
    headers = signed_headers(HOOK_SECRET, PATH, BODY)
    r = post(host, headers)
    assert r.status_code == 200 and r.json()["results"][0]["ok"], r.text
    again = post(host, headers)
    assert again.status_code == 401 and "replay" in again.json()["error"]["message"]


def test_unsigned_and_wrongly_signed_deliveries_are_refused(host):
    now = int(time.time())
    other = json.dumps({"biblionumber": 8}).encode()
    attempts = {
        "unsigned": ({"Content-Type": "application/json"}, BODY, PATH),
        "another secret": (signed_headers("not-the-secret", PATH, BODY), BODY, PATH),
        "body changed": (signed_headers(HOOK_SECRET, PATH, BODY), other, PATH),
        "moved to another event": (signed_headers(HOOK_SECRET, PATH, BODY), BODY,
                                   "/hooks/biblio.after_delete"),
        "an hour old": (signed_headers(HOOK_SECRET, PATH, BODY, timestamp=now - 3600),
                        BODY, PATH),
        "from the future": (signed_headers(HOOK_SECRET, PATH, BODY, timestamp=now + 3600),
                            BODY, PATH),
        "timestamp not a number": ({**signed_headers(HOOK_SECRET, PATH, BODY),
                                    "X-Koha-Hook-Timestamp": "soon"}, BODY, PATH),
        "bearer secret in signed mode": ({"Authorization": f"Bearer {HOOK_SECRET}",
                                          "Content-Type": "application/json"}, BODY, PATH),
    }
    for what, (headers, body, path) in attempts.items():
        r = post(host, headers, body, path)
        assert r.status_code == 401, (what, r.text)
        assert r.headers.get("www-authenticate") or r.json()["error"]["code"], what
    # nothing reached the plugin: its kv saw no event
    notes = host.admin.get("/admin/plugins/hello-world").json()
    assert notes["state"] == "enabled"


def test_the_token_and_none_modes(host_factory, packages):
    token_host = host_factory(env={"PLUGIN_HOST_HOOK_AUTH": "token"})
    assert token_host.install(packages["hello-world"]).status_code == 201
    ok = post(token_host, {"Authorization": f"Bearer {HOOK_SECRET}",
                           "Content-Type": "application/json"})
    assert ok.status_code == 200, ok.text
    for token in ("wrong", HOOK_SECRET + "x", HOOK_SECRET[:-1]):
        r = post(token_host, {"Authorization": f"Bearer {token}",
                              "Content-Type": "application/json"})
        assert r.status_code == 401, token
    open_host = host_factory(env={"PLUGIN_HOST_HOOK_AUTH": "none"})
    assert open_host.install(packages["hello-world"]).status_code == 201
    assert post(open_host, {"Content-Type": "application/json"}).status_code == 200
    assert "host.hooks_unauthenticated" in open_host.log_text()


def test_without_a_configured_secret_the_host_keeps_one(tmp_path, keys, packages):
    from tests.support.servers import Host

    host = Host(tmp_path / "h", keys["pub"], env={"PLUGIN_HOST_HOOK_SECRET": ""}).start()
    try:
        kept = (tmp_path / "h" / "hook-secret")
        assert kept.stat().st_mode & 0o777 == 0o600
        secret = kept.read_text().strip()
        assert len(secret) >= 40
        assert post(host, signed_headers(HOOK_SECRET, PATH, BODY)).status_code == 401
        r = post(host, signed_headers(secret, PATH, BODY))
        assert r.status_code == 200, r.text
    finally:
        host.stop()


def test_a_short_hook_secret_stops_the_host_at_start(tmp_path):
    """A guessable secret would let anyone deliver events: the host says so and stops."""
    import os
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "plugin_host.cli", "serve", "--data-dir",
                        str(tmp_path / "h"), "--port", "0", "--admin-token", "x"],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PLUGIN_HOST_HOOK_SECRET": "0123456789abcdef"})
    assert r.returncode != 0
    assert "hook_secret: Value error, at least 32 characters" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
