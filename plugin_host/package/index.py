"""The index document (``index.json``): the catalogue of approved releases that the
registry writes into its signed TUF index and every host resolves over.

One typed definition for both sides: the registry builds an :class:`IndexDocument` and
serialises it with :meth:`IndexDocument.to_json`; a host parses what TUF verified with
:meth:`IndexDocument.from_json`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, ValidationError

from ..errors import PluginHostError, field_problems

#: The TUF target path of the index document.
INDEX_TARGET = "index.json"
FORMAT = 1


def package_target(name: str, filename: str) -> str:
    """The TUF target path of a package file."""
    return f"packages/{name}/{filename}"


class IndexRelease(BaseModel):
    """One approved release: what resolution needs, and where its package is."""

    host_api: str
    dependencies: dict[str, str] = Field(default_factory=dict)
    yanked: bool = False
    sha256: str
    size: int
    signer: str  # key id of the publisher key that signed the package
    target: str  # TUF target path of the package


class IndexPlugin(BaseModel):
    summary: str = ""
    tags: list[str] = Field(default_factory=list)
    deprecated: str | None = None
    publisher: str | None = None
    releases: dict[str, IndexRelease] = Field(default_factory=dict)


class IndexDocument(BaseModel):
    """``index.json``: every plugin with its approved releases, and the public keys
    (PEM, by key id) of the publishers who signed them."""

    format: int = FORMAT
    plugins: dict[str, IndexPlugin] = Field(default_factory=dict)
    keys: dict[str, str] = Field(default_factory=dict)

    def to_json(self) -> bytes:
        """Deterministic bytes: the same catalogue always hashes the same."""
        import json

        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=1).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> IndexDocument:
        try:
            doc = cls.model_validate_json(raw)
        except ValidationError as e:
            problems = "; ".join(field_problems(e.errors()[:5]))
            raise PluginHostError(f"{INDEX_TARGET} is not a valid index document: {problems}",
                                  code="index_verification_failed", status=502) from None
        if doc.format != FORMAT:
            raise PluginHostError(f"{INDEX_TARGET} has format {doc.format}; this host reads "
                                  f"format {FORMAT}", code="index_verification_failed",
                                  status=502)
        return doc

    def release(self, name: str, version: str) -> IndexRelease:
        return self.plugins[name].releases[version]

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
