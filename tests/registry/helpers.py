"""Building plugin variants and driving a registry through publish and review."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..conftest import EXAMPLES, signed

ZIP = {"Content-Type": "application/zip"}


def variant(tmp: Path, name: str, version: str, deps: dict[str, str] | None = None,
            key: Path | None = None) -> bytes:
    """hello-world renamed to ``name`` ``version`` with ``deps``, packed and signed."""
    src = tmp / "src" / f"{name}-{version}"
    shutil.copytree(EXAMPLES / "hello-world", src)
    toml = (src / "plugin.toml").read_text()
    toml = toml.replace('name = "hello-world"', f'name = "{name}"').replace(
        'version = "1.0.0"', f'version = "{version}"')
    if deps:
        lines = "".join(f'"{d}" = "{r}"\n' for d, r in deps.items())
        toml = toml.replace("[backend]", f"[dependencies]\n{lines}\n[backend]")
    (src / "plugin.toml").write_text(toml)
    return signed(src, key, tmp / "out" / f"{name}-{version}")


CHAIN = [("base-lib", "2.0.0", {}),
         ("marc-utils", "2.1.0", {"base-lib": "^2"}),
         ("hello-world", "1.1.0", {"marc-utils": "^2.1"})]


def publish_and_approve(reg, data: bytes) -> dict:
    r = reg.client("publisher").post("/api/v1/packages", content=data, headers=ZIP)
    assert r.status_code == 201 and r.json()["state"] == "in_review", r.text
    body = r.json()
    r = reg.client("reviewer").post(f"/api/v1/review/{body['plugin']}/{body['version']}",
                                    json={"decision": "approve", "comment": "looks fine"})
    assert r.status_code == 200, r.text
    return r.json()


def publish_chain(reg, tmp: Path, key: Path) -> None:
    """base-lib 2.0.0 ← marc-utils 2.1.0 ← hello-world 1.1.0, each approved."""
    for name, version, deps in CHAIN:
        publish_and_approve(reg, variant(tmp, name, version, deps, key))
