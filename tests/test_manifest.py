"""plugin.toml: every kind of bad manifest is refused with an error naming the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plugin_host.errors import ManifestError
from plugin_host.manifest import json_schema, parse_manifest

from .support.paths import EXAMPLES

ROOT = Path(__file__).resolve().parents[1]

GOOD = """
[plugin]
name = "hello-world"
version = "1.2.0"
summary = "Greets patrons"
authors = ["Jane Librarian <jane@example.org>"]
license = "GPL-3.0-or-later"
host_api = "^1.0"

[dependencies]
"marc-utils" = "^2.1"

[backend]
entry = "hello_world:plugin"

[permissions]
network = ["covers.openlibrary.org:443"]
kv_quota = "10MiB"
secrets = ["OPENLIBRARY_KEY"]
hooks = ["biblio.after_save"]

[resources]
memory = "128MiB"
timeout_ms = 2000
workers = 1

[[ui.components]]
slot = "opac.biblio.sidebar"
module = "ui/dist/greeting.js"
export = "Greeting"
"""


def test_the_contract_example_parses():
    m = parse_manifest(GOOD)
    assert m.name == "hello-world"
    assert m.permissions.kv_quota == 10 * 1024 * 1024
    assert m.resources.memory == 128 * 1024 * 1024
    assert m.dependencies == {"marc-utils": "^2.1"}


def test_defaults_for_optional_sections():
    m = parse_manifest(GOOD.split("[dependencies]")[0])
    assert m.backend is None and m.ui.components == []
    assert m.resources.timeout_ms == 2000 and m.resources.workers == 1
    assert m.permissions.network == [] and m.permissions.hooks == []


def replace(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


BAD = [
    ("unknown top-level key", GOOD + "\n[extras]\nx = 1\n", "extras: unknown key"),
    ("unknown plugin key", replace('summary = "Greets patrons"',
                                   'summary = "Greets patrons"\ncolour = "red"'),
     "plugin.colour: unknown key"),
    ("bad name", replace('name = "hello-world"', 'name = "Hello_World"'), "plugin.name"),
    ("bad version", replace('version = "1.2.0"', 'version = "1.2"'),
     "plugin.version: '1.2' is not a semantic version"),
    ("bad host_api", replace('host_api = "^1.0"', 'host_api = "one"'),
     "plugin.host_api: 'one' is not a version range"),
    ("bad dependency range", replace('"marc-utils" = "^2.1"', '"marc-utils" = "latest"'),
     "dependencies.marc-utils: 'latest' is not a version range"),
    ("bad dependency name", replace('"marc-utils" = "^2.1"', '"Marc Utils" = "^2.1"'),
     "dependencies.Marc Utils"),
    ("missing summary", replace('summary = "Greets patrons"\n', ""),
     "plugin.summary: required key is missing"),
    ("no authors", replace('authors = ["Jane Librarian <jane@example.org>"]', "authors = []"),
     "plugin.authors"),
    ("bad licence", replace('license = "GPL-3.0-or-later"', 'license = "GPL 3 please!"'),
     "plugin.license: 'GPL 3 please!' is not an SPDX licence expression"),
    ("bad entry", replace('entry = "hello_world:plugin"', 'entry = "hello_world"'),
     "backend.entry: 'hello_world' is not of the form module:attribute"),
    ("bad network entry", replace('"covers.openlibrary.org:443"', '"covers.openlibrary.org"'),
     "permissions.network: 'covers.openlibrary.org' is not host:port"),
    ("bad kv quota", replace('kv_quota = "10MiB"', 'kv_quota = "lots"'),
     "permissions.kv_quota: 'lots' is not a size"),
    ("bad secret name", replace('["OPENLIBRARY_KEY"]', '["openlibrary key"]'),
     "permissions.secrets.0"),
    ("bad hook name", replace('hooks = ["biblio.after_save"]', 'hooks = ["after save"]'),
     "permissions.hooks.0"),
    ("memory too small", replace('memory = "128MiB"', 'memory = "1MiB"'),
     "resources.memory: must be at least 16MiB"),
    ("timeout too long", replace("timeout_ms = 2000", "timeout_ms = 9999999"),
     "resources.timeout_ms"),
    ("too many workers", replace("workers = 1", "workers = 99"), "resources.workers"),
    ("ui module outside ui/", replace('module = "ui/dist/greeting.js"', 'module = "../x.js"'),
     "ui.components.0.module: '../x.js' must be a relative path under ui/"),
    ("ui module not js", replace('module = "ui/dist/greeting.js"', 'module = "ui/x.css"'),
     "ui.components.0.module: 'ui/x.css' must be an ES module"),
    ("bad slot", replace('slot = "opac.biblio.sidebar"', 'slot = "sidebar"'),
     "ui.components.0.slot"),
    ("self dependency", replace('"marc-utils" = "^2.1"', '"hello-world" = "^1"'),
     "dependencies: 'hello-world' cannot depend on itself"),
    ("hooks without backend", replace('[backend]\nentry = "hello_world:plugin"\n', ""),
     "permissions.hooks: hooks need a [backend]"),
    ("wrong type", replace("workers = 1", 'workers = "one"'), "resources.workers"),
    ("not TOML", "[plugin\nname=", "plugin.toml: not valid TOML"),
    ("upstream over plain http", GOOD + '\n[upstreams.lib]\nurl = "http://lib.example.org"\n',
     "upstreams.lib.url: url: credentials and library data go over https"),
    ("upstream url with a query", GOOD + '\n[upstreams.lib]\nurl = "https://lib.example.org/?a=1"\n',
     "is not an http(s) URL without query or user"),
    ("upstream url with a user", GOOD + '\n[upstreams.lib]\nurl = "https://me:pw@lib.example.org"\n',
     "is not an http(s) URL without query or user"),
    ("oauth2 without its secrets", GOOD + '\n[upstreams.lib]\nurl = "https://lib.example.org"\n'
     '[upstreams.lib.auth]\ntype = "oauth2_client_credentials"\n'
     'token_url = "https://lib.example.org/token"\n',
     "oauth2_client_credentials needs client_id_secret, client_secret_secret"),
    ("api key in a header and the query", GOOD + '\n[upstreams.lib]\nurl = "https://lib.example.org"\n'
     '[upstreams.lib.auth]\ntype = "api_key"\nkey_secret = "LIB_KEY"\nheader = "X-Key"\n'
     'query = "key"\n', "api_key needs key_secret and one of header or query"),
]


@pytest.mark.parametrize(("case", "text", "expected"), BAD, ids=[b[0] for b in BAD])
def test_bad_manifest_names_the_key(case, text, expected):
    with pytest.raises(ManifestError) as err:
        parse_manifest(text)
    assert any(expected in p for p in err.value.problems), err.value.problems


def test_every_problem_is_reported_at_once():
    text = replace('version = "1.2.0"', 'version = "x"').replace('"^1.0"', '"?"')
    with pytest.raises(ManifestError) as err:
        parse_manifest(text)
    keys = {p.split(":")[0] for p in err.value.problems}
    assert {"plugin.version", "plugin.host_api"} <= keys


def test_files_named_by_the_manifest_must_exist():
    m = parse_manifest(GOOD)
    with pytest.raises(ManifestError) as err:
        m.check_files(["plugin.toml", "hello_world/__init__.py"])
    assert err.value.problems == [
        "ui.components.0.module: file 'ui/dist/greeting.js' is missing"]
    with pytest.raises(ManifestError) as err:
        m.check_files(["plugin.toml", "ui/dist/greeting.js"])
    assert "backend.entry: file 'hello_world/__init__.py' is missing" in err.value.problems
    m.check_files(["plugin.toml", "hello_world.py", "ui/dist/greeting.js"])


def test_published_json_schema_is_current():
    published = json.loads((ROOT / "docs" / "plugin-manifest.schema.json").read_text())
    assert published == json_schema(), "run ./dev schema to regenerate docs/"


@pytest.mark.parametrize(("line", "expected"), [
    ('name = "Good_One"', "plugin.name: 'Good_One' is not a plugin name: lower case letters, "
                          "digits and '-', starting with a letter, 2 to 63 characters: try "
                          "'good-one'"),
    ('tags = ["Staff Tools"]', "plugin.tags.0: 'Staff Tools' is not a tag: lower case letters, "
                               "digits and '-', up to 32 characters: try 'staff-tools'"),
])
def test_a_value_of_the_wrong_shape_is_explained_in_words_with_a_likely_fix(line, expected):
    text = (Path(__file__).parent.parent / "examples" / "hello-world" / "plugin.toml").read_text()
    key = line.split(" = ")[0]
    lines = [line if ln.startswith(f"{key} = ") else ln for ln in text.splitlines()]
    with pytest.raises(ManifestError) as e:
        parse_manifest("\n".join(lines))
    assert expected in e.value.problems, e.value.problems
    assert "^[" not in " ".join(e.value.problems)  # no bare regex


def test_a_pool_bound_is_checked_and_shown_to_reviewers():
    """``max_workers`` may not be below ``workers``, and what the marketplace says a
    plugin asks for names the pool's range."""
    import re

    from plugin_host.registry.records import asks_for

    base = re.sub(r"\[resources\][^\[]*", "", (EXAMPLES / "hello-world" / "plugin.toml")
                  .read_text())
    with pytest.raises(ManifestError) as e:
        parse_manifest(base + "\n[resources]\nworkers = 3\nmax_workers = 2\n")
    assert e.value.problems == ["resources: max_workers (2) is below workers (3)"]
    fixed = parse_manifest(base + "\n[resources]\nworkers = 2\n")
    growing = parse_manifest(base + "\n[resources]\nworkers = 1\nmax_workers = 8\n")
    assert fixed.resources.most_workers == 2
    assert asks_for(fixed)[-1].endswith("2 workers")
    assert asks_for(growing)[-1].endswith("1 to 8 workers (more under load)")
