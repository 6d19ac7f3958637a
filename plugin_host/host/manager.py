"""Installed plugins and their lifecycle: install, enable, disable, uninstall, calls.

The HTTP layer (app.py) is thin; this module is where the host's decisions live.
State is in the database; the running part (worker pools) is rebuilt from it at
start-up, so after a restart every enabled plugin is back with its data.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import structlog
from sqlalchemy import delete, select
from sqlalchemy.exc import ArgumentError

from .. import HOST_API_VERSION
from ..errors import (
    Conflict,
    ManifestError,
    NotFound,
    PackageError,
    PluginCallError,
    PluginHostError,
)
from ..manifest import Manifest, parse_manifest
from ..package.archive import Package, extract, read_package
from ..package.signing import TrustedKey, load_trusted_keys, verify_signature
from ..resolver import resolve
from ..sdk.routing import match_routes
from ..versions import parse_range, parse_version, satisfies
from . import metrics
from .capabilities import Capabilities, KVStore
from .db import InstalledPlugin, PluginVersion, make_engine, make_sessionmaker, migrate
from .registry_client import RegistryClient
from .sandbox import SandboxPolicy
from .settings import HostSettings
from .workers import PluginRuntime, WorkerSpec

log = structlog.get_logger("plugin_host")

#: Request headers never passed to plugins: the caller's credentials are not theirs.
DROPPED_REQUEST_HEADERS = {"authorization", "cookie", "proxy-authorization", "host",
                           "content-length", "connection", "transfer-encoding"}
DROPPED_RESPONSE_HEADERS = {"content-length", "connection", "transfer-encoding", "set-cookie",
                            "x-correlation-id"}


@dataclass
class Installed:
    """An installed plugin as the host serves it (mirrors its database rows)."""

    manifest: Manifest
    code_dir: Path
    enabled: bool
    config: dict[str, Any]
    signer: str | None
    sha256: str
    previous_version: str | None = None
    integrity: dict[str, str] = field(default_factory=dict)  # ui module → sha384-…
    runtime: PluginRuntime | None = None
    error: str | None = None

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def state(self) -> str:
        if not self.enabled:
            return "disabled"
        if self.error:
            return "failed"
        if self.runtime is not None and self.runtime.crash_looping:
            return "crash-looping"
        return "enabled"


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


class PluginManager:
    def __init__(self, settings: HostSettings):
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = make_engine(settings.db_url)
        except (ArgumentError, ImportError) as e:
            raise PluginHostError(f"database_url: {e}", code="bad_setting") from None
        self.sessions = make_sessionmaker(self.engine)
        self.kv = KVStore(self.sessions)
        self.http: httpx.AsyncClient | None = None
        self.trusted: dict[str, TrustedKey] = {}
        self.plugins: dict[str, Installed] = {}
        self.lock = asyncio.Lock()
        self.ready = False
        self.reload_trusted_keys()  # bad key files are refused before the host starts
        self.sandbox = SandboxPolicy(settings.sandbox_layers, settings.sandbox_require)
        self._background: set[asyncio.Task] = set()
        self.registry: RegistryClient | None = None
        if settings.registry_url and settings.registry_root:
            self.registry = RegistryClient(settings.registry_url, settings.registry_root,
                                           settings.data_dir / "registry-cache")

    # ---- start-up and shutdown -------------------------------------------------

    async def startup(self) -> None:
        await asyncio.to_thread(migrate, self.engine)
        self.http = httpx.AsyncClient(trust_env=False)
        self.reload_trusted_keys()
        if self.settings.allow_unsigned:
            log.warning("host.allow_unsigned",
                        message="UNSIGNED PLUGINS ARE ACCEPTED: development only, never in "
                                "production (--allow-unsigned)")
        for row, ver in await asyncio.to_thread(self._load_rows):
            item = self._installed_from(row, ver)
            self.plugins[item.name] = item
            if item.enabled:
                await self._start(item, raise_errors=False)
        self.update_gauges()
        self.ready = True
        log.info("host.ready", plugins=len(self.plugins), trusted_keys=len(self.trusted))

    def reload_trusted_keys(self) -> None:
        paths = list(self.settings.trusted_keys)
        if self.settings.trusted_keys_dir.is_dir():
            paths.append(self.settings.trusted_keys_dir)
        self.trusted = load_trusted_keys(paths)

    def _load_rows(self) -> list[tuple[InstalledPlugin, PluginVersion]]:
        with self.sessions() as s:
            q = select(InstalledPlugin, PluginVersion).join(
                PluginVersion, (PluginVersion.plugin == InstalledPlugin.name)
                & (PluginVersion.version == InstalledPlugin.version))
            return [(r, v) for r, v in s.execute(q)]

    def _installed_from(self, row: InstalledPlugin, ver: PluginVersion) -> Installed:
        manifest = parse_manifest(ver.manifest)
        code_dir = Path(ver.path)
        item = Installed(manifest=manifest, code_dir=code_dir, enabled=row.enabled,
                         config=dict(row.config or {}), signer=ver.signer, sha256=ver.sha256,
                         previous_version=row.previous_version)
        item.integrity = self._integrity(manifest, code_dir)
        return item

    @staticmethod
    def _integrity(manifest: Manifest, code_dir: Path) -> dict[str, str]:
        return {c.module: sri((code_dir / c.module).read_bytes())
                for c in manifest.ui.components}

    async def shutdown(self) -> None:
        self.ready = False
        await asyncio.gather(*(p.runtime.stop() for p in self.plugins.values() if p.runtime),
                             return_exceptions=True)
        if self.http:
            await self.http.aclose()
        self.engine.dispose()

    # ---- running backends ------------------------------------------------------

    def _runtime(self, item: Installed) -> PluginRuntime:
        assert self.http is not None
        caps = Capabilities(item.manifest, self.kv, self.http, self.settings.http_response_limit)
        spec = WorkerSpec(name=item.name, version=item.version, manifest=item.manifest,
                          code_dir=item.code_dir,
                          scratch_root=self.settings.plugin_data_dir / item.name,
                          policy=self.sandbox, config=item.config)
        return PluginRuntime(spec, caps.handle, caps.log,
                             start_timeout=self.settings.worker_start_timeout,
                             on_restart=lambda p, reason: metrics.WORKER_RESTARTS.labels(
                                 p, reason).inc())

    async def _start(self, item: Installed, raise_errors: bool = True) -> None:
        """Start an enabled plugin's workers and check its hooks against its manifest."""
        item.error = None
        if item.manifest.backend is None:
            return
        runtime = self._runtime(item)
        try:
            await runtime.start()
            check_hooks(item.manifest, runtime.hooks)
        except Exception as e:
            await runtime.stop()
            item.error = getattr(e, "message", str(e))
            log.error("plugin.start_failed", plugin=item.name, error=item.error)
            if raise_errors:
                raise
            return
        item.runtime = runtime

    async def _stop(self, item: Installed) -> None:
        if item.runtime:
            runtime, item.runtime = item.runtime, None
            await runtime.stop()

    # ---- lifecycle -------------------------------------------------------------

    async def install(self, data: bytes, enable: bool = True) -> Installed:
        try:
            async with self.lock:
                item = await self._install(data, enable)
        except Exception as e:
            metrics.INSTALLS.labels(getattr(e, "code", "error")).inc()
            raise
        metrics.INSTALLS.labels("success").inc()
        self.update_gauges()
        log.info("plugin.installed", plugin=item.name, version=item.version, signer=item.signer)
        return item

    async def install_from_registry(self, name: str, range_: str, enable: bool = True
                                    ) -> tuple[Installed, list[Installed]]:
        """Resolve ``name`` ``range_`` with its dependencies over the registry's signed
        index, download each package through TUF, verify its publisher's signature and
        install the set, dependencies first. All or nothing: if one fails, those installed
        before it in this call are removed again. Returns the plugin and what was
        installed."""
        if self.registry is None:
            raise PluginHostError(
                "installing by name and range needs a registry: set registry_url and "
                "registry_root (PLUGIN_HOST_REGISTRY_URL, PLUGIN_HOST_REGISTRY_ROOT)",
                code="registry_not_configured", status=501)
        from ..manifest import NAME_RE

        problems = []
        if not isinstance(name, str) or not re.match(NAME_RE, name):
            problems.append(f"name: {name!r} is not a plugin name")
        try:
            parse_range(range_)
        except (ValueError, TypeError):
            problems.append(f"range: {range_!r} is not a version range (like ^1.2)")
        if problems:
            raise PluginHostError("; ".join(problems), code="invalid_request", status=422)
        async with self.lock:
            if name in self.plugins:
                current = self.plugins[name].version
                raise Conflict(f"{name} {current} is already installed; upgrade it with "
                               f"POST /admin/plugins/{name}/upgrade")
            session = await asyncio.to_thread(self.registry.open)
            session.index.installed = {n: p.version for n, p in self.plugins.items()}
            plan = await asyncio.to_thread(resolve, session.index, {name: range_},
                                           HOST_API_VERSION)
            done: list[Installed] = []
            try:
                for c in plan:
                    if c.name in self.plugins:
                        continue
                    data = await asyncio.to_thread(session.package, c.name, c.version)
                    release = session.index.release(c.name, c.version)
                    keys = publisher_keys(session.index.keys, release["signer"])
                    try:
                        item = await self._install(data, enable, keys)
                    except Exception as e:
                        metrics.INSTALLS.labels(getattr(e, "code", "error")).inc()
                        raise
                    metrics.INSTALLS.labels("success").inc()
                    done.append(item)
                    log.info("plugin.installed", plugin=item.name, version=item.version,
                             signer=item.signer, source="registry")
                    self._report_install(item.name, item.version)
            except BaseException:
                for item in reversed(done):
                    await self._remove(item.name, purge=True)
                raise
        self.update_gauges()
        return self.plugins[name], done

    def _report_install(self, name: str, version: str) -> None:
        """Tell the registry's API of an install (best effort: the install never waits
        for it or fails because of it)."""
        if not self.settings.registry_api_url or self.http is None:
            return

        async def report() -> None:
            url = (f"{self.settings.registry_api_url.rstrip('/')}/api/v1/plugins/{name}/"
                   f"{version}/installed")
            try:
                await self.http.post(url, timeout=5)
            except httpx.HTTPError as e:
                log.info("registry.report_failed", plugin=name, error=str(e))

        task = asyncio.get_running_loop().create_task(report())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _install(self, data: bytes, enable: bool,
                       keys: dict[str, TrustedKey] | None = None) -> Installed:
        pkg = await asyncio.to_thread(read_package, data)
        signer = self._check_signature(pkg, keys)
        m = pkg.manifest
        check_host_api(m)
        existing = self.plugins.get(m.name)
        if existing:
            if existing.version == m.version:
                raise Conflict(f"{m.name} {m.version} is already installed")
            raise Conflict(f"{m.name} {existing.version} is installed; "
                           f"upgrade it with POST /admin/plugins/{m.name}/upgrade")
        self.check_dependencies(m)
        code_dir = self.settings.plugins_dir / m.name / m.version
        if code_dir.exists():  # left by an uninstall that kept nothing else: not in use
            shutil.rmtree(code_dir)
        await asyncio.to_thread(extract, pkg, code_dir)
        item = Installed(manifest=m, code_dir=code_dir, enabled=enable, config={},
                         signer=signer, sha256=pkg.sha256)
        try:
            item.integrity = self._integrity(m, code_dir)
            if enable:
                await self._start(item)
            await asyncio.to_thread(self._save_install, item, pkg, data)
        except BaseException:
            await self._stop(item)
            shutil.rmtree(code_dir, ignore_errors=True)
            with contextlib.suppress(OSError):
                code_dir.parent.rmdir()  # only if empty: leave nothing behind
            raise
        self.plugins[m.name] = item
        return item

    def _check_signature(self, pkg: Package, keys: dict[str, TrustedKey] | None = None
                         ) -> str | None:
        try:
            return verify_signature(pkg, {**self.trusted, **(keys or {})}).keyid
        except PackageError:
            raise
        except Exception as e:
            if not self.settings.allow_unsigned:
                raise
            log.warning("plugin.unverified_install", plugin=pkg.manifest.name,
                        reason=getattr(e, "message", str(e)),
                        message="installing WITHOUT a trusted signature (--allow-unsigned)")
            return None

    def _save_install(self, item: Installed, pkg: Package, data: bytes) -> None:
        self.settings.packages_dir.mkdir(parents=True, exist_ok=True)
        kept = self.settings.packages_dir / pkg.filename
        kept.write_bytes(data)
        try:
            with self.sessions.begin() as s:
                s.add(InstalledPlugin(name=item.name, version=item.version,
                                      enabled=item.enabled, config={}))
                s.add(PluginVersion(plugin=item.name, version=item.version, sha256=pkg.sha256,
                                    signer=item.signer, path=str(item.code_dir),
                                    manifest=pkg.files["plugin.toml"].decode()))
        except BaseException:
            kept.unlink(missing_ok=True)
            raise

    def check_dependencies(self, m: Manifest) -> None:
        problems = []
        for dep, rng in m.dependencies.items():
            other = self.plugins.get(dep)
            if other is None:
                problems.append(f"dependencies.{dep}: needs {dep} {rng}, which is not installed")
            elif not satisfies(other.version, rng):
                problems.append(f"dependencies.{dep}: needs {dep} {rng}, "
                                f"but {other.version} is installed")
        if problems:
            raise Conflict("; ".join(problems), code="unmet_dependencies")

    # ---- upgrade and rollback (hot swap) -----------------------------------------

    async def upgrade(self, name: str, data: bytes) -> Installed:
        """Switch a plugin to the version in ``data`` without dropping a request."""
        try:
            async with self.lock:
                item = await self._upgrade(name, data)
        except Exception as e:
            metrics.UPGRADES.labels(name, "upgrade", getattr(e, "code", "error")).inc()
            raise
        metrics.UPGRADES.labels(name, "upgrade", "success").inc()
        return item

    async def _upgrade(self, name: str, data: bytes) -> Installed:
        old = self.get(name)
        pkg = await asyncio.to_thread(read_package, data)
        m = pkg.manifest
        if m.name != name:
            raise Conflict(f"the package is {m.name}, not {name}", code="wrong_plugin")
        if m.version == old.version:
            raise Conflict(f"{name} {m.version} is already the installed version")
        signer = self._check_signature(pkg)
        check_host_api(m)
        self.check_dependencies(m)
        self.check_dependents(name, m.version)
        code_dir = self.settings.plugins_dir / name / m.version
        if code_dir.exists():  # an older copy of this version: replace it
            await asyncio.to_thread(shutil.rmtree, code_dir)
        await asyncio.to_thread(extract, pkg, code_dir)
        new = Installed(manifest=m, code_dir=code_dir, enabled=old.enabled,
                        config=old.config, signer=signer, sha256=pkg.sha256,
                        previous_version=old.version)
        try:
            new.integrity = self._integrity(m, code_dir)
            await self._prepare(old, new)
            await asyncio.to_thread(self._save_upgrade, new, pkg, data)
        except BaseException:
            await self._stop(new)
            shutil.rmtree(code_dir, ignore_errors=True)
            raise
        await self._switch(old, new)
        log.info("plugin.upgraded", plugin=name, version=m.version, previous=old.version)
        return new

    async def rollback(self, name: str) -> Installed:
        """Switch back to the version before the current one, the same zero-downtime way."""
        try:
            async with self.lock:
                item = await self._rollback(name)
        except Exception as e:
            metrics.UPGRADES.labels(name, "rollback", getattr(e, "code", "error")).inc()
            raise
        metrics.UPGRADES.labels(name, "rollback", "success").inc()
        return item

    async def _rollback(self, name: str) -> Installed:
        old = self.get(name)
        if not old.previous_version:
            raise Conflict(f"{name} has no previous version to roll back to",
                           code="no_previous_version")
        row = await asyncio.to_thread(self._version_row, name, old.previous_version)
        if row is None or not Path(row.path).is_dir():
            raise Conflict(f"{name} {old.previous_version} is no longer on this host",
                           code="no_previous_version")
        m = parse_manifest(row.manifest)
        self.check_dependencies(m)
        self.check_dependents(name, m.version)
        new = Installed(manifest=m, code_dir=Path(row.path), enabled=old.enabled,
                        config=old.config, signer=row.signer, sha256=row.sha256,
                        previous_version=old.version)
        new.integrity = self._integrity(m, new.code_dir)
        await self._prepare(old, new)
        try:
            await asyncio.to_thread(self._save_row, name, version=m.version,
                                    previous_version=old.version)
        except BaseException:
            await self._stop(new)
            raise
        await self._switch(old, new)
        log.info("plugin.rolled_back", plugin=name, version=m.version, previous=old.version)
        return new

    async def _prepare(self, old: Installed, new: Installed) -> None:
        """Start ``new`` beside ``old`` and check it: started, healthy, upgrade hook run."""
        if not old.enabled:
            return
        try:
            await self._start(new)
            await self._health_check(new)
            await self._upgrade_hook(new, old.version)
        except BaseException as e:
            await self._stop(new)
            reason = getattr(e, "message", None) or f"{type(e).__name__}: {e}"
            raise PluginHostError(f"{new.name} {new.version} was not switched to ({reason}); "
                                  f"{old.version} is still serving", code="upgrade_failed",
                                  status=422) from None

    async def _switch(self, old: Installed, new: Installed) -> None:
        """Route to ``new`` at once, then let ``old`` finish its calls and stop it."""
        self.plugins[new.name] = new  # one assignment, nothing awaited around it
        self.update_gauges()
        if old.runtime is not None:
            runtime, old.runtime = old.runtime, None
            if not await runtime.drain(timeout=runtime.timeout + 5):
                log.warning("plugin.drain_timeout", plugin=old.name, version=old.version)
            await runtime.stop()

    async def _health_check(self, item: Installed) -> None:
        """A new version must answer its own ``GET /healthz`` (if it has one) with < 400."""
        runtime = item.runtime
        if runtime is None:
            return
        if match_routes(runtime.routes, "GET", "/healthz"):
            status, _headers, body = await self.call_route(
                item.name, "GET", "/healthz", {}, {}, b"", new_correlation_id(), item=item)
            if status >= 400:
                raise PluginHostError(
                    f"its GET /healthz answered {status}: {body[:200].decode(errors='replace')}",
                    code="health_check_failed")

    async def _upgrade_hook(self, item: Installed, from_version: str) -> None:
        if item.runtime is None or not item.runtime.has_upgrade_hook:
            return
        msg = {"t": "call", "kind": "upgrade", "cid": new_correlation_id(),
               "payload": {"from": from_version, "to": item.version}}
        await self._call(item, "upgrade", msg, msg["cid"])

    def check_dependents(self, name: str, version: str) -> None:
        """Plugins that depend on ``name`` must still accept ``version``."""
        broken = [f"{p.name} needs {name} {p.manifest.dependencies[name]}"
                  for p in self.plugins.values()
                  if name in p.manifest.dependencies
                  and not satisfies(version, p.manifest.dependencies[name])]
        if broken:
            raise Conflict(f"{name} {version} would break its dependents: "
                           + "; ".join(broken), code="breaks_dependents")

    def _version_row(self, name: str, version: str) -> PluginVersion | None:
        with self.sessions() as s:
            return s.get(PluginVersion, (name, version))

    def _save_upgrade(self, item: Installed, pkg: Package, data: bytes) -> None:
        """Record the new version; keep only it and the one before (for rollback)."""
        self.settings.packages_dir.mkdir(parents=True, exist_ok=True)
        (self.settings.packages_dir / pkg.filename).write_bytes(data)
        keep = {item.version, item.previous_version}
        with self.sessions.begin() as s:
            row = s.get(InstalledPlugin, item.name)
            row.version, row.previous_version = item.version, item.previous_version
            s.merge(PluginVersion(plugin=item.name, version=item.version, sha256=pkg.sha256,
                                  signer=item.signer, path=str(item.code_dir),
                                  manifest=pkg.files["plugin.toml"].decode()))
            stale = s.scalars(select(PluginVersion).where(
                PluginVersion.plugin == item.name, PluginVersion.version.not_in(keep))).all()
            for v in stale:
                s.delete(v)
        for v in stale:
            shutil.rmtree(v.path, ignore_errors=True)
            (self.settings.packages_dir / f"{item.name}-{v.version}.kplugin").unlink(
                missing_ok=True)

    def get(self, name: str) -> Installed:
        item = self.plugins.get(name)
        if item is None:
            raise NotFound(f"plugin {name!r} is not installed")
        return item

    async def set_enabled(self, name: str, enabled: bool) -> Installed:
        async with self.lock:
            item = self.get(name)
            if enabled and not item.enabled:
                item.enabled = True
                await self._start(item)
            elif enabled and item.error:
                await self._start(item)  # retry a failed start
            elif not enabled and item.enabled:
                item.enabled = False
                await self._stop(item)
                item.error = None
            await asyncio.to_thread(self._save_row, name, enabled=enabled)
        self.update_gauges()
        log.info("plugin.enabled" if enabled else "plugin.disabled", plugin=name)
        return item

    async def set_config(self, name: str, config: dict[str, Any]) -> Installed:
        async with self.lock:
            item = self.get(name)
            item.config = config
            await asyncio.to_thread(self._save_row, name, config=config)
            if item.enabled:  # workers read their config at start
                await self._stop(item)
                await self._start(item)
        return item

    def _save_row(self, name: str, **values: Any) -> None:
        with self.sessions.begin() as s:
            row = s.get(InstalledPlugin, name)
            for k, v in values.items():
                setattr(row, k, v)

    async def uninstall(self, name: str, purge: bool = False) -> None:
        async with self.lock:
            self.get(name)
            dependents = sorted(p.name for p in self.plugins.values()
                                if name in p.manifest.dependencies)
            if dependents:
                raise Conflict(f"{name} is needed by {', '.join(dependents)}; "
                               "uninstall those first", code="has_dependents")
            await self._remove(name, purge)
        self.update_gauges()
        log.info("plugin.uninstalled", plugin=name, purge=purge)

    async def _remove(self, name: str, purge: bool) -> None:
        item = self.plugins[name]
        await self._stop(item)
        await asyncio.to_thread(self._delete_rows, name, purge)
        del self.plugins[name]
        shutil.rmtree(self.settings.plugins_dir / name, ignore_errors=True)
        if purge:
            shutil.rmtree(self.settings.plugin_data_dir / name, ignore_errors=True)
        for f in self.settings.packages_dir.glob(f"{name}-*.kplugin"):
            f.unlink(missing_ok=True)

    def _delete_rows(self, name: str, purge: bool) -> None:
        with self.sessions.begin() as s:
            s.execute(delete(PluginVersion).where(PluginVersion.plugin == name))
            s.execute(delete(InstalledPlugin).where(InstalledPlugin.name == name))
        if purge:
            self.kv.purge(name)

    def update_gauges(self) -> None:
        """Plugins by state (crash-looping comes and goes: refreshed at each scrape)."""
        counts = dict.fromkeys(("enabled", "disabled", "failed", "crash-looping"), 0)
        metrics.SANDBOX_LAYER.clear()
        metrics.CRASH_LOOPING.clear()
        metrics.KV_BYTES.clear()
        metrics.KV_QUOTA.clear()
        usage = self.kv.usage_by_plugin()
        groups = {p.name: {w.pid for w in p.runtime.workers if w.pid}
                  for p in self.plugins.values() if p.runtime}
        rss = metrics.process_group_rss({pid for pids in groups.values() for pid in pids})
        metrics.MEMORY.clear()
        for name, pids in groups.items():
            metrics.MEMORY.labels(name).set(sum(rss.get(pid, 0) for pid in pids))
        for p in self.plugins.values():
            counts[p.state] += 1
            metrics.KV_BYTES.labels(p.name).set(usage.get(p.name, 0))
            metrics.KV_QUOTA.labels(p.name).set(p.manifest.permissions.kv_quota)
            metrics.CRASH_LOOPING.labels(p.name).set(p.state == "crash-looping")
            for layer in p.runtime.layers if p.runtime else ():
                metrics.SANDBOX_LAYER.labels(p.name, layer).set(1)
        for state, n in counts.items():
            metrics.PLUGINS.labels(state).set(n)

    # ---- serving ---------------------------------------------------------------

    def _serving(self, name: str) -> Installed:
        item = self.plugins.get(name)
        if item is None or not item.enabled:
            raise NotFound(f"plugin {name!r} is not installed or not enabled")
        return item

    async def call_route(self, name: str, method: str, path: str, query: dict[str, str],
                         headers: dict[str, str], body: bytes, correlation_id: str,
                         item: Installed | None = None) -> tuple[int, dict[str, str], bytes]:
        """Call a plugin's route (on ``item``, a version not yet switched to, if given)."""
        item = item or self._serving(name)
        if item.runtime is None:
            raise PluginCallError(f"{name} has no running backend"
                                  + (f": {item.error}" if item.error else ""),
                                  code="plugin_unavailable", status=503)
        found = match_routes(item.runtime.routes, method, path)
        if found is False:
            raise PluginCallError(f"{name}: {method} is not allowed on {path}",
                                  code="method_not_allowed", status=405)
        if found is None:
            raise NotFound(f"{name} has no route {method} {path}")
        index, route, params = found
        msg = {"t": "call", "kind": "route", "route": index, "cid": correlation_id,
               "request": {"method": method, "path": path, "path_params": params,
                           "query": query, "body": body,
                           "headers": {k: v for k, v in headers.items()
                                       if k not in DROPPED_REQUEST_HEADERS}}}
        result = await self._call(item, route.template, msg, correlation_id)
        out_headers = {k: v for k, v in (result.get("headers") or {}).items()
                       if k.lower() not in DROPPED_RESPONSE_HEADERS}
        return int(result["status"]), out_headers, result["body"]

    async def _call(self, item: Installed, label: str, msg: dict[str, Any],
                    correlation_id: str) -> dict[str, Any]:
        assert item.runtime is not None
        start = time.perf_counter()
        outcome = "ok"
        try:
            result = await item.runtime.call(msg)
            if not result.get("ok"):
                outcome = "error"
                raise handler_failure(item.name, result, correlation_id)
            return result
        except PluginCallError as e:
            if outcome == "ok":
                outcome = {"plugin_timeout": "timeout", "plugin_crashed": "crash",
                           "plugin_busy": "busy",
                           "plugin_crash_looping": "crash_looping"}.get(e.code, "error")
                log.warning("plugin.call_failed", plugin=item.name, route=label,
                            correlation_id=correlation_id, code=e.code, error=e.message)
            raise
        finally:
            metrics.PLUGIN_CALLS.labels(item.name, label, outcome).inc()
            metrics.PLUGIN_LATENCY.labels(item.name, label).observe(time.perf_counter() - start)

    async def deliver_hook(self, event: str, payload: Any, correlation_id: str
                           ) -> list[dict[str, Any]]:
        targets = sorted((p for p in self.plugins.values()
                          if p.enabled and event in p.manifest.permissions.hooks),
                         key=lambda p: p.name)

        async def one(item: Installed) -> dict[str, Any]:
            base = {"plugin": item.name, "version": item.version}
            try:
                if item.runtime is None:
                    raise PluginCallError(f"{item.name} has no running backend",
                                          code="plugin_unavailable", status=503)
                msg = {"t": "call", "kind": "hook", "event": event, "payload": payload,
                       "cid": correlation_id}
                result = await self._call(item, f"hook:{event}", msg, correlation_id)
                return {**base, "ok": True, "result": result.get("value")}
            except PluginCallError as e:
                return {**base, "ok": False,
                        "error": {"code": e.code, "message": e.message,
                                  "correlation_id": correlation_id}}

        return list(await asyncio.gather(*(one(p) for p in targets)))

    def slot(self, slot: str) -> list[dict[str, Any]]:
        out = []
        for item in sorted(self.plugins.values(), key=lambda p: p.name):
            if not item.enabled:
                continue
            for c in item.manifest.ui.components:
                if c.slot == slot:
                    out.append({"plugin": item.name, "version": item.version,
                                "export": c.export,
                                "url": f"/ui/assets/{item.name}/{item.version}/{c.module}",
                                "integrity": item.integrity[c.module]})
        return out

    def asset(self, name: str, version: str, path: str) -> Path:
        item = self.plugins.get(name)
        if item is None or item.version != version or not path.startswith("ui/"):
            raise NotFound(f"no asset {name}/{version}/{path}")
        target = (item.code_dir / path).resolve()
        if not target.is_relative_to(item.code_dir.resolve()) or not target.is_file():
            raise NotFound(f"no asset {name}/{version}/{path}")
        return target

    def describe(self, item: Installed, detail: bool = False) -> dict[str, Any]:
        m = item.manifest
        out: dict[str, Any] = {
            "name": item.name, "version": item.version, "state": item.state,
            "enabled": item.enabled, "summary": m.plugin.summary,
            "previous_version": item.previous_version, "signer": item.signer,
            "error": item.error,
            "sandbox": {"layers": item.runtime.layers if item.runtime else self.sandbox.layers},
            "runtime": item.runtime.status() if item.runtime else None,
        }
        if detail:
            out.update({
                "manifest": m.model_dump(mode="json"),
                "config": item.config,
                "routes": [[r.method, r.template] for r in item.runtime.routes]
                if item.runtime else [],
                "hooks": sorted(item.runtime.hooks) if item.runtime else [],
                "ui": ui_components(item),
                "kv_bytes": self.kv.usage(item.name),
                "sha256": item.sha256,
            })
        return out


def publisher_keys(pems: dict[str, str], keyid: str) -> dict[str, TrustedKey]:
    """The publisher key the signed index names for a release (trusted because the
    index is)."""
    from cryptography.hazmat.primitives import serialization

    pem = pems.get(keyid)
    if pem is None:
        return {}
    return {keyid: TrustedKey(keyid, serialization.load_pem_public_key(pem.encode()),
                              f"registry publisher key {keyid}")}


def ui_components(item: Installed) -> list[dict[str, Any]]:
    return [{"slot": c.slot, "module": c.module, "export": c.export,
             "integrity": item.integrity[c.module]} for c in item.manifest.ui.components]


def check_host_api(m: Manifest) -> None:
    if parse_version(HOST_API_VERSION) not in parse_range(m.plugin.host_api):
        raise PackageError(f"plugin.host_api: {m.plugin.host_api} does not include this "
                           f"host's API version {HOST_API_VERSION}", code="incompatible")


def check_hooks(m: Manifest, registered: set[str]) -> None:
    listed = set(m.permissions.hooks)
    problems = [f"permissions.hooks: {h!r} is listed but the backend registers no handler for it"
                for h in sorted(listed - registered)]
    problems += [f"permissions.hooks: the backend registers {h!r}, which is not listed"
                 for h in sorted(registered - listed)]
    if problems:
        raise ManifestError(problems)


def handler_failure(name: str, result: dict[str, Any], correlation_id: str) -> PluginCallError:
    code = result.get("code", "handler_error")
    if code == "handler_error":
        log.error("plugin.handler_raised", plugin=name, correlation_id=correlation_id,
                  exc_type=result.get("exc_type"), traceback=result.get("traceback"))
        return PluginCallError(f"{name}: the plugin's handler raised {result.get('exc_type')}; "
                               f"see the host log for correlation id {correlation_id}",
                               code="plugin_error", status=500)
    return PluginCallError(f"{name}: {result.get('message')}", code=code, status=500)
