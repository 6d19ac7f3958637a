"""The documents of the registry's signed index: one per plugin (``plugins/<name>.json``),
with its approved releases and the publisher keys that signed them, which the registry
writes as TUF targets (listed in hashed bins) and a host resolves over.

One definition for both sides: :class:`PluginDocument` is the shape; the registry writes
plain data of that shape with :func:`document_bytes` (built from rows, no models: a
start over 500,000 releases), and a host parses what TUF verified with
:meth:`PluginDocument.from_json`.

Format 1 was a single ``index.json`` with every plugin. The registry still lists an
``index.json`` (:data:`LEGACY_MARKER`, format 2 and no plugins) so a host of the previous
release refuses in words ("has format 2; this host reads format 1") instead of finding
nothing to install.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from ..errors import PluginHostError, field_problems

FORMAT = 2
#: The TUF target path of the format-1 catalogue; now only a marker for older hosts.
INDEX_TARGET = "index.json"
#: What the registry publishes at INDEX_TARGET.
LEGACY_MARKER = json.dumps({
    "format": FORMAT, "plugins": {}, "keys": {},
    "note": "this registry publishes one document per plugin (plugins/<name>.json); "
            "upgrade the host to read it"}, sort_keys=True, indent=1).encode()


def package_target(name: str, filename: str) -> str:
    """The path of a package file under ``targets/`` (stored hash-prefixed)."""
    return f"packages/{name}/{filename}"


def target_key(target: str, sha256: str) -> str:
    """Where a target's bytes are stored under the index (hash-prefixed, as TUF's
    consistent snapshots ask for them): ``packages/x/a.kplugin`` → ``targets/packages/x/
    <sha256>.a.kplugin``."""
    folder, _, base = target.rpartition("/")
    return f"targets/{folder + '/' if folder else ''}{sha256}.{base}"


def plugin_target(name: str) -> str:
    """The TUF target path of a plugin's document."""
    return f"plugins/{name}.json"


def document_bytes(doc: dict[str, Any]) -> bytes:
    """A plugin document's bytes: deterministic, so the same plugin always hashes the
    same (start-up compares them with the published ones)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def _refused(message: str) -> PluginHostError:
    return PluginHostError(message, code="index_verification_failed", status=502)


class IndexRelease(BaseModel):
    """One approved release: what resolution needs, and where its package is."""

    host_api: str
    dependencies: dict[str, str] = Field(default_factory=dict)
    yanked: bool = False
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    signer: str  # key id of the publisher key that signed the package
    target: str  # path of the package under targets/ (stored as <sha256>.<file>)


class PluginDocument(BaseModel):
    """``plugins/<name>.json``: one plugin with its approved releases, and the public
    keys (PEM, by key id) of the publishers who signed them."""

    format: int = FORMAT
    name: str
    summary: str = ""
    tags: list[str] = Field(default_factory=list)
    deprecated: str | None = None
    publisher: str | None = None
    releases: dict[str, IndexRelease] = Field(default_factory=dict)
    keys: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: bytes, name: str) -> PluginDocument:
        """The document TUF verified for ``name``; refused in words if it is not one,
        is of another format, or names another plugin."""
        where = plugin_target(name)
        try:
            head = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise _refused(f"{where} is not a valid plugin document: not JSON") from None
        if isinstance(head, dict) and isinstance(head.get("format"), int) \
                and head["format"] != FORMAT:
            raise _refused(f"{where} has format {head['format']}; this host reads "
                           f"format {FORMAT}")
        try:
            doc = cls.model_validate(head)
        except ValidationError as e:
            problems = "; ".join(field_problems(e.errors()[:5]))
            raise _refused(f"{where} is not a valid plugin document: {problems}") from None
        if doc.name != name:
            raise _refused(f"{where} describes {doc.name!r}, not {name!r}")
        return doc
