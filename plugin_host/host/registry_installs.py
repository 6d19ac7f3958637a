"""Installing by name and version range from the registry's signed index: resolve with
dependencies, download each package through TUF, check its publisher's signature,
install the set dependencies first, all or nothing."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import structlog

from .. import HOST_API_VERSION
from ..errors import Conflict, PluginHostError
from ..manifest import NAME_RE, pattern_problem
from ..package.signing import TrustedKey
from ..resolver import resolve
from ..versions import parse_range, parse_version
from . import metrics
from .installed import Installed
from .lifecycle import PluginManager
from .registry_client import RegistryClient
from .settings import HostSettings
from .swap import HotSwap

log = structlog.get_logger("plugin_host")


class RegistryInstalls:
    def __init__(self, manager: PluginManager, settings: HostSettings, swap: HotSwap):
        self.manager = manager
        self.settings = settings
        self.swap = swap
        self.client: RegistryClient | None = None
        if settings.registry_url and settings.registry_root:
            self.client = RegistryClient(settings.registry_url, settings.registry_root,
                                         settings.data_dir / "registry-cache",
                                         settings.registry_timeout)
        #: one reader of the index cache at a time (not the manager's lock: other admin
        #: operations go on while a download is slow)
        self.fetch_lock = asyncio.Lock()
        self._background: set[asyncio.Task] = set()

    async def install(self, name: str, range_: str, enable: bool = True
                      ) -> tuple[Installed, list[Installed]]:
        """Resolve ``name`` ``range_`` with its dependencies over the registry's signed
        index, download each package through TUF, verify its publisher's signature and
        install the set, dependencies first. All or nothing: if one fails, those installed
        before it in this call are removed again. Returns the plugin and what was
        installed."""
        problems = []
        if not isinstance(name, str) or not re.match(NAME_RE, name):
            problems.append("name: " + (pattern_problem(name, NAME_RE) if isinstance(name, str)
                                        else f"{name!r} is not a plugin name"))
        try:
            parse_range(range_)
        except (ValueError, TypeError):
            problems.append(f"range: {range_!r} is not a version range (like ^1.2)")
        if problems:
            raise PluginHostError("; ".join(problems), code="invalid_request", status=422)
        if self.client is None:
            raise PluginHostError(
                "installing by name and range needs a registry: set registry_url and "
                "registry_root (PLUGIN_HOST_REGISTRY_URL, PLUGIN_HOST_REGISTRY_ROOT)",
                code="registry_not_configured", status=501)

        manager = self.manager
        if name in manager.plugins:
            item, done, _ = await self.upgrade(name, range_)
            return item, done
        installed = {n: p.version for n, p in manager.plugins.items()}
        fetched = await self._fetch(name, range_, installed)
        async with manager.lock:
            now = {n: p.version for n, p in manager.plugins.items()}
            if name in now:
                raise self._installed(name)
            if any(now.get(n) != v for n, v in installed.items()) or any(
                    c.name in now for c, _, _ in fetched):
                raise Conflict("the installed plugins changed while the packages were "
                               "downloading; try again", code="conflict")
            done: list[Installed] = []
            try:
                for _c, data, keys in fetched:
                    try:
                        item = await manager.install_locked(data, enable, keys)
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
                    await manager.remove_locked(item.name, purge=True)
                raise
        return manager.plugins[name], done

    async def _fetch(self, name: str, range_: str, installed: dict[str, str],
                     unless: str | None = None) -> list:
        """Resolve ``name`` ``range_`` over the signed index with ``installed`` kept at
        their versions, and download (through TUF) each release of the plan the host
        lacks, with the publisher key the index names for it. Nothing is downloaded when
        the plan picks version ``unless`` of ``name``. Outside the manager's lock: a slow
        mirror must not hold every other admin operation behind it."""
        async with self.fetch_lock:
            session = await asyncio.to_thread(self.client.open)
            session.index.installed = dict(installed)
            plan = await asyncio.to_thread(resolve, session.index, {name: range_},
                                           HOST_API_VERSION)
            if unless is not None and next(c for c in plan if c.name == name).version == unless:
                return []
            fetched = []
            for c in plan:
                if c.name in installed:
                    continue
                data = await asyncio.to_thread(session.package, c.name, c.version)
                release = session.index.release(c.name, c.version)
                fetched.append((c, data, publisher_keys(session.index.keys_for(c.name),
                                                        release.signer)))
        return fetched

    async def available(self, q: str = "", limit: int = 200, name: str | None = None
                        ) -> dict[str, Any]:
        """What the registry's signed index offers (verified through TUF like an
        install): the plugins whose name contains ``q``, the first ``limit`` by name, each
        with its summary, tags, deprecation and versions, newest first; ``total`` says
        how many matched. With ``name``, that plugin alone (one document read, no walk of
        the bins). With no registry configured: nothing, and ``problem`` says what to
        set."""
        if self.client is None:
            return {"registry": None, "plugins": {}, "total": 0,
                    "problem": "this host has no registry: set registry_url and "
                               "registry_root (PLUGIN_HOST_REGISTRY_URL, "
                               "PLUGIN_HOST_REGISTRY_ROOT)"}

        def read() -> tuple[list[str], dict[str, Any]]:
            session = self.client.open()
            if name is not None:
                doc = session.index.document(name)
                return ([name] if doc else []), {name: doc}
            names = [n for n in self.client.listing(session.updater) if q in n]
            return names, {n: session.index.document(n) for n in names[:limit]}

        async with self.fetch_lock:
            names, docs = await asyncio.to_thread(read)
        out = {}
        for name, p in docs.items():
            if p is None:
                continue
            versions = sorted(p.releases, key=parse_version, reverse=True)
            out[name] = {"summary": p.summary, "tags": p.tags, "deprecated": p.deprecated,
                         "versions": [{"version": v, "yanked": p.releases[v].yanked,
                                       "host_api": p.releases[v].host_api,
                                       "dependencies": p.releases[v].dependencies}
                                      for v in versions]}
        return {"registry": self.settings.registry_url, "plugins": out, "total": len(names),
                "problem": None}

    def _installed(self, name: str) -> Conflict:
        current = self.manager.plugins[name].version
        return Conflict(f"{name} {current} was installed meanwhile; try again to upgrade it",
                        code="conflict")

    async def upgrade(self, name: str, range_: str
                      ) -> tuple[Installed, list[Installed], str | None]:
        """Switch installed ``name`` live to the newest release of the signed index that
        satisfies ``range_`` (the hot-swap path: no failed request, config kept, its
        upgrade hook run, the previous version kept for a rollback); dependencies the
        new version needs and the host lacks are installed first. All or nothing.
        Returns the plugin, the dependencies installed, and the version it had (None:
        it already ran the release the range selects)."""
        manager = self.manager
        current = manager.get(name)  # an unknown plugin is a 404 first
        try:
            parse_range(range_)
        except (ValueError, TypeError):
            raise PluginHostError(f"range: {range_!r} is not a version range (like ^1.2)",
                                  code="invalid_request", status=422) from None
        if self.client is None:
            raise PluginHostError(
                "upgrading from the registry needs one: set registry_url and registry_root "
                "(PLUGIN_HOST_REGISTRY_URL, PLUGIN_HOST_REGISTRY_ROOT)",
                code="registry_not_configured", status=501)
        installed = {n: p.version for n, p in manager.plugins.items() if n != name}
        fetched = await self._fetch(name, range_, installed, unless=current.version)
        if not fetched:  # the range selects the version it runs
            return current, [], None
        async with manager.lock:
            now = {n: p.version for n, p in manager.plugins.items()}
            if now.get(name) != current.version or any(
                    now.get(n) != v for n, v in installed.items()) or any(
                    c.name in now for c, _, _ in fetched if c.name != name):
                raise Conflict("the installed plugins changed while the packages were "
                               "downloading; try again", code="conflict")
            done: list[Installed] = []
            try:
                for c, data, keys in fetched:
                    if c.name == name:
                        continue
                    item = await manager.install_locked(data, True, keys)
                    metrics.INSTALLS.labels("success").inc()
                    done.append(item)
                    log.info("plugin.installed", plugin=item.name, version=item.version,
                             signer=item.signer, source="registry")
                    self._report_install(item.name, item.version)
                data, keys = next((d, k) for c, d, k in fetched if c.name == name)
                try:
                    item = await self.swap.upgrade_locked(name, data, keys)
                except Exception as e:
                    metrics.UPGRADES.labels(name, "upgrade", getattr(e, "code", "error")).inc()
                    raise
                metrics.UPGRADES.labels(name, "upgrade", "success").inc()
                log.info("plugin.upgraded", plugin=name, version=item.version,
                         previous=current.version, source="registry")
                self._report_install(name, item.version)
            except BaseException:
                for dep in reversed(done):
                    await manager.remove_locked(dep.name, purge=True)
                raise
        return item, done, current.version

    def _report_install(self, name: str, version: str) -> None:
        """Tell the registry's API of an install (best effort: the install never waits
        for it or fails because of it)."""
        http = self.manager.http
        if not self.settings.registry_api_url or http is None:
            return

        async def report() -> None:
            url = (f"{self.settings.registry_api_url.rstrip('/')}/api/v1/plugins/{name}/"
                   f"{version}/installed")
            try:
                await http.post(url, timeout=5)
            except httpx.HTTPError as e:
                log.info("registry.report_failed", plugin=name, error=str(e))

        task = asyncio.get_running_loop().create_task(report())
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def publisher_keys(pems: dict[str, str], keyid: str) -> dict[str, TrustedKey]:
    """The publisher key the signed index names for a release (trusted because the
    index is)."""
    from cryptography.hazmat.primitives import serialization

    pem = pems.get(keyid)
    if pem is None:
        return {}
    return {keyid: TrustedKey(keyid, serialization.load_pem_public_key(pem.encode()),
                              f"registry publisher key {keyid}")}
