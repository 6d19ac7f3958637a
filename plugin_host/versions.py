"""Semantic versions and npm ranges (``^1.2``, ``~1.2.3``, ``>=1 <3``, ``1.x || 2``),
with exactly the meaning npm's ``semver`` package (7.x) gives them.

Long on purpose: one module holds the whole grammar, so that it can be read side by side
with npm's ``internal/re.js``, ``classes/range.js`` and ``classes/comparator.js``, which it
follows step by step (same regular expressions, same rewriting order: hyphen ranges,
trimming, carets, tildes, x-ranges, stars, ``>=0.0.0``), in npm's default mode (not
``loose``, not ``includePrerelease``). No maintained Python library matches npm: over
20,000 generated pairs, ``semantic_version`` differed on 8,033 and ``node-semver`` 0.9
on 1,783 (``tests/test_versions_npm.py`` compares this module with node's own package).

Versions in manifests are stricter than npm's: ``MAJOR.MINOR.PATCH[-pre][+build]``
exactly (no ``v`` or ``=`` in front), as semver 2.0.0 writes them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, total_ordering

MAX_LENGTH = 256
MAX_SAFE_INTEGER = 2**53 - 1
_MAX_BUILD = MAX_LENGTH - 6


def _safe(src: str) -> str:
    """npm's makeSafeRegex: bound the repetitions that could make a pattern slow."""
    for token, most in (("\\s", 1), ("\\d", MAX_LENGTH), ("[a-zA-Z0-9-]", _MAX_BUILD)):
        src = src.replace(token + "*", f"{token}{{0,{most}}}")
        src = src.replace(token + "+", f"{token}{{1,{most}}}")
    return src


_NUM = "0|[1-9]\\d*"
_NONNUM = "\\d*[a-zA-Z-][a-zA-Z0-9-]*"
_MAIN = f"({_NUM})\\.({_NUM})\\.({_NUM})"
_PREID = f"(?:{_NONNUM}|{_NUM})"
_PRE = f"(?:-({_PREID}(?:\\.{_PREID})*))"
_BUILDID = "[a-zA-Z0-9-]+"
_BUILD = f"(?:\\+({_BUILDID}(?:\\.{_BUILDID})*))"
_FULLPLAIN = f"v?{_MAIN}{_PRE}?{_BUILD}?"
_GTLT = "((?:<|>)?=?)"
_XID = f"{_NUM}|x|X|\\*"
_XPLAIN = (f"[v=\\s]*({_XID})(?:\\.({_XID})(?:\\.({_XID})(?:{_PRE})?{_BUILD}?)?)?")
_LONETILDE = "(?:~>?)"
_LONECARET = "(?:\\^)"


# JavaScript's \s (what npm's patterns, trim and split mean) is not quite Python's
_JS_SPACE = " \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006" \
            "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_WS_CLASS = "\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f" \
            "\\u205f\\u3000\\ufeff"
_WS_RUN = re.compile(f"[{_WS_CLASS}]+")


def _re(src: str) -> re.Pattern[str]:
    """npm's pattern, made safe as npm makes it, with JavaScript's \\s and anchors."""
    src = _safe(src).replace("[v=\\s]", f"[v={_WS_CLASS}]")
    return re.compile(src.replace("\\s", f"[{_WS_CLASS}]").replace("$", "\\Z"), re.ASCII)


_FULL = _re(f"^{_FULLPLAIN}$")
_STRICT = _re(f"^{_MAIN}{_PRE}?{_BUILD}?$")
_XRANGE = _re(f"^{_GTLT}\\s*{_XPLAIN}$")
_TILDE_TRIM = _re(f"(\\s*){_LONETILDE}\\s+")
_TILDE = _re(f"^{_LONETILDE}{_XPLAIN}$")
_CARET_TRIM = _re(f"(\\s*){_LONECARET}\\s+")
_CARET = _re(f"^{_LONECARET}{_XPLAIN}$")
_COMPARATOR = _re(f"^{_GTLT}\\s*({_FULLPLAIN})$|^$")
_LOOSEPLAIN = (f"[v=\\s]*(\\d+)\\.(\\d+)\\.(\\d+)"
               f"(?:-?((?:{_NONNUM}|\\d+)(?:\\.(?:{_NONNUM}|\\d+))*))?{_BUILD}?")
_COMPARATOR_TRIM = _re(f"(\\s*){_GTLT}\\s*({_LOOSEPLAIN}|{_XPLAIN})")
_HYPHEN = _re(f"^\\s*({_XPLAIN})\\s+-\\s+({_XPLAIN})\\s*$")
_STAR = _re("(<|>)?=?\\s*\\*")
_BUILD_ONE = _re(_BUILD)
_BUILD_ALL = re.compile(_BUILD.replace("$", "\\Z"), re.ASCII)  # npm's, unbounded
_GTE0 = _re("^\\s*>=\\s*0\\.0\\.0\\s*$")


@total_ordering
@dataclass(frozen=True, eq=False)
class Version:
    """A semantic version, ordered as semver 2.0.0 (and npm) order them: build metadata
    is ignored, a prerelease sorts before its release, numeric identifiers below
    alphanumeric ones."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...] = ()
    build: tuple[str, ...] = ()

    @classmethod
    def _from(cls, m: re.Match[str], text: str) -> Version:
        nums = [int(g) for g in m.groups()[:3]]
        for name, n in zip(("major", "minor", "patch"), nums, strict=True):
            if n > MAX_SAFE_INTEGER:
                raise ValueError(f"{text!r}: the {name} version is too large")
        pre = tuple(int(p) if p.isdigit() and int(p) < MAX_SAFE_INTEGER else p
                    for p in (m.group(4).split(".") if m.group(4) else ()))
        build = tuple(m.group(5).split(".")) if m.group(5) else ()
        return cls(*nums, pre, build)

    @property
    def version(self) -> str:
        """As npm prints it: no build metadata."""
        text = f"{self.major}.{self.minor}.{self.patch}"
        return text + "-" + ".".join(map(str, self.prerelease)) if self.prerelease else text

    def __str__(self) -> str:
        return self.version + ("+" + ".".join(self.build) if self.build else "")

    def _key(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def compare(self, other: Version) -> int:
        if self._key() != other._key():
            return -1 if self._key() < other._key() else 1
        a, b = self.prerelease, other.prerelease
        if not a or not b:
            return (not a) - (not b)  # a release sorts after its prereleases
        for x, y in zip(a, b, strict=False):
            # npm: identifiers of digits compare as numbers, below any other
            xn, yn = str(x).isdigit(), str(y).isdigit()
            if xn and yn:
                x, y = int(x), int(y)
            if x == y:
                continue
            if xn != yn:
                return -1 if xn else 1
            return -1 if x < y else 1  # type: ignore[operator]
        return (len(a) > len(b)) - (len(a) < len(b))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self.compare(other) == 0

    def __lt__(self, other: Version) -> bool:
        return self.compare(other) < 0

    def __hash__(self) -> int:
        return hash((self._key(), self.prerelease))


def _npm_version(text: str) -> Version:
    """npm's ``new SemVer(text)`` (a ``v`` or ``=`` may lead)."""
    text = text.strip(_JS_SPACE)
    m = _FULL.match(text) if len(text) <= MAX_LENGTH else None
    if m is None:
        raise ValueError(f"{text!r} is not a version")
    return Version._from(m, text)


@lru_cache(maxsize=65536)
def parse_version(text: str) -> Version:
    """Parse a semver 2.0.0 version; ValueError names the problem."""
    m = _STRICT.match(text) if isinstance(text, str) and len(text) <= MAX_LENGTH else None
    if m is None:
        raise ValueError(f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH)")
    return Version._from(m, text)


def _x(part: str | None) -> bool:
    return not part or part.lower() == "x" or part == "*"


def _sub(pattern: re.Pattern[str], fn: Callable[..., str], text: str) -> str:
    return pattern.sub(lambda m: fn(*m.groups()), text)


def _caret(comp: str) -> str:
    def rewrite(M: str, m: str | None, p: str | None, pr: str | None, _b: str | None) -> str:
        if _x(M):
            return ""
        if _x(m):
            return f">={M}.0.0 <{int(M) + 1}.0.0-0"
        if _x(p):
            if M == "0":
                return f">={M}.{m}.0 <{M}.{int(m) + 1}.0-0"  # type: ignore[arg-type]
            return f">={M}.{m}.0 <{int(M) + 1}.0.0-0"
        low = f">={M}.{m}.{p}" + (f"-{pr}" if pr else "")
        if M == "0":
            if m == "0":
                return f"{low} <{M}.{m}.{int(p) + 1}-0"  # type: ignore[arg-type]
            return f"{low} <{M}.{int(m) + 1}.0-0"  # type: ignore[arg-type]
        return f"{low} <{int(M) + 1}.0.0-0"
    return " ".join(_sub(_CARET, rewrite, c) for c in _split(comp))


def _tilde(comp: str) -> str:
    def rewrite(M: str, m: str | None, p: str | None, pr: str | None, _b: str | None) -> str:
        if _x(M):
            return ""
        if _x(m):
            return f">={M}.0.0 <{int(M) + 1}.0.0-0"
        if _x(p):
            return f">={M}.{m}.0 <{M}.{int(m) + 1}.0-0"  # type: ignore[arg-type]
        low = f">={M}.{m}.{p}" + (f"-{pr}" if pr else "")
        return f"{low} <{M}.{int(m) + 1}.0-0"  # type: ignore[arg-type]
    return " ".join(_sub(_TILDE, rewrite, c) for c in _split(comp))


def _xrange_one(comp: str) -> str:
    def rewrite(whole: str, gtlt: str, M: str, m: str | None, p: str | None) -> str:
        if (_x(M) and not _x(m)) or (_x(m) and p and not _x(p)):
            return comp  # "x.2", "1.x.3": not an x-range (npm's invalidXRangeOrder)
        xM = _x(M)
        xm = xM or _x(m)
        xp = xm or _x(p)
        if gtlt == "=" and xp:
            gtlt = ""
        pr = ""
        if xM:
            return "<0.0.0-0" if gtlt in (">", "<") else "*"
        if gtlt and xp:
            major, minor = int(M), 0 if xm else int(m)  # type: ignore[arg-type]
            patch = 0
            if gtlt == ">":
                gtlt = ">="
                if xm:
                    major, minor = major + 1, 0
                else:
                    minor += 1
            elif gtlt == "<=":
                gtlt = "<"
                if xm:
                    major += 1
                else:
                    minor += 1
            if gtlt == "<":
                pr = "-0"
            return f"{gtlt}{major}.{minor}.{patch}{pr}"
        if xm:
            return f">={M}.0.0 <{int(M) + 1}.0.0-0"
        if xp:
            return f">={M}.{m}.0 <{M}.{int(m) + 1}.0-0"  # type: ignore[arg-type]
        return whole
    comp = comp.strip(_JS_SPACE)
    return _XRANGE.sub(lambda mt: rewrite(mt.group(0), *mt.groups()[:4]), comp)


def _hyphen(m: re.Match[str]) -> str:
    (frm, fM, fm, fp, _fpr, _fb, to, tM, tm, tp, tpr, _tb) = m.groups()
    if _x(fM):
        low = ""
    elif _x(fm):
        low = f">={fM}.0.0"
    elif _x(fp):
        low = f">={fM}.{fm}.0"
    else:
        low = f">={frm}"
    if _x(tM):
        high = ""
    elif _x(tm):
        high = f"<{int(tM) + 1}.0.0-0"
    elif _x(tp):
        high = f"<{tM}.{int(tm) + 1}.0-0"
    elif tpr:
        high = f"<={tM}.{tm}.{tp}-{tpr}"
    else:
        high = f"<={to}"
    return f"{low} {high}".strip(_JS_SPACE)


def _split(text: str) -> list[str]:
    """JavaScript's ``text.trim().split(/\\s+/)``."""
    return _WS_RUN.split(text.strip(_JS_SPACE))


@dataclass(frozen=True)
class Comparator:
    operator: str  # "", ">", ">=", "<", "<="
    semver: Version | None  # None: any version

    @classmethod
    def parse(cls, comp: str) -> Comparator:
        comp = " ".join(_split(comp))
        m = _COMPARATOR.match(comp)
        if m is None:
            raise ValueError(f"{comp!r} is not a comparator")
        op = m.group(1) or ""
        op = "" if op == "=" else op
        return cls(op, _npm_version(m.group(2)) if m.group(2) else None)

    @property
    def value(self) -> str:
        return "" if self.semver is None else self.operator + self.semver.version

    def test(self, v: Version) -> bool:
        if self.semver is None:
            return True
        c = v.compare(self.semver)
        return {"": c == 0, ">": c > 0, ">=": c >= 0, "<": c < 0, "<=": c <= 0}[self.operator]


NULL_SET = "<0.0.0-0"


def _parse_set(text: str) -> list[Comparator]:
    """One ``||`` alternative: npm's ``Range.parseRange``."""
    text = _BUILD_ALL.sub("", text)  # build metadata cannot bleed into the range
    text = _HYPHEN.sub(_hyphen, text, count=1)
    text = _COMPARATOR_TRIM.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}", text)
    text = _TILDE_TRIM.sub(lambda m: f"{m.group(1)}~", text)
    text = _CARET_TRIM.sub(lambda m: f"{m.group(1)}^", text)
    parts = []
    for comp in text.split(" "):
        comp = _BUILD_ONE.sub("", comp, count=1)
        comp = _caret(comp)
        comp = _tilde(comp)
        comp = " ".join(_xrange_one(c) for c in _WS_RUN.split(comp))
        comp = _STAR.sub("", comp.strip(_JS_SPACE), count=1)
        parts.append(comp)
    comps = [_GTE0.sub("", c.strip(_JS_SPACE), count=1)
             for c in _WS_RUN.split(" ".join(parts))]
    found: dict[str, Comparator] = {}
    for comp in [Comparator.parse(c) for c in comps]:  # every one must parse
        if comp.value == NULL_SET:
            return [comp]
        found[comp.value] = comp  # like a Map: a repeated key keeps its first place
    if len(found) > 1:
        found.pop("", None)
    return list(found.values())


@dataclass(frozen=True)
class Range:
    """An npm range: alternatives (``||``) of comparator sets (all must hold)."""

    raw: str
    alternatives: tuple[tuple[Comparator, ...], ...]

    def __contains__(self, version: Version) -> bool:
        return any(_test_set(s, version) for s in self.alternatives)

    def __str__(self) -> str:
        return self.raw


def _test_set(comps: tuple[Comparator, ...], v: Version) -> bool:
    if not all(c.test(v) for c in comps):
        return False
    if not v.prerelease:
        return True
    # a prerelease matches only a comparator naming a prerelease of the same x.y.z
    return any(c.semver is not None and c.semver.prerelease and c.semver._key() == v._key()
               for c in comps)


@lru_cache(maxsize=16384)
def parse_range(text: str) -> Range:
    """Parse an npm range; ValueError names the problem."""
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        raise ValueError(f"{str(text)[:80]!r} is not a version range "
                         f"(e.g. ^1.2, ~1.2.3, >=1 <3; at most {MAX_LENGTH} characters)")
    raw = _WS_RUN.sub(" ", text.strip(_JS_SPACE))
    try:
        sets = [s for s in (_parse_set(alt.strip(_JS_SPACE)) for alt in raw.split("||")) if s]
    except ValueError:
        raise ValueError(f"{text!r} is not a version range (e.g. ^1.2, ~1.2.3, >=1 <3)") \
            from None
    if not sets:
        raise ValueError(f"{text!r} is not a version range (e.g. ^1.2, ~1.2.3, >=1 <3)")
    if len(sets) > 1:
        kept = [s for s in sets if s[0].value != NULL_SET]
        sets = kept or sets[:1]
        for s in sets if len(sets) > 1 else ():
            if len(s) == 1 and s[0].value == "":
                sets = [s]
                break
    return Range(raw, tuple(tuple(s) for s in sets))


@lru_cache(maxsize=262144)
def satisfies(version: str, range_text: str) -> bool:
    """npm's ``semver.satisfies`` for a version this platform accepts."""
    return parse_version(version) in parse_range(range_text)
