"""LDAP sign-in against a real OpenLDAP (slapd) over StartTLS and LDAPS: roles from its
groups, refused passwords, user names carrying filter characters, an untrusted
certificate, a clear-text setting refused, and groups read again at refresh."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.identity.conftest import bearer, ldap_env
from tests.support.ldap import PASSWORDS
from tests.support.servers import Host, RegistryProc, start_registry


@pytest.fixture(scope="module")
def ldap_registry(tmp_path_factory, keys, slapd) -> Iterator[RegistryProc]:
    d = tmp_path_factory.mktemp("ldap-registry")
    reg = start_registry(d / "data", d / "registry.log", keys["pub"].read_text(),
                         ldap_env("PLUGIN_REGISTRY_", slapd))
    yield reg
    reg.stop()


def sign_in(url: str, username: str, password: str) -> httpx.Response:
    return httpx.post(f"{url}/auth/ldap", json={"username": username, "password": password},
                      timeout=30)


def test_a_person_signs_in_with_the_directory_over_starttls(ldap_registry):
    r = sign_in(ldap_registry.url, "ada", PASSWORDS["ada"])
    assert r.status_code == 200, r.text
    session = r.json()
    assert session["name"] == "ada" and session["provider"] == "ldap"
    assert set(session["roles"]) == {"admin", "user"}
    me = httpx.get(f"{ldap_registry.url}/auth/me", headers=bearer(session["access_token"]))
    assert "koha-admins" in me.json()["groups"]
    r = sign_in(ldap_registry.url, "rita", PASSWORDS["rita"])
    assert set(r.json()["roles"]) == {"reviewer", "user"}


def test_wrong_and_empty_passwords_are_refused(ldap_registry):
    for username, password in (("ada", "wrong"), ("ada", "rita-pass"), ("nobody", "x"),
                               ("ada", "")):
        r = sign_in(ldap_registry.url, username, password)
        assert r.status_code == 401, (username, password, r.text)
    assert "empty password" in sign_in(ldap_registry.url, "ada", "").json()["error"]["message"]


def test_filter_characters_in_the_user_name_match_only_themselves(ldap_registry):
    """With ada's password, none of these may sign in as ada (or anyone): unescaped, the
    first three would match her entry."""
    for username in ("ad*", "*", "ada)(uid=*", "*)(|(uid=*", "ada)(|(objectClass=*",
                     "a*a", "ada\\2a", "(uid=ada)"):
        r = sign_in(ldap_registry.url, username, PASSWORDS["ada"])
        assert r.status_code == 401, (username, r.text)
    r = sign_in(ldap_registry.url, "ada\x00", PASSWORDS["ada"])
    assert r.status_code in (401, 422), r.text


def test_ldaps_works_and_an_untrusted_certificate_is_refused(tmp_path, keys, slapd):
    reg = start_registry(tmp_path / "a", tmp_path / "a.log", keys["pub"].read_text(),
                         ldap_env("PLUGIN_REGISTRY_", slapd, url=slapd.ldaps_url))
    try:
        assert sign_in(reg.url, "pat", PASSWORDS["pat"]).json()["roles"] == [
            "publisher", "user"]
    finally:
        reg.stop()
    env = ldap_env("PLUGIN_REGISTRY_", slapd)
    env.pop("PLUGIN_REGISTRY_LDAP_CA_FILE")  # the system's CAs do not know the test CA
    reg = start_registry(tmp_path / "b", tmp_path / "b.log", keys["pub"].read_text(), env)
    try:
        r = sign_in(reg.url, "pat", PASSWORDS["pat"])
        assert r.status_code == 503, r.text
        assert "cannot be reached securely" in r.json()["error"]["message"]
    finally:
        reg.stop()


def test_clear_text_ldap_is_refused_at_start(tmp_path, slapd):
    env = {**ldap_env("PLUGIN_REGISTRY_", slapd, ldap_start_tls="false")}
    r = subprocess.run([sys.executable, "-m", "plugin_host.cli", "registry", "serve",
                        "--port", "1", "--data-dir", str(tmp_path / "r")],
                       env={**__import__("os").environ, **env}, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0
    assert "ldap_start_tls" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_groups_are_read_again_at_refresh(ldap_registry, slapd):
    session = sign_in(ldap_registry.url, "uma", PASSWORDS["uma"]).json()
    assert session["roles"] == ["user"] and session["refresh_token"]
    slapd.set_members("koha-reviewers", ["rita", "uma"])
    try:
        fresh = httpx.post(f"{ldap_registry.url}/auth/refresh",
                           json={"refresh_token": session["refresh_token"]}).json()
        assert set(fresh["roles"]) == {"reviewer", "user"}
        slapd.set_members("koha-reviewers", ["rita"])
        again = httpx.post(f"{ldap_registry.url}/auth/refresh",
                           json={"refresh_token": fresh["refresh_token"]}).json()
        assert again["roles"] == ["user"]
        r = httpx.get(f"{ldap_registry.url}/api/v1/review/queue",
                      headers=bearer(again["access_token"]))
        assert r.status_code == 403
    finally:
        slapd.set_members("koha-reviewers", ["rita"])


def test_the_host_takes_directory_people_with_the_host_admin_group(tmp_path, keys, slapd):
    host = Host(tmp_path / "host", keys["pub"], env=ldap_env("PLUGIN_HOST_", slapd)).start()
    try:
        r = sign_in(host.url, "ada", PASSWORDS["ada"])
        assert r.status_code == 200, r.text
        ada = r.json()
        assert ada["roles"] == ["host-admin"]
        assert httpx.get(f"{host.url}/admin/plugins", headers=bearer(ada["access_token"])
                         ).status_code == 200
        rita = sign_in(host.url, "rita", PASSWORDS["rita"]).json()
        assert httpx.get(f"{host.url}/admin/plugins", headers=bearer(rita["access_token"])
                         ).status_code == 403
    finally:
        host.stop()
