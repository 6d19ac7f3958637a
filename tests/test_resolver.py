"""Dependency resolution: ranges, dependency order, yanks, host_api, conflicts in words."""

from __future__ import annotations

import pytest

from plugin_host.errors import Conflict
from plugin_host.resolver import Candidate, resolve


class FakeIndex:
    """An in-memory index (the resolver's only contract is releases(name))."""

    def __init__(self, *candidates: Candidate):
        self.by_name: dict[str, list[Candidate]] = {}
        for c in candidates:
            self.by_name.setdefault(c.name, []).append(c)

    def releases(self, name):
        return self.by_name.get(name, [])


INDEX = FakeIndex(
    Candidate("hello-world", "1.0.0", {"marc-utils": "^2.1"}),
    Candidate("hello-world", "1.3.0", {"marc-utils": "^2.1", "i18n": "~1.2.0"}),
    Candidate("hello-world", "2.0.0", {"marc-utils": "^3"}),
    Candidate("marc-utils", "2.0.0"),
    Candidate("marc-utils", "2.4.1"),
    Candidate("marc-utils", "2.5.0", yanked=True),
    Candidate("marc-utils", "3.0.0", host_api="^2.0"),
    Candidate("i18n", "1.2.7"),
    Candidate("i18n", "1.3.0"),
)


def names(result):
    return [(c.name, c.version) for c in result]


def test_newest_matching_set_in_dependency_order():
    assert names(resolve(INDEX, {"hello-world": "^1"}, "1.0.0")) == [
        ("i18n", "1.2.7"), ("marc-utils", "2.4.1"), ("hello-world", "1.3.0")]


def test_yanked_skipped_unless_pinned_exactly():
    assert ("marc-utils", "2.4.1") in names(resolve(INDEX, {"marc-utils": "^2"}, "1.0.0"))
    assert names(resolve(INDEX, {"marc-utils": "2.5.0"}, "1.0.0")) == [("marc-utils", "2.5.0")]


def test_host_api_compatibility_is_respected():
    with pytest.raises(Conflict) as err:
        resolve(INDEX, {"hello-world": "^2"}, "1.0.0")
    assert "hello-world 2.0.0 needs marc-utils ^3" in err.value.message
    assert ("marc-utils", "3.0.0") in names(resolve(INDEX, {"hello-world": "^2"}, "2.0.0"))


def test_conflicts_are_explained_in_words():
    index = FakeIndex(Candidate("a", "1.4.0", {"b": "^2"}), Candidate("c", "3.0.0", {"b": "^3"}),
                      Candidate("b", "2.0.0"), Candidate("b", "3.1.0"))
    with pytest.raises(Conflict) as err:
        resolve(index, {"a": "^1", "c": "^3"}, "1.0.0")
    assert err.value.message == "a 1.4.0 needs b ^2, but c 3.0.0 needs b ^3"
    assert err.value.code == "unresolvable"


class NamedIndex(FakeIndex):
    def names(self):
        return sorted(self.by_name)


def test_nothing_matches_says_what_there_is():
    """A name not in the index (with a did-you-mean when one is close), or the releases
    it has, newest first, each marked when yanked or for another host API."""
    index = NamedIndex(*(c for cs in INDEX.by_name.values() for c in cs))
    with pytest.raises(Conflict) as err:
        resolve(index, {"marc-util": "^1"}, "1.0.0")
    assert err.value.message == ("you ask for marc-util ^1, but there is no plugin "
                                 "'marc-util' in the index: did you mean 'marc-utils'?")
    with pytest.raises(Conflict) as err:
        resolve(index, {"nowhere": "^1"}, "1.0.0")
    assert err.value.message.endswith("there is no plugin 'nowhere' in the index (a release "
                                      "in review is not in it until approved)")
    with pytest.raises(Conflict) as err:
        resolve(index, {"marc-utils": "^9"}, "1.0.0")
    assert err.value.message == (
        "you ask for marc-utils ^9, and no release satisfies it: marc-utils has 3.0.0 "
        "(for host API ^2.0, not 1.0.0), 2.5.0 (yanked: needs an exact pin), 2.4.1, 2.0.0")
    with pytest.raises(Conflict) as err:
        resolve(NamedIndex(Candidate("a", "1.0.0", {"i18n": "~1.2.0"}),
                           Candidate("i18n", "1.2.7", host_api="^3"),
                           Candidate("i18n", "1.3.0")), {"a": "*"}, "1.0.0")
    assert err.value.message == ("a 1.0.0 needs i18n ~1.2.0, and no release satisfies it: "
                                 "i18n has 1.3.0, 1.2.7 (for host API ^3, not 1.0.0)")


def _catalogue(draw_spec):
    """A small random catalogue: plugins p0…p4, versions 1.0.0…1.3.0 and 2.0.0, each
    release depending on later plugins with ^1 or ^2 ranges."""
    index = FakeIndex()
    for name, versions in draw_spec.items():
        for version, deps in versions.items():
            c = Candidate(name, version, deps)
            index.by_name.setdefault(name, []).append(c)
    return index


@pytest.mark.parametrize("seed", range(300))
def test_setting_releases_aside_agrees_with_a_full_search(seed):
    """The fast path that sets a clashing release aside and goes again returns only sets
    that hold every requirement, finds one whenever resolvelib's full search does, and
    leaves conflicts to it (explained in words)."""
    import random

    from resolvelib import BaseReporter, Resolver
    from resolvelib.resolvers import ResolutionImpossible

    from plugin_host.resolver import Requirement, _Provider
    from plugin_host.versions import satisfies

    rnd = random.Random(seed)
    plugins = [f"p{i}" for i in range(5)]
    spec = {name: {v: {later: rnd.choice(("^1", "^2"))
                       for later in plugins[i + 1:] if rnd.random() < 0.4}
                   for v in ("1.0.0", "1.1.0", "1.2.0", "1.3.0", "2.0.0") if rnd.random() < 0.8}
            for i, name in enumerate(plugins)}
    index = _catalogue(spec)
    requested = {"p0": "^1", **({"p2": "^2"} if rnd.random() < 0.5 else {})}
    try:
        full = Resolver(_Provider(index, "1.0.0"), BaseReporter()).resolve(
            [Requirement(n, r) for n, r in requested.items()])
        solvable = True
    except ResolutionImpossible:
        solvable = False
    try:
        got = {c.name: c for c in resolve(index, requested, "1.0.0")}
    except Conflict as e:
        assert not solvable, (spec, requested, e.message)
        assert " needs " in e.message or " ask for " in e.message
        return
    assert solvable and full.mapping
    for name, rng in requested.items():
        assert satisfies(got[name].version, rng)
    for c in got.values():
        for dep, rng in c.dependencies.items():
            assert dep in got and satisfies(got[dep].version, rng), (c, dep, rng)
