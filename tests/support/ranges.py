"""Version and range pairs to compare this project's npm ranges with npm's own
``semver`` package: ranges as people write them (partials, x-ranges, carets, tildes,
hyphens, unions, prereleases, build metadata, stray spaces) and strings of the
characters the grammar treats specially (operators, wildcards, Unicode spaces, digits
of other scripts, numbers past 2^53)."""

from __future__ import annotations

import random

PRERELEASES = ["alpha", "alpha.1", "beta.2", "rc.1", "0", "1", "x", "alpha.beta"]
TRICKY = [*"0123456789....xX*^~><==--||++ vv\t", "\u00a0", "\u2028", "\x85", "\x1c", "a",
          "b", "rc", "\ufeff", "\u0661", "9007199254740993", "0.0.0"]
ODD = ["", "*", "x", "latest", "1.2.3.4", "^", ">=", "1 - ", "||", "1.2.3 ||", "01.2.3",
       "1.2.3-", "^1.2.3 <", "~1.2.x.x", "a.b.c", ">=1.2.3 <= 2"]


def written_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    r = random.Random(seed)

    def num() -> str:
        return str(r.choice([0, 0, 1, 1, 2, 3, 10]))

    def part() -> str:
        n_parts = r.choice([1, 2, 3, 3, 3])
        xs = [num() for _ in range(n_parts)]
        if r.random() < 0.25:
            i = r.randrange(n_parts)
            xs[i] = r.choice(["x", "X", "*"])
            if r.random() < 0.5:
                xs[i + 1:] = [r.choice(["x", "X", "*"]) for _ in xs[i + 1:]]
        text = ".".join(xs)
        if n_parts == 3 and r.random() < 0.2:
            text += "-" + r.choice(PRERELEASES)
        if r.random() < 0.03:
            text += "+build.1"
        return ("v" if r.random() < 0.03 else "") + text

    def comparator() -> str:
        op = r.choice(["", "", "^", "~", "~>", ">=", "<=", ">", "<", "=", "^", "~"])
        return op + (" " if r.random() < 0.08 else "") + part()

    def a_range() -> str:
        roll = r.random()
        if roll < 0.05:
            return r.choice(ODD)
        if roll < 0.15:
            return f"{part()} - {part()}"
        sets = [" ".join(comparator() for _ in range(r.choice([1, 1, 2, 2, 3])))
                for _ in range(r.choice([1, 1, 1, 2]))]
        return (" || " if r.random() < 0.8 else "||").join(sets)

    def version() -> str:
        text = ".".join(num() for _ in range(3))
        return text + ("-" + r.choice(PRERELEASES) if r.random() < 0.3 else "")

    return [(version(), a_range()) for _ in range(n)]


def scrambled_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    r = random.Random(seed)

    def version() -> str:
        text = ".".join(str(r.choice([0, 1, 2, 2**53 - 1])) for _ in range(3))
        if r.random() < 0.3:
            text += "-" + r.choice(["alpha", "1", "0", "a.1", "9007199254740993", "x-y"])
        return text

    return [(version(), "".join(r.choice(TRICKY) for _ in range(r.randrange(22))))
            for _ in range(n)]
