"""Sign-in set up wrongly: SAML settings that cannot work stop the registry at start, in
one line naming the setting; an OIDC provider that is away or is not the one named
fails the sign-in with 503 and the reason, never a traceback, and the service keeps
serving the rest."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ops.processes import free_port
from tests.support.saml import rsa_certificate


@pytest.fixture
def saml_files(tmp_path):
    cert, key = rsa_certificate(tmp_path, "sp")
    metadata = tmp_path / "idp.xml"
    metadata.write_text("<EntityDescriptor/>")
    return {"cert": str(cert), "key": str(key), "metadata": str(metadata)}


CASES = {
    "no public_url": ({"metadata"},
                      "public_url: SAML needs it (the assertion consumer service is "
                      "public_url + /auth/saml/acs)"),
    "no certificate": ({"metadata", "public_url"},
                       "saml_sp_cert, saml_sp_key: SAML needs this service's own "
                       "certificate and key"),
    "metadata not a file": ({"missing-metadata", "public_url", "cert", "key"},
                            "saml_idp_metadata: {missing} is not a file"),
}


@pytest.mark.parametrize("case", CASES)
def test_saml_settings_that_cannot_work_stop_the_registry_in_one_line(tmp_path, saml_files,
                                                                      case):
    given, message = CASES[case]
    missing = tmp_path / "nowhere.xml"
    env = {**os.environ}
    for name, value in (("metadata", saml_files["metadata"]), ("missing-metadata", missing),
                        ("public_url", "https://registry.example.org"),
                        ("cert", saml_files["cert"]), ("key", saml_files["key"])):
        if name in given:
            key = {"metadata": "SAML_IDP_METADATA", "missing-metadata": "SAML_IDP_METADATA",
                   "public_url": "PUBLIC_URL", "cert": "SAML_SP_CERT",
                   "key": "SAML_SP_KEY"}[name]
            env[f"PLUGIN_REGISTRY_{key}"] = str(value)
    r = subprocess.run([sys.executable, "-m", "plugin_host.cli", "registry", "serve",
                        "--data-dir", str(tmp_path / "r"), "--port", str(free_port())],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [f"error: {message.format(missing=missing)}"]


def test_an_oidc_provider_away_or_not_the_one_named_fails_sign_in_with_503(
        registry_factory, static_server, tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"
    other = tmp_path / "other"
    (other / ".well-known").mkdir(parents=True)
    (other / ".well-known" / "openid-configuration").write_text(json.dumps(
        {"issuer": "https://somebody-else.example", "jwks_uri": "https://x/jwks"}))
    impostor = static_server(other).url
    for issuer, says in ((closed, f"oidc_issuer: discovery at {closed}/.well-known/"
                                  "openid-configuration failed"),
                         (impostor, "oidc_issuer: the provider calls itself "
                                    "'https://somebody-else.example', not")):
        reg = registry_factory({"PLUGIN_REGISTRY_OIDC_ISSUER": issuer,
                                "PLUGIN_REGISTRY_OIDC_CLIENT_ID": "registry",
                                "PLUGIN_REGISTRY_OIDC_CLIENT_SECRET": "x" * 32,
                                "PLUGIN_REGISTRY_PUBLIC_URL": "http://127.0.0.1:1"})
        r = reg.client().get("/auth/oidc/login", follow_redirects=False)
        assert r.status_code == 503, r.text
        error = r.json()["error"]
        assert error["code"] == "identity_provider_unavailable"
        assert error["message"].startswith(says), error["message"]
        assert reg.client().get("/api/v1/plugins").status_code == 200  # the rest serves
        reg.stop()


def test_a_provider_whose_keys_cannot_be_read_fails_bearer_tokens_with_503(
        registry_factory, static_server, tmp_path):
    """The provider answers discovery but its keys (jwks_uri) are not there: a bearer
    token cannot be checked, which is the provider's outage (503), not the caller's
    fault (401); API tokens of the registry's own keep working."""
    import base64

    folder = tmp_path / "idp"
    (folder / ".well-known").mkdir(parents=True)
    idp = static_server(folder).url
    (folder / ".well-known" / "openid-configuration").write_text(json.dumps({
        "issuer": idp, "jwks_uri": f"http://127.0.0.1:{free_port()}/jwks",
        "token_endpoint": f"{idp}/token", "authorization_endpoint": f"{idp}/auth"}))
    reg = registry_factory({"PLUGIN_REGISTRY_OIDC_ISSUER": idp,
                            "PLUGIN_REGISTRY_OIDC_CLIENT_ID": "registry",
                            "PLUGIN_REGISTRY_OIDC_CLIENT_SECRET": "x" * 32,
                            "PLUGIN_REGISTRY_PUBLIC_URL": "http://127.0.0.1:1"})

    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    token = ".".join([b64({"alg": "RS256", "kid": "k1", "typ": "JWT"}),
                      b64({"iss": idp, "sub": "ada", "aud": "registry"}), "c2ln"])
    r = reg.client().get("/api/v1/review/queue", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "identity_provider_unavailable"
    assert "its keys at http://127.0.0.1:" in r.json()["error"]["message"]
    assert reg.client("reviewer").get("/api/v1/review/queue").status_code == 200
