"""`invoke build`: complete, reproducible, and installable without an index."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import httpx

from ops.build import build, source_date_epoch
from ops.processes import free_port, open_for_workers, start_server
from plugin_host.package.archive import read_package
from plugin_host.package.signing import load_trusted_keys, verify_signature

from ..support.servers import ADMIN_TOKEN


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


def test_the_wheel_is_the_runtime_alone_and_serves_without_dev_extras(
        tmp_path, wheelhouse, keys, packages):
    """What production installs: the wheel carries plugin_host only, installs from the
    wheelhouse without the dev extras, and serves a plugin call."""
    wheel = next(wheelhouse.glob("koha_plugin_host-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        tops = {name.split("/")[0] for name in z.namelist()}
    assert tops == {"plugin_host", f"{wheel.name.split('-py3')[0]}.dist-info"}, tops

    venv = open_for_workers(tmp_path) / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-index", "--find-links",
                        str(wheelhouse), "koha-plugin-host", "-q",
                        "--disable-pip-version-check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    probe = ("import importlib.util as u; print(sorted(m for m in ('ops', 'monitoring', "
             "'invoke', 'rich', 'docker', 'ansible', 'pulumi', 'pytest') if u.find_spec(m)))")
    r = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True,
                       text=True, cwd=tmp_path)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr

    port = free_port()
    server = start_server(
        [str(venv / "bin" / "plugin-host"), "serve", "--port", str(port), "--data-dir",
         str(tmp_path / "data"), "--trusted-key", str(keys["pub"]), "--admin-token",
         ADMIN_TOKEN], tmp_path / "host.log", port=port)
    try:
        admin = httpx.Client(base_url=server.url, timeout=60,
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        r = admin.post("/admin/plugins", content=packages["hello-world"],
                       headers={"Content-Type": "application/zip"})
        assert r.status_code == 201, r.text
        r = httpx.get(f"{server.url}/plugins/hello-world/api/greet/Ada", timeout=30)
        assert r.status_code == 200 and r.json() == {"greeting": "Hello Ada"}, r.text
        # the worker runs on the venv's interpreter, with the wheel's code
        pids = [w["pid"] for w in admin.get("/admin/plugins/hello-world").json()
                ["runtime"]["workers"]]
        assert pids
        for pid in pids:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
            assert any(a.startswith(f"{venv}/bin/python") for a in argv), argv
            code = [a for a in argv if a.endswith("/plugin_host")]
            assert code and all(a.startswith(f"{venv}/lib/") for a in code), code
    finally:
        server.stop()
