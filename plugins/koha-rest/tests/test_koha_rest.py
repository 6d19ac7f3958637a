"""The plugin's handlers in process against the Koha REST fake (the same one the host
tests use over HTTP)."""

from pathlib import Path

import pytest

from plugin_host.sdk.testing import PluginTestClient
from tests.support.services.base import Fault
from tests.support.services.koha_rest import KohaRest

HERE = Path(__file__).resolve().parents[1]


@pytest.fixture
def koha():
    return KohaRest()


@pytest.fixture
def client(koha):
    return PluginTestClient.from_folder(HERE, http=koha.in_process())


def test_a_biblio_from_kohas_marcxml(client, koha):
    r = client.get("/biblios/43")
    assert r.status == 200, r.body
    rec = r.json()
    assert (rec["source"], rec["id"], rec["title"], rec["subtitle"]) == (
        "koha", "43", "Koha", "a gift culture")
    assert rec["authors"] == ["Ransom, Joann"] and rec["year"] == "2001"
    assert koha.calls[0].headers["accept"] == "application/marcxml+xml"


def test_missing_and_malformed_ids(client):
    r = client.get("/biblios/999")
    assert r.status == 404 and r.json()["error"] == "Object not found."
    assert client.get("/biblios/abc").status == 400
    assert client.get("/patrons/x").status == 400


def test_patrons_by_id_and_card(client):
    assert client.get("/patrons/7").json()["surname"] == "Lovelace"
    found = client.get("/patrons", query={"cardnumber": "23529000002"}).json()["patrons"]
    assert [p["patron_id"] for p in found] == [8]
    assert client.get("/patrons/99").status == 404


def test_items_by_barcode(client):
    (item,) = client.get("/items", query={"barcode": "39000000003"}).json()["items"]
    assert (item["id"], item["biblio_id"], item["checked_out"]) == (1003, 44, False)


def test_holds_and_checkouts_follow_every_page(client, koha, monkeypatch):
    import koha_rest

    monkeypatch.setattr(koha_rest, "PER_PAGE", 1)
    holds = client.get("/patrons/7/holds").json()
    assert holds["total"] == 2 and [h["hold_id"] for h in holds["holds"]] == [1, 2]
    assert [c.arg("_page") for c in koha.api_calls("/holds")] == ["1", "2"]
    assert client.get("/patrons/8/checkouts").json()["checkouts"][0]["item_id"] == 1003


def test_missing_permission_is_the_hosts_credentials(client, koha):
    koha.plan(Fault(403))
    r = client.get("/patrons/7")
    assert r.status == 502 and "credentials" in r.json()["error"]
