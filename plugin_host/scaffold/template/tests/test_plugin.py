"""Tests of {{name}}. Run them with: pytest tests/

The fixtures come with the plugin host (docs/plugins/testing.md): `plugin` calls the
handlers in process (fast), `plugin_host` runs the plugin in a real sandboxed worker
behind a real host, `koha_event` builds the payload of any Koha event."""


def test_hello_greets_by_name(plugin):
    r = plugin.get("/hello/Ada")
    assert r.status == 200
    assert r.json() == {"message": "Hello Ada from {{name}}"}


def test_counter_counts_in_kv(plugin):
    assert plugin.post("/counter").json() == {"counter": 1}
    assert plugin.post("/counter").json() == {"counter": 2}
    assert plugin.kv["counter"] == 2


def test_hook_reports_the_record(plugin, koha_event):
    assert plugin.hook("biblio.after_save", koha_event("biblio.after_save", biblionumber=42)) \
        == {"seen": 42}


def test_it_works_in_a_real_sandboxed_host(plugin_host):
    r = plugin_host.get("/hello/Ada")
    assert r.status_code == 200
    assert r.json() == {"message": "Hello Ada from {{name}}"}
    assert plugin_host.hook("biblio.after_save", biblionumber=7)["result"] == {"seen": 7}
    assert plugin_host.wait_for_log("hello")["who"] == "Ada"
