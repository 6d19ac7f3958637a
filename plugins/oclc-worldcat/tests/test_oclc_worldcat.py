"""The plugin's handlers in process against the WorldCat fake (the same one the host
tests use over HTTP): what each route answers and how OCLC's errors come back."""

from pathlib import Path

import pytest

from plugin_host.sdk.testing import PluginTestClient
from tests.support.services.base import Fault
from tests.support.services.worldcat import WorldCat

HERE = Path(__file__).resolve().parents[1]


@pytest.fixture
def worldcat():
    return WorldCat()


@pytest.fixture
def client(worldcat):
    return PluginTestClient.from_folder(HERE, http=worldcat.in_process(),
                                        config={"institution_symbol": "HLT"})


def test_search_by_isbn_gives_shared_records(client):
    r = client.get("/search", query={"isbn": "978-0-441-01359-3"})
    assert r.status == 200, r.body
    (record,) = r.json()["records"]
    assert r.json()["total"] == 1
    assert record["source"] == "worldcat" and record["id"] == "57483598"
    assert record["title"] == "Dune" and record["authors"] == ["Herbert, Frank"]
    assert record["isbns"] == ["9780441013593"] and record["year"] == "2005"


def test_search_by_issn_and_by_words(client):
    assert client.get("/search", query={"issn": "0363-0277"}).json()["records"][0][
        "title"] == "Library journal"
    words = client.get("/search", query={"q": "koha"}).json()
    assert [r["subtitle"] for r in words["records"]] == ["a gift culture"]


def test_search_needs_a_query_and_sane_paging(client):
    assert client.get("/search").status == 400
    assert client.get("/search", query={"q": "x", "limit": "51"}).status == 400
    assert client.get("/search", query={"q": "x", "offset": "zero"}).status == 400


def test_full_record_from_the_metadata_api(client, worldcat):
    r = client.get("/records/ocm57483598")
    assert r.status == 200, r.body
    rec = r.json()
    assert (rec["id"], rec["title"], rec["publisher"]) == ("57483598", "Dune", "Ace Books")
    assert rec["oclc_numbers"] == ["57483598"] and "Science fiction" in rec["subjects"]
    (call,) = worldcat.api_calls("/manage/bibs/")
    assert call.headers["accept"] == "application/marcxml+xml"


def test_unknown_records_are_404_with_oclc_detail(client):
    r = client.get("/records/99999999")
    assert r.status == 404
    assert "99999999" in r.json()["error"]
    assert client.get("/records/not-a-number").status == 400


def test_holdings_for_the_configured_symbol(client, worldcat):
    r = client.get("/holdings/57483598")
    assert r.status == 200, r.body
    assert r.json()["institutions"] == [
        {"symbol": "HLT", "name": "Horowhenua Libraries", "country": "NZ"}]
    assert worldcat.api_calls("/bibs-holdings")[0].arg("heldBySymbol") == "HLT"
    every = client.get("/holdings/57483598", query={"symbol": "OCPSB"}).json()
    assert every["total"] == 1 and every["institutions"][0]["symbol"] == "OCPSB"


def test_throttling_and_failures_come_back_as_the_sdk_says(client, worldcat):
    worldcat.plan(Fault(429, retry_after="7"))
    r = client.get("/search", query={"q": "dune"})
    assert (r.status, r.headers.get("Retry-After")) == (503, "7")
    worldcat.plan(Fault(500))
    assert client.get("/records/57483598").status == 502
