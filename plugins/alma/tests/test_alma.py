"""The plugin's handlers in process against the Alma fake (the same one the host tests
use over HTTP)."""

from pathlib import Path

import pytest

from plugin_host.sdk.testing import PluginTestClient
from tests.support.services.alma import Alma
from tests.support.services.base import Fault

HERE = Path(__file__).resolve().parents[1]


@pytest.fixture
def alma():
    return Alma()


@pytest.fixture
def client(alma):
    return PluginTestClient.from_folder(HERE, http=alma.in_process())


def test_a_bib_from_its_marcxml(client):
    r = client.get("/bibs/991234560001021")
    assert r.status == 200, r.body
    rec = r.json()
    assert (rec["source"], rec["id"], rec["title"]) == ("alma", "991234560001021", "Dune")
    assert rec["oclc_numbers"] == ["57483598"] and rec["isbns"] == ["9780441013593"]


def test_alma_not_found_codes_are_404(client):
    r = client.get("/bibs/991299999999021")
    assert r.status == 404 and "not valid" in r.json()["error"]
    assert client.get("/users/nobody").status == 404
    assert client.get("/bibs/12").status == 400


def test_holdings(client):
    r = client.get("/bibs/991234570001021/holdings").json()
    assert r["holdings"] == [{"id": "221234570001021", "library": "Main Library",
                              "location": "Stacks", "call_number": "PS3558.E63 2001"}]


def test_a_user(client):
    assert client.get("/users/ada.lovelace").json() == {
        "id": "ada.lovelace", "name": "Ada Lovelace", "group": "Undergraduate",
        "status": "ACTIVE", "email": "ada@example.org"}


def test_item_by_barcode_follows_almas_redirect(client, alma):
    r = client.get("/items/39000000001")
    assert r.status == 200, r.body
    item = r.json()
    assert (item["barcode"], item["status"], item["library"]) == (
        "39000000001", "Item in place", "Main Library")
    assert item["record"]["title"] == "Dune"
    assert [c.path for c in alma.calls] == [
        "/almaws/v1/items",
        "/almaws/v1/bibs/991234560001021/holdings/221234560001021/items/231234560001021"]
    assert client.get("/items/39000009999").status == 404
    assert client.get("/items/bad barcode").status == 400


def test_per_second_threshold_comes_back_as_503(client, alma):
    alma.plan(Fault(429))
    r = client.get("/bibs/991234560001021")
    assert r.status == 503 and "per second" in r.json()["error"]
