"""The Koha bridge (koha-bridge/, Perl): its own tests run by ``prove`` against a real
host, then what the host's plugin received from the bridge's hooks; and the ``.kpz``
``./dev build`` makes is what Koha installs (the plugin module, its controller, routes
and configure page; not its tests), the same bytes each time."""

from __future__ import annotations

import os
import subprocess
import zipfile

from ops.koha_bridge import bridge_version, build_kpz
from ops.paths import KOHA_BRIDGE

from ..support.servers import HOOK_SECRET
from ..support.system import require, require_tool

PERL_MODULES = ["Test::More", "Test::MockModule", "Mojolicious", "Test::Mojo", "HTTP::Tiny",
                "Digest::SHA", "JSON::PP"]


def perl_ready() -> None:
    require_tool("prove", "apt-get install perl")
    for module in PERL_MODULES:
        ok = subprocess.run(["perl", f"-M{module}", "-e1"], capture_output=True).returncode == 0
        require(ok, f"Perl's {module} is missing (apt-get install libtest-mockmodule-perl "
                    "libmojolicious-perl)")


def test_prove_passes_against_a_real_host(host, packages):
    perl_ready()
    assert host.install(packages["hook-recorder"]).status_code == 201
    r = subprocess.run(
        ["prove", "-I", str(KOHA_BRIDGE), "-I", str(KOHA_BRIDGE / "t" / "lib"), "-v",
         str(KOHA_BRIDGE / "t")],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "KOHA_BRIDGE_HOST": host.url, "KOHA_BRIDGE_SECRET": HOOK_SECRET})
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "All tests successful" in r.stdout
    assert "skipped" not in r.stdout, r.stdout  # every file ran, against the host

    events = host.client.get("/plugins/hook-recorder/api/events").json()
    got = [(e["event"], e["payload"]) for e in events]
    assert got[:7] == [
        ("biblio.after_save", {"biblionumber": 42, "action": "create"}),
        ("item.after_save", {"itemnumber": 7, "biblionumber": 42, "action": "create",
                             "barcode": "3900001", "homebranch": "CPL"}),
        ("circulation.after_checkout", {
            "issue_id": 11, "itemnumber": 7, "borrowernumber": 5, "branchcode": "CPL",
            "date_due": "2026-12-24T23:59:00", "onsite": False}),
        ("circulation.after_checkin", {"itemnumber": 7, "borrowernumber": 5,
                                       "branchcode": "CPL",
                                       "returndate": "2026-12-20T10:00:00"}),
        ("circulation.after_renewal", {"issue_id": 11, "itemnumber": 7, "borrowernumber": 5,
                                       "date_due": "2026-12-24T23:59:00"}),
        ("hold.after_place", {"reserve_id": 3, "biblionumber": 42, "borrowernumber": 5,
                              "branchcode": "MPL", "itemnumber": 7, "action": "place"}),
        ("patron.after_save", {"borrowernumber": 5, "action": "modify",
                               "categorycode": "PT", "branchcode": "CPL"}),
    ]
    names = [e for e, _ in got]
    assert names[7] == "cronjob.nightly"
    # the delivery refused for a wrong secret waited, then went after the next one
    assert got[8:] == [("patron.after_delete", {"borrowernumber": 6}),
                       ("biblio.after_save", {"biblionumber": 43, "action": "modify"})]


def test_the_kpz_is_what_koha_installs(tmp_path):
    kpz = build_kpz(tmp_path / "a", 1_767_225_600)
    assert kpz.name == f"koha-shadcn-bridge-{bridge_version()}.kpz"
    names = zipfile.ZipFile(kpz).namelist()
    assert names == sorted(names)
    assert {"Koha/Plugin/Org/KohaShadcn/Bridge.pm",
            "Koha/Plugin/Org/KohaShadcn/Bridge/Controller.pm",
            "Koha/Plugin/Org/KohaShadcn/Bridge/openapi.json",
            "Koha/Plugin/Org/KohaShadcn/Bridge/configure.tt"} == set(names)
    again = build_kpz(tmp_path / "b", 1_767_225_600)
    assert again.read_bytes() == kpz.read_bytes()
    r = subprocess.run(["perl", "-c", "-I", str(KOHA_BRIDGE), "-I",
                        str(KOHA_BRIDGE / "t" / "lib"),
                        str(KOHA_BRIDGE / "Koha/Plugin/Org/KohaShadcn/Bridge.pm")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "syntax OK" in r.stderr, r.stderr
