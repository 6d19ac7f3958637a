"""The web UI's weight and how fast its pages paint, on loopback.

Builds the UI if needed (ops/webui.py: the budget check fails the build past 150 KiB of
gzipped JavaScript per page), then starts a real registry with the examples and
first-party plugins published and a real host with them installed, and loads each
marketplace page and each console page (signed in with the admin token) --rounds times
in Debian's Chromium (a new browser context each time: cold cache), reading the largest
contentful paint from the browser's own PerformanceObserver.

Targets (issue 18): ≤ 150 KiB gzipped JS per page; LCP is reported, not gated.
Usage: python bench/web_pages.py [--json] [--rounds 10]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from common import report

from ops.paths import EXAMPLES, FIRST_PARTY
from ops.webui import JS_BUDGET, ensure_built
from plugin_host.package.archive import pack
from plugin_host.package.signing import generate_keypair, sign_package

LCP = """() => new Promise((done) => {
  new PerformanceObserver((list) => {
    const entries = list.getEntries();
    done(entries[entries.length - 1].startTime);
  }).observe({type: "largest-contentful-paint", buffered: true});
})"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true", help="last line: one JSON object")
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from tests.support.servers import ADMIN_TOKEN, Host, publish_and_approve, start_registry

    figures: dict = {}
    for page in ensure_built():
        figures[f"{page.page}_js_gzip_kib"] = round(page.js_gzip / 1024, 1)
        figures[f"{page.page}_css_gzip_kib"] = round(page.css_gzip / 1024, 1)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        key, pub, _ = generate_keypair(tmp / "key")
        reg = start_registry(tmp / "registry", tmp / "registry.log", pub.read_text())
        host = Host(tmp / "host", pub)
        try:
            host.start()
            for folder in sorted([*EXAMPLES.iterdir(), *FIRST_PARTY.iterdir()]):
                if (folder / "plugin.toml").exists():
                    pkg = pack(folder, tmp / "packages")
                    sign_package(pkg, key)
                    publish_and_approve(reg, pkg.read_bytes())
                    host.install(pkg.read_bytes())
            # the console, signed in: the session a sign-in leaves in the tab
            session = ("sessionStorage.setItem('koha-session', JSON.stringify({access_token: "
                       f"'{ADMIN_TOKEN}', name: 'bench', roles: ['host-admin']}}))")
            # (name, address, script before the page, what shows it is drawn: None for
            # network idle; the console's plugin page keeps its log stream open)
            pages = (("browse", reg.url + "/", "", None),
                     ("plugin", reg.url + "/plugins/alma", "", None),
                     ("console", host.url + "/console", session, "main table"),
                     ("console_plugin", host.url + "/console/plugins/alma", session,
                      "h2:has-text(\"Version\")"))
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium")
                for name, url, init, drawn in pages:
                    times = []
                    for _ in range(args.rounds):
                        context = browser.new_context()
                        if init:
                            context.add_init_script(init)
                        page = context.new_page()
                        if drawn is None:
                            page.goto(url, wait_until="networkidle")
                        else:
                            page.goto(url, wait_until="load")
                            page.locator(drawn).first.wait_for()
                        times.append(page.evaluate(LCP))
                        context.close()
                    figures[f"lcp_{name}_median_ms"] = round(statistics.median(times), 1)
                    figures[f"lcp_{name}_max_ms"] = round(max(times), 1)
                browser.close()
        finally:
            host.stop()
            reg.stop()
    figures["targets"] = {"js_gzip_kib_per_page_max": JS_BUDGET // 1024}
    report(figures, args.json)


if __name__ == "__main__":
    main()
