"""One OpenID provider, one registry and one host per module, configured the way a
library's deploy configures them: groups koha-admins, koha-reviewers, koha-publishers and
koha-host-admins map to the roles; the CI client ``ci-publisher`` publishes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from ops.processes import free_port
from tests.support.oidc import RESOURCE, WEB_SECRET, Idp, browser_sign_in, start_idp
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
