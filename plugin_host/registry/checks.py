"""Automated checks on a published package. Each gives ``pass``, ``fail`` (the package is
rejected) or ``flag`` (allowed, but the reviewer must look). Results are stored with the
release and shown to the publisher and the reviewer."""

from __future__ import annotations

import ast
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ManifestError, PluginHostError
from ..koha import check_names
from ..manifest import Manifest
from ..package.archive import Package, extract

#: Licences the marketplace accepts (SPDX ids); operators can change the list in settings.
DEFAULT_LICENSES = ("GPL-3.0-or-later", "GPL-3.0-only", "GPL-2.0-or-later", "AGPL-3.0-or-later",
                    "LGPL-3.0-or-later", "MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause",
                    "MPL-2.0", "ISC")

#: Code a reviewer should look at: not forbidden (the sandbox refuses it anyway), but
#: a plugin that needs it is unusual.
RISKY_MODULES = {"subprocess": "runs programs", "ctypes": "calls native code",
                 "socket": "opens raw sockets", "multiprocessing": "starts processes",
                 "pty": "spawns terminals", "cffi": "calls native code"}
RISKY_CALLS = {"eval": "evaluates strings as code", "exec": "executes strings as code",
               "compile": "compiles strings as code", "__import__": "imports dynamically",
               "os.system": "runs shell commands", "os.popen": "runs shell commands",
               "os.exec": "replaces the process", "os.fork": "starts processes"}


@dataclass
class CheckResult:
    name: str
    status: str  # pass, fail, flag (for the reviewer), skip (not run)
    detail: str

    def to_dict(self) -> dict:
        return asdict(self)


def manifest_check(manifest: Manifest) -> CheckResult:
    """Parsed already (a bad manifest is refused outright); its events and UI slots must
    be ones Koha has."""
    try:
        check_names(manifest)
    except ManifestError as e:
        return CheckResult("manifest", "fail", "; ".join(e.problems))
    return CheckResult("manifest", "pass", f"{manifest.name} {manifest.version}")


def license_check(manifest: Manifest, allowed: tuple[str, ...]) -> CheckResult:
    ids = [t for t in re.split(r"[\s()]+", manifest.plugin.license)
           if t and t not in ("AND", "OR", "WITH")]
    bad = [i for i in ids if i not in allowed]
    if bad:
        return CheckResult("licence", "fail", f"{', '.join(bad)} is not an accepted licence "
                                               f"(accepted: {', '.join(allowed)})")
    return CheckResult("licence", "pass", manifest.plugin.license)


def _call_name(node: ast.Call) -> str:
    f = node.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
        return f"{f.value.id}.{f.attr}"
    return ""


def static_scan(pkg: Package) -> CheckResult:
    """Flag risky imports and calls in the backend's Python files (line numbers given)."""
    findings = []
    for name, data in sorted(pkg.files.items()):
        if not name.endswith(".py"):
            continue
        try:
            tree = ast.parse(data, filename=name)
        except SyntaxError as e:
            return CheckResult("static-scan", "fail", f"{name}:{e.lineno}: syntax error")
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                        else [node.module or ""])
                for m in mods:
                    root = m.split(".")[0]
                    if root in RISKY_MODULES:
                        findings.append(f"{name}:{node.lineno}: imports {root} "
                                        f"({RISKY_MODULES[root]})")
            elif isinstance(node, ast.Call):
                call = _call_name(node)
                for risky, why in RISKY_CALLS.items():
                    if call == risky or (risky.endswith("exec") and call.startswith(risky)):
                        findings.append(f"{name}:{node.lineno}: calls {call} ({why})")
    if findings:
        return CheckResult("static-scan", "flag", "; ".join(findings))
    return CheckResult("static-scan", "pass", "no risky imports or calls")


def dependency_check(manifest: Manifest,
                     unavailable: Callable[[str, str], str | None]) -> CheckResult:
    """Each dependency must have an approved release in its range; a failure says
    what the registry has (nothing by that name, or its approved and waiting versions)."""
    missing = [why for dep, rng in manifest.dependencies.items()
               if (why := unavailable(dep, rng))]
    if missing:
        return CheckResult("dependencies", "fail", "; ".join(missing))
    deps = ", ".join(f"{d} {r}" for d, r in manifest.dependencies.items()) or "none"
    return CheckResult("dependencies", "pass", deps)


async def smoke_load(pkg: Package) -> CheckResult:
    """Start the backend in a real sandboxed worker: it must load, and its hooks must
    match its manifest."""
    from ..runtime import PluginRuntime, SandboxPolicy, WorkerSpec, check_hooks

    m = pkg.manifest
    if m.backend is None:
        return CheckResult("smoke-load", "pass", "no backend (UI only)")
    with tempfile.TemporaryDirectory(prefix="registry-smoke-") as tmp:
        os.chmod(tmp, 0o711)  # a registry running as root loads it as another uid
        code = Path(tmp) / "code"
        extract(pkg, code)

        async def no_capabilities(op, args):
            raise PluginHostError("capabilities are not available during the smoke load",
                                  code="capability_denied")

        runtime = PluginRuntime(WorkerSpec(m.name, m.version, m, code, Path(tmp) / "scratch",
                                           SandboxPolicy(None, [])),
                                no_capabilities, lambda frame: None, start_timeout=20)
        try:
            await runtime.start()
            check_hooks(m, runtime.hooks)
            routes = len(runtime.routes)
        except Exception as e:
            return CheckResult("smoke-load", "fail", getattr(e, "message", None) or str(e))
        finally:
            await runtime.stop()
    return CheckResult("smoke-load", "pass", f"loaded in a sandboxed worker: {routes} routes, "
                                             f"{len(m.permissions.hooks)} hooks")


async def run_checks(pkg: Package, allowed_licenses: tuple[str, ...],
                     available: Callable[[str, str], str | None]) -> list[CheckResult]:
    """Every check after the archive and signature checks (which refuse outright)."""
    results = [CheckResult("archive", "pass", f"{len(pkg.files)} files, {pkg.size} bytes, "
                                              "hashes match"),
               manifest_check(pkg.manifest),
               license_check(pkg.manifest, allowed_licenses),
               static_scan(pkg),
               dependency_check(pkg.manifest, available)]
    if all(r.status != "fail" for r in results):
        results.append(await smoke_load(pkg))
    else:
        failed = ", ".join(r.name for r in results if r.status == "fail")
        results.append(CheckResult("smoke-load", "skip",
                                   f"not run: the {failed} check failed; it runs once that passes"))
    return results
