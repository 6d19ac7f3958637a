"""The fleet: the plugin set an environment declares, stored as desired state in the
database its hosts share, and each host converging to it from the signed index.

- ``apply`` validates a declared set (name, range, config, secret references, enabled),
  resolves it once over the signed index (dependencies included, exact versions, so
  every host runs the same releases) and stores it as the next *generation*, keeping the
  one before it for a rollback.
- ``converge`` brings this host to the desired set: install, live upgrade (or
  downgrade), reconfigure, enable or disable, and remove what is not declared; each
  change the zero-downtime way the admin API uses. A host converges at start (a new or
  restarted host joins at the desired state) and when told (`plugin-host fleet apply`
  drives a rollout host by host: host/fleet_rollout.py).
- ``report`` runs every ``fleet_interval`` seconds: the host's plugins against the
  desired set (its *drift*) go to the shared table and to the
  ``plugin_host_fleet_drift`` gauge. Drift is not repaired behind the operator's back
  (a plugin disabled by hand in an incident stays disabled): it is shown, alerted on,
  and undone by the next converge.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from sqlalchemy import select

from .. import HOST_API_VERSION, __version__
from ..errors import Conflict, PluginHostError
from ..resolver import resolve
from ..service.db import utcnow
from ..service.secrets import resolve as resolve_secret
from . import metrics
from .db import FleetDesired, FleetHost
from .fleet_declared import DeclaredPlugin, config_digest, drift_of, parse_declared
from .lifecycle import PluginManager
from .registry_installs import RegistryInstalls, publisher_keys
from .swap import HotSwap

log = structlog.get_logger("plugin_host")

#: a host not heard from for this many report intervals is shown as stale
STALE_INTERVALS = 3


class Fleet:
    def __init__(self, manager: PluginManager, swap: HotSwap, registry: RegistryInstalls):
        self.manager = manager
        self.swap = swap
        self.registry = registry
        self.settings = manager.settings
        self.instance = manager.settings.instance
        #: one converge at a time on this host
        self.converge_lock = asyncio.Lock()
        self.generation = 0  # the generation this host last converged to
        self._task: asyncio.Task | None = None

    # ---- desired state ---------------------------------------------------------

    def desired(self) -> FleetDesired | None:
        with self.manager.sessions() as s:
            return s.get(FleetDesired, 1)

    async def apply(self, body: Any) -> dict[str, Any]:
        """Store a declared set as the next generation (resolved over the signed index);
        hosts change only when they converge."""
        declared = parse_declared(body)
        if declared and self.registry.client is None:
            raise Conflict("a declared plugin set needs a registry: set registry_url and "
                           "registry_root on the hosts", code="registry_not_configured")
        plugins = await self._resolve(declared) if declared else []
        row = await asyncio.to_thread(self._store, plugins)
        log.info("fleet.applied", generation=row.generation,
                 plugins={p["name"]: p["version"] for p in plugins})
        return self.view(row)

    async def _resolve(self, declared: list[DeclaredPlugin]) -> list[dict]:
        async with self.registry.fetch_lock:
            session = await asyncio.to_thread(self.registry.client.open)
            session.index.installed = {}
            plan = await asyncio.to_thread(resolve, session.index,
                                           {p.name: p.range for p in declared},
                                           HOST_API_VERSION)
        by_name = {p.name: p for p in declared}
        out = []
        for c in plan:  # dependencies first
            p = by_name.get(c.name)
            out.append({"name": c.name, "version": c.version,
                        "range": p.range if p else None, "dependency": p is None,
                        "config": p.config if p else {}, "secrets": p.secrets if p else {},
                        "enabled": p.enabled if p else True})
        return out

    def _store(self, plugins: list[dict]) -> FleetDesired:
        """The next generation; the same set declared again keeps its generation (a
        deploy that changes nothing changes nothing)."""
        with self.manager.sessions.begin() as s:
            row = s.get(FleetDesired, 1, with_for_update=True)
            if row is None:
                row = FleetDesired(id=1, generation=0, plugins=[], previous=None)
                s.add(row)
            elif row.plugins == plugins:
                return row
            row.previous = row.plugins if row.generation else None
            row.plugins = plugins
            row.generation += 1
            row.updated_at = utcnow()
        return row

    async def rollback(self) -> dict[str, Any]:
        """Make the set before the current one desired again (as a new generation)."""
        row = await asyncio.to_thread(self.desired)
        if row is None or row.previous is None:
            raise Conflict("there is no previous plugin set to roll back to",
                           code="no_previous_version")
        row = await asyncio.to_thread(self._store, row.previous)
        log.info("fleet.rolled_back", generation=row.generation)
        return self.view(row)

    @staticmethod
    def view(row: FleetDesired | None) -> dict[str, Any]:
        if row is None:
            return {"generation": 0, "plugins": [], "updated_at": None}
        return {"generation": row.generation, "updated_at": row.updated_at.isoformat(),
                "plugins": list(row.plugins)}

    # ---- this host ---------------------------------------------------------------

    def actual(self) -> dict[str, dict]:
        return {p.name: {"version": p.version, "enabled": p.enabled, "state": p.state,
                         "config": config_digest(p.config)}
                for p in self.manager.plugins.values()}

    async def converge(self) -> dict[str, Any]:
        """Bring this host to the desired set. Every step is tried; the answer lists what
        changed, what failed, and the drift left."""
        async with self.converge_lock:
            row = await asyncio.to_thread(self.desired)
            if row is None:
                return {"instance": self.instance, "generation": 0, "converged": True,
                        "actions": [], "errors": [], "drift": []}
            actions, errors = await self._converge(row.plugins)
            self.generation = row.generation
            drift = drift_of(row.plugins, self.actual())
            await asyncio.to_thread(self._report, row.generation, drift, converged=True)
            metrics.FLEET_DRIFT.set(len(drift))
            metrics.FLEET_GENERATION.set(row.generation)
            result = {"instance": self.instance, "generation": row.generation,
                      "converged": not errors and not drift, "actions": actions,
                      "errors": errors, "drift": drift}
            log.info("fleet.converged", **result)
            return result

    async def _converge(self, desired: list[dict]) -> tuple[list[str], list[str]]:
        manager = self.manager
        actions: list[str] = []
        errors: list[str] = []
        wanted = {p["name"]: p for p in desired}
        for p in desired:
            manager.secret_refs[p["name"]] = dict(p["secrets"])
        fetch = [p for p in desired if p["name"] not in manager.plugins
                 or manager.plugins[p["name"]].version != p["version"]]
        packages: dict[str, tuple[bytes, dict]] = {}
        if fetch:
            if self.registry.client is None:
                return actions, ["this host has no registry to download plugins from"]
            try:
                async with self.registry.fetch_lock:
                    session = await asyncio.to_thread(self.registry.client.open)
                    for p in fetch:
                        data = await asyncio.to_thread(session.package, p["name"],
                                                       p["version"])
                        release = session.index.release(p["name"], p["version"])
                        packages[p["name"]] = (data, publisher_keys(
                            session.index.keys_for(p["name"]), release.signer))
            except Exception as e:
                return actions, [f"reading the signed index: {getattr(e, 'message', e)}"]
        async with manager.lock:
            # what is not declared goes first, dependents before what they depend on
            for name in self._removal_order(set(manager.plugins) - set(wanted)):
                try:
                    await manager.remove_locked(name, purge=False)
                    actions.append(f"removed {name}")
                except Exception as e:
                    errors.append(f"{name}: removing: {getattr(e, 'message', e)}")
            for p in desired:
                name = p["name"]
                try:
                    await self._converge_one(p, packages.get(name), actions)
                except Exception as e:
                    errors.append(f"{name}: {getattr(e, 'message', None) or e}")
        return actions, errors

    async def _converge_one(self, p: dict, package: tuple[bytes, dict] | None,
                            actions: list[str]) -> None:
        manager, name = self.manager, p["name"]
        current = manager.plugins.get(name)
        if current is None:
            data, keys = package
            await manager.install_locked(data, p["enabled"], keys)
            metrics.INSTALLS.labels("success").inc()
            actions.append(f"installed {name} {p['version']}")
        elif current.version != p["version"]:
            data, keys = package
            was = current.version
            await self.swap.upgrade_locked(name, data, keys)
            metrics.UPGRADES.labels(name, "upgrade", "success").inc()
            actions.append(f"switched {name} {was} → {p['version']}")
        item = manager.plugins[name]
        if config_digest(item.config) != config_digest(p["config"]):
            await self.swap.reconfigure_locked(name, p["config"])
            actions.append(f"configured {name}")
        item = manager.plugins[name]
        if item.enabled != p["enabled"]:
            await manager.set_enabled_locked(name, p["enabled"])
            actions.append(f"{'enabled' if p['enabled'] else 'disabled'} {name}")
        elif item.enabled and item.error:
            await manager.set_enabled_locked(name, True)  # retry a failed start
        item = manager.plugins[name]
        if item.enabled and item.state != "enabled":
            raise PluginHostError(f"{item.state}: {item.error or 'see its log'}")
        for secret in p["secrets"].values():
            resolve_secret(secret)  # a reference this host cannot read is an error now

    def _removal_order(self, names: set[str]) -> list[str]:
        plugins = self.manager.plugins
        order: list[str] = []

        def visit(n: str) -> None:
            if n in order:
                return
            for other in names:
                if n in plugins[other].manifest.dependencies:
                    visit(other)
            order.append(n)

        for n in sorted(names):
            visit(n)
        return order

    # ---- reports ---------------------------------------------------------------

    def _report(self, generation: int, drift: list[str], converged: bool = False) -> None:
        now = utcnow()
        with self.manager.sessions.begin() as s:
            row = s.get(FleetHost, self.instance)
            if row is None:
                row = FleetHost(instance=self.instance)
                s.add(row)
            row.release, row.generation = __version__, generation
            row.plugins, row.drift, row.seen_at = self.actual(), drift, now
            if converged:
                row.converged_at = now

    async def report(self) -> list[str]:
        """This host's drift now (also to the shared table and the gauge)."""
        row = await asyncio.to_thread(self.desired)
        drift = drift_of(row.plugins, self.actual()) if row else []
        metrics.FLEET_DRIFT.set(len(drift))
        metrics.FLEET_GENERATION.set(self.generation)
        await asyncio.to_thread(self._report, self.generation, drift)
        return drift

    def status(self) -> dict[str, Any]:
        """Desired against actual on every host that has reported."""
        row = self.desired()
        with self.manager.sessions() as s:
            hosts = s.scalars(select(FleetHost).order_by(FleetHost.instance)).all()
        now = utcnow()
        stale_after = STALE_INTERVALS * self.settings.fleet_interval
        out = []
        for h in hosts:
            seen = h.seen_at if h.seen_at.tzinfo else h.seen_at.replace(tzinfo=now.tzinfo)
            out.append({"instance": h.instance, "release": h.release,
                        "generation": h.generation, "plugins": h.plugins, "drift": h.drift,
                        "converged_at": h.converged_at.isoformat() if h.converged_at else None,
                        "seen_at": seen.isoformat(),
                        "stale": (now - seen).total_seconds() > stale_after})
        return {"instance": self.instance, "desired": self.view(row), "hosts": out}

    # ---- background --------------------------------------------------------------

    async def start(self) -> None:
        """At start: converge to the desired set (if one is declared), then report
        every ``fleet_interval`` seconds."""
        try:
            if await asyncio.to_thread(self.desired) is not None:
                result = await self.converge()
                if not result["converged"]:
                    log.warning("fleet.not_converged", errors=result["errors"],
                                drift=result["drift"])
        except Exception as e:  # the database may be away: serve what is installed
            log.warning("fleet.converge_failed", error=str(e)[:200])
        with contextlib.suppress(Exception):
            await self.report()  # known to the fleet from its first second
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.fleet_interval)
            try:
                await self.report()
            except Exception as e:  # the database may be away: keep serving, try again
                log.info("fleet.report_failed", error=str(e)[:200])

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

