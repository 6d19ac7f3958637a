"""The role matrix over every route, run with credentials from each provider: OIDC
sessions (browser sign-in), the OIDC provider's own access tokens (as the CLI sends
them), LDAP sessions and SAML sessions. One registry and one host take all three
providers at once, as a library that moves from LDAP to OIDC would run them."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from plugin_host.package.signing import generate_keypair
from tests.identity.conftest import (
    bearer,
    cli_access_token,
    identity_env,
    ldap_env,
    saml_env,
    web_sign_in,
)
from tests.support.ldap import PASSWORDS
from tests.support.plugins import variant
from tests.support.rbac import run_matrix, unlisted_routes
from tests.support.saml import post_response
from tests.support.servers import Host, RegistryProc, start_registry

#: the person holding each role, at every provider
PEOPLE = {"admin": "ada", "reviewer": "rita", "publisher": "pat", "user": "uma"}
SAML_GROUPS = {"ada": ["koha-admins"], "rita": ["koha-reviewers"],
               "pat": ["koha-publishers"], "uma": [], "hal": ["koha-host-admins"]}
PROVIDERS = ["oidc-session", "oidc-access-token", "ldap", "saml"]


def all_providers(prefix: str, idp, slapd, saml_idp, folder, url: str) -> dict[str, str]:
    return {**identity_env(prefix, idp, url), **ldap_env(prefix, slapd),
            **saml_env(prefix, saml_idp, folder, url)}


@pytest.fixture(scope="module")
def registry3(tmp_path_factory, keys, idp, slapd, saml_idp, ports) -> Iterator[RegistryProc]:
    d = tmp_path_factory.mktemp("registry3")
    url = f"http://127.0.0.1:{ports['registry']}"
    reg = start_registry(d / "data", d / "registry.log", keys["pub"].read_text(),
                         all_providers("PLUGIN_REGISTRY_", idp, slapd, saml_idp, d, url),
                         port=ports["registry"])
    saml_idp.trust(httpx.get(f"{reg.url}/auth/saml/metadata").text)
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def host3(tmp_path_factory, keys, idp, slapd, saml_idp, ports) -> Iterator[Host]:
    d = tmp_path_factory.mktemp("host3")
    url = f"http://127.0.0.1:{ports['host']}"
    host = Host(d / "host", keys["pub"], port=ports["host"],
                env=all_providers("PLUGIN_HOST_", idp, slapd, saml_idp, d, url)).start()
    saml_idp.trust(httpx.get(f"{host.url}/auth/saml/metadata").text)
    yield host
    host.stop()


def token_of(kind: str, url: str, login: str, idp, saml_idp) -> str:
    if kind == "oidc-session":
        return web_sign_in(url, login)["access_token"]
    if kind == "oidc-access-token":
        return cli_access_token(idp, login)
    if kind == "ldap":
        r = httpx.post(f"{url}/auth/ldap", json={"username": login,
                                                 "password": PASSWORDS.get(login, "x")})
        assert r.status_code == 200, r.text
        return r.json()["access_token"]
    location = httpx.get(f"{url}/auth/saml/login").headers["location"]
    acs, response = saml_idp.answer(location, {"uid": [login],
                                               "memberOf": SAML_GROUPS[login]})
    r = post_response(acs, response)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.mark.parametrize("kind", PROVIDERS)
def test_the_registry_role_matrix_holds_for_each_provider(kind, registry3, idp, saml_idp,
                                                          tmp_path):
    assert unlisted_routes(registry3.url) == set()
    tokens = {role: token_of(kind, registry3.url, login, idp, saml_idp)
              for role, login in PEOPLE.items()}
    names = {role: httpx.get(f"{registry3.url}/api/v1/me", headers=bearer(t)).json()["name"]
             for role, t in tokens.items()}
    assert {r: httpx.get(f"{registry3.url}/api/v1/me", headers=bearer(t)).json()["role"]
            for r, t in tokens.items()} == {r: r for r in PEOPLE}
    # the publisher's own plugin, approved; a token of the user's for the table to revoke
    key, pub, _ = generate_keypair(tmp_path / "key")
    assert httpx.post(f"{registry3.url}/api/v1/keys", headers=bearer(tokens["publisher"]),
                      json={"public_key": pub.read_text()}).status_code == 201
    plugin = f"hello-{kind}"
    r = httpx.post(f"{registry3.url}/api/v1/packages", headers={
        **bearer(tokens["publisher"]), "Content-Type": "application/zip"},
        content=variant(tmp_path, plugin, "1.0.0", key=key))
    assert r.status_code == 201, r.text
    assert httpx.post(f"{registry3.url}/api/v1/review/{plugin}/1.0.0",
                      headers=bearer(tokens["reviewer"]),
                      json={"decision": "approve"}).status_code == 200
    made = httpx.post(f"{registry3.url}/api/v1/accounts/{names['user']}/tokens",
                      headers=bearer(tokens["user"]))
    assert made.status_code == 201, made.text
    run_matrix(registry3.url, {None: None, **tokens},
               {"plugin": plugin, "user": names["user"], "publisher": names["publisher"],
                "token": str(made.json()["id"])})


#: host routes anyone may call (plugin routes, UI assets, sign-in)
HOST_PUBLIC_PREFIXES = ("/plugins/", "/ui/", "/hooks/", "/auth/", "/healthz", "/readyz",
                        "/metrics")


@pytest.mark.parametrize("kind", PROVIDERS)
def test_every_host_admin_route_needs_the_host_admin_role(kind, host3, idp, saml_idp):
    spec = httpx.get(f"{host3.url}/openapi.json").json()
    routes = [(m.upper(), p) for p, ops in spec["paths"].items() for m in ops]
    admin_routes = [(m, p) for m, p in routes if p.startswith("/admin")]
    assert {p for _, p in routes if not p.startswith("/admin")} <= {
        p for p in spec["paths"] if p.startswith(HOST_PUBLIC_PREFIXES)}
    assert len(admin_routes) >= 15
    tokens = {"host-admin": token_of(kind, host3.url, "ada", idp, saml_idp),
              "user": token_of(kind, host3.url, "rita", idp, saml_idp)}
    for method, path in admin_routes:
        url = host3.url + path.replace("{name}", "nothing-here").replace(
            "{secret}", "API_KEY").replace("{version}", "1.0.0")
        anon = httpx.request(method, url)
        assert anon.status_code == 401, (method, path, anon.text)
        other = httpx.request(method, url, headers=bearer(tokens["user"]))
        assert other.status_code == 403, (kind, method, path, other.text)
        admin = httpx.request(method, url, headers=bearer(tokens["host-admin"]), timeout=60)
        assert admin.status_code not in (401, 403), (kind, method, path, admin.text)
