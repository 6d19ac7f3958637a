"""The host's services, composed once per process: the plugin set and its lifecycle,
calls into plugins, hot swaps, installs from the registry, the fleet's declared set.
The HTTP routers (host/api/) and the tests reach them through ``app.state.services``."""

from __future__ import annotations

from dataclasses import dataclass

from .calls import PluginCalls
from .fleet import Fleet
from .lifecycle import PluginManager
from .registry_installs import RegistryInstalls
from .settings import HostSettings
from .swap import HotSwap


@dataclass
class HostServices:
    settings: HostSettings
    manager: PluginManager
    calls: PluginCalls
    swap: HotSwap
    registry: RegistryInstalls
    fleet: Fleet

    @classmethod
    def create(cls, settings: HostSettings) -> HostServices:
        manager = PluginManager(settings)
        calls = PluginCalls(manager)
        swap = HotSwap(manager, calls)
        registry = RegistryInstalls(manager, settings, swap)
        return cls(settings, manager, calls, swap, registry, Fleet(manager, swap, registry))
