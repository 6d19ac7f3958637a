"""The host's services, composed once per process: the plugin set and its lifecycle,
calls into plugins, hot swaps, installs from the registry, the fleet's declared set.
The HTTP routers (host/api/) and the tests reach them through ``app.state.services``."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from ..identity.service import Identity
from ..identity.store import Principal
from .calls import PluginCalls
from .fleet import Fleet
from .hook_auth import HookAuth
from .lifecycle import PluginManager
from .registry_installs import RegistryInstalls
from .settings import HostSettings
from .swap import HotSwap
from .usage_report import UsageReporter


@dataclass
class HostServices:
    settings: HostSettings
    manager: PluginManager
    calls: PluginCalls
    swap: HotSwap
    registry: RegistryInstalls
    fleet: Fleet
    identity: Identity
    admin_token: str
    hooks: HookAuth
    usage: UsageReporter

    @classmethod
    def create(cls, settings: HostSettings) -> HostServices:
        manager = PluginManager(settings)
        calls = PluginCalls(manager)
        swap = HotSwap(manager, calls)
        registry = RegistryInstalls(manager, settings, swap)
        identity = Identity(settings, manager.sessions, service="host",
                            data_dir=settings.data_dir, known=HOST_ROLES)
        hooks = HookAuth(settings.hook_auth,
                         settings.hook_secret or settings.kept_secret("hook-secret"))
        return cls(settings, manager, calls, swap, registry, Fleet(manager, swap, registry),
                   identity, settings.resolve_admin_token(), hooks,
                   UsageReporter(settings, manager))

    async def authenticate(self, token: str, address: str) -> Principal | None:
        """Who a bearer token is for: the bootstrap admin token (automation and first
        start), a session from a sign-in, or the identity provider's access token."""
        if hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return BOOTSTRAP
        return await self.identity.bearer(token, address)


#: the host's one role: its admin API
HOST_ROLES = ("host-admin",)
BOOTSTRAP = Principal("bootstrap-token", "token", "admin_token", HOST_ROLES)
