"""The CLI flows the docs show as terminal sessions (docs/recordings/, `./dev
recordings`) are recorded by asciinema from commands run for real: each session records
as valid asciicast v2 and shows what its commands print today; a session whose step
fails is refused, nothing recorded, and the server it started is ended."""

from __future__ import annotations

import json
import subprocess

import pytest

from ops import recordings


@pytest.mark.parametrize("name", ["author", "operator"])
def test_each_session_records_what_its_commands_do(name, tmp_path):
    session = next(s for s in recordings.sessions() if s.name == name)
    cast = recordings.record(session, tmp_path)
    header, *events = cast.read_text().splitlines()
    assert json.loads(header)["version"] == 2 and json.loads(header)["width"] == 100
    assert all(json.loads(e)[1] == "o" for e in events)
    shown = recordings.transcript(cast)
    for step in session.steps:
        if not step.get("hidden") and not step.get("background"):
            assert "$ " + step["run"].splitlines()[0] in shown, step["run"]
    if name == "author":
        assert "4 passed" in shown and "signed dist/shelf-check-0.1.0.kplugin" in shown
        assert "OK shelf-check-0.1.0.kplugin: 5 files verified" in shown
    else:
        assert '{"message":"Hello Ada from shelf-check"}' in shown
        assert "GET /hello/Ada → 200  ok" in shown


def test_a_failing_step_refuses_the_recording(tmp_path):
    session = recordings.Session("broken", "Broken", "", [
        {"run": "sleep 300", "background": True},
        {"run": "echo before"},
        {"run": "plugin-host plugin verify no-such.kplugin --trusted-key none.pub"},
        {"run": "echo after"}])
    with pytest.raises(SystemExit, match="broken: the session failed"):
        recordings.record(session, tmp_path)
    assert list(tmp_path.iterdir()) == []
    left = subprocess.run(["pgrep", "-f", "^sleep 300$"], capture_output=True, text=True)
    assert left.stdout == "", "the session's background server outlived it"
