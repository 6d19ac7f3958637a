"""Every public name of the plugin author's API says what it is: the SDK (``Plugin``,
``Request``, ``Response``, ``HttpResponse``, ``ctx``'s parts, the errors), the test client
and the pytest fixtures each have a docstring, and each public method too."""

from __future__ import annotations

import inspect

import plugin_host.sdk as sdk
from plugin_host.sdk import pytest_plugin, testing


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
