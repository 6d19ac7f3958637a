"""A plugin that attacks the host through the only doors it has: its answers, its log,
its output and the channel itself."""

import os
import sys
import time

import msgpack

from plugin_host.sdk import Plugin, Response

plugin = Plugin()


@plugin.route("GET", "/status/{code}")
def status(request, ctx):
    """Answer with any status, 1xx included (a 101 would switch protocols)."""
    return Response(status=int(request.path_params["code"]), body=b"raw bytes after")


@plugin.route("GET", "/headers")
def headers(request, ctx):
    """Hop-by-hop headers, which describe the host's connection, not this answer."""
    return Response(headers={"Connection": "close", "Upgrade": "h2c",
                             "Keep-Alive": "timeout=1", "Transfer-Encoding": "chunked",
                             "Proxy-Authenticate": "Basic", "Trailer": "X-Late",
                             "X-Plugin": "kept"}, body={"ok": True})


@plugin.route("GET", "/split")
def split(request, ctx):
    """A header value with a line break: response splitting."""
    return Response(headers={"X-Evil": "a\r\nSet-Cookie: stolen=1"}, body={"ok": True})


@plugin.route("GET", "/log-flood")
def log_flood(request, ctx):
    n = int(request.query.get("n", "20000"))
    for i in range(n):
        ctx.log.info("flood", i=i, blob="x" * 10000)
    return {"logged": n}


@plugin.route("GET", "/print-flood")
def print_flood(request, ctx):
    """Forge a host log line, then flood stdout and stderr."""
    forged = '{"event": "plugin.installed", "plugin": "forged", "level": "info"}'
    print(forged, flush=True)
    print(forged, file=sys.stderr, flush=True)
    line = "y" * 100000
    for _ in range(int(request.query.get("n", "2000"))):
        print(line)
    sys.stdout.flush()
    return {"printed": True}


@plugin.route("GET", "/cap-flood")
def cap_flood(request, ctx):
    """Write capability requests straight into the channel without reading answers."""
    fd = int(sys.argv[1])
    frame = msgpack.packb({"t": "cap", "id": 1, "op": "kv.keys", "args": {"prefix": ""}})
    data = len(frame).to_bytes(4, "big") + frame
    for _ in range(100000):
        os.write(fd, data)
    time.sleep(10)
    return {"flooded": True}


@plugin.route("GET", "/garbage")
def garbage(request, ctx):
    """Write bytes that are no frame at all into the channel."""
    os.write(int(sys.argv[1]), b"\x00\x00\x00\x05\xc1\xc1\xc1\xc1\xc1")
    time.sleep(10)
    return {"sent": True}


@plugin.route("GET", "/huge-frame")
def huge_frame(request, ctx):
    """Announce a frame past the protocol's 64 MiB limit: the host must not wait for
    (or buffer) it."""
    os.write(int(sys.argv[1]), (64 * 1024 * 1024 + 1).to_bytes(4, "big") + b"x" * 1024)
    time.sleep(10)
    return {"sent": True}


@plugin.route("GET", "/ok")
def ok(request, ctx):
    return {"ok": True, "config": ctx.config}


@plugin.route("POST", "/echo")
def echo(request, ctx):
    return {"bytes": len(request.body)}


@plugin.route("GET", "/http-odd")
def http_odd(request, ctx):
    """ctx.http with a tab in the URL, a header with a line break, a body that is not
    bytes: each refused at once, never a call that hangs."""
    out = {}
    for name, kw in (("tab", {"url": "https://example.org\t/"}),
                     ("header", {"url": "https://example.org/",
                                 "headers": {"X-A": "b\r\nHost: evil"}}),
                     ("method", {"url": "https://example.org/", "method": "GET /x HTTP"})):
        try:
            ctx.http.request(kw.pop("method", "GET"), **kw)
            out[name] = "sent"
        except Exception as e:
            out[name] = f"{type(e).__name__}: {e}"
    return out


CRAFTED = {
    "unknown-op": ("fs.read", {"path": "/etc/shadow"}),
    "args-not-a-table": ("kv.get", ["k"]),
    "key-not-a-string": ("kv.get", {"key": {"nested": 1}}),
    "delete-nothing": ("kv.delete", {"key": "nothing-here"}),
    "http-body-not-bytes": ("http.request",
                            {"method": "POST", "url": "https://example.org/", "body": "text"}),
    "upstream-not-declared": ("upstream.request", {"name": "x", "path": "/"}),
}


@plugin.route("GET", "/crafted-caps/{case}")
def crafted_caps(request, ctx):
    """A capability request the SDK would never send, written straight to the host (an
    operation that does not exist, arguments of the wrong shape), and a log line with an
    unknown level and fields that are not a table. The host must refuse or defuse each,
    never crash on it."""
    t = ctx.log._t
    t.channel.send({"t": "log", "level": "critical", "event": "odd-level",
                    "fields": ["not", "a", "table"]})
    op, args = CRAFTED[request.path_params["case"]]
    try:
        return {"answer": repr(t.cap(op, args))}
    except Exception as e:
        return {"error": type(e).__name__, "code": getattr(e, "code", None),
                "message": str(e)[:300]}
