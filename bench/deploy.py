"""`invoke deploy` rolling to fresh hosts, timed.

Four new Debian 12 containers with sshd (Docker; base image from debootstrap, cached):
three plugin hosts (the first also the registry and monitoring) and a load balancer;
the wheelhouse of `invoke build`, then `invoke deploy --env test` twice: the first
installs everything (balancer, registry, three plugin hosts one at a time with
readiness checks and drains, Prometheus, Alertmanager), the second finds nothing to
change. The fleet plugin upgrade is bench/fleet.py.

Targets (issue 13): first deploy of 3 hosts + balancer + registry <= 150 s; no-op
<= 20 s. All containers share this machine's CPUs with Ansible: every module call on
every host costs CPU here that separate machines would spend in parallel.
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
        "four_fresh_hosts_s": round(hosts_s, 1),
        "first_deploy_s": first.seconds,
        "first_deploy_changes": first.changed,
        "second_deploy_s": second.seconds,
        "second_deploy_changes": second.changed,
        "meets_targets": first.seconds <= 150 and second.seconds <= 20
                         and second.changed == 0,
    }
    report(figures, args.json)


if __name__ == "__main__":
    main()
