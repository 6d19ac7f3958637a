"""Zero-downtime upgrades and rollbacks: the new version starts beside the old one, must
pass its health check and upgrade hook, then takes the traffic in one step while the
old version finishes its calls and stops. If anything fails before the switch, the old
version keeps serving and nothing of the new one is left."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import structlog

from ..errors import Conflict, PluginHostError
from ..koha import check_names
from ..manifest import parse_manifest
from ..package.archive import extract, read_package
from ..protocol import messages as m
from ..sdk.routing import match_routes
from ..service.http import new_correlation_id, unrepresentable
from . import metrics
from .calls import PluginCalls
from .installed import Installed, integrity
from .lifecycle import PluginManager, check_host_api

log = structlog.get_logger("plugin_host")


class HotSwap:
    def __init__(self, manager: PluginManager, calls: PluginCalls):
        self.manager = manager
        self.calls = calls

    async def upgrade(self, name: str, data: bytes) -> Installed:
        """Switch a plugin to the version in ``data`` without dropping a request."""
        try:
            async with self.manager.lock:
                item = await self.upgrade_locked(name, data)
        except Exception as e:
            metrics.UPGRADES.labels(name, "upgrade", getattr(e, "code", "error")).inc()
            raise
        metrics.UPGRADES.labels(name, "upgrade", "success").inc()
        return item

    async def upgrade_locked(self, name: str, data: bytes,
                             keys: dict | None = None) -> Installed:
        manager = self.manager
        old = manager.get(name)
        pkg = await asyncio.to_thread(read_package, data)
        new_manifest = pkg.manifest
        if new_manifest.name != name:
            raise Conflict(f"the package is {new_manifest.name}, not {name}",
                           code="wrong_plugin")
        if new_manifest.version == old.version:
            raise Conflict(f"{name} {new_manifest.version} is already the installed version")
        signer = manager.check_signature(pkg, keys)
        check_host_api(new_manifest)
        check_names(new_manifest)
        manager.check_dependencies(new_manifest)
        manager.check_dependents(name, new_manifest.version)
        code_dir = manager.settings.plugins_dir / name / new_manifest.version
        if code_dir.exists():  # an older copy of this version: replace it
            await asyncio.to_thread(shutil.rmtree, code_dir)
        await asyncio.to_thread(extract, pkg, code_dir)
        # the config kept (a setting the new version adds starts at its default)
        new = Installed(manifest=new_manifest, code_dir=code_dir, enabled=old.enabled,
                        config=old.config, signer=signer, sha256=pkg.sha256,
                        previous_version=old.version)
        try:
            new.integrity = integrity(new_manifest, code_dir)
            await self._prepare(old, new)
            await asyncio.to_thread(manager.store.save_upgrade, new, pkg, data)
        except BaseException:
            await manager.stop_backend(new)
            shutil.rmtree(code_dir, ignore_errors=True)
            raise
        await self._switch(old, new)
        log.info("plugin.upgraded", plugin=name, version=new.version, previous=old.version)
        return new

    async def reconfigure(self, name: str, config: dict[str, Any]) -> Installed:
        """Replace a plugin's config without dropping a request: workers started with
        the new config take over from the old ones the way an upgrade does. If they do
        not start, nothing changes and the old config keeps serving."""
        problem = unrepresentable(config)
        if problem:
            raise PluginHostError(f"config: {problem}", code="invalid_request", status=422)
        async with self.manager.lock:
            new = await self.reconfigure_locked(name, config)
        log.info("plugin.configured", plugin=name)
        return new

    async def reconfigure_locked(self, name: str, config: dict[str, Any]) -> Installed:
        """:meth:`reconfigure` for a caller holding the manager's lock. A config that does
        not fit the plugin's ``[config]`` is refused whole, naming each key; settings
        left out start at their defaults."""
        old = self.manager.get(name)
        problems = old.manifest.config_problems({**old.manifest.default_config(), **config})
        if problems:
            error = PluginHostError(f"config of {name}: {'; '.join(problems)}",
                                    code="invalid_config", status=422)
            error.problems = problems  # type: ignore[attr-defined]  # each "key: why"
            raise error
        new = Installed(manifest=old.manifest, code_dir=old.code_dir, enabled=old.enabled,
                        config=config, signer=old.signer, sha256=old.sha256,
                        previous_version=old.previous_version, integrity=old.integrity)
        if old.enabled:
            try:
                await self.manager.start_backend(new)
                await self._health_check(new)
            except BaseException as e:
                await self.manager.stop_backend(new)
                reason = getattr(e, "message", None) or f"{type(e).__name__}: {e}"
                raise PluginHostError(
                    f"{name} did not start with the new config ({reason}); the old "
                    "config is still in force", code="config_failed", status=422) from None
        try:
            await asyncio.to_thread(self.manager.store.save, name, config=config)
        except BaseException:
            await self.manager.stop_backend(new)
            raise
        await self._switch(old, new)
        return new

    async def rollback(self, name: str) -> Installed:
        """Switch back to the version before the current one, the same zero-downtime way."""
        try:
            async with self.manager.lock:
                item = await self._rollback(name)
        except Exception as e:
            metrics.UPGRADES.labels(name, "rollback", getattr(e, "code", "error")).inc()
            raise
        metrics.UPGRADES.labels(name, "rollback", "success").inc()
        return item

    async def _rollback(self, name: str) -> Installed:
        manager = self.manager
        old = manager.get(name)
        if not old.previous_version:
            raise Conflict(f"{name} has no previous version to roll back to",
                           code="no_previous_version")
        row = await asyncio.to_thread(manager.store.version, name, old.previous_version)
        if row is None or not Path(row.path).is_dir():
            raise Conflict(f"{name} {old.previous_version} is no longer on this host",
                           code="no_previous_version")
        manifest = parse_manifest(row.manifest)
        manager.check_dependencies(manifest)
        manager.check_dependents(name, manifest.version)
        new = Installed(manifest=manifest, code_dir=Path(row.path), enabled=old.enabled,
                        config=old.config, signer=row.signer, sha256=row.sha256,
                        previous_version=old.version)
        new.integrity = integrity(manifest, new.code_dir)
        await self._prepare(old, new)
        try:
            await asyncio.to_thread(manager.store.save, name, version=manifest.version,
                                    previous_version=old.version)
        except BaseException:
            await manager.stop_backend(new)
            raise
        await self._switch(old, new)
        log.info("plugin.rolled_back", plugin=name, version=new.version, previous=old.version)
        return new

    async def _prepare(self, old: Installed, new: Installed) -> None:
        """Start ``new`` beside ``old`` and check it: started, healthy, upgrade hook run."""
        if not old.enabled:
            return
        try:
            await self.manager.start_backend(new)
            await self._health_check(new)
            await self._upgrade_hook(new, old.version)
        except BaseException as e:
            await self.manager.stop_backend(new)
            reason = getattr(e, "message", None) or f"{type(e).__name__}: {e}"
            raise PluginHostError(f"{new.name} {new.version} was not switched to ({reason}); "
                                  f"{old.version} is still serving", code="upgrade_failed",
                                  status=422) from None

    async def _switch(self, old: Installed, new: Installed) -> None:
        """Route to ``new`` at once, then let ``old`` finish its calls and stop it."""
        self.manager.plugins[new.name] = new  # one assignment, nothing awaited around it
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
            status, _headers, body = await self.calls.call_route(
                item.name, "GET", "/healthz", {}, {}, b"", new_correlation_id(), item=item)
            if status >= 400:
                raise PluginHostError(
                    f"its GET /healthz answered {status}: {body[:200].decode(errors='replace')}",
                    code="health_check_failed")

    async def _upgrade_hook(self, item: Installed, from_version: str) -> None:
        if item.runtime is None or not item.runtime.has_upgrade_hook:
            return
        cid = new_correlation_id()
        await self.calls.call(item, "upgrade", m.upgrade_call(from_version, item.version, cid),
                              cid)
