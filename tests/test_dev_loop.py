"""`plugin-host dev`: a new plugin serves from a real sandboxed worker behind a dev host
of its own; each save switches the host to the change with no version bump and kv data
kept; a change that cannot load is reported and the previous one keeps serving; events
are delivered on request; Ctrl-C leaves no process behind. (Its figures — new → serving,
save → reloaded — are in bench/dev_loop.py.)"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ops.processes import open_for_workers

from .support.waiting import wait_until

PLUGIN_HOST = Path(sys.executable).parent / "plugin-host"


def test_the_dev_loop(tmp_path):
    open_for_workers(tmp_path)  # as root, the sandboxed worker runs as another user
    subprocess.run([str(PLUGIN_HOST), "plugin", "new", "shelf-check", "--dir", str(tmp_path)],
                   check=True, capture_output=True)
    folder = tmp_path / "shelf-check"
    assert ".dev/" in (folder / ".gitignore").read_text()
    log = tmp_path / "dev.log"
    proc = subprocess.Popen([str(PLUGIN_HOST), "dev", str(folder)], stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert wait_until(lambda: "serving at" in log.read_text() or proc.poll() is not None,
                          timeout=60, interval=0.1) and proc.poll() is None, \
            log.read_text()
        url = re.search(r"serving at (http://127\.0\.0\.1:\d+)", log.read_text())[1]
        api = f"{url}/plugins/shelf-check/api"
        assert httpx.get(f"{api}/hello/Ada").json() == {"message": "Hello Ada from shelf-check"}
        assert httpx.post(f"{api}/counter").json() == {"counter": 1}
        assert "[info] hello who=Ada" in log.read_text()  # the plugin's own log line

        code = folder / "shelf_check" / "__init__.py"
        code.write_text(code.read_text().replace("Hello {request", "Welcome {request"))
        assert wait_until(lambda: httpx.get(f"{api}/hello/Ada").json().get("message") ==
                          "Welcome Ada from shelf-check", timeout=20, interval=0.1), \
            log.read_text()
        # the answer can switch a moment before the line saying so is written
        assert wait_until(lambda: re.search(r"reloaded shelf-check 0\.1\.0\+dev\.\d+ in",
                                            log.read_text()), timeout=10, interval=0.1)
        assert httpx.post(f"{api}/counter").json() == {"counter": 2}  # kv kept

        good = code.read_text()
        code.write_text(good + "\nthis is not python\n")
        assert wait_until(lambda: "not reloaded:" in log.read_text(), timeout=20,
                          interval=0.1), log.read_text()
        assert httpx.get(f"{api}/hello/Ada").json()["message"] == "Welcome Ada from shelf-check"
        code.write_text(good)

        r = subprocess.run([str(PLUGIN_HOST), "dev", str(folder), "--event",
                            "biblio.after_save"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)[0]["result"] == {"seen": 42}
        r = subprocess.run([str(PLUGIN_HOST), "dev", str(folder), "--event", "biblio.saved"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "did you mean 'biblio.after_save'?" in r.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert not (folder / ".dev" / "state.json").exists()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/readyz", timeout=1)
        except httpx.HTTPError:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the dev host still answers after Ctrl-C")
    # the package made from the folder leaves the dev host's files out
    r = subprocess.run([str(PLUGIN_HOST), "plugin", "pack", str(folder)], capture_output=True,
                       text=True, cwd=tmp_path)
    import zipfile
    assert not [n for n in zipfile.ZipFile(r.stdout.strip()).namelist() if ".dev" in n]


def test_a_dev_loop_ended_by_sigterm_stops_its_host(tmp_path):
    """A supervisor, a closed terminal or `kill` (SIGTERM, SIGHUP) ends `plugin-host dev`
    as Ctrl-C does: its host, in a session of its own, goes too (it used to stay)."""
    open_for_workers(tmp_path)
    subprocess.run([str(PLUGIN_HOST), "plugin", "new", "shelf-check", "--dir", str(tmp_path)],
                   check=True, capture_output=True)
    folder = tmp_path / "shelf-check"
    log = tmp_path / "dev.log"
    proc = subprocess.Popen([str(PLUGIN_HOST), "dev", str(folder)], stdout=log.open("w"),
                            stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: "serving at" in log.read_text() or proc.poll() is not None,
                          timeout=60, interval=0.1) and proc.poll() is None, log.read_text()
        url = re.search(r"serving at (http://127\.0\.0\.1:\d+)", log.read_text())[1]
        proc.send_signal(signal.SIGTERM)  # the dev command only, not its host's session
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()

    def gone() -> bool:
        try:
            httpx.get(f"{url}/readyz", timeout=1)
        except httpx.HTTPError:
            return True
        return False

    assert wait_until(gone, timeout=10, interval=0.2), "the dev host outlived SIGTERM"
    assert not (folder / ".dev" / "state.json").exists()
