"""A plugin that fails in every way a handler can."""

import os
import time
import uuid

from plugin_host.sdk import Plugin

plugin = Plugin()
#: Tells one worker process from its replacement (pids repeat inside a pid namespace).
WORKER = uuid.uuid4().hex
print(f"faulty: module imported by worker {WORKER}", flush=True)  # counted by the tests


@plugin.route("GET", "/ok")
def ok(request, ctx):
    return {"ok": True, "worker": WORKER}


@plugin.route("GET", "/raise")
def boom(request, ctx):
    raise ValueError("deliberate failure")


@plugin.route("GET", "/sleep")
def sleep(request, ctx):
    time.sleep(float(request.query.get("s", "5")))
    return {"slept": True}


@plugin.route("GET", "/exit")
def die(request, ctx):
    os._exit(3)


@plugin.route("GET", "/secret/{name}")
def secret(request, ctx):
    try:
        return {"value": ctx.secrets[request.path_params["name"]]}
    except KeyError:
        return {"value": None}


@plugin.route("GET", "/environ")
def environ(request, ctx):
    return {"keys": sorted(os.environ)}


@plugin.route("GET", "/hog")
def hog(request, ctx):
    """Allocate five times the 128MiB memory limit."""
    block = bytearray(640 * 1024 * 1024)
    return {"allocated": len(block)}


@plugin.route("GET", "/big-file")
def big_file(request, ctx):
    """Write past the 64 MiB file-size limit."""
    chunk = b"\0" * (1024 * 1024)
    with open("/tmp/faulty-big-file", "wb") as f:
        try:
            for _ in range(65):
                f.write(chunk)
                f.flush()
        finally:
            os.unlink("/tmp/faulty-big-file")
    return {"written": True}
