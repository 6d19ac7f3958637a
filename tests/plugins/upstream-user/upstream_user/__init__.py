"""Calls ``ctx.upstream`` as told (``GET /call?upstream=&method=&path=&q=``) and answers
what came back or the error; ``GET /steal`` tries every way a plugin has to read the
upstream credentials the host holds."""

import os
from pathlib import Path

from plugin_host.sdk import CapabilityError, Plugin

plugin = Plugin()


@plugin.route("GET", "/call")
def call(request, ctx):
    q = request.query
    params = {"q": q["q"]} if "q" in q else {}
    try:
        r = ctx.upstream(q.get("upstream", "lib")).request(
            q.get("method", "GET"), q.get("path", "/echo"), params=params)
    except CapabilityError as e:
        return {"error": type(e).__name__, "code": e.code, "message": e.message}
    return {"status": r.status, "body": r.text, "headers": r.headers}


@plugin.route("GET", "/steal")
def steal(request, ctx):
    """Everything the plugin can see, for the test to search for the secrets."""
    seen = {}
    for name in ("LIB_CLIENT_ID", "LIB_CLIENT_SECRET", "KEYED_API_KEY"):
        try:
            seen[f"secret:{name}"] = ctx.secrets[name]
        except (CapabilityError, KeyError) as e:
            seen[f"secret:{name}"] = f"refused: {e}"
    seen["environ"] = dict(os.environ)
    for path in ("/proc/self/environ", "/proc/1/environ", "/proc/self/cmdline"):
        try:
            seen[path] = Path(path).read_bytes().decode(errors="replace")
        except OSError as e:
            seen[path] = f"refused: {e}"
    attempts = {
        "token endpoint through ctx.http": lambda: ctx.http.post(
            "https://lib.example.org/oauth/token", body=b"grant_type=client_credentials"),
        "own Authorization header": lambda: ctx.upstream("lib").get(
            "/echo", headers={"Authorization": "Basic x"}),
        "own wskey": lambda: ctx.upstream("keyed").get("/echo", params={"WSKEY": "x"}),
        "leave the base path": lambda: ctx.upstream("lib").get("/../oauth/token"),
        "leave it encoded": lambda: ctx.upstream("lib").get("/%2e%2e/oauth/token"),
        "leave it by an encoded slash": lambda: ctx.upstream("lib").get("/x%2f..%2f..%2fo"),
        "another host": lambda: ctx.upstream("lib").get("//evil.example/x"),
        "an undeclared upstream": lambda: ctx.upstream("other").get("/x"),
        "echo what the host sends": lambda: ctx.upstream("lib").get("/echo"),
        "echo the keyed upstream": lambda: ctx.upstream("keyed").get("/echo"),
    }
    for what, attempt in attempts.items():
        try:
            r = attempt()
            seen[what] = {"status": r.status, "body": r.text, "headers": r.headers}
        except CapabilityError as e:
            seen[what] = f"refused: {e.code}: {e}"
    return seen
