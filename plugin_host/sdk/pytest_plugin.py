"""pytest fixtures for plugin authors, installed with the plugin host (entry point
``pytest11``: nothing to import or configure). A test file below a folder holding
plugin.toml gets:

- ``plugin``: the plugin's handlers in process (:class:`PluginTestClient`): fast, with
  the host's checks on kv, network, secrets and config, and ``plugin.upgrade(FROM)`` to
  run ``@plugin.on_upgrade``;
- ``plugin_host``: the plugin installed on a real host in a real sandboxed worker (one
  per test module), reached over HTTP: ``plugin_host.get("/hello/Ada")``,
  ``plugin_host.hook("biblio.after_save", biblionumber=7)``, ``plugin_host.configure({…})``,
  ``plugin_host.reload()`` (the folder packed again and switched to live: on_upgrade
  runs), ``plugin_host.logs`` (its log lines);
- ``koha_event``: ``koha_event("circulation.after_checkout", borrowernumber=5)`` builds a
  valid payload of any event in the catalogue (docs/plugins/koha-events.md);
- ``http_responses``: a fake for ``ctx.http``: ``http_responses["https://x/y"] =
  HttpResponse(200, body=b"…")``, then ``plugin`` answers from it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..manifest import MANIFEST_FILE
from . import HttpResponse


def _plugin_folder(start: Path) -> Path:
    for folder in [start, *start.parents]:
        if (folder / MANIFEST_FILE).is_file():
            return folder
    raise pytest.UsageError(f"no {MANIFEST_FILE} in {start} or a folder above it: the "
                            "plugin fixtures are for tests inside a plugin's folder")


@pytest.fixture
def plugin_folder(request: pytest.FixtureRequest) -> Path:
    """The folder of the plugin under test (the nearest one holding plugin.toml)."""
    return _plugin_folder(Path(request.path).parent)


class HttpResponses(dict):
    """URL → HttpResponse (or a callable (method, url, headers, body) → HttpResponse);
    a URL not listed answers 404. ``calls`` lists what the plugin asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def __call__(self, method: str, url: str, headers: dict[str, str],
                 body: bytes | None) -> HttpResponse:
        self.calls.append((method, url))
        answer = self.get(url)
        if answer is None:
            return HttpResponse(404, {}, b"not in http_responses")
        return answer(method, url, headers, body) if callable(answer) else answer


@pytest.fixture
def http_responses() -> HttpResponses:
    """What ``ctx.http`` answers in ``plugin``: ``http_responses[URL] = HttpResponse(…)``."""
    return HttpResponses()


@pytest.fixture
def plugin(plugin_folder: Path, http_responses: HttpResponses):
    """The plugin's handlers in process, ``ctx.http`` answered by ``http_responses``."""
    from .testing import PluginTestClient

    return PluginTestClient.from_folder(plugin_folder, http=http_responses)


@pytest.fixture
def koha_event():
    """``koha_event(EVENT, **fields)``: a valid payload of EVENT with ``fields``."""
    from ..koha import example

    return example


class RunningPlugin:
    """The plugin on a real host (``DevHost``), over HTTP."""

    def __init__(self, host: Any):
        import httpx

        self._host = host
        self.url = host.url
        self.name = host.name
        self.client = httpx.Client(base_url=f"{host.url}/plugins/{host.name}/api", timeout=60)
        self.admin = httpx.Client(base_url=host.url, timeout=120,
                                  headers={"Authorization": f"Bearer {host.token}"})

    def get(self, path: str, **kw: Any):
        return self.client.get(path, **kw)

    def post(self, path: str, **kw: Any):
        return self.client.post(path, **kw)

    def request(self, method: str, path: str, **kw: Any):
        return self.client.request(method, path, **kw)

    def hook(self, event: str, payload: Any = None, **fields: Any) -> dict[str, Any]:
        """Deliver EVENT through the host's /hooks route; this plugin's result entry
        (``ok``, ``result`` or ``error``)."""
        import httpx

        from ..hook_signature import signed_headers
        from ..koha import example

        body = example(event, **fields) if payload is None else payload
        data = json.dumps(body).encode()
        r = httpx.post(f"{self.url}/hooks/{event}", content=data, timeout=60,
                       headers=signed_headers(self._host.token, f"/hooks/{event}", data))
        if r.status_code != 200:
            raise AssertionError(f"POST /hooks/{event}: {r.status_code} {r.text}")
        mine = [x for x in r.json()["results"] if x["plugin"] == self.name]
        if not mine:
            raise AssertionError(f"{self.name} is not subscribed to {event}")
        return mine[0]

    def configure(self, config: dict[str, Any]) -> dict[str, Any]:
        r = self.admin.put(f"/admin/plugins/{self.name}/config", json=config)
        if r.status_code != 200:
            raise AssertionError(f"config refused: {r.text}")
        return r.json()["config"]

    def reload(self) -> str:
        """Pack the folder again (``VERSION+dev.N``) and switch to it live: the way an
        upgrade runs, ``on_upgrade`` included. Returns the new version."""
        return self._host.deploy()

    @property
    def info(self) -> dict[str, Any]:
        return self.admin.get(f"/admin/plugins/{self.name}").json()

    def wait_for_log(self, event: str, timeout: float = 10) -> dict[str, Any]:
        """The first log line of this plugin named ``event`` (its ``ctx.log`` fields
        without their ``p_`` prefix), waiting for it to arrive."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            for line in self._host.lines:
                if line.get("event") == event:
                    return {k.removeprefix("p_"): v for k, v in line.items()}
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} logged no {event!r} within {timeout} s; "
                                     f"its lines: {[x.get('event') for x in self.logs]}")
            time.sleep(0.05)

    @property
    def logs(self) -> list[dict[str, Any]]:
        """The host's log lines about this plugin (its ``ctx.log`` lines among them)."""
        return list(self._host.lines)


@pytest.fixture(scope="module")
def plugin_host(request: pytest.FixtureRequest) -> Iterator[RunningPlugin]:
    """The plugin installed on a real host of its own, in a sandboxed worker."""
    from .devhost import DevHost

    folder = _plugin_folder(Path(request.path).parent)
    # workers run as another user when the host runs as root: a folder they can reach
    state = Path(tempfile.mkdtemp(prefix=f"koha-plugin-test-{folder.name}-"))
    os.chmod(state, 0o755)
    host = DevHost(folder, state_dir=state, echo=False)
    try:
        host.start()
        host.deploy()
        yield RunningPlugin(host)
    finally:
        host.stop()
        shutil.rmtree(state, ignore_errors=True)
