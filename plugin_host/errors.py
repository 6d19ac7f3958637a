"""Domain errors. Each carries a stable code and a message meant for a person.

The HTTP layers map them to statuses in one place; the CLI prints the message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def field_problems(errors: Iterable[Mapping[str, Any]]) -> list[str]:
    """pydantic's errors (``e.errors()``) as ``where.it.is: what is wrong`` lines."""
    return [f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in errors]


class PluginHostError(Exception):
    """Base of every error a user may see; never shown as a traceback."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        if code:
            self.code = code
        if status:
            self.status = status


class ManifestError(PluginHostError):
    """plugin.toml is missing, unreadable or invalid; `problems` names each key."""

    code = "invalid_manifest"
    status = 422

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid plugin.toml: " + "; ".join(problems))


class PackageError(PluginHostError):
    """The package archive is unsafe, malformed or does not match its manifest."""

    code = "invalid_package"
    status = 422


class SignatureError(PluginHostError):
    """The package is unsigned, tampered with, or signed by a key that is not trusted."""

    code = "untrusted_package"
    status = 422


class Unauthorized(PluginHostError):
    """No credentials, or ones that are unknown or revoked."""

    code = "unauthorized"
    status = 401


class Forbidden(PluginHostError):
    """Known caller, not allowed to do this."""

    code = "forbidden"
    status = 403


class NotFound(PluginHostError):
    code = "not_found"
    status = 404


class Conflict(PluginHostError):
    code = "conflict"
    status = 409


class PluginCallError(PluginHostError):
    """A call into a plugin's worker failed; status tells how (500, 502, 503, 504)."""

    code = "plugin_error"
    status = 500
