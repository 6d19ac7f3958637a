"""The capabilities a plugin may ask the host for (``ctx.kv``, ``ctx.http``,
``ctx.secrets``), the codes a refusal carries, and the permission checks that guard
them, as declared in the plugin's ``[permissions]``.

The host (host/capabilities.py) and the SDK's test client (sdk/testing.py) both check
through :class:`CapabilityPolicy`, so a plugin's tests see exactly the refusals the host
would give.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # the worker imports this module: no pydantic at run time
    from ..manifest import Permissions

# ---- operations ----------------------------------------------------------------------
KV_GET, KV_SET, KV_DELETE, KV_KEYS = "kv.get", "kv.set", "kv.delete", "kv.keys"
HTTP_REQUEST = "http.request"
SECRET_GET = "secret.get"
UPSTREAM_REQUEST = "upstream.request"
OPS = (KV_GET, KV_SET, KV_DELETE, KV_KEYS, HTTP_REQUEST, SECRET_GET, UPSTREAM_REQUEST)

# ---- refusal codes (the SDK raises a matching exception class) ----------------------
ERROR = "capability_error"  # a malformed or unknown request
DENIED = "capability_denied"  # outside the plugin's permissions
QUOTA_EXCEEDED = "kv_quota_exceeded"
SECRET_NOT_SET = "secret_not_set"
HTTP_ERROR = "http_error"
UPSTREAM_UNAVAILABLE = "upstream_unavailable"  # circuit open, throttled, retries spent

MAX_KEY_BYTES = 512
DEFAULT_PORTS = {"http": 80, "https": 443}


def egress_refusal(url: str, network: Iterable[str]) -> str | None:
    """Why ``ctx.http`` may not fetch ``url`` under ``permissions.network``; None if it
    may."""
    if not isinstance(url, str) or any(ord(c) <= 32 or ord(c) == 127 for c in url):
        return "ctx.http: the URL holds spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return f"ctx.http: {url!r} is not a valid URL"
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return f"ctx.http: {url!r} is not an http(s) URL"
    host = parts.hostname.lower()
    hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if hostport not in network:
        return f"ctx.http: {hostport} is not in permissions.network"
    return None


class CapabilityRefused(Exception):
    """A capability request the host refuses; ``code`` is one of the codes above."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class CapabilityPolicy:
    """What one plugin may do, from its manifest's ``[permissions]``."""

    def __init__(self, permissions: Permissions):  # manifest.Permissions
        self.permissions = permissions
        self.network = set(permissions.network)
        self.secrets = set(permissions.secrets)
        self.kv_quota = permissions.kv_quota

    @staticmethod
    def check_op(op: str) -> None:
        if op not in OPS:
            raise CapabilityRefused(ERROR, f"unknown capability {op!r}")

    @staticmethod
    def kv_key(args: dict[str, Any]) -> str:
        key = args.get("key")
        if not isinstance(key, str) or not key or len(key.encode()) > MAX_KEY_BYTES:
            raise CapabilityRefused(
                ERROR, f"kv keys are non-empty strings of at most {MAX_KEY_BYTES} bytes")
        return key

    def check_quota(self, used: int, size: int) -> None:
        """``used``: bytes the plugin holds besides the key being written; ``size``: the
        key's bytes plus the encoded value's."""
        if used + size > self.kv_quota:
            raise CapabilityRefused(
                QUOTA_EXCEEDED, f"kv quota exceeded: {used + size} bytes would be above the "
                                f"quota of {self.kv_quota} bytes (permissions.kv_quota)")

    def check_secret(self, name: str) -> None:
        if name not in self.secrets:
            raise CapabilityRefused(
                DENIED, f"ctx.secrets: {name!r} is not listed in permissions.secrets")

    def check_url(self, url: str) -> None:
        refusal = egress_refusal(url, self.network)
        if refusal:
            raise CapabilityRefused(DENIED, refusal)
