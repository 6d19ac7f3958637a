"""One OpenID provider, one registry and one host per module, configured the way a
library's deploy configures them: groups koha-admins, koha-reviewers, koha-publishers and
koha-host-admins map to the roles; the CI client ``ci-publisher`` publishes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import pytest

from ops.processes import free_port
from tests.support.ldap import READER_DN, READER_PW, SUFFIX, Slapd, start_slapd
from tests.support.oidc import RESOURCE, WEB_SECRET, Idp, browser_sign_in, start_idp
from tests.support.saml import SamlIdp, rsa_certificate, start_saml_idp
from tests.support.servers import Host, RegistryProc, start_registry

#: login → groups at the provider
USERS = {"ada": ["koha-admins"], "rita": ["koha-reviewers"], "pat": ["koha-publishers"],
         "uma": [], "hal": ["koha-host-admins"]}
ROLE_GROUPS = {"admin": ["koha-admins"], "reviewer": ["koha-reviewers"],
               "publisher": ["koha-publishers"],
               "host-admin": ["koha-host-admins", "koha-admins"]}


def identity_env(prefix: str, idp: Idp, public_url: str, **extra: str) -> dict[str, str]:
    return {f"{prefix}{k.upper()}": v for k, v in {
        "public_url": public_url, "oidc_issuer": idp.issuer, "oidc_client_id": "marketplace",
        "oidc_client_secret": WEB_SECRET, "oidc_cli_client_id": "plugin-host-cli",
        "oidc_audiences": json.dumps([RESOURCE]),
        "oidc_machine_roles": json.dumps({"ci-publisher": ["publisher"]}),
        "role_groups": json.dumps(ROLE_GROUPS), **extra}.items()}


@pytest.fixture(scope="module")
def ports() -> dict[str, int]:
    return {"registry": free_port(), "host": free_port()}


@pytest.fixture(scope="module")
def idp(tmp_path_factory, ports) -> Iterator[Idp]:
    idp = start_idp(tmp_path_factory.mktemp("idp"),
                    [f"http://127.0.0.1:{p}/auth/oidc/callback" for p in ports.values()],
                    USERS)
    yield idp
    idp.stop()


@pytest.fixture(scope="module")
def sso_registry(tmp_path_factory, keys, idp, ports) -> Iterator[RegistryProc]:
    d = tmp_path_factory.mktemp("sso-registry")
    port = ports["registry"]
    reg = start_registry(d / "data", d / "registry.log", keys["pub"].read_text(),
                         identity_env("PLUGIN_REGISTRY_", idp, f"http://127.0.0.1:{port}"),
                         port=port)
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def sso_host(tmp_path_factory, keys, idp, ports) -> Iterator[Host]:
    d = tmp_path_factory.mktemp("sso-host")
    port = ports["host"]
    host = Host(d / "host", keys["pub"], port=port,
                env=identity_env("PLUGIN_HOST_", idp, f"http://127.0.0.1:{port}")).start()
    yield host
    host.stop()


def web_sign_in(service_url: str, login: str) -> dict:
    """A person signs in to a service in the browser (code + PKCE); its session."""
    back = browser_sign_in(f"{service_url}/auth/oidc/login", login,
                           stop_at=f"{service_url}/auth/oidc/callback")
    r = httpx.get(back, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ldap_env(prefix: str, slapd: Slapd, url: str | None = None, **extra: str) -> dict:
    settings = {"ldap_url": url or slapd.url, "ldap_ca_file": str(slapd.ca),
                "ldap_user_search_base": f"ou=people,{SUFFIX}",
                "ldap_bind_dn": READER_DN, "ldap_bind_password": READER_PW,
                "ldap_group_search_base": f"ou=groups,{SUFFIX}",
                "role_groups": json.dumps(ROLE_GROUPS), **extra}
    return {f"{prefix}{k.upper()}": v for k, v in settings.items()}


@pytest.fixture(scope="session")
def slapd(tmp_path_factory) -> Iterator[Slapd]:
    server = start_slapd(tmp_path_factory.mktemp("slapd"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def saml_idp(tmp_path_factory) -> SamlIdp:
    return start_saml_idp(tmp_path_factory.mktemp("saml-idp"))


def saml_env(prefix: str, idp: SamlIdp, folder, url: str) -> dict[str, str]:
    cert, key = rsa_certificate(folder, "sp")
    settings = {"public_url": url, "saml_idp_metadata": str(idp.metadata_file),
                "saml_sp_cert": str(cert), "saml_sp_key": str(key),
                "role_groups": json.dumps(ROLE_GROUPS)}
    return {f"{prefix}{k.upper()}": v for k, v in settings.items()}


def cli_access_token(idp, login: str) -> str:
    """The provider's access token for ``login``, as `plugin-host login --sso` gets it."""
    from plugin_host.identity.client import browser_login

    got: dict = {}

    def show(url: str) -> None:
        got["back"] = browser_sign_in(url, login,
                                      stop_at=httpx.URL(url).params["redirect_uri"])
        threading.Thread(target=httpx.get, args=(got["back"],), daemon=True).start()

    oidc = {"issuer": idp.issuer, "cli_client_id": "plugin-host-cli", "resource": RESOURCE,
            "scopes": "openid profile"}
    return browser_login(oidc, show, timeout=30)["access_token"]
