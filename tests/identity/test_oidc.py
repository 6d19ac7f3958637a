"""OpenID Connect sign-in against a real provider (node's oidc-provider): the browser's
code + PKCE flow into the registry and the host, sessions with refresh and logout, roles
from groups (and losing one), the CI client's client-credentials publishing, and the
host's admin API with the provider's tokens."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx

from plugin_host.package.signing import generate_keypair
from tests.identity.conftest import bearer, cli_access_token, web_sign_in
from tests.support.oidc import CI_SECRET, browser_sign_in
from tests.support.paths import EXAMPLES
from tests.support.plugins import signed


def test_a_person_signs_in_to_the_registry_with_code_and_pkce(sso_registry, idp):
    session = web_sign_in(sso_registry.url, "ada")
    assert session["name"] == "ada" and session["provider"] == "oidc"
    assert set(session["roles"]) == {"admin", "user"}
    assert session["access_token"].startswith("ksa_") and session["expires_in"] == 900
    me = httpx.get(f"{sso_registry.url}/api/v1/me", headers=bearer(session["access_token"]))
    assert me.status_code == 200 and me.json()["role"] == "admin", me.text
    assert me.json()["provider"] == "oidc"
    # the account was made at first sign-in; an admin route works with the session
    r = httpx.get(f"{sso_registry.url}/api/v1/audit", headers=bearer(session["access_token"]),
                  params={"actor": "ada", "action": "sign_in"})
    assert r.status_code == 200 and r.json()["events"][0]["provider"] == "oidc", r.text


def test_the_authorization_request_carries_pkce_state_and_nonce(sso_registry):
    r = httpx.get(f"{sso_registry.url}/auth/oidc/login")
    assert r.status_code == 302
    target = httpx.URL(r.headers["location"])
    params = dict(target.params)
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 32 and len(params["nonce"]) >= 32
    assert params["client_id"] == "marketplace" and params["response_type"] == "code"


def test_a_replayed_state_is_refused(sso_registry):
    back = browser_sign_in(f"{sso_registry.url}/auth/oidc/login", "uma",
                           stop_at=f"{sso_registry.url}/auth/oidc/callback")
    assert httpx.get(back).status_code == 200
    again = httpx.get(back)
    assert again.status_code == 401
    assert "already used" in again.json()["error"]["message"]
    forged = httpx.get(f"{sso_registry.url}/auth/oidc/callback",
                       params={"code": "x", "state": "made-up"})
    assert forged.status_code == 401


def test_a_return_to_elsewhere_is_refused(sso_registry):
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        r = httpx.get(f"{sso_registry.url}/auth/oidc/login", params={"return_to": target})
        assert r.status_code == 422 and "return_to" in r.json()["error"]["message"], target


def test_refresh_rotates_and_logout_ends_the_session(sso_registry):
    session = web_sign_in(sso_registry.url, "rita")
    assert set(session["roles"]) == {"reviewer", "user"}
    fresh = httpx.post(f"{sso_registry.url}/auth/refresh",
                       json={"refresh_token": session["refresh_token"]})
    assert fresh.status_code == 200, fresh.text
    new = fresh.json()
    assert new["access_token"] != session["access_token"]
    # the old refresh token was used up; the old access token no longer works
    reuse = httpx.post(f"{sso_registry.url}/auth/refresh",
                       json={"refresh_token": session["refresh_token"]})
    assert reuse.status_code == 401
    old = httpx.get(f"{sso_registry.url}/api/v1/me", headers=bearer(session["access_token"]))
    assert old.status_code == 401
    me = httpx.get(f"{sso_registry.url}/api/v1/review/queue",
                   headers=bearer(new["access_token"]))
    assert me.status_code == 200
    out = httpx.post(f"{sso_registry.url}/auth/logout", headers=bearer(new["access_token"]))
    assert out.status_code == 200 and out.json()["signed_out"] is True
    for path, body in (("/api/v1/me", None),):
        r = httpx.get(f"{sso_registry.url}{path}", headers=bearer(new["access_token"]))
        assert r.status_code == 401, body
    r = httpx.post(f"{sso_registry.url}/auth/refresh",
                   json={"refresh_token": new["refresh_token"]})
    assert r.status_code == 401


def test_a_person_removed_from_the_admin_group_loses_the_role_at_refresh(sso_registry, idp):
    idp.set_users({**{u: g for u, g in _users(idp).items()}, "eve": ["koha-admins"]})
    session = web_sign_in(sso_registry.url, "eve")
    token = session["access_token"]
    assert httpx.get(f"{sso_registry.url}/api/v1/audit", headers=bearer(token)
                     ).status_code == 200
    idp.set_groups("eve", [])
    fresh = httpx.post(f"{sso_registry.url}/auth/refresh",
                       json={"refresh_token": session["refresh_token"]})
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["roles"] == ["user"]
    r = httpx.get(f"{sso_registry.url}/api/v1/audit", headers=bearer(fresh.json()["access_token"]))
    assert r.status_code == 403, r.text
    # and the change is in the audit log
    admin = httpx.get(f"{sso_registry.url}/api/v1/audit", params={"action": "role_change"},
                      headers=bearer(sso_registry.tokens["admin"])).json()["events"]
    change = next(e for e in admin if e["actor"] == "eve")
    assert change["detail"] == {"from": ["admin", "user"], "to": ["user"]}


def _users(idp) -> dict[str, list[str]]:
    import json

    return {u: v["groups"] for u, v in json.loads(idp.users_file.read_text()).items()}


def cli(*args: str, env: dict[str, str], stdin: str | None = None,
        wait: bool = True) -> subprocess.CompletedProcess | subprocess.Popen:
    argv = [sys.executable, "-m", "plugin_host.cli", *args]
    full = {**os.environ, **env}
    if wait:
        return subprocess.run(argv, env=full, input=stdin, capture_output=True, text=True,
                              timeout=120)
    return subprocess.Popen(argv, env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_the_cli_signs_in_through_the_browser(sso_registry, tmp_path):
    """`plugin-host login --sso`: PKCE with the public CLI client, the code coming back to
    a loopback port; later commands use (and refresh) the provider's token."""
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    proc = cli("login", "--registry", sso_registry.url, "--sso", "--no-browser", env=env,
               wait=False)
    assert proc.stdout is not None
    lines = [proc.stdout.readline(), proc.stdout.readline()]
    address = lines[1].strip()
    assert address.startswith("http://127.0.0.1:") and "code_challenge=" in address, lines
    back = browser_sign_in(address, "rita",
                           stop_at=httpx.URL(address).params["redirect_uri"])
    assert "/callback?code=" in back and httpx.get(back).status_code == 200
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert f"logged in to {sso_registry.url} as rita (reviewer) through single sign-on" in out
    creds = json.loads((tmp_path / "config" / "koha-plugin-host" / "credentials.json")
                       .read_text())["registries"][sso_registry.url]
    assert creds["refresh_token"] and creds["client_id"] == "plugin-host-cli"
    r = cli("review", "list", "--json", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    # an expired access token is refreshed at the provider before the next command
    path = tmp_path / "config" / "koha-plugin-host" / "credentials.json"
    data = json.loads(path.read_text())
    data["registries"][sso_registry.url]["expires_at"] = 0
    path.write_text(json.dumps(data))
    r = cli("review", "list", "--json", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    refreshed = json.loads(path.read_text())["registries"][sso_registry.url]
    assert refreshed["token"] != creds["token"] and refreshed["expires_at"] > 0


def test_ci_publishes_with_client_credentials(sso_registry, idp, tmp_path, plugin_copy):
    """The CI identity (client credentials, no person) gets the publisher role that
    oidc_machine_roles gives it, registers its key and publishes with `plugin-host
    publish`; it cannot review."""
    token = idp.client_credentials()
    key, pub, _ = generate_keypair(tmp_path / "ci")
    r = httpx.post(f"{sso_registry.url}/api/v1/keys", headers=bearer(token),
                   json={"public_key": pub.read_text()})
    assert r.status_code == 201, r.text
    src = plugin_copy(EXAMPLES / "hello-world")
    toml = (src / "plugin.toml").read_text().replace('name = "hello-world"',
                                                     'name = "ci-built"')
    (src / "plugin.toml").write_text(toml)
    package = tmp_path / "ci-built.kplugin"
    package.write_bytes(signed(src, key, tmp_path / "out"))
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "PLUGIN_REGISTRY_URL": sso_registry.url,
           "PLUGIN_REGISTRY_CLIENT_ID": "ci-publisher", "PLUGIN_REGISTRY_CLIENT_SECRET": CI_SECRET}
    r = cli("publish", str(package), env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "in_review" in r.stdout or "review" in r.stdout
    queue = httpx.get(f"{sso_registry.url}/api/v1/review/queue", headers=bearer(token))
    assert queue.status_code == 403
    events = httpx.get(f"{sso_registry.url}/api/v1/audit", params={"action": "publish"},
                       headers=bearer(sso_registry.tokens["admin"])).json()["events"]
    assert events[0]["actor"] == "ci-publisher" and events[0]["provider"] == "oidc"
    # a wrong secret gets nothing
    env["PLUGIN_REGISTRY_CLIENT_SECRET"] = "wrong"
    r = cli("publish", str(package), env=env)
    assert r.returncode != 0 and "invalid_client" in r.stderr, r.stderr


def test_the_host_admin_api_takes_the_providers_people(sso_host, idp):
    """A session from the host's own web sign-in, and the provider's access token, both
    work for a member of koha-host-admins and are refused (403) for anyone else; the
    bootstrap token still works."""
    hal = web_sign_in(sso_host.url, "hal")
    assert hal["roles"] == ["host-admin"]
    r = httpx.get(f"{sso_host.url}/admin/plugins", headers=bearer(hal["access_token"]))
    assert r.status_code == 200, r.text
    uma = web_sign_in(sso_host.url, "uma")
    r = httpx.get(f"{sso_host.url}/admin/plugins", headers=bearer(uma["access_token"]))
    assert r.status_code == 403 and "host-admin" in r.json()["error"]["message"]
    for login, status in (("hal", 200), ("ada", 200), ("uma", 403), ("pat", 403)):
        token = cli_access_token(idp, login)
        r = httpx.get(f"{sso_host.url}/admin/plugins", headers=bearer(token))
        assert r.status_code == status, (login, r.text)
    assert sso_host.admin.get("/admin/plugins").status_code == 200
    r = sso_host.admin.put("/admin/plugins/nothing/config", json={})
    events = httpx.get(f"{sso_host.url}/admin/audit", headers=bearer(hal["access_token"])
                       ).json()["events"]
    assert events[0]["actor"] == "bootstrap-token" and events[0]["status"] == r.status_code
    assert any(e["actor"] == "hal" and e["action"] == "sign_in" for e in events)
    assert any(e["actor"] == "uma" and e["action"] == "sign_in" for e in events)


def test_a_provider_user_named_admin_never_becomes_the_local_admin(sso_registry, idp):
    """Accounts are linked by provider and subject, never by name: `admin` at the
    provider gets an account of its own (admin-2) with only the roles of its groups."""
    users = json.loads(idp.users_file.read_text())
    users["admin"] = {"groups": [], "email": "admin@evil.example"}
    idp.users_file.write_text(json.dumps(users))
    session = web_sign_in(sso_registry.url, "admin")
    assert session["name"] == "admin-2" and session["roles"] == ["user"]
    r = httpx.post(f"{sso_registry.url}/api/v1/accounts", headers=bearer(
        session["access_token"]), json={"name": "x2", "role": "admin"})
    assert r.status_code == 403
    local = httpx.get(f"{sso_registry.url}/api/v1/me",
                      headers=bearer(sso_registry.tokens["admin"])).json()
    assert local == {"name": "admin", "role": "admin", "roles": ["admin"], "provider": "token"}


def test_a_browser_sign_in_returns_to_its_page_with_a_one_time_handoff(sso_host):
    """Started with return_to, the callback sends the browser back there with a code in
    the fragment (never sent to a server, never in a log); the page trades it for the
    session once, within a minute. The tokens never appear in an address."""
    start = f"{sso_host.url}/auth/oidc/login?return_to=/console"
    back = browser_sign_in(start, "hal", stop_at=f"{sso_host.url}/auth/oidc/callback")
    r = httpx.get(back)
    assert r.status_code == 303, r.text
    target = r.headers["location"]
    assert target.startswith("/console#handoff=") and "ksa_" not in target
    code = target.split("#handoff=")[1]
    session = httpx.post(f"{sso_host.url}/auth/handoff", json={"code": code})
    assert session.status_code == 200, session.text
    assert session.json()["name"] == "hal" and "host-admin" in session.json()["roles"]
    token = session.json()["access_token"]
    assert httpx.get(f"{sso_host.url}/admin/plugins", headers=bearer(token)).status_code == 200
    for attempt in (code, "made-up-code-0123456789"):
        again = httpx.post(f"{sso_host.url}/auth/handoff", json={"code": attempt})
        assert again.status_code == 401 and "sign in again" in again.json()["error"]["message"]
