"""`invoke deploy` rolling to three fresh hosts, timed.

Three new Debian 12 containers with sshd (Docker; base image from debootstrap, cached),
the wheelhouse of `invoke build`, then `invoke deploy --env test` twice: the first
installs everything (registry, three plugin hosts one at a time with readiness checks,
Prometheus, Alertmanager), the second finds nothing to change.

Target (issue 5): first deploy <= 120 s (the project plan asks for under 5 min).
Usage: python bench/deploy.py [--json]   (as root: it may start dockerd)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import report

from ops.build import build
from ops.containers import ensure_dockerd, ensure_host_image
from ops.deploy import command, run, testhosts_down, testhosts_up


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="last line: one JSON object")
    args = ap.parse_args()
    ensure_dockerd()
    ensure_host_image()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        build(Path(tmp) / "dist")
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        testhosts_up(Path(tmp) / "state", 3, log=lambda m: None)
        hosts_s = time.perf_counter() - t0
        try:
            cmd = command("test", Path(tmp) / "dist" / "wheelhouse")
            first = run(cmd, echo=False)
            if first.returncode:
                raise SystemExit(first.output[-3000:])
            second = run(cmd, echo=False)
        finally:
            testhosts_down()
    figures = {
        "build_s": round(build_s, 1),
        "three_fresh_hosts_s": round(hosts_s, 1),
        "first_deploy_s": first.seconds,
        "first_deploy_changes": first.changed,
        "second_deploy_s": second.seconds,
        "second_deploy_changes": second.changed,
        "meets_targets": first.seconds <= 120 and second.changed == 0,
    }
    report(figures, args.json)


if __name__ == "__main__":
    main()
