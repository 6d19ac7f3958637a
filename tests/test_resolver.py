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


def test_nothing_matches():
    with pytest.raises(Conflict, match=r"you ask for nowhere \^1, and no release satisfies it"):
        resolve(INDEX, {"nowhere": "^1"}, "1.0.0")
