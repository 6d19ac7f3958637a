"""Dependency resolution over any plugin index, with resolvelib.

Requirements are npm-style ranges (``^1.2``, ``~1.2.3``, ``>=1 <3``). Yanked releases are
skipped unless a requirement pins that exact version; releases whose ``host_api`` range
excludes the installing host's API version are skipped. A conflict is explained in
words: ``a 1.4.0 needs b ^2, but c 3.0.0 needs b ^3``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from resolvelib import AbstractProvider, BaseReporter, Resolver
from resolvelib.resolvers import ResolutionImpossible, ResolutionTooDeep

from .errors import Conflict
from .versions import Range, Version, parse_range, parse_version, satisfies


@dataclass(frozen=True)
class Candidate:
    name: str
    version: str
    dependencies: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    host_api: str = "*"
    yanked: bool = False

    @property
    def semver(self) -> Version:
        return parse_version(self.version)


@dataclass(frozen=True)
class Requirement:
    name: str
    range: str
    #: who asked: None for the user's own request
    parent: Candidate | None = None

    @property
    def spec(self) -> Range:
        return parse_range(self.range)

    @property
    def pins(self) -> str | None:
        """The exact version this requirement names, if it names one."""
        text = self.range.strip().lstrip("=").strip()
        try:
            parse_version(text)
        except ValueError:
            return None
        return text

    def describe(self) -> str:
        who = f"{self.parent.name} {self.parent.version}" if self.parent else "you"
        verb = "ask for" if self.parent is None else "needs"
        return f"{who} {verb} {self.name} {self.range}"


class Index(Protocol):
    def releases(self, name: str) -> Iterable[Candidate]: ...


class _Provider(AbstractProvider):
    def __init__(self, index: Index, host_api: str):
        self.index = index
        self.host_api = parse_version(host_api)
        self.host_api_text = host_api

    def identify(self, requirement_or_candidate):
        return requirement_or_candidate.name

    def get_preference(self, identifier, resolutions, candidates, information,
                       backtrack_causes):
        return sum(1 for _ in information[identifier])

    def find_matches(self, identifier, requirements, incompatibilities):
        reqs = list(requirements[identifier])
        bad = {c.version for c in incompatibilities[identifier]}
        pinned = {r.pins for r in reqs if r.pins}
        found = []
        for c in self.index.releases(identifier):
            if c.version in bad or (c.yanked and c.version not in pinned):
                continue
            if not satisfies(self.host_api_text, c.host_api):
                continue
            if all(satisfies(c.version, r.range) for r in reqs):
                found.append(c)
        return sorted(found, key=lambda c: c.semver, reverse=True)

    def is_satisfied_by(self, requirement, candidate):
        return satisfies(candidate.version, requirement.range)

    def get_dependencies(self, candidate):
        return [Requirement(n, r, candidate) for n, r in sorted(candidate.dependencies.items())]


def resolve(index: Index, requested: Mapping[str, str], host_api: str) -> list[Candidate]:
    """A consistent set of releases for ``requested`` (name → range), dependencies first.

    First the fast path: take the newest fitting release of each plugin, breadth first,
    in time linear in the graph; when two plugins' needs clash, set aside the newest
    release of one that asked (one with older releases to try, the latest picked first)
    and go again, a few times at most. Any set it returns holds every requirement. If it
    finds none, resolvelib searches the whole space (complete, but its cost grows with
    the square of the plugins pinned) and explains a conflict in words."""
    reqs = [Requirement(n, r) for n, r in requested.items()]
    provider = _Provider(index, host_api)
    fast = _newest_fitting_with_retries(provider, reqs)
    if fast is not None:
        return _install_order(fast, None)
    try:
        result = Resolver(provider, BaseReporter()).resolve(reqs, max_rounds=20_000)
    except ResolutionImpossible as e:
        raise Conflict(explain(e.causes, provider), code="unresolvable") from None
    except ResolutionTooDeep:
        raise Conflict("these requirements are too tangled to resolve",
                       code="unresolvable") from None
    return _install_order(result.mapping, result.graph)


#: how many times the fast path sets a release aside before resolvelib takes over
RETRIES = 24


def _newest_fitting_with_retries(provider: _Provider, reqs: list[Requirement]
                                 ) -> dict[str, Candidate] | None:
    excluded: dict[str, list[Candidate]] = {}
    for _ in range(RETRIES + 1):
        picked, culprits = _newest_fitting(provider, reqs, excluded)
        if picked is not None:
            return picked
        # a clash: set aside the latest-picked release among those that asked which has
        # an older release left to try
        for c in culprits:
            aside = excluded.setdefault(c.name, [])
            if any(x != c and x not in aside for x in provider.index.releases(c.name)):
                aside.append(c)
                break
        else:
            return None
    return None


def _newest_fitting(provider: _Provider, reqs: list[Requirement],
                    excluded: Mapping[str, list[Candidate]]
                    ) -> tuple[dict[str, Candidate] | None, list[Candidate]]:
    """The newest release fitting every requirement seen so far, per plugin, breadth
    first, leaving out ``excluded``; on a clash, None and the releases whose
    requirements clashed, the latest picked first."""
    picked: dict[str, Candidate] = {}
    seen: dict[str, list[Requirement]] = {}
    queue = list(reqs)
    while queue:
        req = queue.pop(0)
        seen.setdefault(req.name, []).append(req)
        if req.name in picked:
            if not satisfies(picked[req.name].version, req.range):
                return None, _culprits(seen[req.name], picked)
            continue
        matches = provider.find_matches(req.name, {req.name: seen[req.name]},
                                        {req.name: excluded.get(req.name, [])})
        if not matches:
            return None, _culprits(seen[req.name], picked)
        picked[req.name] = matches[0]
        queue.extend(provider.get_dependencies(matches[0]))
    return picked, []


def _culprits(reqs: list[Requirement], picked: dict[str, Candidate]) -> list[Candidate]:
    order = {name: i for i, name in enumerate(picked)}
    asked = {r.parent for r in reqs if r.parent is not None}
    return sorted(asked, key=lambda c: order.get(c.name, -1), reverse=True)


#: releases listed when none satisfies a range
LISTED = 8


def explain(causes: Sequence, provider: _Provider | None = None) -> str:
    """Why nothing fits, in words: a conflict between requirements, or for a single one,
    what the index does have (the plugin is not there at all, with a did-you-mean; or
    its releases, newest first, marked when yanked or for another host API)."""
    parts = sorted({c.requirement.describe() for c in causes})
    if len(parts) > 1:
        return ", but ".join(parts)
    if provider is None:
        return f"{parts[0]}, and no release satisfies it (yanked releases need an exact pin)"
    name = next(iter(causes)).requirement.name
    releases = sorted(provider.index.releases(name), key=lambda c: c.semver, reverse=True)
    if not releases:
        import difflib

        names = getattr(provider.index, "names", None)
        close = difflib.get_close_matches(name, list(names()), n=1) if names else []
        return (f"{parts[0]}, but there is no plugin {name!r} in the index"
                + (f": did you mean {close[0]!r}?" if close else
                   " (a release in review is not in it until approved)"))
    listed = []
    for c in releases[:LISTED]:
        notes = ["yanked: needs an exact pin"] if c.yanked else []
        if not satisfies(provider.host_api_text, c.host_api):
            notes.append(f"for host API {c.host_api}, not {provider.host_api_text}")
        listed.append(c.version + (f" ({'; '.join(notes)})" if notes else ""))
    more = f" and {len(releases) - LISTED} older" if len(releases) > LISTED else ""
    return (f"{parts[0]}, and no release satisfies it: {name} has {', '.join(listed)}{more}")


def _install_order(mapping: Mapping[str, Candidate], graph) -> list[Candidate]:
    order: list[Candidate] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name not in mapping:
            return
        seen.add(name)
        for dep in sorted(mapping[name].dependencies):
            visit(dep)
        order.append(mapping[name])

    for name in sorted(mapping):
        visit(name)
    return order
