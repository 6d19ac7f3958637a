"""The audit trail: each privileged act, done by people signed in through the provider,
is in the database (the admin routes), in the JSON-lines file and in the export, with
its actor, provider, target, outcome and address; sign-ins and refusals are counted in
the metrics; no secret value ever reaches the log."""

from __future__ import annotations

import json

import httpx

from plugin_host.package.signing import generate_keypair
from tests.identity.conftest import bearer, web_sign_in
from tests.support.plugins import variant


def events(url: str, token: str, path: str, **params) -> list[dict]:
    r = httpx.get(f"{url}{path}", headers=bearer(token), params=params)
    assert r.status_code == 200, r.text
    return r.json()["events"]


def test_each_privileged_registry_act_names_its_actor(sso_registry, tmp_path):
    url = sso_registry.url
    ada, pat, rita = (web_sign_in(url, u)["access_token"] for u in ("ada", "pat", "rita"))
    key, pub, _ = generate_keypair(tmp_path / "k")
    steps = [
        (pat, "POST", "/api/v1/keys", {"json": {"public_key": pub.read_text()}}),
        (pat, "POST", "/api/v1/packages", {"content": variant(tmp_path, "audited", "1.0.0",
                                                              key=key),
                                           "headers": {"Content-Type": "application/zip"}}),
        (rita, "POST", "/api/v1/review/audited/1.0.0", {"json": {"decision": "approve",
                                                                  "comment": "read it"}}),
        (pat, "POST", "/api/v1/plugins/audited/1.0.0/yank", {}),
        (ada, "POST", "/api/v1/accounts", {"json": {"name": "ci-bot", "role": "publisher"}}),
        (ada, "POST", "/api/v1/accounts/ci-bot/tokens", {"json": {"scopes": ["publisher"],
                                                                  "days": 30}}),
        (rita, "POST", "/api/v1/accounts", {"json": {"name": "sneaky", "role": "admin"}}),
    ]
    for token, method, path, kw in steps:
        headers = {**bearer(token), **kw.pop("headers", {})}
        httpx.request(method, f"{url}{path}", headers=headers, timeout=60, **kw)
    log = events(url, ada, "/api/v1/audit", limit=50)
    acts = [(e["actor"], e["action"], e["target"], e["outcome"]) for e in reversed(log)
            if e["action"] != "sign_in"]
    for expected in [("pat", "add_key", "", "ok"), ("pat", "publish", "", "ok"),
                     ("rita", "review", "audited/1.0.0", "ok"),
                     ("pat", "yank", "audited/1.0.0", "ok"),
                     ("ada", "create_account", "", "ok"),
                     ("ada", "create_token", "ci-bot", "ok"),
                     ("rita", "create_account", "", "refused")]:
        assert expected in acts, (expected, acts)
    people = [e for e in log if e["actor"] in ("ada", "pat", "rita")]
    by_action = {e["action"]: e for e in people}
    assert by_action["publish"]["detail"]["plugin"] == "audited"
    assert by_action["review"]["detail"]["decision"] == "approve"
    assert by_action["create_token"]["detail"]["scopes"] == ["publisher"]
    assert all(e["provider"] == "oidc" and e["address"] == "127.0.0.1" for e in people)
    # the set-up's own acts name the bootstrap token's account
    assert any(e["actor"] == "admin" and e["provider"] == "token" for e in log)
    # the export and the file hold the same events, as JSON lines
    r = httpx.get(f"{url}/api/v1/audit", headers=bearer(ada),
                  params={"format": "jsonl", "actor": "rita"})
    assert r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert lines and all(e["actor"] == "rita" for e in lines)
    file_lines = [json.loads(line) for line in
                  (sso_registry.data / "audit.jsonl").read_text().splitlines()]
    assert {e["id"] for e in lines} <= {e["id"] for e in file_lines}
    assert all(e["service"] == "registry" for e in file_lines)
    # only admins read the log
    assert httpx.get(f"{url}/api/v1/audit", headers=bearer(rita)).status_code == 403


def test_each_privileged_host_act_names_its_actor_and_no_secret(sso_host, packages):
    url = sso_host.url
    hal = web_sign_in(url, "hal")["access_token"]
    h = {**bearer(hal)}
    r = httpx.post(f"{url}/admin/plugins", content=packages["hello-world"],
                   headers={**h, "Content-Type": "application/zip"}, timeout=120)
    assert r.status_code == 201, r.text
    secret_value = "s3cr3t-value-never-logged"
    calls = [("PUT", "/admin/plugins/hello-world/config", {"json": {"greeting": "Hej"}}),
             ("POST", "/admin/plugins/hello-world/disable", {}),
             ("POST", "/admin/plugins/hello-world/enable", {}),
             ("PUT", "/admin/plugins/hello-world/secrets/API_KEY",
              {"json": {"value": secret_value}}),
             ("DELETE", "/admin/plugins/hello-world", {})]
    for method, path, kw in calls:
        httpx.request(method, f"{url}{path}", headers=h, timeout=120, **kw)
    log = events(url, hal, "/admin/audit", actor="hal")
    acts = [(e["action"], e["target"]) for e in reversed(log)]
    assert acts[:1] == [("sign_in", "")]
    for expected in [("install_plugin", ""), ("configure_plugin", "hello-world"),
                     ("disable_plugin", "hello-world"), ("enable_plugin", "hello-world"),
                     ("set_secret", "hello-world/API_KEY"),
                     ("uninstall_plugin", "hello-world")]:
        assert expected in acts, (expected, acts)
    install = next(e for e in log if e["action"] == "install_plugin")
    assert install["detail"] == {"plugin": "hello-world", "version": "1.0.0"}
    assert next(e for e in log if e["action"] == "configure_plugin")["detail"] == {
        "keys": ["greeting"]}
    text = (sso_host.data_dir / "audit.jsonl").read_text()
    assert secret_value not in text and "Hej" not in text
    assert secret_value not in httpx.get(f"{url}/admin/audit", headers=h).text


def test_sign_ins_and_refusals_are_counted(sso_registry, sso_host):
    before = metric(sso_registry.url, 'identity_signins_total{outcome="refused",'
                                      'provider="oidc",service="registry"}')
    httpx.get(f"{sso_registry.url}/auth/oidc/callback", params={"code": "x", "state": "y"})
    after = metric(sso_registry.url, 'identity_signins_total{outcome="refused",'
                                     'provider="oidc",service="registry"}')
    assert after == before + 1
    httpx.get(f"{sso_host.url}/admin/plugins", headers=bearer("ksa_made-up"))
    assert metric(sso_host.url, 'identity_refused_credentials_total{reason="session",'
                                'service="host"}') >= 1
    web_sign_in(sso_host.url, "hal")
    assert metric(sso_host.url, 'identity_signins_total{outcome="ok",provider="oidc",'
                                'service="host"}') >= 1


def metric(url: str, series: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0
