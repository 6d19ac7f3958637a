"""Backups of the host's and the registry's state, through the real CLI against real
services (SQLite and a real PostgreSQL server): what a backup holds comes back after the
data folder is lost; a damaged or crafted archive is refused before anything is touched;
a failed run says so (exit status, metrics for the alerts) and leaves no half archive;
the --loop service backs up when due and follows a new release."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from plugin_host.service import backup as b

from .support.servers import publish_and_approve
from .support.waiting import wait_until

CLI = [sys.executable, "-m", "plugin_host.cli", "backup"]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def metrics(folder: Path, service: str) -> dict[str, float]:
    text = (folder / f"koha_backup_{service}.prom").read_text()
    return {m[1]: float(m[2]) for m in re.finditer(r"^(\w+)\{[^}]*\} (\S+)$", text, re.M)}


def only_archive(dest: Path) -> Path:
    found = b.archives(dest)
    assert len(found) == 1, found
    return found[0].path


def test_a_registry_lost_with_its_disk_comes_back_from_a_backup_made_while_serving(
        registry, packages, tmp_path):
    publish_and_approve(registry, packages["hello-world"])
    before = registry.client().get("/api/v1/plugins/hello-world/1.0.0/download").content
    dest, prom = tmp_path / "backups", tmp_path / "textfile"
    r = cli("run", "registry", "--to", str(dest), "--data-dir", str(registry.data),
            "--metrics-dir", str(prom))
    assert r.returncode == 0, r.stderr
    archive = only_archive(dest)
    assert oct(archive.stat().st_mode & 0o777) == "0o600"  # it holds tokens and keys
    m = metrics(prom, "registry")
    assert m["koha_backup_last_failed"] == 0 and m["koha_backup_archives"] == 1
    assert abs(m["koha_backup_last_success_timestamp_seconds"] - time.time()) < 60

    registry.stop()
    shutil.rmtree(registry.data)  # the disk is gone
    r = cli("restore", "registry", str(archive), "--yes", "--data-dir", str(registry.data))
    assert r.returncode == 0, r.stderr
    registry.restart()
    # the catalogue, the package bytes, the accounts and their tokens are all back
    assert registry.client().get("/api/v1/plugins/hello-world").status_code == 200
    assert registry.client().get("/api/v1/plugins/hello-world/1.0.0/download").content == before
    assert registry.client("reviewer").get("/api/v1/review/queue").status_code == 200
    assert registry.client().get("/api/v1/index").json()["roles"]["timestamp"]["version"] >= 1


def test_a_host_restored_runs_its_plugins_again(host, packages, tmp_path):
    assert host.install(packages["hello-world"]).status_code == 201
    dest = tmp_path / "backups"
    r = cli("run", "host", "--to", str(dest), "--data-dir", str(host.data_dir))
    assert r.returncode == 0, r.stderr
    host.stop()
    shutil.rmtree(host.data_dir)
    r = cli("restore", "host", str(only_archive(dest)), "--yes", "--data-dir", str(host.data_dir))
    assert r.returncode == 0, r.stderr
    host.start()
    assert host.installed() == ["hello-world"]
    r = host.client.get("/plugins/hello-world/api/greet/Ada")
    assert r.status_code == 200 and "Ada" in r.text, r.text


def test_a_postgresql_registry_is_restored_to_the_moment_of_its_backup(
        registry_factory, postgres, packages, tmp_path):
    url = postgres()
    reg = registry_factory({"PLUGIN_REGISTRY_DATABASE_URL": url})
    publish_and_approve(reg, packages["hello-world"])
    dest = tmp_path / "backups"
    env = {"PLUGIN_REGISTRY_DATABASE_URL": url}
    r = cli("run", "registry", "--to", str(dest), "--data-dir", str(reg.data), env=env)
    assert r.returncode == 0, r.stderr
    manifest = b.verify(only_archive(dest))
    assert manifest["database"] == "postgresql" and "database.pgdump" in manifest["files"]
    publish_and_approve(reg, packages["book-notes"])  # after the backup
    reg.stop()
    r = cli("restore", "registry", str(only_archive(dest)), "--yes", "--data-dir",
            str(reg.data), env=env)
    assert r.returncode == 0, r.stderr
    reg.restart()
    assert reg.client().get("/api/v1/plugins/hello-world").status_code == 200
    assert reg.client().get("/api/v1/plugins/book-notes").status_code == 404


def test_a_damaged_archive_is_refused_and_nothing_is_touched(registry, tmp_path):
    dest = tmp_path / "backups"
    assert cli("run", "registry", "--to", str(dest), "--data-dir", str(registry.data)
               ).returncode == 0
    archive = only_archive(dest)
    good = archive.read_bytes()
    registry.stop()
    before = sorted(p.relative_to(registry.data) for p in registry.data.rglob("*"))
    # a byte changed anywhere: in a file's data (its checksum) or in a tar header (which
    # ends the archive early, silently): both are "damaged"
    for where in (0.25, 0.4, 0.5, 0.6, 0.75, 0.9):
        raw = bytearray(good)
        raw[int(len(raw) * where)] ^= 0xFF
        archive.write_bytes(bytes(raw))
        r = cli("verify", str(archive))
        assert r.returncode == 2 and "damaged" in r.stderr and "Traceback" not in r.stderr, \
            (where, r.stderr)
    r = cli("restore", "registry", str(archive), "--yes", "--data-dir", str(registry.data))
    assert r.returncode == 2 and "damaged" in r.stderr, r.stderr
    assert sorted(p.relative_to(registry.data) for p in registry.data.rglob("*")) == before
    assert not list(registry.data.parent.glob("*before-restore*"))
    assert not list(registry.data.parent.glob(".*restore*"))


def _crafted(path: Path, members: dict[str, bytes], service: str = "registry",
             unlisted: dict[str, bytes] | None = None) -> Path:
    import hashlib
    manifest = {"format": 1, "service": service, "release": "0", "created": "now",
                "database": None, "files": {n: {"sha256": hashlib.sha256(d).hexdigest(),
                                                "size": len(d)} for n, d in members.items()}}
    return _tar(path, {"MANIFEST.json": json.dumps(manifest).encode(), **members,
                       **(unlisted or {})})


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    """``members`` (name → bytes) as a gzipped tar at ``path``, in that order."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _untar(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def test_a_crafted_archive_cannot_write_outside_the_data_folder(tmp_path):
    data = tmp_path / "registry"
    data.mkdir()
    for name in ("data/../../escaped", "/tmp/escaped-absolute"):
        archive = _crafted(tmp_path / "registry-20260101T000000Z.tar.gz", {name: b"owned"})
        r = cli("restore", "registry", str(archive), "--yes", "--data-dir", str(data))
        assert r.returncode == 2 and "not a plain file inside the archive" in r.stderr, r.stderr
        assert not (tmp_path / "escaped").exists() and not Path("/tmp/escaped-absolute").exists()
    # a member the manifest does not list, and a backup of the other service
    archive = _crafted(tmp_path / "x.tar.gz", {"data/a": b"1"}, unlisted={"data/b": b"2"})
    r = cli("verify", str(archive))
    assert r.returncode == 2 and "data/b is not in the manifest" in r.stderr, r.stderr
    r = cli("restore", "host", str(_crafted(tmp_path / "y.tar.gz", {"data/a": b"1"})),
            "--yes", "--data-dir", str(data))
    assert r.returncode == 2 and "is a backup of the registry, not of the host" in r.stderr


def test_a_failed_run_says_so_and_keeps_the_last_good_backup(registry, tmp_path):
    dest, prom = tmp_path / "backups", tmp_path / "textfile"
    args = ["run", "registry", "--to", str(dest), "--data-dir", str(registry.data),
            "--metrics-dir", str(prom), "--keep", "2"]
    for _ in range(3):
        assert cli(*args).returncode == 0
    assert len(b.archives(dest)) == 2  # --keep
    good = metrics(prom, "registry")["koha_backup_last_success_timestamp_seconds"]
    r = cli(*args, "--database-url", "postgresql+psycopg://koha:pw@127.0.0.1:1/koha")
    assert r.returncode == 2 and "pg_dump failed" in r.stderr and "Traceback" not in r.stderr
    assert "pw" not in r.stderr  # the password is not echoed
    m = metrics(prom, "registry")
    assert m["koha_backup_last_failed"] == 1
    assert m["koha_backup_last_success_timestamp_seconds"] == good
    assert len(b.archives(dest)) == 2 and not [p for p in dest.iterdir() if p.name.startswith(".")]
    r = cli("run", "registry", "--to", str(dest), "--interval", "soon")
    assert r.returncode == 2 and "'soon' is not a duration" in r.stderr
    r = cli("run", "registry", "--to", str(registry.data / "backups"), "--data-dir",
            str(registry.data))
    assert r.returncode == 2 and "is inside the data folder it backs up" in r.stderr


def test_the_backup_service_backs_up_when_due_and_follows_a_new_release(registry, tmp_path):
    """`--loop` as the deployed service runs it: from a release folder behind a symlink
    (/opt/koha/registry → releases/N); switching the symlink makes it carry on from the
    new release without a restart."""
    script = Path(sys.executable).parent / "plugin-host"
    for release in ("1", "2"):
        (tmp_path / "releases" / release / "bin").mkdir(parents=True)
        shutil.copy2(script, tmp_path / "releases" / release / "bin" / "plugin-host")
    current = tmp_path / "current"
    current.symlink_to(tmp_path / "releases" / "1")
    dest, prom = tmp_path / "backups", tmp_path / "textfile"
    log = (tmp_path / "loop.log").open("w")
    proc = subprocess.Popen(
        [str(current / "bin" / "plugin-host"), "backup", "run", "registry", "--loop",
         "--interval", "2s", "--to", str(dest), "--data-dir", str(registry.data),
         "--metrics-dir", str(prom)], stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: len(b.archives(dest)) >= 2, timeout=30, interval=0.5)
        assert metrics(prom, "registry")["koha_backup_interval_seconds"] == 2
        current.unlink()
        current.symlink_to(tmp_path / "releases" / "2")
        assert wait_until(lambda: "continuing from it" in (tmp_path / "loop.log").read_text(),
                          timeout=30, interval=0.5), (tmp_path / "loop.log").read_text()
        n = len(b.archives(dest))
        assert wait_until(lambda: len(b.archives(dest)) > n, timeout=30, interval=0.5)
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def test_backups_are_listed_newest_last(registry, tmp_path):
    dest = tmp_path / "backups"
    for _ in range(2):
        assert cli("run", "registry", "--to", str(dest), "--data-dir", str(registry.data)
                   ).returncode == 0
    r = cli("list", "--from", str(dest))
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and all("registry" in line for line in lines)
    assert lines == sorted(lines)


def _not_a_backup(path: Path) -> Path:
    return _tar(path, {"README": b"hi"})


def _other_format(path: Path) -> Path:
    members = _untar(_crafted(path, {"data/a": b"1"}))
    manifest = json.loads(members["MANIFEST.json"])
    members["MANIFEST.json"] = json.dumps({**manifest, "format": 99}).encode()
    return _tar(path, members)


def _incomplete(path: Path) -> Path:
    members = _untar(_crafted(path, {"data/a": b"1", "data/b": b"2"}))
    del members["data/b"]
    return _tar(path, members)


def _swapped_content(path: Path) -> Path:
    members = _untar(_crafted(path, {"data/a": b"1"}))
    return _tar(path, {**members, "data/a": b"9"})


def _truncated(path: Path) -> Path:
    _crafted(path, {"data/a": os.urandom(50_000)})
    path.write_bytes(path.read_bytes()[:20_000])
    return path


def _padding_changed(path: Path) -> Path:
    """A byte changed where tar never reads, the zero padding after a member: only the
    gzip checksum covers it (a byte flipped in a real backup landed there in CI). Stored
    uncompressed (level 0), so the byte's place in the file is known."""
    import gzip
    _crafted(path, {"data/a": b"A" * 100})
    raw = bytearray(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=0))
    raw[raw.index(b"A" * 100) + 100 + 10] ^= 0xFF
    path.write_bytes(bytes(raw))
    return path


ARCHIVES = {
    "not a Koha backup": (_not_a_backup, "no MANIFEST.json first: not a Koha backup"),
    "a format this release does not read": (
        _other_format, "format 99 of service 'registry' is not one this release reads"),
    "a listed file left out": (_incomplete, "missing data/b: the archive is incomplete"),
    "a file changed after listing": (
        _swapped_content, "data/a does not match its checksum: the archive is damaged"),
    "cut short": (_truncated, "the archive is damaged"),
    "a byte changed in a member's padding": (_padding_changed, "the archive is damaged"),
}


@pytest.mark.parametrize("case", ARCHIVES)
def test_archives_that_are_not_whole_backups_are_refused(tmp_path, case):
    make, message = ARCHIVES[case]
    archive = make(tmp_path / "registry-20260101T000000Z.tar.gz")
    r = cli("verify", str(archive))
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_a_backup_goes_back_only_where_it_fits(registry, postgres, tmp_path):
    """A SQLite backup is not poured into a PostgreSQL setting or the reverse; databases
    that cannot be backed up are named; nothing is touched by a refusal."""
    dest = tmp_path / "backups"
    assert cli("run", "registry", "--to", str(dest), "--data-dir", str(registry.data)
               ).returncode == 0
    archive = only_archive(dest)
    registry.stop()
    before = sorted(p.relative_to(registry.data) for p in registry.data.rglob("*"))
    r = cli("restore", "registry", str(archive), "--yes", "--data-dir", str(registry.data),
            "--database-url", postgres())
    assert r.returncode == 2, r.stderr
    assert "holds a SQLite database; database_url names PostgreSQL" in r.stderr
    assert sorted(p.relative_to(registry.data) for p in registry.data.rglob("*")) == before
    for url, why in (("sqlite:///:memory:", "an in-memory SQLite database cannot be backed up"),
                     ("mysql://koha@db/koha", "mysql databases cannot be backed up"),
                     (f"sqlite:///{tmp_path / 'gone.db'}", "gone.db does not exist")):
        r = cli("run", "registry", "--to", str(dest), "--data-dir", str(registry.data),
                "--database-url", url)
        assert r.returncode == 2 and why in r.stderr, (url, r.stderr)
    assert len(b.archives(dest)) == 1
    r = cli("run", "koha", "--to", str(dest))
    assert r.returncode == 2 and "Traceback" not in r.stderr
