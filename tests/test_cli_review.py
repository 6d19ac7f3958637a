"""What authors and reviewers read from the command line when things are not plain
sailing, against a real registry: a package the automated checks refuse (each check in
words, and the error body with --json), an empty review queue, a release's state with
its checks and review comments, a diff with a binary file, a release that does not
exist, and logging out when not logged in."""

from __future__ import annotations

import json
import shutil

from .support.paths import EXAMPLES
from .support.plugins import signed, variant
from .test_cli import cli


def _hello(tmp_path, version: str, keys, edit=None) -> bytes:
    src = tmp_path / "src" / version
    shutil.copytree(EXAMPLES / "hello-world", src)
    toml = src / "plugin.toml"
    toml.write_text(toml.read_text().replace('version = "1.0.0"', f'version = "{version}"'))
    if edit:
        edit(src)
    return signed(src, keys["key"], tmp_path / "out" / version)


def test_refusals_and_reviews_in_plain_words(registry, keys, tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    r = cli("logout", env=env)
    assert r.returncode == 0 and r.stdout.strip() == "not logged in to any registry"
    publisher = {**env, "PLUGIN_REGISTRY_URL": registry.url,
                 "PLUGIN_REGISTRY_TOKEN": registry.tokens["publisher"]}
    reviewer = {**publisher, "PLUGIN_REGISTRY_TOKEN": registry.tokens["reviewer"]}
    r = cli("review", "list", env=reviewer)
    assert r.returncode == 0 and r.stdout.strip() == "nothing waits for review", r.stderr

    # the automated checks refuse a licence the registry does not accept: each in words
    def proprietary(src):
        toml = src / "plugin.toml"
        toml.write_text(toml.read_text().replace("GPL-3.0-or-later", "LicenseRef-Proprietary"))
    bad = tmp_path / "bad.kplugin"
    bad.write_bytes(_hello(tmp_path, "0.9.0", keys, proprietary))
    r = cli("publish", str(bad), env=publisher)
    assert r.returncode == 2 and r.stderr.startswith("error: "), r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert "FAIL licence" in r.stdout and "LicenseRef-Proprietary" in r.stdout, r.stdout
    r = cli("publish", str(bad), "--json", env=publisher)
    assert r.returncode == 2
    checks = json.loads(r.stdout)["error"]["checks"]
    assert {"name": "licence", "status": "fail"}.items() <= next(
        c for c in checks if c["name"] == "licence").items()

    # a first release and a second with a binary file: the diff names it; a rejection's
    # comment is shown with the release
    good = tmp_path / "good.kplugin"
    good.write_bytes(variant(tmp_path, "hello-world", "1.0.0", key=keys["key"]))
    assert cli("publish", str(good), env=publisher).returncode == 0
    r = cli("review", "show", "hello-world", "1.0.0", env=reviewer)
    assert r.stdout.startswith("hello-world 1.0.0: in review\n"), r.stdout + r.stderr
    assert "ok   smoke-load" in r.stdout
    assert cli("review", "approve", "hello-world", "1.0.0", env=reviewer).returncode == 0

    def with_image(src):
        (src / "ui" / "dist" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
        (src / "ui" / "dist" / "words.txt").write_text("".join(  # a diff past 200 kB
            f"line {i} of a long list of words\n" for i in range(8000)))
        (src / "ui" / "dist" / "latin1.txt").write_bytes("café\n".encode("latin-1"))
    second = tmp_path / "second.kplugin"
    second.write_bytes(_hello(tmp_path, "1.1.0", keys, with_image))
    assert cli("publish", str(second), env=publisher).returncode == 0
    r = cli("review", "diff", "hello-world", "1.1.0", env=reviewer)
    assert r.returncode == 0, r.stderr
    assert "hello-world 1.1.0 against 1.0.0" in r.stdout
    assert "added: ui/dist/logo.png (binary)" in r.stdout, r.stdout
    assert "added: ui/dist/latin1.txt (binary)" in r.stdout  # not UTF-8: not shown as text
    assert "added: ui/dist/words.txt (too large to show)" in r.stdout
    r = cli("review", "reject", "hello-world", "1.1.0", "--comment", "no logos, please",
            env=reviewer)
    assert r.returncode == 0, r.stderr
    r = cli("review", "show", "hello-world", "1.1.0", env=reviewer)
    assert "hello-world 1.1.0: rejected" in r.stdout
    assert "  rejected: no logos, please" in r.stdout, r.stdout
    r = cli("review", "show", "hello-world", "9.9.9", env=reviewer)
    assert r.returncode == 2
    assert r.stderr.strip().endswith("hello-world has no release 9.9.9 you may see")
