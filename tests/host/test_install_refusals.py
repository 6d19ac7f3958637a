"""Through the admin API: bad packages are refused with a clear message, leaving nothing."""

from __future__ import annotations

import io
import os
import stat
import zipfile

import pytest

from plugin_host.package.archive import pack, write_zip

from ..support.paths import EXAMPLES
from ..support.plugins import raw_zip, signed


def entries_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def files_under(path) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), path)
                  for d, _, fs in os.walk(path) for f in fs)


def assert_nothing_left(host) -> None:
    assert host.installed() == []
    assert files_under(host.data_dir / "plugins") == []
    assert files_under(host.data_dir / "packages") == []


@pytest.fixture
def hello(packages) -> bytes:
    return packages["hello-world"]


def changed_byte(data: bytes) -> bytes:
    e = entries_of(data)
    code = bytearray(e["hello_world/__init__.py"])
    code[10] ^= 0x20
    e["hello_world/__init__.py"] = bytes(code)
    return write_zip(e)


def unsigned(data: bytes) -> bytes:
    e = entries_of(data)
    del e["SIGNATURE"]
    return write_zip(e)


def zip_slip(data: bytes) -> bytes:
    e = entries_of(data)
    return raw_zip([*((n, b, stat.S_IFREG | 0o644) for n, b in e.items()),
                    ("../../escaped.py", b"print('pwned')", stat.S_IFREG | 0o644)])


CASES = [
    ("one changed byte", changed_byte, 422, "invalid_package",
     "'hello_world/__init__.py': content does not match its SHA-256"),
    ("unsigned", unsigned, 422, "untrusted_package", "is not signed"),
    ("zip slip", zip_slip, 422, "invalid_package", "'..' and '.' path parts are not allowed"),
    ("not a package", lambda d: b"<html>oops</html>", 422, "invalid_package",
     "not a zip archive"),
]


@pytest.mark.parametrize(("case", "mutate", "status", "code", "message"), CASES,
                         ids=[c[0] for c in CASES])
def test_refused_and_nothing_left(host, hello, case, mutate, status, code, message):
    r = host.install(mutate(hello))
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert message in r.json()["error"]["message"]
    assert_nothing_left(host)
    assert not (host.data_dir.parent / "escaped.py").exists()
    assert f'plugin_host_installs_total{{outcome="{code}"}} 1.0' in host.client.get(
        "/metrics").text


def test_signed_by_an_unknown_key(host, keys, tmp_path):
    """Refused with how to trust it; a key dropped into the host's trusted-keys folder
    is then trusted without a restart."""
    data = signed(EXAMPLES / "hello-world", keys["other_key"], tmp_path)
    r = host.install(data)
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert "which is not a trusted key: trust its public key on this host" in message
    assert str(host.data_dir / "trusted-keys") in message and "--trust KEY.pub" in message
    assert_nothing_left(host)
    pid = host.proc.pid
    (host.data_dir / "trusted-keys").mkdir(exist_ok=True)
    import shutil
    shutil.copy(keys["other_pub"], host.data_dir / "trusted-keys" / "author.pub")
    assert host.install(data).status_code == 201
    assert host.proc.pid == pid  # no restart


def test_allow_unsigned_is_off_by_default_and_loud_when_on(host_factory, tmp_path):
    data = pack(EXAMPLES / "hello-world", tmp_path).read_bytes()
    strict = host_factory()
    assert strict.install(data).status_code == 422
    loose = host_factory(extra_args=["--allow-unsigned"])
    assert "UNSIGNED PLUGINS ARE ACCEPTED" in loose.log_text()
    r = loose.install(data)
    assert r.status_code == 201 and r.json()["signer"] is None
    assert "installing WITHOUT a trusted signature" in loose.log_text()
    # tampering is still caught: hashes are checked whatever the signature
    e = entries_of(data)
    e["plugin.toml"] = e["plugin.toml"].replace(b"1.0.0", b"1.0.1")
    assert loose.install(write_zip(e)).status_code == 422


def test_wrong_content_type_and_empty_body(host, packages):
    r = host.admin.post("/admin/plugins", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = host.admin.post("/admin/plugins", content=b"",
                        headers={"Content-Type": "application/zip"})
    assert r.status_code == 422 and "empty" in r.json()["error"]["message"]
    r = host.admin.post("/admin/plugins", json={"name": "hello-world", "range": "^1"})
    assert r.status_code == 501 and r.json()["error"]["code"] == "registry_not_configured"
    # upgrading by range: an unknown plugin is a 404 and a bad range a 422 before the
    # missing registry (found by schemathesis)
    r = host.admin.post("/admin/plugins/no-such/upgrade", json={"range": ""})
    assert r.status_code == 404, r.text
    assert host.install(packages["hello-world"]).status_code == 201
    r = host.admin.post("/admin/plugins/hello-world/upgrade", json={"range": "not a range"})
    assert r.status_code == 422 and "range:" in r.json()["error"]["message"]
    r = host.admin.post("/admin/plugins/hello-world/upgrade", json={"range": "^2"})
    assert r.status_code == 501 and r.json()["error"]["code"] == "registry_not_configured"
