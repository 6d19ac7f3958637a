"""Installed plugins and their lifecycle: start-up, install, enable, disable, configure,
uninstall; starting and stopping their backends.

State is in the database (host/store.py); the running part (worker pools) is rebuilt
from it at start-up, so after a restart every enabled plugin is back with its data.
Upgrades and rollbacks (host/swap.py), installs from the registry
(host/registry_installs.py) and calls (host/calls.py) build on this.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil

import httpx
import structlog
from pydantic import ValidationError

from .. import HOST_API_VERSION
from ..errors import Conflict, NotFound, PackageError, field_problems
from ..integrations import Upstream, overridden
from ..koha import check_names
from ..manifest import Manifest
from ..package.archive import Package, extract, read_package
from ..package.signing import TrustedKey, load_trusted_keys, signed_by, verify_signature
from ..runtime import PluginRuntime, SandboxPolicy, WorkerSpec, check_hooks, scratch
from ..runtime.sandbox import Identity, release_cgroups
from ..service.db import make_engine, make_sessionmaker, migrate
from ..versions import parse_range, parse_version, satisfies
from . import metrics
from .capabilities import Capabilities
from .db import MIGRATIONS
from .installed import Installed, integrity
from .kv import KVStore
from .secret_store import SecretStore, load_key
from .settings import HostSettings
from .store import PluginStore
from .traces import PluginLogs, Traces

log = structlog.get_logger("plugin_host")


class PluginManager:
    """The set of installed plugins; one lock serialises every change to it."""

    def __init__(self, settings: HostSettings):
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(settings.db_url)
        self.sessions = make_sessionmaker(self.engine)
        self.kv = KVStore(self.sessions)
        self.traces = Traces()
        self.logs = PluginLogs()
        #: each plugin's ctx.upstream clients (breaker, tokens, quota): the health view
        self.upstream_clients: dict[str, dict] = {}
        self.secrets = SecretStore(self.sessions,
                                   load_key(settings.secrets_key, settings.data_dir))
        self.store = PluginStore(self.sessions, settings.packages_dir, self.kv,
                                 settings.instance)
        self.http: httpx.AsyncClient | None = None
        self.trusted: dict[str, TrustedKey] = {}
        self.plugins: dict[str, Installed] = {}
        #: plugin → {secret name: reference}, from the fleet's declared set
        self.secret_refs: dict[str, dict[str, str]] = {}
        self.lock = asyncio.Lock()
        self.ready = False
        self.reload_trusted_keys()  # bad key files are refused before the host starts
        self.sandbox = SandboxPolicy(
            settings.sandbox_layers, settings.sandbox_require,
            on_refusal=lambda plugin, layer: metrics.SANDBOX_REFUSALS.labels(plugin,
                                                                             layer).inc(),
            identity=Identity(settings.worker_uid, settings.worker_gid),
            pids=settings.worker_pids, cpus=settings.worker_cpus)

    # ---- start-up and shutdown -------------------------------------------------

    async def startup(self) -> None:
        await asyncio.to_thread(migrate, self.engine, MIGRATIONS, "host")
        if await asyncio.to_thread(self.store.adopt_unowned):
            log.info("host.rows_adopted", instance=self.settings.instance)
        leftovers = await asyncio.to_thread(self.store.remove_leftovers,
                                            self.settings.plugins_dir)
        leftovers += await asyncio.to_thread(scratch.sweep, self.settings.plugin_data_dir)
        if leftovers:
            log.warning("host.leftovers_removed", paths=leftovers,
                        reason="files of an install or upgrade that did not complete, "
                               "scratch folders of workers of a host that was killed")
        self.http = httpx.AsyncClient(trust_env=False)
        self.reload_trusted_keys()
        if self.settings.hook_auth == "none":
            log.warning("host.hooks_unauthenticated",
                        reason="hook_auth = none: anyone may deliver Koha events to plugins "
                               "(development only)")
        if self.settings.allow_unsigned:
            log.warning("host.allow_unsigned",
                        message="UNSIGNED PLUGINS ARE ACCEPTED: development only, never in "
                                "production (--allow-unsigned)")
        for item in await asyncio.to_thread(self.store.load):
            self.plugins[item.name] = item
            if item.enabled:
                await self.start_backend(item, raise_errors=False)
        self.ready = True
        log.info("host.ready", plugins=len(self.plugins), trusted_keys=len(self.trusted))

    def reload_trusted_keys(self) -> None:
        paths = list(self.settings.trusted_keys)
        if self.settings.trusted_keys_dir.is_dir():
            paths.append(self.settings.trusted_keys_dir)
        self.trusted = load_trusted_keys(paths)

    async def shutdown(self) -> None:
        self.ready = False
        await asyncio.gather(*(p.runtime.stop() for p in self.plugins.values() if p.runtime),
                             return_exceptions=True)
        if self.http:
            await self.http.aclose()
        self.engine.dispose()
        await asyncio.to_thread(release_cgroups)  # the workers' control groups

    # ---- running backends ------------------------------------------------------

    def upstreams_of(self, item: Installed) -> dict[str, Upstream]:
        """The plugin's [upstreams] with this host's overrides (``upstreams`` setting)."""
        overrides = self.settings.upstreams.get(item.name, {})
        out = {}
        for name, upstream in item.manifest.upstreams.items():
            try:
                out[name] = overridden(upstream, overrides.get(name))
            except ValueError as e:  # pydantic's ValidationError is one
                why = "; ".join(field_problems(e.errors())) if isinstance(
                    e, ValidationError) else str(e)
                raise PackageError(f"upstreams: the override of {item.name}'s {name}: "
                                   f"{why}", code="bad_setting") from None
        return out

    def _runtime(self, item: Installed) -> PluginRuntime:
        assert self.http is not None
        caps = Capabilities(item.manifest, self.kv, self.http, self.settings.http_response_limit,
                            secret_refs=lambda: self.secret_refs.get(item.name, {}),
                            stored_secret=lambda secret: self.secrets.get(item.name, secret),
                            traces=self.traces, logs=self.logs,
                            upstreams=self.upstreams_of(item))
        self.upstream_clients[item.name] = caps.upstreams  # the health view's
        spec = WorkerSpec(name=item.name, version=item.version, manifest=item.manifest,
                          code_dir=item.code_dir,
                          scratch_root=self.settings.plugin_data_dir / item.name,
                          policy=self.sandbox, config=item.effective_config,
                          poll_us=self.settings.worker_poll_us)
        return PluginRuntime(spec, caps.handle, caps.log,
                             start_timeout=self.settings.worker_start_timeout,
                             idle_seconds=self.settings.worker_idle_seconds,
                             spare=self.settings.worker_spare,
                             on_restart=lambda p, reason: metrics.WORKER_RESTARTS.labels(
                                 p, reason).inc())

    async def start_backend(self, item: Installed, raise_errors: bool = True) -> None:
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

    @staticmethod
    async def stop_backend(item: Installed) -> None:
        if item.runtime:
            runtime, item.runtime = item.runtime, None
            await runtime.stop()

    # ---- checks an install, upgrade or rollback must pass ---------------------------

    def check_signature(self, pkg: Package, keys: dict[str, TrustedKey] | None = None
                        ) -> str | None:
        """The key id that signed ``pkg``: one of ``keys`` when given (for a package from
        the registry's index, exactly the key of the publisher the signed index names:
        the host's own trusted keys do not stand in for it), else a key this host
        trusts."""
        try:
            if keys is None and signed_by(pkg) not in self.trusted:
                self.reload_trusted_keys()  # a .pub added to the folder since the start
            hint = "" if keys is not None else (
                "trust its public key on this host (a .pub in "
                f"{self.settings.trusted_keys_dir}, --trusted-key or PLUGIN_HOST_TRUSTED_KEYS; "
                "`./dev up --trust KEY.pub` for the dev environment), or sign the package "
                "with a key the host trusts")
            return verify_signature(pkg, keys if keys is not None else self.trusted,
                                    hint).keyid
        except PackageError:
            raise
        except Exception as e:
            if not self.settings.allow_unsigned:
                raise
            log.warning("plugin.unverified_install", plugin=pkg.manifest.name,
                        reason=getattr(e, "message", str(e)),
                        message="installing WITHOUT a trusted signature (--allow-unsigned)")
            return None

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

    def check_dependents(self, name: str, version: str) -> None:
        """Plugins that depend on ``name`` must still accept ``version``."""
        broken = [f"{p.name} needs {name} {p.manifest.dependencies[name]}"
                  for p in self.plugins.values()
                  if name in p.manifest.dependencies
                  and not satisfies(version, p.manifest.dependencies[name])]
        if broken:
            raise Conflict(f"{name} {version} would break its dependents: "
                           + "; ".join(broken), code="breaks_dependents")

    # ---- lifecycle -------------------------------------------------------------

    def get(self, name: str) -> Installed:
        item = self.plugins.get(name)
        if item is None:
            raise NotFound(f"plugin {name!r} is not installed")
        return item

    async def install(self, data: bytes, enable: bool = True) -> Installed:
        try:
            async with self.lock:
                item = await self.install_locked(data, enable)
        except Exception as e:
            metrics.INSTALLS.labels(getattr(e, "code", "error")).inc()
            raise
        metrics.INSTALLS.labels("success").inc()
        log.info("plugin.installed", plugin=item.name, version=item.version, signer=item.signer)
        return item

    async def install_locked(self, data: bytes, enable: bool,
                             keys: dict[str, TrustedKey] | None = None) -> Installed:
        """Install a package (the caller holds the lock). Nothing is left on disk or in
        the database if any step fails."""
        pkg = await asyncio.to_thread(read_package, data)
        signer = self.check_signature(pkg, keys)
        m = pkg.manifest
        check_host_api(m)
        check_names(m)  # events and slots Koha has
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
            item.integrity = integrity(m, code_dir)
            if enable:
                await self.start_backend(item)
            await asyncio.to_thread(self.store.save_install, item, pkg, data)
        except BaseException:
            await self.stop_backend(item)
            shutil.rmtree(code_dir, ignore_errors=True)
            with contextlib.suppress(OSError):
                code_dir.parent.rmdir()  # only if empty: leave nothing behind
            raise
        self.plugins[m.name] = item
        return item

    async def set_enabled(self, name: str, enabled: bool) -> Installed:
        async with self.lock:
            item = await self.set_enabled_locked(name, enabled)
        log.info("plugin.enabled" if enabled else "plugin.disabled", plugin=name)
        return item

    async def set_enabled_locked(self, name: str, enabled: bool) -> Installed:
        item = self.get(name)
        # the database first: if it cannot be written, nothing has changed
        await asyncio.to_thread(self.store.save, name, enabled=enabled)
        if enabled and not item.enabled:
            item.enabled = True
            await self.start_backend(item)
        elif enabled and item.error:
            await self.start_backend(item)  # retry a failed start
        elif not enabled and item.enabled:
            item.enabled = False
            await self.stop_backend(item)
            item.error = None
        return item

    async def uninstall(self, name: str, purge: bool = False) -> None:
        async with self.lock:
            self.get(name)
            dependents = sorted(p.name for p in self.plugins.values()
                                if name in p.manifest.dependencies)
            if dependents:
                raise Conflict(f"{name} is needed by {', '.join(dependents)}; "
                               "uninstall those first", code="has_dependents")
            await self.remove_locked(name, purge)
        log.info("plugin.uninstalled", plugin=name, purge=purge)

    async def remove_locked(self, name: str, purge: bool) -> None:
        """Forget a plugin, then stop it (the caller holds the lock): from this moment
        its routes answer 404, and calls already running finish first."""
        item = self.plugins.pop(name)
        try:
            await asyncio.to_thread(self.store.delete, name, purge)
            if purge:
                await asyncio.to_thread(self.secrets.purge, name)
        except BaseException:
            self.plugins[name] = item
            raise
        if item.runtime is not None:
            runtime, item.runtime = item.runtime, None
            await runtime.drain(timeout=runtime.timeout + 1)
            await runtime.stop()
        shutil.rmtree(self.settings.plugins_dir / name, ignore_errors=True)
        if purge:
            shutil.rmtree(self.settings.plugin_data_dir / name, ignore_errors=True)


def check_host_api(m: Manifest) -> None:
    if parse_version(HOST_API_VERSION) not in parse_range(m.plugin.host_api):
        raise PackageError(f"plugin.host_api: {m.plugin.host_api} does not include this "
                           f"host's API version {HOST_API_VERSION}", code="incompatible")

