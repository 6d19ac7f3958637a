"""The author's loop, timed as an author lives it: `plugin-host plugin new` to a route
answering from a sandboxed worker under `plugin-host dev` (target ≤ 10 s), then saves of
the plugin's code to the route answering with the change (target ≤ 1 s, median and
worst of --saves edits), and the whole authoring tutorial's commands, run as written
(docs/plugins/authoring.md: target ≤ 15 min).

Usage: python bench/dev_loop.py [--json] [--saves 9]
"""

from __future__ import annotations

import argparse
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import report

from ops.processes import open_for_workers

PLUGIN_HOST = Path(sys.executable).parent / "plugin-host"


def run_tutorial() -> float:
    """Every sh block of the authoring guide, in order, in an empty folder."""
    import os

    from ops.processes import free_port

    root = Path(__file__).resolve().parents[1]
    blocks = re.findall(r"```sh\n(.*?)```", (root / "docs/plugins/authoring.md").read_text(),
                        flags=re.S)
    script = "set -eu\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + "\n".join(blocks)
    with tempfile.TemporaryDirectory(prefix="bench-tutorial-") as tmp:
        open_for_workers(Path(tmp))
        env = {**os.environ, "HOME": tmp, "PORT": str(free_port()), "RPORT": str(free_port()),
               "XDG_CONFIG_HOME": f"{tmp}/.config",
               "PATH": f"{PLUGIN_HOST.parent}:{os.environ['PATH']}"}
        t0 = time.monotonic()
        r = subprocess.run(["bash", "-c", script], cwd=tmp, env=env, capture_output=True,
                           text=True, timeout=900)
        if r.returncode:
            raise SystemExit(f"the tutorial failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
        return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="last line: one JSON object")
    ap.add_argument("--saves", type=int, default=9)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dev-") as tmp:
        tmp_path = Path(tmp)
        open_for_workers(tmp_path)
        log = tmp_path / "dev.log"
        t0 = time.monotonic()
        subprocess.run([str(PLUGIN_HOST), "plugin", "new", "shelf-check", "--dir", tmp],
                       check=True, capture_output=True)
        folder = tmp_path / "shelf-check"
        proc = subprocess.Popen([str(PLUGIN_HOST), "dev", str(folder)], stdout=log.open("w"),
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            api = None
            while time.monotonic() - t0 < 60:
                m = re.search(r"serving at (http://127\.0\.0\.1:\d+)", log.read_text())
                if m:
                    api = f"{m[1]}/plugins/shelf-check/api/hello/Ada"
                    if httpx.get(api).status_code == 200:
                        break
                time.sleep(0.02)
            if api is None:
                raise SystemExit(f"never served:\n{log.read_text()}")
            new_to_serving = time.monotonic() - t0
            code = folder / "shelf_check" / "__init__.py"
            reloads = []
            for i in range(args.saves):
                text = code.read_text()
                word = f"Hi{i}"
                code.write_text(re.sub(r'f"\w+ \{request', f'f"{word} {{request', text, count=1))
                t1 = time.monotonic()
                while not httpx.get(api).json()["message"].startswith(word):
                    if time.monotonic() - t1 > 30:
                        raise SystemExit(f"save {i} never served:\n{log.read_text()}")
                    time.sleep(0.005)
                reloads.append(time.monotonic() - t1)
                time.sleep(0.3)  # an author does not save faster than this
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    tutorial = run_tutorial()
    figures = {
        "new_to_serving_s": round(new_to_serving, 2),
        "save_to_reloaded_median_s": round(statistics.median(reloads), 3),
        "save_to_reloaded_max_s": round(max(reloads), 3),
        "saves": len(reloads),
        "tutorial_commands_s": round(tutorial, 1),
        "targets": {"new_to_serving_s": 10, "save_to_reloaded_median_s": 1,
                    "tutorial_commands_s": 900},
    }
    figures["meets_targets"] = (figures["new_to_serving_s"] <= 10
                                and figures["save_to_reloaded_median_s"] <= 1
                                and figures["tutorial_commands_s"] <= 900)
    report(figures, args.json)


if __name__ == "__main__":
    main()
