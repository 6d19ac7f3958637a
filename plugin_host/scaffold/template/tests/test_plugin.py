"""Tests of {{name}}'s handlers. Run them with: pytest tests/"""

from pathlib import Path

from plugin_host.sdk.testing import PluginTestClient

HERE = Path(__file__).resolve().parents[1]


def test_hello_greets_by_name():
    client = PluginTestClient.from_folder(HERE)
    r = client.get("/hello/Ada")
    assert r.status == 200
    assert r.json() == {"message": "Hello Ada from {{name}}"}


def test_counter_counts_in_kv():
    client = PluginTestClient.from_folder(HERE)
    assert client.post("/counter").json() == {"counter": 1}
    assert client.post("/counter").json() == {"counter": 2}
    assert client.kv["counter"] == 2


def test_hook_reports_the_record():
    client = PluginTestClient.from_folder(HERE)
    assert client.hook("biblio.after_save", {"biblionumber": 42}) == {"seen": 42}
