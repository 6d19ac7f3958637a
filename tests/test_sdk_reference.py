"""Every public name of the plugin author's API says what it is and shows how it is
used: the SDK (``Plugin``, ``Request``, ``Response``, ``HttpResponse``, ``ctx``'s parts,
the errors), the test client and the pytest fixtures each have a docstring, each public
method too, and each an example that runs."""

from __future__ import annotations

import doctest
import inspect
import json

import plugin_host.sdk as sdk
from plugin_host.sdk import context as sdk_context
from plugin_host.sdk import errors as sdk_errors
from plugin_host.sdk import handlers as sdk_handlers
from plugin_host.sdk import pytest_plugin, testing

from .support.paths import ROOT


def _undocumented(obj, name: str) -> list[str]:
    out = [] if (obj.__doc__ or "").strip() else [name]
    if inspect.isclass(obj):
        for attr, value in vars(obj).items():
            if not attr.startswith("_") and callable(value) and not (value.__doc__ or "").strip():
                out.append(f"{name}.{attr}")
    return out


def test_the_sdk_the_test_client_and_the_fixtures_are_documented():
    missing = []
    for name in sdk.__all__:
        missing += _undocumented(getattr(sdk, name), name)
    for name in ("Context", "KV", "Http", "Secrets", "Log"):
        missing += _undocumented(getattr(sdk, name), name)
    missing += _undocumented(testing.PluginTestClient, "PluginTestClient")
    for name in ("plugin", "plugin_host", "koha_event", "http_responses", "plugin_folder"):
        fixture = getattr(pytest_plugin, name)
        if not (inspect.getdoc(getattr(fixture, "__wrapped__", fixture)) or "").strip():
            missing.append(f"fixture {name}")
    assert missing == [], missing


def _public_names() -> list[tuple[str, object]]:
    out = []
    for name in sdk.__all__:
        obj = getattr(sdk, name)
        out.append((name, obj))
        if inspect.isclass(obj):
            out += [(f"{name}.{a}", v) for a, v in vars(obj).items()
                    if not a.startswith("_") and (callable(v) or isinstance(v, property))]
    out.append(("PluginTestClient", testing.PluginTestClient))
    out += [(f"PluginTestClient.{a}", v) for a, v in vars(testing.PluginTestClient).items()
            if not a.startswith("_") and a != "from_folder"
            and (callable(v) or isinstance(v, property))]
    return out


def _fake_http(method, url, headers, body):
    """The services the examples call, as the test client's http fake."""
    from plugin_host.sdk import HttpResponse

    ok = lambda value: HttpResponse(200, {"content-type": "application/json"},  # noqa: E731
                                    json.dumps(value).encode())
    if url == "https://openlibrary.org/isbn/9780441013593.json":
        return ok({"title": "Dune"})
    if method == "POST" and url == "https://openlibrary.org/search/inside.json":
        return ok({"received": json.loads(body)})
    if url.startswith("https://americas.discovery.api.oclc.org/worldcat/search/v2/brief-bibs"):
        if method == "POST":
            return HttpResponse(405, {}, b"")
        if "?q=" in url:
            return ok({"briefRecords": [{"oclcNumber": "1", "title": "Dune"}]})
    return HttpResponse(404, {}, b"")


def test_every_public_name_has_an_example_that_runs():
    """Each public name of the SDK and the test client shows an example, and every
    example runs as written (doctest), against a plugin made for them
    (tests/plugins/sdk-examples) in the test client, its http fake answering."""
    without = [name for name, obj in _public_names()
               if ">>>" not in (inspect.getdoc(obj) or "")]
    assert without == []
    client = testing.PluginTestClient.from_folder(
        ROOT / "tests" / "plugins" / "sdk-examples",
        secrets={"OPENLIBRARY_KEY": "k3y"}, http=_fake_http)
    globs = {**{n: getattr(sdk, n) for n in sdk.__all__}, "client": client,
             "ctx": client.ctx, "plugin": client.plugin, "EXAMPLES": ROOT / "examples",
             "PluginTestClient": testing.PluginTestClient}
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    ran = 0
    # the handlers' examples register the routes and hooks the later ones call
    for module in (sdk_handlers, sdk_context, sdk_errors, testing):
        for test in sorted(finder.find(module, globs=globs), key=lambda t: t.name):
            runner.run(test, clear_globs=False)  # handlers defined in one are called later
            ran += len(test.examples)
    assert runner.failures == 0, f"{runner.failures} examples failed (the output above)"
    assert ran >= 60
