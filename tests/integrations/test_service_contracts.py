"""The fake library services answer as the real ones are documented to: every exchange the
plugins make (and the failures: unknown records, bad parameters, a missing credential,
429, 503) is sent over HTTP to the fake and checked, request and answer, against the
service's published API description with openapi-core. The descriptions are in
tests/support/services/contracts/, each transcribed from the provider's document it cites
at its top (OCLC's OpenAPI for WorldCat Search v2 and Metadata, Ex Libris' Alma REST
reference, Koha's api/v1/swagger)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from plugin_host.sdk.bib import from_marcxml

from ..support.services.alma import Alma
from ..support.services.base import Fault, Service, serving
from ..support.services.koha_rest import KohaRest
from ..support.services.worldcat import WorldCat

CONTRACTS = Path(__file__).resolve().parents[1] / "support" / "services" / "contracts"


def contract(name: str) -> OpenAPI:
    """The description, reading RFC 9457 problem answers as the JSON they are."""
    config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
    return OpenAPI.from_dict(yaml.safe_load((CONTRACTS / name).read_text()), config=config)


def check(spec: OpenAPI, r: requests.Response, status: int) -> requests.Response:
    assert r.status_code == status, (r.request.url, r.status_code, r.text[:300])
    request = RequestsOpenAPIRequest(r.request)
    spec.validate_request(request) if status < 400 or status >= 429 else None
    spec.validate_response(request, RequestsOpenAPIResponse(r))
    if "marcxml" in r.headers.get("content-type", ""):
        assert from_marcxml(r.content, source="check").title
    return r


def token(session: requests.Session, fake: Service, spec: OpenAPI, **how) -> None:
    r = check(spec, session.post(f"{fake.url}{fake.token_path}", **how), 200)
    session.headers["Authorization"] = f"Bearer {r.json()['access_token']}"


def test_worldcat_search_and_metadata():
    spec = contract("worldcat.yaml")
    with serving(WorldCat()) as wc:
        s = requests.Session()
        bad = check(spec, s.post(f"{wc.url}/token", data={"grant_type": "client_credentials"},
                                 auth=(wc.client_id, "wrong")), 401)
        assert bad.json() == {"error": "invalid_client"}
        token(s, wc, spec, data={"grant_type": "client_credentials", "scope": "wcapi"},
              auth=(wc.client_id, wc.client_secret))
        search = f"{wc.url}/worldcat/search/v2"
        for q in ("bn:9780441013593", "in:0363-0277", "no:1110447", "library"):
            r = check(spec, s.get(f"{search}/brief-bibs", params={"q": q, "limit": 5}), 200)
            assert r.json()["numberOfRecords"] >= 1
        check(spec, s.get(f"{search}/brief-bibs", params={"q": "nothing-like-it"}), 200)
        check(spec, s.get(f"{search}/brief-bibs", params={"q": "x", "limit": 0}), 400)
        check(spec, s.get(f"{search}/brief-bibs/57483598"), 200)
        check(spec, s.get(f"{search}/brief-bibs/1"), 404)
        r = check(spec, s.get(f"{search}/bibs-holdings", params={"oclcNumber": "57483598"}), 200)
        assert r.json()["briefRecords"][0]["institutionHolding"]["totalHoldingCount"] == 2
        marc = {"Accept": "application/marcxml+xml"}
        check(spec, s.get(f"{wc.url}/worldcat/manage/bibs/57483598", headers=marc), 200)
        check(spec, s.get(f"{wc.url}/worldcat/manage/bibs/57483598"), 406)
        check(spec, s.get(f"{wc.url}/worldcat/manage/bibs/1", headers=marc), 404)
        wc.plan(Fault(429, retry_after="3"), Fault(503))
        assert check(spec, s.get(f"{search}/brief-bibs", params={"q": "dune"}), 429
                     ).headers["Retry-After"] == "3"
        check(spec, s.get(f"{search}/brief-bibs", params={"q": "dune"}), 503)
        s.headers["Authorization"] = "Bearer expired"
        check(spec, s.get(f"{search}/brief-bibs", params={"q": "dune"}), 401)


def test_alma_bibs_items_users():
    spec = contract("alma.yaml")
    with serving(Alma()) as alma:
        s = requests.Session()
        s.headers.update({"Authorization": f"apikey {alma.api_key}",
                          "Accept": "application/json"})
        base = f"{alma.url}/almaws/v1"
        r = check(spec, s.get(f"{base}/bibs/991234560001021", params={"view": "full"}), 200)
        assert from_marcxml(r.json()["anies"][0], source="alma").title == "Dune"
        check(spec, s.get(f"{base}/bibs/991234560001021/holdings"), 200)
        check(spec, s.get(f"{base}/bibs/1"), 400)
        moved = check(spec, s.get(f"{base}/items", params={"item_barcode": "39000000001"},
                                  allow_redirects=False), 302)
        check(spec, s.get(moved.headers["Location"]), 200)
        r = check(spec, s.get(f"{base}/items", params={"item_barcode": "nope"}), 400)
        assert r.json()["errorList"]["error"][0]["errorCode"] == "401689"
        check(spec, s.get(f"{base}/users/ada.lovelace", params={"view": "full"}), 200)
        check(spec, s.get(f"{base}/users/nobody"), 400)
        alma.plan(Fault(429))
        r = check(spec, s.get(f"{base}/bibs/991234560001021"), 429)
        assert r.json()["errorList"]["error"][0]["errorCode"] == "PER_SECOND_THRESHOLD"
        r = check(spec, requests.get(f"{base}/bibs/991234560001021",
                                     headers={"Accept": "application/json"}), 401)
        alma.used_today = alma.daily_limit
        r = check(spec, s.get(f"{base}/bibs/991234560001021"), 429)
        assert r.json()["errorList"]["error"][0]["errorCode"] == "DAILY_THRESHOLD"


def test_koha_biblios_items_patrons_holds_checkouts():
    spec = contract("koha-rest.yaml")
    with serving(KohaRest()) as koha:
        s = requests.Session()
        r = check(spec, s.post(f"{koha.url}/api/v1/oauth/token", data={
            "grant_type": "client_credentials", "client_id": koha.client_id,
            "client_secret": "wrong"}), 403)
        assert r.json() == {"error": "unauthorized_client"}
        token(s, koha, spec, data={"grant_type": "client_credentials",
                                   "client_id": koha.client_id,
                                   "client_secret": koha.client_secret})
        base = f"{koha.url}/api/v1"
        check(spec, s.get(f"{base}/biblios/42", headers={"Accept": "application/marcxml+xml"}),
              200)
        check(spec, s.get(f"{base}/biblios/42", headers={"Accept": "application/json"}), 200)
        check(spec, s.get(f"{base}/biblios/42", headers={"Accept": "text/html"}), 406)
        check(spec, s.get(f"{base}/biblios/4242"), 404)
        check(spec, s.get(f"{base}/items", params={"external_id": "39000000001"}), 200)
        check(spec, s.get(f"{base}/patrons/7"), 200)
        check(spec, s.get(f"{base}/patrons/70"), 404)
        check(spec, s.get(f"{base}/patrons", params={"cardnumber": "23529000001"}), 200)
        r = check(spec, s.get(f"{base}/holds", params={"patron_id": 7, "_per_page": 1}), 200)
        assert r.headers["X-Total-Count"] == "2" and 'rel="next"' in r.headers["Link"]
        check(spec, s.get(f"{base}/holds"), 200)
        check(spec, s.get(f"{base}/checkouts", params={"patron_id": 8}), 200)
        check(spec, s.get(f"{base}/holds", params={"_per_page": 0}), 400)
        koha.plan(Fault(503))
        check(spec, s.get(f"{base}/patrons/7"), 503)
        check(spec, requests.get(f"{base}/patrons/7"), 401)


def test_the_contract_check_catches_a_fake_that_drifts(monkeypatch):
    """A field Koha's document does not allow (its objects are closed) fails the check."""
    from openapi_core.validation.response.exceptions import InvalidData

    spec = contract("koha-rest.yaml")
    real = KohaRest._item
    monkeypatch.setattr(KohaRest, "_item", staticmethod(
        lambda book: {**real(book), "barcode": book.barcode}))
    with serving(KohaRest()) as koha:
        s = requests.Session()
        token(s, koha, spec, data={"grant_type": "client_credentials",
                                   "client_id": koha.client_id,
                                   "client_secret": koha.client_secret})
        with pytest.raises(InvalidData):
            check(spec, s.get(f"{koha.url}/api/v1/items"), 200)
