"""Coverage of the suite (``./dev coverage``) per package: statements and branches
together, as coverage.py counts them, for the runtime (``plugin_host`` and each of its
packages) and the operations code; the runtime's gate. Measured in the test process and
in every Python process it starts (hosts, registries, CLIs: ``[tool.coverage.run]`` in
pyproject.toml); sandboxed plugin workers get a scrubbed environment and are not
measured."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .paths import ROOT

DATA = ROOT / "build" / "coverage" / "data"
#: the least coverage of the runtime the suite may have (branch coverage, percent):
#: 95.1 % measured over the whole suite on 2026-12-03 (docs/development.md)
RUNTIME_GATE = 95.0


@dataclass
class Tally:
    statements: int = 0
    missed: int = 0
    branches: int = 0
    branches_missed: int = 0

    @property
    def percent(self) -> float:
        total = self.statements + self.branches
        covered = self.statements - self.missed + self.branches - self.branches_missed
        return 100.0 * covered / total if total else 100.0


def package_of(path: Path) -> str:
    """``plugin_host/host`` for plugin_host/host/app.py, ``plugin_host`` for its top-level
    modules, ``ops`` and ``monitoring`` as they are."""
    rel = path.relative_to(ROOT).parts
    if rel[0] == "plugin_host" and len(rel) > 2:
        return f"plugin_host/{rel[1]}"
    return rel[0]


def tallies(data_file: Path = DATA) -> dict[str, Tally]:
    """Per package, and ``plugin_host (all)`` for the whole runtime."""
    import coverage

    cov = coverage.Coverage(data_file=str(data_file), config_file=str(ROOT / "pyproject.toml"))
    cov.load()
    out: dict[str, Tally] = defaultdict(Tally)
    for filename in cov.get_data().measured_files():
        path = Path(filename)
        if ROOT not in path.parents:
            continue
        analysis = cov._analyze(filename)  # the numbers `coverage report` prints
        n = analysis.numbers
        package = package_of(path)
        for key in (package, "plugin_host (all)") if package.startswith("plugin_host") \
                else (package,):
            t = out[key]
            t.statements += n.n_statements
            t.missed += n.n_missing
            t.branches += n.n_branches
            t.branches_missed += n.n_missing_branches
    return dict(out)


def report(data_file: Path = DATA) -> tuple[str, float]:
    """The table, and the runtime's figure."""
    rows = sorted(tallies(data_file).items())
    lines = [f"{'package':<28} {'stmts':>6} {'miss':>6} {'branch':>6} {'bmiss':>6} "
             f"{'cover':>7}"]
    for name, t in rows:
        lines.append(f"{name:<28} {t.statements:>6} {t.missed:>6} {t.branches:>6} "
                     f"{t.branches_missed:>6} {t.percent:>6.1f}%")
    runtime = dict(rows).get("plugin_host (all)", Tally()).percent
    return "\n".join(lines), runtime
