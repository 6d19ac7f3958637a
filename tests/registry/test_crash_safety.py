"""SIGKILL the registry during publish and during approve, ten times each, at moments
spread over how long each takes: after every restart the database, the stored files and
the signed index agree (no package file without its release, no temporary files, the
index verifies from the original root and lists exactly the approved releases), and the
registry serves (the interrupted request can be made again)."""

from __future__ import annotations

import sqlite3
import threading
import time

import httpx

from ..support.plugins import variant
from ..support.servers import RegistryProc, publish_and_approve
from ..support.tuf_reader import read_index

KILLS = 10


def releases(reg: RegistryProc) -> dict[tuple[str, str], tuple[str, str]]:
    db = sqlite3.connect(f"file:{reg.data / 'registry.db'}?mode=ro", uri=True)
    try:
        return {(p, v): (state, path) for p, v, state, path in
                db.execute("SELECT plugin, version, state, path FROM releases")}
    finally:
        db.close()


def assert_consistent(reg: RegistryProc, root: bytes) -> None:
    rows = releases(reg)
    stored = {p.relative_to(reg.storage).as_posix()
              for p in (reg.storage / "targets" / "packages").rglob("*") if p.is_file()}
    kept = {path for state, path in rows.values() if state in ("in_review", "approved")}
    assert kept <= stored, f"releases without their package: {kept - stored}"
    assert stored <= {path for _, path in rows.values()}, \
        f"package files no release refers to: {stored - {p for _, p in rows.values()}}"
    assert not [p for p in reg.storage.rglob(".*.tmp")], "half-written files left"
    index = read_index(reg.storage, root)
    listed = {(name, v) for name, entry in index["plugins"].items() for v in entry["releases"]}
    approved = {key for key, (state, _) in rows.items() if state == "approved"}
    assert listed == approved, f"index {sorted(listed)} but database {sorted(approved)}"
    assert httpx.get(f"{reg.url}/readyz").status_code == 200


def kill_during(reg: RegistryProc, request, delay: float) -> None:
    """Make ``request`` (a function) in a thread and SIGKILL the registry after
    ``delay`` seconds, whatever it is doing; then start it again."""
    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(_try(request)), daemon=True)
    thread.start()
    time.sleep(delay)
    reg.kill()
    thread.join(30)
    reg.restart()


def _try(request):
    try:
        return request()
    except httpx.HTTPError as e:
        return e


def timed(fn) -> float:
    started = time.monotonic()
    fn()
    return time.monotonic() - started


def test_sigkill_during_publish_and_approve(registry, keys, tmp_path):
    root = (registry.storage / "metadata" / "1.root.json").read_bytes()

    def package(version: str) -> bytes:
        return variant(tmp_path, "crash-test", version, key=keys["key"])

    def publish(data: bytes):
        return lambda: registry.client("publisher").post(
            "/api/v1/packages", content=data, headers={"Content-Type": "application/zip"})

    def approve(version: str):
        return lambda: registry.client("reviewer").post(
            f"/api/v1/review/crash-test/{version}", json={"decision": "approve",
                                                          "comment": "fine"})

    # how long each takes, to spread the kills over it
    publish_time = timed(lambda: publish_and_approve(registry, package("0.0.1")))
    assert_consistent(registry, root)

    for i in range(KILLS):
        version = f"1.{i}.0"
        data = package(version)
        # the package is stored late in a publish (after the checks): aim there
        kill_during(registry, publish(data), publish_time * (0.3 + 0.7 * i / KILLS))
        assert_consistent(registry, root)
        again = registry.client("publisher").post(
            "/api/v1/packages", content=data, headers={"Content-Type": "application/zip"})
        state = releases(registry).get(("crash-test", version), (None,))[0]
        # committed before the kill (409 now) or not at all (published now)
        assert again.status_code in (201, 409), again.text
        assert state == "in_review"
        assert_consistent(registry, root)

    approve_time = max(timed(approve("1.0.0")), 0.05)
    for i in range(1, KILLS):
        version = f"1.{i}.0"
        kill_during(registry, approve(version), approve_time * (i - 1) / (KILLS - 1))
        assert_consistent(registry, root)
        state = releases(registry)[("crash-test", version)][0]
        assert state in ("in_review", "approved")
        if state == "in_review":  # rolled back: the reviewer approves again
            assert approve(version)().status_code == 200
        assert_consistent(registry, root)
    assert {v for (p, v), (s, _) in releases(registry).items() if s == "approved"} == \
        {"0.0.1", *(f"1.{i}.0" for i in range(KILLS))}


def test_start_up_puts_back_what_a_kill_can_leave(registry, keys, tmp_path):
    """The two crash windows made on purpose (the kills above land in them only
    sometimes): an index written for an approval whose transaction never committed, and
    a package stored by a publish whose row never committed (plus a temporary file of a
    write cut short). At start the registry republishes the index from the database and
    removes the files."""
    root = (registry.storage / "metadata" / "1.root.json").read_bytes()
    publish_and_approve(registry, variant(tmp_path, "crash-test", "1.0.0", key=keys["key"]))
    registry.stop()
    db = sqlite3.connect(registry.data / "registry.db")
    with db:
        db.execute("UPDATE releases SET state = 'in_review' WHERE version = '1.0.0'")
    db.close()
    stray = registry.storage / "targets" / "packages" / "crash-test" / ("0" * 64 + ".x.kplugin")
    stray.write_bytes(b"a publish that never committed")
    half = registry.storage / "metadata" / ".9.targets.json.123.tmp"
    half.write_bytes(b"{")
    half_index = registry.storage / "targets" / (".%s.index.json.123.tmp" % ("f" * 64))
    half_index.write_bytes(b"{")
    listed = read_index(registry.storage, root)["plugins"]
    assert "1.0.0" in listed["crash-test"]["releases"]  # the index says approved
    registry.restart()
    assert_consistent(registry, root)
    assert not stray.exists() and not half.exists() and not half_index.exists()
    assert "crash-test" not in read_index(registry.storage, root)["plugins"]
    assert "index.reconciled" in registry.log.read_text()
