"""The plugin author's API: ``Plugin``, ``Request``, ``Response`` and the ``ctx`` capabilities.

Plugin code runs in a worker process; everything it reaches outside itself goes through
``ctx``, which asks the host. See docs/contract.md. The names are defined in
``handlers`` (the plugin, its requests and answers), ``context`` (``ctx`` and its parts)
and ``errors`` (what a refused capability raises).
"""

from __future__ import annotations

from .context import KV, Context, Http, Log, Secrets, Upstream

# the worker's helpers, re-exported for it (not part of the author's API)
from .context import PluginRef as PluginRef
from .context import Transport as Transport
from .errors import ERRORS as ERRORS
from .errors import CapabilityError, PermissionDenied, QuotaExceeded, UpstreamUnavailable
from .handlers import Handler as Handler
from .handlers import HttpResponse, Plugin, Request, Response
from .handlers import encode_response as encode_response

__all__ = [
    "KV",
    "CapabilityError",
    "Context",
    "Http",
    "HttpResponse",
    "Log",
    "PermissionDenied",
    "Plugin",
    "QuotaExceeded",
    "Request",
    "Response",
    "Secrets",
    "Upstream",
    "UpstreamUnavailable",
]
