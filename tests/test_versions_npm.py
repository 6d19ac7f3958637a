"""Ranges mean here exactly what they mean to npm: a differential test against node's own
``semver`` package (7.x, installed with npm into .dev/ by this test; nothing vendored).

For 40,000 generated pairs (20,000 ranges as people write them, 20,000 strings of the
grammar's special characters), npm and ``plugin_host.versions`` must agree on whether
the range is valid and, when it is, whether the version satisfies it.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from plugin_host.versions import parse_range, satisfies

from .support.paths import ROOT
from .support.ranges import scrambled_pairs, written_pairs
from .support.system import require_tool

NPM_DIR = ROOT / ".dev" / "npm-semver"
NODE_SCRIPT = """
const semver = require(process.argv[1]);
const pairs = JSON.parse(require('fs').readFileSync(0, 'utf8'));
console.log(JSON.stringify(pairs.map(([v, r]) => {
  const valid = semver.validRange(r) !== null;
  return [valid, valid ? semver.satisfies(v, r) : null];
})));
"""


@pytest.fixture(scope="module")
def npm_semver() -> str:
    node = require_tool("node", "apt-get install nodejs (./dev does this as root)")
    npm = require_tool("npm", "apt-get install npm (./dev does this as root)")
    module = NPM_DIR / "node_modules" / "semver"
    if not (module / "package.json").exists():
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(NPM_DIR),
                        "semver@7"], check=True, capture_output=True, timeout=300)
    assert node
    return str(module)


def npm_answers(module: str, pairs: list[tuple[str, str]]) -> list[list]:
    out = subprocess.run(["node", "-e", NODE_SCRIPT, module], input=json.dumps(pairs),
                         capture_output=True, text=True, check=True, timeout=120).stdout
    return json.loads(out)


def ours(version: str, text: str) -> list:
    try:
        parse_range(text)
    except ValueError:
        return [False, None]
    return [True, satisfies(version, text)]


@pytest.mark.parametrize("make", [written_pairs, scrambled_pairs])
def test_every_pair_agrees_with_npm(npm_semver, make):
    pairs = make(20_000, seed=1)
    expected = npm_answers(npm_semver, pairs)
    started = time.perf_counter()
    got = [ours(v, r) for v, r in pairs]
    elapsed = time.perf_counter() - started
    differ = [(v, r, g, e) for (v, r), g, e in zip(pairs, got, expected, strict=True)
              if g != e]
    assert differ == [], f"{len(differ)} pairs differ from npm, e.g. {differ[:10]}"
    # the test says something: many valid ranges, both answers among them
    assert sum(valid for valid, _ in expected) > 1_000
    assert {True, False} <= {match for valid, match in expected if valid}
    assert elapsed < 60, f"{elapsed:.1f} s for 20,000 pairs"


def test_the_cases_that_used_to_differ(npm_semver):
    """From the hardening issue: ranges npm accepts that were refused, ranges npm refuses
    that were accepted, and prerelease matching."""
    pairs = [("1.0.0", "^*"), ("2.0.0", "~x"), ("1.0.0", "<X"), ("1.2.0", "X.2"),
             ("1.0.3", "*.3"), ("0.2.0-alpha.1", "<0.2"), ("1.2.3-rc.1", "^1.2.3-rc.0"),
             ("1.2.4-rc.1", "^1.2.3-rc.0"), ("1.0.0", ">=1.0.0+build.7"), ("1.0.0", "")]
    expected = npm_answers(npm_semver, pairs)
    assert [ours(v, r) for v, r in pairs] == expected
    assert expected[:6] == [[True, True], [True, True], [True, False], [False, None],
                            [False, None], [True, False]]
