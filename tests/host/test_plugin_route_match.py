"""Plugin routes are matched by hand, ahead of FastAPI's router (host/api/plugins.py):
on crafted paths (empty names, slashes, ``/api/`` twice, line breaks, encoded
separators) the matcher must take exactly what Starlette's own pattern for
``/plugins/{name}/api/{path:path}`` takes, with the same name and path, and answer a
method outside the plugin methods as a partial match (405)."""

from __future__ import annotations

import random

from starlette.routing import Match, Route

from plugin_host.host.api.plugins import METHODS, PLUGIN_ROUTE, _PlainRoute

PIECES = ["plugins", "api", "", "a", "b c", "\n", "a\nb", "%2F", "..", "x.y", "plugin",
          "ünï", "api\n"]


async def _endpoint(request):  # never called
    raise AssertionError


def test_the_hand_matcher_takes_exactly_what_the_pattern_takes():
    fast = _PlainRoute(PLUGIN_ROUTE, _endpoint, methods=list(METHODS))
    pattern = Route(PLUGIN_ROUTE, _endpoint, methods=list(METHODS))
    rng = random.Random(20)
    matched = 0
    for _ in range(60_000):
        start = rng.choice(["/", "/plugins/", "/plugins/p/api/"])
        path = start + "/".join(rng.choice(PIECES) for _ in range(rng.randint(0, 6)))
        for method in ("GET", "POST", "TRACE"):
            scope = {"type": "http", "path": path, "root_path": "", "method": method}
            got, got_scope = fast.matches(scope)
            want, want_scope = pattern.matches(scope)
            assert got == want, (path, method)
            if got != Match.NONE:
                matched += 1
                assert got_scope["path_params"] == want_scope["path_params"], path
                assert got_scope["route"] is fast
    assert matched > 20_000  # the crafted paths do reach the matcher's every branch
    websocket = {"type": "websocket", "path": "/plugins/a/api/b", "root_path": ""}
    assert fast.matches(websocket)[0] == Match.NONE
