"""`invoke build`: complete, reproducible, and installable without an index."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

from ops.build import build, source_date_epoch
from plugin_host.package.archive import read_package
from plugin_host.package.signing import load_trusted_keys, verify_signature


def test_build_is_reproducible_complete_and_installs_offline(tmp_path, keys):
    a = build(tmp_path / "a", keys["key"], deps=True)
    b = build(tmp_path / "b", keys["key"], deps=True)
    assert a.checksums() == b.checksums(), "two builds of the same tree differ"

    names = {str(p.relative_to(a.out)) for p in a.files}
    assert {"koha_plugin_host-0.1.0-py3-none-any.whl", "koha_plugin_host-0.1.0.tar.gz",
            "plugins/hello-world-1.0.0.kplugin", "plugins/book-notes-1.0.0.kplugin",
            "sbom.cdx.json", "constraints.txt", "SHA256SUMS"} <= names
    # every file is in SHA256SUMS with its real digest
    listed = dict(line.split("  ")[::-1] for line in a.checksums().splitlines())
    assert set(listed) == names - {"SHA256SUMS"}

    # the example plugins are signed by the given key
    trusted = load_trusted_keys([keys["pub"]])
    for pkg in (a.out / "plugins").glob("*.kplugin"):
        verify_signature(read_package(pkg.read_bytes()), trusted)

    # the sdist carries fixed timestamps
    epoch = source_date_epoch()
    with tarfile.open(a.out / "koha_plugin_host-0.1.0.tar.gz") as t:
        assert {m.mtime for m in t.getmembers()} == {epoch}

    # the SBOM lists exactly the pinned runtime dependencies
    pins = dict(line.split("==") for line in (a.out / "constraints.txt").read_text().split())
    sbom = json.loads((a.out / "sbom.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX" and sbom["serialNumber"].startswith("urn:uuid:")
    assert {c["name"].lower(): c["version"] for c in sbom["components"]} == pins
    assert "fastapi" in pins and "uvloop" in pins

    # hosts without internet install from the wheelhouse alone
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-index", "--find-links",
                        str(a.out / "wheelhouse"), "koha-plugin-host", "-q",
                        "--disable-pip-version-check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(venv / "bin" / "plugin-host"), "--version"],
                       capture_output=True, text=True)
    assert r.stdout.strip() == "plugin-host, version 0.1.0"
    assert Path(venv / "bin" / "plugin-host").exists()
