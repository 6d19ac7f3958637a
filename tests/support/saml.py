"""A SAML 2.0 identity provider for the identity tests: pysaml2's own IdP
(``saml2.server.Server``) run in the test process, with throwaway RSA certificates,
signing assertions with RSA-SHA256 (or, to be refused, SHA-1 or not at all)."""

from __future__ import annotations

import base64
import datetime
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_TRANSIENT, NameID
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA1, DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256

from tests.support.system import require_tool

IDP_ENTITY = "https://idp.library.test/saml"


def rsa_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed RSA certificate and its key (as `openssl req -x509` makes)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2)).sign(key, hashes.SHA256()))
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _idp_config(folder: Path, cert: Path, key: Path, sp_metadata: list[str]) -> IdPConfig:
    config = IdPConfig()
    config.load({
        "entityid": IDP_ENTITY, "xmlsec_binary": "/usr/bin/xmlsec1",
        "key_file": str(key), "cert_file": str(cert),
        "service": {"idp": {
            "endpoints": {"single_sign_on_service": [
                ("https://idp.library.test/sso", BINDING_HTTP_REDIRECT)]},
            "name_id_format": [NAMEID_FORMAT_TRANSIENT],
            "policy": {"default": {"lifetime": {"minutes": 15},
                                   "attribute_restrictions": None}},
        }},
        **({"metadata": {"inline": sp_metadata}} if sp_metadata else {}),
    })
    return config


@dataclass
class SamlIdp:
    folder: Path
    cert: Path
    key: Path
    metadata_file: Path
    server: Server | None = None
    trusted: list[str] = field(default_factory=list)

    def trust(self, sp_metadata: str) -> None:
        """Read a service provider's metadata (from its /auth/saml/metadata)."""
        self.trusted.append(sp_metadata)
        self.server = Server(config=_idp_config(self.folder, self.cert, self.key,
                                                self.trusted))

    def answer(self, login_location: str, attributes: dict[str, list[str]], *,
               sign: bool = True, sha1: bool = False) -> tuple[str, str]:
        """The IdP's side of a sign-in started at ``login_location`` (the SP's redirect):
        (the ACS address, the base64 SAMLResponse to post there)."""
        assert self.server is not None
        query = parse_qs(urlsplit(login_location).query)
        request = self.server.parse_authn_request(query["SAMLRequest"][0],
                                                  BINDING_HTTP_REDIRECT)
        acs = request.message.assertion_consumer_service_url
        return acs, self.response(request.message.id, acs, request.message.issuer.text,
                                  attributes, sign=sign, sha1=sha1)

    def response(self, in_response_to: str | None, acs: str, sp_entity: str,
                 attributes: dict[str, list[str]], *, sign: bool = True,
                 sha1: bool = False) -> str:
        assert self.server is not None
        xml = self.server.create_authn_response(
            attributes, in_response_to, acs, sp_entity,
            name_id=NameID(format=NAMEID_FORMAT_TRANSIENT, text=secrets.token_hex(16)),
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"},
            sign_assertion=sign, sign_response=False,
            sign_alg=SIG_RSA_SHA1 if sha1 else SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA1 if sha1 else DIGEST_SHA256)
        return base64.b64encode(str(xml).encode()).decode()


def start_saml_idp(folder: Path) -> SamlIdp:
    require_tool("xmlsec1", "apt-get install xmlsec1 (./dev does this as root)")
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = rsa_certificate(folder, "idp")
    data = create_metadata_string(None, config=_idp_config(folder, cert, key, []))
    metadata = folder / "idp-metadata.xml"
    metadata.write_bytes(data if isinstance(data, bytes) else str(data).encode())
    return SamlIdp(folder, cert, key, metadata)


def post_response(acs: str, saml_response: str) -> httpx.Response:
    return httpx.post(acs, data={"SAMLResponse": saml_response, "RelayState": ""}, timeout=30)


def tamper(saml_response: str, old: str, new: str) -> str:
    """The response with one attribute value changed after signing."""
    xml = base64.b64decode(saml_response).decode()
    assert old in xml
    return base64.b64encode(re.sub(re.escape(old), new, xml).encode()).decode()


