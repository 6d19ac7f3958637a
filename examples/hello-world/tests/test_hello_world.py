from pathlib import Path

from plugin_host.sdk.testing import PluginTestClient

HERE = Path(__file__).resolve().parents[1]


def test_greets():
    assert PluginTestClient.from_folder(HERE).get("/greet/Ada").json() == {
        "greeting": "Hello Ada"}
