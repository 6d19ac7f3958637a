"""SAML 2.0 sign-in into the registry with a pysaml2 identity provider: roles from the
memberOf attribute; refused: a tampered attribute, an unsigned assertion, SHA-1, another
IdP's key, a replayed response, an unsolicited response, a response for another
request."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.identity.conftest import bearer, saml_env
from tests.support.saml import post_response, start_saml_idp, tamper
from tests.support.servers import RegistryProc, start_registry

ADA = {"uid": ["ada"], "memberOf": ["koha-admins"]}
UMA = {"uid": ["uma"], "memberOf": ["koha-users"]}


@pytest.fixture(scope="module")
def saml_registry(tmp_path_factory, keys, saml_idp) -> Iterator[RegistryProc]:
    from ops.processes import free_port

    d = tmp_path_factory.mktemp("saml-registry")
    port = free_port()
    reg = start_registry(d / "data", d / "registry.log", keys["pub"].read_text(),
                         saml_env("PLUGIN_REGISTRY_", saml_idp, d, f"http://127.0.0.1:{port}"),
                         port=port)
    saml_idp.trust(httpx.get(f"{reg.url}/auth/saml/metadata").text)
    yield reg
    reg.stop()


def start(reg: RegistryProc) -> str:
    r = httpx.get(f"{reg.url}/auth/saml/login")
    assert r.status_code == 302, r.text
    assert "SAMLRequest=" in r.headers["location"] and "SigAlg=" in r.headers["location"]
    return r.headers["location"]


def test_the_service_provider_metadata_names_its_acs_and_key(saml_registry):
    r = httpx.get(f"{saml_registry.url}/auth/saml/metadata")
    assert r.status_code == 200 and "samlmetadata" in r.headers["content-type"]
    assert f"{saml_registry.url}/auth/saml/acs" in r.text
    assert 'WantAssertionsSigned="true"' in r.text and "X509Certificate" in r.text


def test_a_person_signs_in_with_saml(saml_registry, saml_idp):
    acs, response = saml_idp.answer(start(saml_registry), ADA)
    r = post_response(acs, response)
    assert r.status_code == 200, r.text
    session = r.json()
    assert session["name"] == "ada" and session["provider"] == "saml"
    assert set(session["roles"]) == {"admin", "user"}
    me = httpx.get(f"{saml_registry.url}/api/v1/me", headers=bearer(session["access_token"]))
    assert me.json()["role"] == "admin"
    acs, response = saml_idp.answer(start(saml_registry), UMA)
    assert post_response(acs, response).json()["roles"] == ["user"]


def test_a_tampered_attribute_is_refused(saml_registry, saml_idp):
    acs, response = saml_idp.answer(start(saml_registry), UMA)
    forged = tamper(response, "koha-users", "koha-admins")
    r = post_response(acs, forged)
    assert r.status_code == 401 and "Failed to verify signature" in r.text, r.text


def test_an_unsigned_assertion_is_refused(saml_registry, saml_idp):
    acs, response = saml_idp.answer(start(saml_registry), ADA, sign=False)
    r = post_response(acs, response)
    assert r.status_code == 401 and "Signature missing for assertion" in r.text, r.text


def test_sha1_is_refused(saml_registry, saml_idp):
    acs, response = saml_idp.answer(start(saml_registry), ADA, sha1=True)
    r = post_response(acs, response)
    assert r.status_code == 401 and "SHA-256" in r.json()["error"]["message"], r.text


def test_another_idps_key_is_refused(saml_registry, saml_idp, tmp_path):
    location = start(saml_registry)
    other = start_saml_idp(tmp_path / "other")  # same entity id, its own key
    other.trust(httpx.get(f"{saml_registry.url}/auth/saml/metadata").text)
    acs, response = other.answer(location, ADA)
    r = post_response(acs, response)
    assert r.status_code == 401 and "Failed to verify signature" in r.text, r.text


def test_replayed_unsolicited_and_misdirected_responses_are_refused(saml_registry, saml_idp):
    acs, response = saml_idp.answer(start(saml_registry), ADA)
    assert post_response(acs, response).status_code == 200
    again = post_response(acs, response)
    assert again.status_code == 401 and "unsolicited" in again.json()["error"]["message"]
    sp_entity = f"{saml_registry.url}/auth/saml/metadata"
    unsolicited = saml_idp.response(None, acs, sp_entity, ADA)
    assert post_response(acs, unsolicited).status_code == 401
    made_up = saml_idp.response("id-this-sp-never-sent", acs, sp_entity, ADA)
    assert post_response(acs, made_up).status_code == 401
    for body in ({"SAMLResponse": "not base64!"}, {"SAMLResponse": ""}, {}):
        r = httpx.post(acs, data=body)
        assert r.status_code in (401, 422) and "Traceback" not in r.text, r.text
    bomb = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><x>&b;</x>')
    import base64

    r = post_response(acs, base64.b64encode(bomb.encode()).decode())
    assert r.status_code == 401, r.text
