"""The pytest fixtures plugin authors get with the host (entry point pytest11), used as
an author would: a plugin folder with its own tests, run by pytest in a subprocess. The
in-process client with a fake for ctx.http and on_upgrade; the real sandboxed host with
an event, a config, a reload that runs on_upgrade, and the plugin's log lines; a test
that should fail does."""

from __future__ import annotations

import subprocess
import sys

from ops.processes import open_for_workers

from .support.paths import EXAMPLES

PLUGIN_CODE = '''

@plugin.route("GET", "/cover/{isbn}")
def cover(request, ctx):
    r = ctx.http.get(f"https://covers.openlibrary.org/b/isbn/{request.path_params['isbn']}.json")
    return {"status": r.status, "size": len(r.body)}


@plugin.on_upgrade
def migrate(event, ctx):
    ctx.kv.set("migrated", f"{event['from']}->{event['to']}")
    ctx.log.info("migrated", frm=event["from"])


@plugin.route("GET", "/migrated")
def migrated(request, ctx):
    return {"migrated": ctx.kv.get("migrated")}


@plugin.route("GET", "/setting")
def setting(request, ctx):
    return {"greeting": ctx.config.get("greeting")}
'''

AUTHOR_TESTS = '''
from plugin_host.sdk import HttpResponse


def test_http_fake(plugin, http_responses):
    http_responses["https://covers.openlibrary.org/b/isbn/42.json"] = HttpResponse(200, {}, b"{}")
    assert plugin.get("/cover/42").json() == {"status": 200, "size": 2}
    assert plugin.get("/cover/43").json()["status"] == 404
    assert http_responses.calls[-1] == ("GET", "https://covers.openlibrary.org/b/isbn/43.json")


def test_on_upgrade_in_process(plugin):
    plugin.upgrade("0.9.0")
    assert plugin.get("/migrated").json() == {"migrated": "0.9.0->1.0.0"}


def test_events_from_the_catalogue(koha_event):
    assert koha_event("circulation.after_checkout", borrowernumber=5)["borrowernumber"] == 5


def test_on_the_real_host(plugin_host):
    assert plugin_host.hook("biblio.after_save", biblionumber=3)["ok"]
    assert plugin_host.configure({"greeting": "Hej"})["greeting"] == "Hej"
    assert plugin_host.get("/setting").json() == {"greeting": "Hej"}
    before = plugin_host.info["version"]
    after = plugin_host.reload()
    assert after.startswith("1.0.0+dev.") and after != before
    assert plugin_host.get("/migrated").json() == {"migrated": f"{before}->{after}"}
    assert plugin_host.wait_for_log("migrated")["frm"] == before
    assert plugin_host.get("/setting").json() == {"greeting": "Hej"}  # config kept


def test_that_must_fail(plugin_host):
    assert plugin_host.get("/hello/Ada").status_code == 200  # no such route: it fails


def test_must_fail_an_event_not_subscribed(plugin_host):
    plugin_host.hook("circulation.after_checkout", borrowernumber=5)


def test_must_fail_a_setting_refused(plugin_host):
    plugin_host.configure({"n": 2 ** 70})  # beyond what a plugin can be sent


def test_must_fail_a_log_line_never_written(plugin_host):
    plugin_host.wait_for_log("never-said", timeout=0.5)
'''


def test_an_authors_tests_run_with_the_fixtures(tmp_path, plugin_copy):
    open_for_workers(tmp_path)
    src = plugin_copy(EXAMPLES / "hello-world")
    code = src / "hello_world" / "__init__.py"
    code.write_text(code.read_text() + PLUGIN_CODE)
    toml = src / "plugin.toml"
    toml.write_text(toml.read_text().replace(
        "[permissions]", '[permissions]\nnetwork = ["covers.openlibrary.org:443"]'))
    (src / "tests").mkdir(exist_ok=True)
    (src / "tests" / "test_author.py").write_text(AUTHOR_TESTS)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-p", "no:randomly", "tests/test_author.py"], cwd=src,
                       capture_output=True, text=True, timeout=300)
    assert "4 passed" in r.stdout and "4 failed" in r.stdout, r.stdout[-3000:] + r.stderr[-2000:]
    assert "test_that_must_fail" in r.stdout
    # each failure says what went wrong in the author's terms
    assert "hello-world is not subscribed to circulation.after_checkout" in r.stdout
    assert "config refused: " in r.stdout and "beyond 64 bits" in r.stdout
    assert "hello-world logged no 'never-said' within 0.5 s" in r.stdout

    # the fixtures outside a plugin's folder: told so, not a traceback
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "test_x.py").write_text("def test_x(plugin):\n    pass\n")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "test_x.py"], cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "no plugin.toml in" in r.stdout + r.stderr, r.stdout[-2000:] + r.stderr[-2000:]
    assert "the plugin fixtures are for tests inside a plugin's folder" in r.stdout + r.stderr
