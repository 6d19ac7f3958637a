from pathlib import Path

from plugin_host.sdk import HttpResponse
from plugin_host.sdk.testing import PluginTestClient

HERE = Path(__file__).resolve().parents[1]


def test_notes_round_trip():
    c = PluginTestClient.from_folder(HERE)
    assert c.post("/notes", json_body={"id": "n1", "text": "mend spine"}).status == 201
    assert c.get("/notes/n1").json()["text"] == "mend spine"


def test_title_from_open_library():
    def fake(method, url, headers, body):
        assert url == "https://openlibrary.org/isbn/123.json"
        return HttpResponse(200, {}, b'{"title": "Dune"}')

    c = PluginTestClient.from_folder(HERE, http=fake)
    assert c.get("/title/123").json() == {"isbn": "123", "title": "Dune"}


def test_urls_outside_the_allow_list_are_refused():
    c = PluginTestClient.from_folder(HERE, http=lambda *a: HttpResponse(200, {}, b"{}"))
    r = c.get("/fetch", query={"url": "https://example.org/"})
    assert r.status == 403
    assert r.json() == {"refused": "ctx.http: example.org:443 is not in permissions.network"}
