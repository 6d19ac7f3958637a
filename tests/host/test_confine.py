"""What a worker does to itself before it loads plugin code (plugin_host/worker/confine.py),
applied for real in a child forked from this process (so coverage follows it; the escape
suite attacks the same layers in real sandboxed workers): rlimits, then Landlock, then
seccomp, each irreversible. The child then tries what a plugin might and reports back."""

from __future__ import annotations

import json
import os
import resource
import socket
from collections.abc import Callable
from pathlib import Path

from plugin_host.worker import confine as c

from ..support.paths import ROOT
from ..support.system import require

COVERAGE_DATA = ROOT / "build" / "coverage"  # where `./dev coverage` keeps its data


def in_child(fn: Callable[[], dict]) -> dict:
    """``fn()`` in a forked child; what it returns (or the error it raised)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running the parent's clean-ups
        os.close(r)
        try:
            out = {"ok": True, **fn()}
        except BaseException as e:
            out = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    return json.loads(data)


def attempt(what: Callable[[], object]) -> str:
    try:
        what()
    except OSError as e:
        return errno_name(e)
    except ValueError as e:  # Python's word for a refused setrlimit
        return f"refused: {e}"
    return "allowed"


def errno_name(e: OSError) -> str:
    import errno

    return errno.errorcode.get(e.errno or 0, str(e.errno))


def test_every_layer_applies_and_holds(tmp_path):
    require(c.landlock_abi() >= 1, "this kernel has no Landlock")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    writable = [str(scratch)] + ([str(COVERAGE_DATA)] if COVERAGE_DATA.exists() else [])

    def child() -> dict:
        layers = c.confine({"rlimits": {"open_files": 64, "file_size": 1 << 20, "core": 0},
                            "landlock": {"read": ["/"], "write": writable},
                            "seccomp": True})
        (scratch / "note").write_text("kept")
        big = scratch / "big"
        return {
            "layers": layers,
            "open_files": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
            "write_scratch": (scratch / "note").read_text(),
            "write_outside": attempt(lambda: (outside / "x").write_text("escaped")),
            "too_big": attempt(lambda: big.write_bytes(b"x" * (2 << 20))),
            "fork": attempt(os.fork),
            "socket": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)),
            "socketpair": attempt(socket.socketpair),
            "raise_limit": attempt(lambda: resource.setrlimit(
                resource.RLIMIT_NOFILE, (4096, 4096))),
        }

    seen = in_child(child)
    assert seen["ok"], seen
    assert seen["layers"] == ["rlimits", "landlock", "seccomp"]
    assert seen["open_files"] == [64, 64]
    assert seen["write_scratch"] == "kept"
    assert seen["write_outside"] == "EACCES" and not (outside / "x").exists()
    assert seen["too_big"] == "EFBIG"
    assert seen["fork"] == "EPERM"
    assert seen["socket"] == "EAFNOSUPPORT"  # no network socket can be made
    assert seen["socketpair"] == "allowed"  # in-process use only
    assert seen["raise_limit"] == "refused: not allowed to raise maximum limit"


def test_rlimits_are_only_ever_lowered():
    def child() -> dict:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        c.apply_rlimits({"core": 1 << 30})  # above the hard limit now: kept at 0
        return {"core": list(resource.getrlimit(resource.RLIMIT_CORE))}

    seen = in_child(child)
    assert seen == {"ok": True, "core": [0, 0]}


def test_a_missing_path_is_skipped_and_no_layers_means_rlimits_only(tmp_path):
    require(c.landlock_abi() >= 1, "this kernel has no Landlock")

    def child() -> dict:
        layers = c.confine({"landlock": {"read": ["/", str(tmp_path / "gone")],
                                         "write": [str(tmp_path)]}})
        return {"layers": layers, "read_etc": attempt(lambda: Path("/etc/hostname")
                                                      .read_text())}

    seen = in_child(child)
    assert seen == {"ok": True, "layers": ["rlimits", "landlock"], "read_etc": "allowed"}
    assert in_child(lambda: {"layers": c.confine({})}) == {"ok": True, "layers": ["rlimits"]}
