"""Answers with its own version, slowly enough that calls are in flight at a switch."""

import time

from plugin_host.sdk import Plugin, Response

plugin = Plugin()
HEALTHY = True


@plugin.route("GET", "/version")
def version(request, ctx):
    time.sleep(0.005)
    return {"version": ctx.plugin.version, "migrated_from": ctx.kv.get("migrated_from")}


@plugin.route("GET", "/healthz")
def healthz(request, ctx):
    healthy = HEALTHY and ctx.config.get("healthy", True)
    return {"ok": True} if healthy else Response(500, {"ok": False})
