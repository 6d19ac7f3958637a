"""Semantic versions and npm-style ranges (``^1.2``, ``~1.2.3``, ``>=1 <3``)."""

from __future__ import annotations

from functools import lru_cache

from semantic_version import NpmSpec, Version

# Versions and ranges are immutable values parsed again and again (the resolver checks
# every pin against every requirement each round): parse each text once.


@lru_cache(maxsize=65536)
def parse_version(text: str) -> Version:
    """Parse a semver 2.0.0 version; ValueError names the problem."""
    try:
        return Version(text)
    except Exception:  # the library raises more than ValueError on some inputs
        raise ValueError(f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH)") from None


@lru_cache(maxsize=16384)
def parse_range(text: str) -> NpmSpec:
    """Parse an npm-style range; ValueError names the problem."""
    try:
        return NpmSpec(text)
    except Exception:  # the library raises AttributeError on some inputs
        raise ValueError(f"{text!r} is not a version range (e.g. ^1.2, ~1.2.3, >=1 <3)") from None


@lru_cache(maxsize=262144)
def satisfies(version: str, range_text: str) -> bool:
    return parse_version(version) in parse_range(range_text)
