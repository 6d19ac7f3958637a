"""Backups of a service's state (the plugin host's or the registry's): its database and
its data folder in one archive that is verified before it counts, and restored whole or
not at all.

An archive is ``DEST/SERVICE-YYYYmmddTHHMMSSZ.tar.gz`` holding::

    MANIFEST.json      service, release, when, database kind, sha256 and size of each member
    database.sqlite    SQLite's online backup (consistent while the service writes), or
    database.pgdump    pg_dump --format=custom (PostgreSQL)
    data/...           the data folder, without the SQLite files

It is written under a hidden name, read back and checked, then renamed: a reader (or
the next run, or a restore) never sees half an archive. The newest ``keep`` archives are
kept. Each run writes its outcome for node_exporter's textfile collector
(``METRICS_DIR/koha_backup_SERVICE.prom``) so Prometheus can tell when the last good
backup is too old (KohaBackupStale) or the last run failed (KohaBackupFailing).

A restore checks every member against the manifest before it touches anything, restores
the database (SQLite: the file replaced; PostgreSQL: pg_restore in one transaction),
then swaps the data folder in by renames, keeping the one it replaced beside it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from .. import __version__
from ..errors import PluginHostError

SERVICES = ("host", "registry")
NAME = re.compile(r"^(?P<service>host|registry)-(?P<stamp>\d{8}T\d{6}Z)\.tar\.gz$")
STAMP = "%Y%m%dT%H%M%SZ"
FORMAT = 1


class BackupError(PluginHostError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="backup_failed")


@dataclass(frozen=True)
class Archive:
    path: Path
    service: str
    created: datetime

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def archives(dest: Path, service: str | None = None) -> list[Archive]:
    """The complete archives in ``dest``, oldest first (hidden partial ones are not)."""
    out = []
    if dest.is_dir():
        for p in dest.iterdir():
            m = NAME.match(p.name)
            if m and (service is None or m["service"] == service):
                created = datetime.strptime(m["stamp"], STAMP).replace(tzinfo=UTC)
                out.append(Archive(p, m["service"], created))
    return sorted(out, key=lambda a: a.created)


def _sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return None
    if not u.database or u.database == ":memory:":
        raise BackupError("database_url: an in-memory SQLite database cannot be backed up")
    return Path(u.database).resolve()


def _pg_env(url: str) -> dict[str, str]:
    """libpq's variables for a SQLAlchemy PostgreSQL URL (the password never on a
    command line, where `ps` would show it)."""
    u = make_url(url)
    if u.get_backend_name() != "postgresql":
        raise BackupError(f"database_url: {u.get_backend_name()} databases cannot be backed "
                          "up (SQLite and PostgreSQL can)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for var, value in (("PGHOST", u.host), ("PGPORT", u.port), ("PGUSER", u.username),
                       ("PGPASSWORD", u.password), ("PGDATABASE", u.database)):
        if value is not None:
            env[var] = str(value)
    for key, var in (("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT")):
        if key in u.query:
            env[var] = str(u.query[key])
    return env


def _tool(name: str) -> str:
    path = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                                reverse=True)), None)
    if not path:
        raise BackupError(f"{name} is not installed (apt-get install postgresql-client)")
    return path


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        detail = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise BackupError(f"{what} failed: {detail}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _data_dirs(data_dir: Path) -> Iterator[Path]:
    for root, dirs, _ in os.walk(data_dir):
        dirs.sort()
        for name in dirs:
            if not (Path(root) / name).is_symlink():
                yield Path(root) / name


def _data_files(data_dir: Path, skip: set[Path]) -> Iterator[Path]:
    for root, dirs, files in os.walk(data_dir):
        dirs.sort()
        for name in sorted(files):
            p = Path(root) / name
            if p not in skip and p.is_file() and not p.is_symlink():
                yield p


def create(service: str, data_dir: Path, database_url: str, dest: Path, *,
           database: bool = True, keep: int = 7) -> Archive:
    """Back up ``service``; return the verified archive. Nothing is left behind on
    failure but the previous archives."""
    if service not in SERVICES:
        raise BackupError(f"service: {service!r} is not one of {', '.join(SERVICES)}")
    if keep < 1:
        raise BackupError("keep: at least one archive must be kept")
    data_dir, dest = data_dir.resolve(), dest.resolve()
    if dest == data_dir or data_dir in dest.parents:
        raise BackupError(f"--to: {dest} is inside the data folder it backs up ({data_dir})")
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = datetime.now(UTC).replace(microsecond=0)
    final = dest / f"{service}-{now.strftime(STAMP)}.tar.gz"
    if final.exists():  # two runs in one second: the second waits for its own name
        time.sleep(1)
        return create(service, data_dir, database_url, dest, database=database, keep=keep)
    sqlite = _sqlite_path(database_url)
    skip = set()
    if sqlite is not None:
        skip = {sqlite, Path(f"{sqlite}-wal"), Path(f"{sqlite}-shm"), Path(f"{sqlite}-journal")}
    with tempfile.TemporaryDirectory(dir=dest, prefix=".work-") as work:
        work_dir = Path(work)
        members: dict[str, Path] = {}
        kind = None
        if database:
            if sqlite is not None:
                if not sqlite.exists():
                    raise BackupError(f"database_url: {sqlite} does not exist")
                copy = work_dir / "database.sqlite"
                src = sqlite3.connect(sqlite, timeout=30)
                dst = sqlite3.connect(copy)
                try:
                    src.backup(dst)
                    ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
                finally:
                    src.close()
                    dst.close()
                if ok != "ok":
                    raise BackupError(f"the SQLite copy fails its integrity check: {ok}")
                members["database.sqlite"], kind = copy, "sqlite"
            else:
                dump = work_dir / "database.pgdump"
                _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-acl",
                      "--file", str(dump)], _pg_env(database_url), "pg_dump")
                members["database.pgdump"], kind = dump, "postgresql"
        if data_dir.is_dir():
            for p in _data_files(data_dir, skip):
                members[f"data/{p.relative_to(data_dir).as_posix()}"] = p
        manifest = {"format": FORMAT, "service": service, "release": __version__,
                    "created": now.isoformat(), "database": kind,
                    "data_dir": str(data_dir),
                    "files": {name: {"sha256": _sha256(p), "size": p.stat().st_size}
                              for name, p in members.items()}}
        partial = work_dir / final.name
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            blob = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo("MANIFEST.json")
            info.size, info.mtime, info.mode = len(blob), int(now.timestamp()), 0o600
            tar.addfile(info, io.BytesIO(blob))
            for d in _data_dirs(data_dir) if data_dir.is_dir() else ():
                # folders too, for their modes (plugin files must stay readable by workers)
                tar.add(d, arcname=f"data/{d.relative_to(data_dir).as_posix()}", recursive=False)
            for name, p in members.items():
                tar.add(p, arcname=name, recursive=False)
            raw.flush()
            os.fsync(raw.fileno())
        verify(partial)
        os.replace(partial, final)
    _fsync_dir(dest)
    for old in archives(dest, service)[:-keep]:
        old.path.unlink(missing_ok=True)
    return Archive(final, service, now)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _safe_name(name: str) -> bool:
    parts = Path(name).parts
    return bool(parts) and not Path(name).is_absolute() and ".." not in parts


def verify(path: Path) -> dict:
    """Read the whole archive back: the manifest, and every member with the size and
    sha256 it names, nothing more and nothing outside its folder. Returns the manifest."""
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            names = tar.getnames()
            if not names or names[0] != "MANIFEST.json":
                raise BackupError(f"{path.name}: no MANIFEST.json first: not a Koha backup")
            manifest = json.load(tar.extractfile("MANIFEST.json"))
            files = manifest.get("files", {})
            seen = set()
            for member in tar.getmembers()[1:]:
                if member.isdir() and _safe_name(member.name) and \
                        member.name.startswith("data/"):
                    continue
                if not member.isfile() or not _safe_name(member.name):
                    raise BackupError(f"{path.name}: member {member.name!r} is not a plain "
                                      "file inside the archive")
                expected = files.get(member.name)
                if expected is None:
                    raise BackupError(f"{path.name}: {member.name} is not in the manifest")
                h = hashlib.sha256()
                f = tar.extractfile(member)
                while block := f.read(1 << 20):
                    h.update(block)
                if h.hexdigest() != expected["sha256"] or member.size != expected["size"]:
                    raise BackupError(f"{path.name}: {member.name} does not match its "
                                      "checksum: the archive is damaged")
                seen.add(member.name)
            # what tar never reads (the padding after each member, the end blocks, all
            # that follows a damaged header, which ends a tar early and silently) only
            # the gzip checksum covers: read on to the end of the stream, which checks it
            while tar.fileobj is not None and tar.fileobj.read(1 << 20):
                pass
            missing = sorted(set(files) - seen)
            if missing:  # from an intact stream: left out
                raise BackupError(f"{path.name}: missing {', '.join(missing[:3])}: the "
                                  "archive is incomplete")
    except (tarfile.TarError, EOFError, OSError, ValueError, KeyError) as e:
        raise BackupError(f"{path.name}: cannot be read ({e}): the archive is damaged") from None
    if manifest.get("format") != FORMAT or manifest.get("service") not in SERVICES:
        raise BackupError(f"{path.name}: format {manifest.get('format')!r} of service "
                          f"{manifest.get('service')!r} is not one this release reads")
    return manifest


def _extract(path: Path, into: Path) -> None:
    """Write the (verified: plain files, relative names without ``..``) members below
    ``into``, never following a link, without their owners."""
    folders = []
    with tarfile.open(path, mode="r:gz") as tar:
        for member in tar.getmembers():
            target = into / member.name
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True, mode=0o700)
                folders.append((target, member.mode & 0o777))
                continue
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(tar.extractfile(member), out)
            os.chmod(target, member.mode & 0o777)  # no set-id bits
    for folder, mode in reversed(folders):  # modes last: a read-only folder was written
        os.chmod(folder, mode)


def restore(path: Path, service: str, data_dir: Path, database_url: str) -> dict:
    """Put the archive's state back: the database, then the data folder (the one it
    replaces is kept as ``DATA_DIR.before-restore-STAMP``). Stop the service first."""
    manifest = verify(path)
    if manifest["service"] != service:
        raise BackupError(f"{path.name} is a backup of the {manifest['service']}, not of "
                          f"the {service}")
    sqlite = _sqlite_path(database_url)
    kind = manifest["database"]
    if kind == "sqlite" and sqlite is None:
        raise BackupError(f"{path.name} holds a SQLite database; database_url names "
                          "PostgreSQL (restore it into a SQLite setting, then migrate)")
    if kind == "postgresql" and sqlite is not None:
        raise BackupError(f"{path.name} holds a PostgreSQL dump; database_url names SQLite")
    data_dir = data_dir.resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime(STAMP)
    staging = Path(tempfile.mkdtemp(dir=data_dir.parent, prefix=f".{data_dir.name}.restore-"))
    try:
        _extract(path, staging)
        new_data = staging / "data"
        new_data.mkdir(exist_ok=True)
        if kind == "postgresql":
            _run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-acl",
                  "--single-transaction", "--dbname", _pg_env(database_url)["PGDATABASE"],
                  str(staging / "database.pgdump")], _pg_env(database_url), "pg_restore")
        elif kind == "sqlite":
            target = new_data / sqlite.name if sqlite.parent == data_dir else \
                Path(f"{sqlite}.restoring")
            os.replace(staging / "database.sqlite", target)
        if data_dir.exists():  # the restored folder gets the owner and mode of the old one
            old = data_dir.stat()
            os.chmod(new_data, old.st_mode & 0o7777)
            if os.geteuid() == 0:
                for root, dirs, files in os.walk(new_data):
                    for n in [root, *(os.path.join(root, x) for x in dirs + files)]:
                        os.chown(n, old.st_uid, old.st_gid)
        # the swap: renames on one file system
        kept = data_dir.with_name(f"{data_dir.name}.before-restore-{stamp}")
        if data_dir.exists():
            os.rename(data_dir, kept)
        os.rename(new_data, data_dir)
        if kind == "sqlite" and sqlite.parent != data_dir:
            for suffix in ("-wal", "-shm"):
                Path(f"{sqlite}{suffix}").unlink(missing_ok=True)
            os.replace(f"{sqlite}.restoring", sqlite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest
