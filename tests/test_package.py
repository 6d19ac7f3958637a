"""Packing, signing and verifying; unsafe archives refused before anything is extracted."""

from __future__ import annotations

import io
import json
import stat
import subprocess
import sys
import zipfile

import pytest

from plugin_host.errors import PackageError, SignatureError
from plugin_host.package.archive import (
    ArchiveLimits,
    build_manifest_json,
    pack,
    read_package,
    write_zip,
)
from plugin_host.package.signing import load_trusted_keys, sign_package, verify_signature

from .support.paths import EXAMPLES
from .support.plugins import raw_zip

HELLO = EXAMPLES / "hello-world"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "plugin_host.cli", *args],
                          capture_output=True, text=True)


def test_pack_is_deterministic_and_leaves_out_tests_and_caches(tmp_path, plugin_copy):
    src = plugin_copy(HELLO)
    (src / "hello_world" / "__pycache__").mkdir()
    (src / "hello_world" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    a = pack(src, tmp_path / "a").read_bytes()
    b = pack(src, tmp_path / "b").read_bytes()
    assert a == b
    names = zipfile.ZipFile(io.BytesIO(a)).namelist()
    assert sorted(names) == ["MANIFEST.json", "hello_world/__init__.py", "plugin.toml",
                             "ui/dist/greeting.js"]


def test_pack_refuses_a_folder_with_a_symlink(plugin_copy):
    src = plugin_copy(HELLO)
    (src / "ui" / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(PackageError, match="symbolic links"):
        pack(src)
    (src / "ui" / "passwd").unlink()
    (src / "ui" / "etc").symlink_to("/etc", target_is_directory=True)  # a folder, too
    with pytest.raises(PackageError, match=r"ui/etc: symbolic links cannot be packed"):
        pack(src)


def test_pack_says_when_the_folder_is_not_a_plugin(tmp_path):
    with pytest.raises(PackageError, match=rf"{tmp_path}: no plugin.toml in this folder"):
        pack(tmp_path)


def test_sign_and_verify_round_trip(tmp_path, keys):
    pkg = pack(HELLO, tmp_path)
    sign_package(pkg, keys["key"])
    checked = read_package(pkg.read_bytes())
    signer = verify_signature(checked, load_trusted_keys([keys["pub"]]))
    assert signer.source == str(keys["pub"])


def test_verify_refuses_unsigned_and_unknown_keys(tmp_path, keys):
    pkg = pack(HELLO, tmp_path)
    trusted = load_trusted_keys([keys["pub"]])
    with pytest.raises(SignatureError, match="not signed"):
        verify_signature(read_package(pkg.read_bytes()), trusted)
    sign_package(pkg, keys["other_key"])
    with pytest.raises(SignatureError, match="not a trusted key"):
        verify_signature(read_package(pkg.read_bytes()), trusted)


def _rezip(data: bytes, change) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        entries = {i.filename: zf.read(i) for i in zf.infolist()}
    change(entries)
    return write_zip(entries)


def test_one_changed_byte_is_refused(tmp_path, keys):
    pkg = pack(HELLO, tmp_path)
    sign_package(pkg, keys["key"])

    def flip(entries):
        code = bytearray(entries["hello_world/__init__.py"])
        code[-2] ^= 0x01
        entries["hello_world/__init__.py"] = bytes(code)

    with pytest.raises(PackageError, match="does not match its SHA-256"):
        read_package(_rezip(pkg.read_bytes(), flip))


def test_a_rewritten_manifest_breaks_the_signature(tmp_path, keys):
    """Changing a file and its hash in MANIFEST.json still fails: the signature covers it."""
    pkg = pack(HELLO, tmp_path)
    sign_package(pkg, keys["key"])

    def rewrite(entries):
        entries["hello_world/__init__.py"] += b"\nimport os\n"
        doc = json.loads(entries["MANIFEST.json"])
        import hashlib
        doc["files"]["hello_world/__init__.py"] = hashlib.sha256(
            entries["hello_world/__init__.py"]).hexdigest()
        entries["MANIFEST.json"] = build_manifest_json(doc["files"])

    tampered = read_package(_rezip(pkg.read_bytes(), rewrite))
    with pytest.raises(SignatureError, match="does not match the package"):
        verify_signature(tampered, load_trusted_keys([keys["pub"]]))


REG = stat.S_IFREG | 0o644
UNSAFE = [
    ("zip slip", [("../evil.py", b"x", REG)], "'..'"),
    ("nested zip slip", [("ui/../../evil.py", b"x", REG)], "'..'"),
    ("absolute path", [("/etc/cron.d/evil", b"x", REG)], "absolute paths"),
    ("windows drive", [("C:/evil", b"x", REG)], "absolute paths"),
    ("backslash", [("..\\evil", b"x", REG)], "unsafe entry name"),
    ("symlink", [("ui/link", b"/etc/shadow", stat.S_IFLNK | 0o777)],
     "'ui/link' is a symbolic link: a package holds regular files only"),
    ("fifo", [("ui/pipe", b"", stat.S_IFIFO | 0o644)], "is a special file"),
    ("duplicate", [("a.py", b"1", REG), ("a.py", b"2", REG)], "duplicate entry name"),
    ("directory entry", [("ui/", b"", stat.S_IFDIR | 0o755)], "directory entries"),
]


@pytest.mark.parametrize(("case", "entries", "message"), UNSAFE, ids=[u[0] for u in UNSAFE])
def test_unsafe_archives_are_refused(case, entries, message):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        data = raw_zip(entries)
    with pytest.raises(PackageError, match=message):
        read_package(data)


def test_a_zip_recording_only_permission_bits_or_none_is_read(tmp_path, keys):
    """Many zip tools record no file type (0o644, or nothing at all): such entries are
    regular files, not "special files"."""
    good = pack(EXAMPLES / "hello-world", tmp_path).read_bytes()
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        entries = [(i.filename, z.read(i), 0o644 if n % 2 else 0) for n, i in
                   enumerate(z.infolist())]
    assert read_package(raw_zip(entries)).manifest.name == "hello-world"


def test_limits_files_size_and_ratio():
    many = raw_zip([(f"f{i}.txt", b"x", REG) for i in range(11)])
    with pytest.raises(PackageError, match="too many files"):
        read_package(many, ArchiveLimits(max_files=10))
    big = raw_zip([("a.bin", bytes(range(256)) * 400, REG)])
    with pytest.raises(PackageError, match="too large when extracted"):
        read_package(big, ArchiveLimits(max_total_bytes=50_000, max_ratio=1e9))
    bomb = raw_zip([("zeros.bin", b"\0" * 5_000_000, REG)])
    with pytest.raises(PackageError, match=r"compression ratio \d+:1 is above 100:1"):
        read_package(bomb)
    with pytest.raises(PackageError, match="package too large"):
        read_package(bomb, ArchiveLimits(max_package_bytes=100))


def test_not_a_zip_and_no_manifest():
    with pytest.raises(PackageError, match="not a zip archive"):
        read_package(b"hello")
    with pytest.raises(PackageError, match=r"MANIFEST\.json is missing"):
        read_package(raw_zip([("plugin.toml", b"", REG)]))


def test_cli_keys_pack_sign_verify(tmp_path):
    assert cli("keys", "generate", str(tmp_path / "me")).returncode == 0
    assert oct((tmp_path / "me.key").stat().st_mode & 0o777) == "0o600"
    again = cli("keys", "generate", str(tmp_path / "me"))
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr
    r = cli("plugin", "pack", str(HELLO), "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    pkg = r.stdout.strip()
    unsigned = cli("plugin", "verify", pkg, "--trusted-key", str(tmp_path / "me.pub"))
    assert unsigned.returncode == 2
    assert "error: hello-world-1.0.0.kplugin is not signed" in unsigned.stderr
    assert "Traceback" not in unsigned.stderr
    assert cli("plugin", "sign", pkg, "--key", str(tmp_path / "me.key")).returncode == 0
    ok = cli("plugin", "verify", pkg, "--trusted-key", str(tmp_path / "me.pub"), "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["name"] == "hello-world"


def test_cli_pack_reports_manifest_problems_by_key(tmp_path, plugin_copy):
    src = plugin_copy(HELLO)
    toml = (src / "plugin.toml").read_text().replace('version = "1.0.0"', 'version = "one"')
    (src / "plugin.toml").write_text(toml)
    r = cli("plugin", "pack", str(src))
    assert r.returncode == 2
    assert "plugin.version: 'one' is not a semantic version" in r.stderr
    assert not (src / "dist").exists()


def test_signing_again_with_another_key_is_refused_unless_replaced(tmp_path, keys):
    path = pack(EXAMPLES / "hello-world", tmp_path)
    first = sign_package(path, keys["key"])
    assert sign_package(path, keys["key"]) == first  # the same key again: harmless
    with pytest.raises(SignatureError) as e:
        sign_package(path, keys["other_key"])
    assert f"already signed by key {first}: pass --replace" in e.value.message
    assert verify_signature(read_package(path.read_bytes()),
                            load_trusted_keys([keys["pub"]])).keyid == first
    r = subprocess.run([sys.executable, "-m", "plugin_host.cli", "plugin", "sign", str(path),
                        "--key", str(keys["other_key"]), "--replace"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert verify_signature(read_package(path.read_bytes()),
                            load_trusted_keys([keys["other_pub"]]))


def _hello_entries(tmp_path) -> dict[str, bytes]:
    with zipfile.ZipFile(pack(HELLO, tmp_path)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def _listing(entries: dict[str, bytes]) -> dict:
    return json.loads(entries["MANIFEST.json"])


def _forge(entries: dict[str, bytes], doc: object) -> None:
    entries["MANIFEST.json"] = json.dumps(doc).encode()


def _drop_file(e):
    del e["hello_world/__init__.py"]


def _add_file(e):
    e["smuggled.py"] = b"import os"


def _wrong_format(e):
    _forge(e, {**_listing(e), "format": "something-else"})


def _files_a_list(e):
    _forge(e, {**_listing(e), "files": ["plugin.toml"]})


def _hash_not_a_string(e):
    doc = _listing(e)
    doc["files"]["plugin.toml"] = 1
    _forge(e, doc)


def _no_plugin_toml(e):
    del e["plugin.toml"]
    doc = _listing(e)
    del doc["files"]["plugin.toml"]
    _forge(e, doc)


FORGED = [
    ("a listed file left out", _drop_file,
     "MANIFEST.json lists files the archive lacks: ['hello_world/__init__.py']"),
    ("a file not listed", _add_file,
     "archive holds files MANIFEST.json does not list: ['smuggled.py']"),
    ("another format", _wrong_format, "MANIFEST.json is not a valid package manifest"),
    ("files not a table", _files_a_list, "MANIFEST.json is not a valid package manifest"),
    ("a hash not a string", _hash_not_a_string,
     "MANIFEST.json is not a valid package manifest"),
    ("no plugin.toml", _no_plugin_toml, "plugin.toml is missing from the package"),
]


@pytest.mark.parametrize(("case", "forge", "message"), FORGED, ids=[f[0] for f in FORGED])
def test_a_forged_file_list_is_refused(tmp_path, case, forge, message):
    """The package's own list of files and hashes (MANIFEST.json, what the signature
    covers) is the only way in: a file it does not list, a file it lists and the archive
    lacks, or a list that is not one, each refused with what is wrong."""
    entries = _hello_entries(tmp_path)
    forge(entries)
    with pytest.raises(PackageError) as e:
        read_package(write_zip(entries))
    assert e.value.message == message


def test_an_encrypted_entry_is_refused(tmp_path):
    """The zip "encrypted" flag on an entry: nothing the host could check, so refused."""
    data = bytearray(raw_zip([("plugin.toml", b"[plugin]", REG)]))
    central = data.rfind(b"PK\x01\x02")
    local = data.find(b"PK\x03\x04")
    for at in (local + 6, central + 8):  # general purpose flags, bit 0
        data[at] |= 0x1
    with pytest.raises(PackageError, match="encrypted entries are not allowed"):
        read_package(bytes(data))
