"""`invoke build`: the release artifacts, reproducibly (same inputs, same bytes).

Into ``dist/``: the sdist and wheel of this project; ``wheelhouse/`` with every runtime
dependency as a wheel (with the cloud extras installed here, listed in ``extras.txt``:
boto3 for AWS; the GCP one needs a venv without Pulumi's older protobuf), pinned by
``constraints.txt`` (what hosts without internet install from); the example and
first-party plugins as ``.kplugin`` packages (signed if a key is given); the Koha bridge
as ``koha/koha-shadcn-bridge-VERSION.kpz`` (ops/koha_bridge.py); a CycloneDX SBOM of
the runtime dependencies; and ``SHA256SUMS`` over all of it.

Timestamps come from ``SOURCE_DATE_EPOCH`` (default: the last commit's time), archives
are normalised (sorted entries, fixed owners and modes), Ed25519 signatures are
deterministic, and the SBOM's serial number is derived from its content.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from plugin_host.package.archive import pack
from plugin_host.package.signing import sign_package

from .koha_bridge import build_kpz
from .paths import ROOT, published_plugins
from .webui import ensure_built

PROJECT = "koha-plugin-host"


@dataclass
class BuildResult:
    out: Path
    files: list[Path] = field(default_factory=list)

    def checksums(self) -> str:
        return (self.out / "SHA256SUMS").read_text()


def source_date_epoch(root: Path = ROOT) -> int:
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return int(os.environ["SOURCE_DATE_EPOCH"])
    try:
        out = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%ct"],
                             capture_output=True, text=True, check=True).stdout.strip()
        return int(out)
    except (OSError, subprocess.CalledProcessError, ValueError):
        return 315532800  # 1980-01-01, the zip epoch


def _normalise_sdist(path: Path, epoch: int) -> None:
    """Rewrite a .tar.gz with sorted entries, fixed mtime/owner and no gzip timestamp."""
    with tarfile.open(path, "r:gz") as src:
        members = sorted(src.getmembers(), key=lambda m: m.name)
        data = {m.name: src.extractfile(m).read() if m.isfile() else None for m in members}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as dst:
        for m in members:
            m.mtime, m.uid, m.gid, m.uname, m.gname = epoch, 0, 0, "", ""
            m.mode = 0o755 if m.isdir() else 0o644
            m.pax_headers = {}
            body = data[m.name]
            dst.addfile(m, io.BytesIO(body) if body is not None else None)
    with path.open("wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0,
                                             filename="") as gz:
        gz.write(raw.getvalue())


#: the project's extras a cloud host installs (secret stores, buckets): in the wheelhouse
#: when every package they need is installed here
CLOUD_EXTRAS = ("aws", "gcp")


def installed_extras(extras: tuple[str, ...] = CLOUD_EXTRAS) -> list[str]:
    """Those of ``extras`` whose every requirement is installed in this environment."""
    from packaging.requirements import Requirement

    out = []
    for extra in extras:
        reqs = [Requirement(t) for t in metadata.distribution(PROJECT).requires or []]
        wanted = [r for r in reqs if r.marker is not None
                  and r.marker.evaluate({"extra": extra})]
        try:
            for r in wanted:
                metadata.version(r.name)
        except metadata.PackageNotFoundError:
            continue
        out.append(extra)
    return out


def runtime_requirements(extras: tuple[str, ...] = ()) -> dict[str, str]:
    """name → installed version for every runtime dependency of this project (and of its
    ``extras``): the closure of its requirements, following the extras each requirement
    asks for (``psycopg[binary]`` brings ``psycopg-binary``), as installed in this
    environment."""
    from packaging.requirements import Requirement

    seen: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [(PROJECT, frozenset(extras))]
    while todo:
        name, extras = todo.pop()
        for text in metadata.distribution(name).requires or []:
            req = Requirement(text)
            if req.marker is not None and not any(
                    req.marker.evaluate({"extra": e}) for e in (extras or {""})):
                continue
            key = req.name.lower().replace("_", "-")
            if key in seen:
                continue
            try:
                seen[key] = metadata.version(req.name)
            except metadata.PackageNotFoundError:
                continue
            todo.append((req.name, frozenset(req.extras)))
    return dict(sorted(seen.items()))


def _sbom(out: Path, constraints: Path, epoch: int) -> Path:
    path = out / "sbom.cdx.json"
    subprocess.run([sys.executable, "-m", "cyclonedx_py", "requirements", str(constraints),
                    "--of", "JSON", "-o", str(path)], check=True, capture_output=True)
    doc = json.loads(path.read_text())
    doc.pop("serialNumber", None)
    doc.setdefault("metadata", {})["timestamp"] = _iso(epoch)
    doc["metadata"]["component"] = {"type": "application", "name": PROJECT,
                                    "version": metadata.version(PROJECT),
                                    "bom-ref": PROJECT}
    body = json.dumps(doc, sort_keys=True)
    doc["serialNumber"] = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, body)}"
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return path


def _iso(epoch: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build(out: Path, key: Path | None = None, deps: bool = True,
          root: Path = ROOT) -> BuildResult:
    """Build the project at ``root`` into ``out`` (emptied first)."""
    ensure_built()  # the wheel ships the built web UI (plugin_host/webui/dist)
    epoch = source_date_epoch(root)
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch), "PYTHONHASHSEED": "0"}
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out),
                    str(root)], check=True, capture_output=True, env=env)
    for sdist in out.glob("*.tar.gz"):
        _normalise_sdist(sdist, epoch)
    constraints = out / "constraints.txt"
    extras = installed_extras()
    constraints.write_text("".join(f"{n}=={v}\n"
                                   for n, v in runtime_requirements(tuple(extras)).items()))
    (out / "extras.txt").write_text("".join(f"{e}\n" for e in extras))
    if deps:
        wheelhouse = out / "wheelhouse"
        subprocess.run([sys.executable, "-m", "pip", "download", "--only-binary=:all:",
                        "--no-deps", "-d", str(wheelhouse), "-r", str(constraints),
                        "--disable-pip-version-check", "-q"],
                       check=True, capture_output=True, env=env)
        for wheel in out.glob("*.whl"):
            shutil.copy2(wheel, wheelhouse / wheel.name)
    plugins = out / "plugins"
    for folder in published_plugins(root):
        pkg = pack(folder, plugins)
        if key:
            sign_package(pkg, key)
    build_kpz(out / "koha", epoch, root / "koha-bridge")
    _sbom(out, constraints, epoch)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    sums = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(out)}\n"
                   for p in files)
    (out / "SHA256SUMS").write_text(sums)
    return BuildResult(out, [*files, out / "SHA256SUMS"])
