"""Dependency resolution over a synthetic registry, as hosts do it (plugin_host.resolver).

The registry: 1,000 plugins x 10 versions (1.0.0 … 1.9.0) in 20 layers of 50; every
release depends on 2 or 3 plugins of the next layer with ranges ^1.0 … ^1.5, so
resolving a plugin of layer 0 pins a chain 20 deep and a few hundred plugins wide.
Three cases, each resolved --repeat times on a fresh index with empty parse caches:

- deep:       a layer-0 plugin with its whole closure (no backtracking needed);
- backtrack:  app ^1 needs a ^1, b ^1 and the deep closure; a 1.5-1.9 need c ^2, b
              needs c ^1 — the resolver must step back through a's versions to 1.4
              (the fast path sets a's newest aside and goes again; resolvelib alone
              took 540-620 ms here, re-checking ~690 pins each of its ~700 rounds);
- conflict:   the same with no version of a that fits: an explained refusal.

Targets: deep median ≤ 200 ms (issue 4); backtrack median ≤ 100 ms (issue 20).
Usage: python bench/resolve.py [--json] [--repeat 15]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from common import report

from plugin_host.errors import Conflict
from plugin_host.resolver import Candidate, resolve
from plugin_host.versions import parse_range, parse_version, satisfies

LAYERS, WIDTH, VERSIONS = 20, 50, 10


class Index:
    def __init__(self, releases: dict[str, list[Candidate]]):
        self.data = releases

    def releases(self, name: str) -> list[Candidate]:
        return self.data.get(name, [])


def synthetic(seed: int = 7) -> dict[str, list[Candidate]]:
    rnd = random.Random(seed)
    out: dict[str, list[Candidate]] = {}
    for layer in range(LAYERS):
        for i in range(WIDTH):
            name = f"p{layer:02d}-{i:02d}"
            out[name] = []
            for v in range(VERSIONS):
                deps = {}
                if layer + 1 < LAYERS:
                    for j in rnd.sample(range(WIDTH), rnd.choice((2, 3))):
                        deps[f"p{layer + 1:02d}-{j:02d}"] = f"^1.{rnd.randrange(6)}"
                out[name].append(Candidate(name, f"1.{v}.0", deps, "^1.0"))
    return out


def backtracking(possible: bool) -> dict[str, list[Candidate]]:
    base = synthetic()
    good = range(5) if possible else range(0)
    base["a"] = [Candidate("a", f"1.{v}.0", {"c": "^1" if v in good else "^2"}, "^1.0")
                 for v in range(VERSIONS)]
    base["b"] = [Candidate("b", "1.0.0", {"c": "^1"}, "^1.0")]
    base["c"] = [Candidate("c", v, {}, "^1.0") for v in ("1.0.0", "1.1.0", "2.0.0", "2.1.0")]
    # the app also needs the deep closure, so backtracking happens beside 682 pins
    base["app"] = [Candidate("app", "1.0.0", {"a": "^1", "b": "^1", "p00-00": "^1"}, "^1.0")]
    return base


def timed(releases, requested, repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        for cached in (parse_range, parse_version, satisfies):  # as a fresh host process
            cached.cache_clear()
        index = Index(releases)
        t0 = time.perf_counter()
        try:
            result = resolve(index, requested, "1.0.0")
        except Conflict as e:
            result = e
        times.append((time.perf_counter() - t0) * 1000)
    return times, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="last line: one JSON object")
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    deep_times, deep = timed(synthetic(), {"p00-00": "^1"}, args.repeat)
    back_times, back = timed(backtracking(True), {"app": "^1"}, args.repeat)
    conf_times, conf = timed(backtracking(False), {"app": "^1"}, args.repeat)
    assert isinstance(deep, list) and isinstance(back, list), (deep, back)
    assert next(c.version for c in back if c.name == "a") == "1.4.0"
    assert isinstance(conf, Conflict)
    figures = {
        "registry_releases": LAYERS * WIDTH * VERSIONS + 16,
        "deep_pinned_plugins": len(deep),
        "deep_depth": LAYERS,
        "deep_median_ms": round(statistics.median(deep_times), 1),
        "deep_max_ms": round(max(deep_times), 1),
        "backtrack_median_ms": round(statistics.median(back_times), 1),
        "backtrack_chose": "a 1.4.0",
        "conflict_median_ms": round(statistics.median(conf_times), 1),
        "conflict_message": str(conf.message),
        "targets": {"deep_median_ms": "<= 200", "backtrack_median_ms": "<= 100"},
        "meets_targets": statistics.median(deep_times) <= 200
        and statistics.median(back_times) <= 100,
    }
    report(figures, args.json)


if __name__ == "__main__":
    main()
