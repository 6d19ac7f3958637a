"""A fleet plugin upgrade, timed: three real plugin hosts on one PostgreSQL database, a
registry's signed index, `plugin-host fleet apply` rolling versioned 1.0.0 → 1.1.0
canary first (each host behind its health gate, 2 s settle), with clients calling every
host all the while.

Prints the first rollout (install on three hosts), the upgrade, and the failed requests.
Target (issue 13): fleet plugin upgrade of three hosts <= 15 s, 0 failed requests.
Usage: python bench/fleet.py [--json]   (as root: it runs PostgreSQL as postgres)
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from common import report

from plugin_host.host.fleet_rollout import rollout
from plugin_host.package.signing import generate_keypair
from tests.host.test_hot_swap import version_of
from tests.support.paths import TEST_PLUGINS
from tests.support.plugins import signed
from tests.support.servers import (
    ADMIN_TOKEN,
    Host,
    publish_and_approve,
    start_registry,
    throwaway_postgres,
)
from tests.support.waiting import Load


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="last line: one JSON object")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name, throwaway_postgres() as new_database:
        tmp = Path(tmp_name)
        key, pub, _ = generate_keypair(tmp / "publisher")
        reg = start_registry(tmp / "registry", tmp / "registry.log", pub.read_text())
        hosts: list[Host] = []
        try:
            for version in ("1.0.0", "1.1.0"):
                src = tmp / f"src-{version}"
                shutil.copytree(TEST_PLUGINS / "versioned", src)
                version_of(src, version)
                publish_and_approve(reg, signed(src, key, tmp / version))
            shutil.copy(reg.storage / "metadata" / "root.json", tmp / "root.json")
            database = new_database()
            for i in range(3):
                hosts.append(Host(tmp / f"host{i}", pub, env={
                    "PLUGIN_HOST_INSTANCE": f"host-{i}", "PLUGIN_HOST_DATABASE_URL": database},
                    extra_args=["--registry-url", f"{reg.url}/index",
                                "--registry-root", str(tmp / "root.json")]).start())
            urls = [h.url for h in hosts]
            quiet = lambda line: None  # noqa: E731
            t = time.perf_counter()
            rollout(urls, ADMIN_TOKEN, {"plugins": [{"name": "versioned", "range": "~1.0"}]},
                    log=quiet)
            install_s = time.perf_counter() - t
            loads = [Load(f"{u}/plugins/versioned/api/version", clients=2, field="version")
                     for u in urls]
            for load in loads:
                load.__enter__()
            try:
                time.sleep(1)
                t = time.perf_counter()
                rollout(urls, ADMIN_TOKEN,
                        {"plugins": [{"name": "versioned", "range": "~1.1"}]}, log=quiet)
                upgrade_s = time.perf_counter() - t
                time.sleep(1)
            finally:
                for load in loads:
                    load.__exit__(None, None, None)
        finally:
            for h in hosts:
                h.stop()
            reg.stop()
    failures = sum(len(load.failures) for load in loads)
    figures = {
        "hosts": 3,
        "first_rollout_s": round(install_s, 1),
        "fleet_upgrade_s": round(upgrade_s, 1),
        "requests_during_upgrade": sum(load.ok for load in loads),
        "failed_requests": failures,
        "on_new_version_after": all(load.seen[-1] == "1.1.0" for load in loads),
        "meets_targets": upgrade_s <= 15 and failures == 0,
    }
    report(figures, args.json)


if __name__ == "__main__":
    main()
