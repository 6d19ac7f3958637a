"""The SAML 2.0 service provider (pysaml2, signatures checked by xmlsec1): this service's
metadata, the AuthnRequest sent by HTTP-Redirect, and the response posted back.

A response is accepted only if: it answers a request this service made (its
``InResponseTo``, taken once from the database by the caller: a replay or an unsolicited
response is refused); its assertion is signed by the key in the IdP's metadata with RSA
or ECDSA over SHA-256 or stronger (SHA-1 is refused); its conditions (audience, time,
recipient) hold; and the assertion id has not been seen before."""

from __future__ import annotations

import base64
import binascii
import logging
from pathlib import Path
from typing import Any

from defusedxml import ElementTree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from ..errors import PluginHostError, Unauthorized
from .roles import account_name, group_names, roles_for
from .settings import IdentitySettings
from .store import Principal

#: signature and digest algorithms accepted on an assertion (SHA-256 or stronger)
STRONG = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
}
NS = {"samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
      "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
      "ds": "http://www.w3.org/2000/09/xmldsig#"}

logging.getLogger("saml2").setLevel(logging.CRITICAL)  # refusals are reported by us


class SamlRefused(Unauthorized):
    pass


class SamlServiceProvider:
    def __init__(self, settings: IdentitySettings, known: tuple[str, ...],
                 base: tuple[str, ...]):
        self.settings, self.known, self.base = settings, known, base
        if not settings.public_url:
            raise PluginHostError("public_url: SAML needs it (the assertion consumer "
                                  "service is public_url + /auth/saml/acs)", code="bad_setting")
        if not (settings.saml_sp_cert and settings.saml_sp_key):
            raise PluginHostError("saml_sp_cert, saml_sp_key: SAML needs this service's own "
                                  "certificate and key", code="bad_setting")
        root = settings.public_url.rstrip("/")
        self.acs = root + "/auth/saml/acs"
        self.entity_id = settings.saml_entity_id or root + "/auth/saml/metadata"
        metadata = Path(settings.saml_idp_metadata or "")
        if not metadata.is_file():
            raise PluginHostError(f"saml_idp_metadata: {metadata} is not a file",
                                  code="bad_setting")
        self.config = SPConfig()
        self.config.load({
            "entityid": self.entity_id,
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "key_file": str(settings.saml_sp_key), "cert_file": str(settings.saml_sp_cert),
            "metadata": {"local": [str(metadata)]},
            "accepted_time_diff": settings.oidc_leeway_seconds,
            "service": {"sp": {
                "endpoints": {"assertion_consumer_service": [(self.acs, BINDING_HTTP_POST)]},
                "want_assertions_signed": True, "want_response_signed": False,
                "allow_unsolicited": False, "authn_requests_signed": True,
                "signing_algorithm": SIG_RSA_SHA256, "digest_algorithm": DIGEST_SHA256,
            }},
            "allow_unknown_attributes": True,
        })
        self.client = Saml2Client(self.config)
        idps = list(self.client.metadata.identity_providers())
        if len(idps) != 1:
            raise PluginHostError(f"saml_idp_metadata: it must describe one identity "
                                  f"provider (it describes {len(idps)})", code="bad_setting")
        self.idp = idps[0]

    def metadata(self) -> str:
        data = create_metadata_string(None, config=self.config, valid=24 * 7)
        return data.decode() if isinstance(data, bytes) else str(data)

    def start(self) -> tuple[str, str]:
        """A signed AuthnRequest for the IdP: (its id, the address to send the person to)."""
        request_id, info = self.client.prepare_for_authenticate(
            entityid=self.idp, binding=BINDING_HTTP_REDIRECT, sigalg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256)
        location = dict(info["headers"])["Location"]
        return request_id, location

    def in_response_to(self, response: str) -> str:
        """The request a posted response answers (read before anything else is trusted),
        after checking the algorithms of every signature in it."""
        try:
            xml = base64.b64decode(response, validate=True)
            root = ElementTree.fromstring(xml)
        except (binascii.Error, ValueError, ElementTree.ParseError) as e:
            raise SamlRefused(f"the SAML response is not base64 XML ({e})") from None
        except Exception as e:  # defusedxml refuses entities, DTDs and the like
            raise SamlRefused(f"the SAML response was refused: {type(e).__name__}") from None
        for method in root.iterfind(".//ds:SignatureMethod", NS):
            if method.get("Algorithm") not in STRONG:
                raise SamlRefused(f"the SAML signature uses {method.get('Algorithm')}: "
                                  "SHA-256 or stronger is required")
        for method in root.iterfind(".//ds:DigestMethod", NS):
            if method.get("Algorithm") not in STRONG:
                raise SamlRefused(f"the SAML digest uses {method.get('Algorithm')}: "
                                  "SHA-256 or stronger is required")
        return root.get("InResponseTo") or ""

    def finish(self, response: str, request_id: str) -> tuple[Principal, str]:
        """The person a response signs in, and its assertion's id (for the replay check)."""
        try:
            answer = self.client.parse_authn_request_response(
                response, BINDING_HTTP_POST, outstanding={request_id: "/"})
        except Exception as e:  # pysaml2 raises a dozen kinds: each is a refusal
            raise SamlRefused(f"the SAML response was refused: {type(e).__name__}: "
                              f"{str(e)[:200]}") from None
        if answer is None or answer.assertion is None:
            raise SamlRefused("the SAML response carries no assertion")
        if not answer.assertion.signature:
            raise SamlRefused("the SAML assertion is not signed")
        attributes: dict[str, Any] = answer.ava or {}
        s = self.settings
        names = attributes.get(s.saml_username_attribute) or [answer.name_id.text]
        username = str(names[0])
        groups = group_names(list(attributes.get(s.saml_groups_attribute) or []))
        # the user name, not the NameID: a transient NameID differs at every sign-in
        subject = username if attributes.get(s.saml_username_attribute) else \
            str(answer.name_id.text)
        who = Principal(account_name(username), "saml", subject,
                        roles_for(groups, s, self.known, self.base), tuple(groups))
        return who, str(answer.assertion.id)
