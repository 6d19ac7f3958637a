"""Bad input to the registry gets a clear 4xx naming the problem, and nothing is
half-stored: no database row, no package in storage, no new index generation."""

from __future__ import annotations

from pathlib import Path

from ..support.plugins import ZIP, variant
from ..support.servers import publish_and_approve


def stored(reg) -> set[str]:
    return {str(p.relative_to(reg.storage)) for p in reg.storage.rglob("*") if p.is_file()}


def renamed(data: bytes, name: str, key: Path) -> bytes:
    """``data`` with plugin.name set to ``name``, hashed and signed properly: only the
    name is wrong (``plugin-host plugin pack`` would refuse to make it)."""
    import hashlib
    import io
    import zipfile

    from plugin_host.package.archive import build_manifest_json
    from plugin_host.package.signing import load_private_key, signature_document

    src = zipfile.ZipFile(io.BytesIO(data))
    files = {i.filename: src.read(i) for i in src.infolist()
             if i.filename not in ("MANIFEST.json", "SIGNATURE")}
    files["plugin.toml"] = files["plugin.toml"].replace(b'name = "hello-world"',
                                                        f'name = "{name}"'.encode())
    manifest = build_manifest_json({n: hashlib.sha256(b).hexdigest() for n, b in files.items()})
    out = io.BytesIO()
    files["MANIFEST.json"] = manifest
    files["SIGNATURE"] = signature_document(load_private_key(key), manifest)
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():  # same entry attributes as pack() gives
            z.writestr(info, files[info.filename])
    return out.getvalue()


def publish(reg, data: bytes):
    return reg.client("publisher").post("/api/v1/packages", content=data, headers=ZIP)


def test_bad_publishes_leave_nothing_behind(registry_factory, keys, tmp_path: Path):
    reg = registry_factory({"PLUGIN_REGISTRY_MAX_PACKAGE_BYTES": "200000"})
    good = variant(tmp_path, "hello-world", "1.0.0", key=keys["key"])
    publish_and_approve(reg, good)
    before = stored(reg)
    versions = reg.client().get("/api/v1/index").json()["roles"]

    # the same version again
    r = publish(reg, good)
    assert r.status_code == 409
    assert "hello-world 1.0.0 has already been published" in r.json()["error"]["message"]
    # not a package at all
    r = publish(reg, b"PK\x03\x04 this is not a zip file")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_package", r.text
    # larger than the registry accepts: refused before it is read
    r = publish(reg, b"PK" + b"\0" * 300_000)
    assert r.status_code == 413
    assert "larger than this server accepts (200000 bytes)" in r.json()["error"]["message"]
    # names that differ only in case or '_' from hello-world are not plugin names
    for bad in ("Hello-World", "hello_world"):
        r = publish(reg, renamed(good, bad, keys["key"]))
        assert r.status_code == 422, r.text
        assert "plugin.name: " + repr(bad) in r.json()["error"]["message"], r.text
        r = reg.client().get(f"/api/v1/plugins/{bad}")
        assert r.status_code == 404
        assert "did you mean 'hello-world'" in r.json()["error"]["message"]
    # wrong content type
    r = reg.client("publisher").post("/api/v1/packages", content=good,
                                     headers={"Content-Type": "text/plain"})
    assert r.status_code == 415

    assert stored(reg) == before
    assert reg.client().get("/api/v1/index").json()["roles"] == versions
    page = reg.client("publisher").get("/api/v1/plugins/hello-world").json()
    assert [v["version"] for v in page["versions"]] == ["1.0.0"]
    assert reg.client("reviewer").get("/api/v1/review/queue").json()["queue"] == []


def test_registry_refuses_to_start_on_unusable_storage(tmp_path: Path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "plugin_host.cli", "registry", "serve",
                        "--data-dir", str(tmp_path / "r"), "--storage", "s3",
                        "--storage-bucket", "missing", "--storage-endpoint",
                        "http://127.0.0.1:9"], capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "AWS_ACCESS_KEY_ID": "x",
                            "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
                            "AWS_MAX_ATTEMPTS": "1"})
    assert r.returncode == 2, r.stderr
    assert "error: bucket 'missing' cannot be used" in r.stderr
    assert "Traceback" not in r.stderr
