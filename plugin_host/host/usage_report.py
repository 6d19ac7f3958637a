"""Opt-in usage reporting: with ``usage_reporting = true`` the host tells its registry,
once a day, which plugins it runs, so the catalogue can show each plugin's active
installs. It sends exactly this, and nothing else::

    POST {registry_api_url}/api/v1/usage
    {"installation": "<32 hex: a random id made once, DATA_DIR/installation-id>",
     "plugins": [{"name": "alma", "version": "1.0.0"}, ...],   # the enabled ones
     "host_version": "0.9.0"}

No host name, address, configuration, secrets or data. Off by default; a failed report
is logged and tried again at the next interval."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from typing import Any

import httpx
import structlog

from .. import __version__
from .lifecycle import PluginManager
from .settings import HostSettings

log = structlog.get_logger("plugin_host")


def installation_id(settings: HostSettings) -> str:
    """This host's random installation id (made the first time, then kept)."""
    path = settings.data_dir / "installation-id"
    if path.exists():
        return path.read_text().strip()
    value = uuid.uuid4().hex
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


class UsageReporter:
    def __init__(self, settings: HostSettings, manager: PluginManager):
        self.settings, self.manager = settings, manager
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        s = self.settings
        if not s.usage_reporting:
            return
        if not s.registry_api_url:
            log.warning("host.usage_reporting_without_registry",
                        hint="set registry_api_url: usage is reported to the registry's API")
            return
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    def report(self) -> dict[str, Any]:
        """What is sent (``plugin-host status`` shows the same)."""
        return {"installation": installation_id(self.settings),
                "plugins": [{"name": p.name, "version": p.version}
                            for p in sorted(self.manager.plugins.values(), key=lambda p: p.name)
                            if p.enabled],
                "host_version": __version__}

    async def send(self) -> bool:
        url = f"{(self.settings.registry_api_url or '').rstrip('/')}/api/v1/usage"
        http = self.manager.http  # the host's client, made at start-up
        if http is None:
            return False
        try:
            r = await http.post(url, json=self.report(), timeout=10)
        except httpx.HTTPError as e:
            log.info("host.usage_report_failed", error=f"{type(e).__name__}: {e}")
            return False
        if r.status_code != 202:
            log.info("host.usage_report_failed", status=r.status_code, answer=r.text[:200])
            return False
        log.info("host.usage_reported", plugins=len(r.json().get("counted", [])))
        return True

    async def _loop(self) -> None:
        interval = self.settings.usage_report_interval
        await asyncio.sleep(min(interval, 60) * random.uniform(0.2, 1))
        while True:
            await self.send()
            await asyncio.sleep(interval)
