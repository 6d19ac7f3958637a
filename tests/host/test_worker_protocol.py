"""The worker's side of the host protocol, driven frame by frame over a real socket pair
with the real framing: the worker runs in this process (the host's workers run
sandboxed, where coverage cannot follow them), the test plays the host. It loads the
plugin and reports what it serves; answers route, hook and upgrade calls; asks the host
for each capability and keeps calls that arrive meanwhile in order; never starts a call
whose deadline passed; reports a handler's error with its traceback, an unserialisable
answer as an error, a plugin that does not load as fatal; samples a profiled call; and
stops when told."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from plugin_host.protocol import capabilities as caps
from plugin_host.protocol import messages as m
from plugin_host.protocol.framing import BlockingChannel
from plugin_host.worker.__main__ import serve

PLUGIN = '''
import time
from plugin_host.sdk import Plugin, PermissionDenied, Response

plugin = Plugin()

@plugin.route("GET", "/echo/{word}")
def echo(request, ctx):
    ctx.log.info("echoed", word=request.path_params["word"], obj=object)
    return {"word": request.path_params["word"], "q": request.query, "config": ctx.config}

@plugin.route("GET", "/kv")
def kv(request, ctx):
    try:
        ctx.http.get("https://example.com/")
    except PermissionDenied as e:
        denied = e.message
    return Response(201, {"stored": ctx.kv.get("k"), "denied": denied})

@plugin.route("GET", "/boom")
def boom(request, ctx):
    raise RuntimeError("the handler broke")

@plugin.hook("item.after_save")
def odd(event, ctx):
    return {"value": {1, 2}}

@plugin.route("GET", "/slow")
def slow(request, ctx):
    deadline = time.monotonic() + 0.05
    while time.monotonic() < deadline:
        pass
    return b"done"

@plugin.hook("biblio.after_save")
def saved(event, ctx):
    return {"seen": event["biblionumber"]}

@plugin.on_upgrade
def upgraded(event, ctx):
    return {"from": event["from"]}
'''


def request(path: str, **params) -> m.RouteRequest:
    return {"method": "GET", "path": path, "path_params": params, "query": {"q": "1"},
            "headers": {}, "body": b""}


def plugin_folder(tmp_path: Path, body: str = PLUGIN) -> Path:
    module = tmp_path / "code" / f"proto_plugin_{abs(hash(str(tmp_path)))}"
    module.mkdir(parents=True)
    (module / "__init__.py").write_text(body)
    return module


def run_worker(host_side) -> tuple[dict, BaseException | None]:
    """Serve in this thread (signals, as in a real worker, need the main thread) while
    ``host_side(channel)`` plays the host in another."""
    host_sock, worker_sock = socket.socketpair()
    seen: dict = {}
    failed: list[BaseException] = []

    def play():
        try:
            host_side(BlockingChannel(host_sock), seen)
        except BaseException as e:  # reported by the test
            failed.append(e)
        finally:
            host_sock.close()

    player = threading.Thread(target=play)
    player.start()
    serve(BlockingChannel(worker_sock))
    player.join(10)
    worker_sock.close()
    return seen, failed[0] if failed else None


def send(channel: BlockingChannel, msg: dict) -> None:
    channel.send(msg)
    channel.flush()


def call(channel: BlockingChannel, id_: int, msg: dict, **extra) -> dict:
    send(channel, {**msg, "id": id_, **extra})
    return channel.recv()


def test_a_worker_serves_every_kind_of_call_and_stops(tmp_path):
    module = plugin_folder(tmp_path)

    def host(channel, seen):
        send(channel, m.init("proto", "1.0.0", str(module.parent), f"{module.name}:plugin",
                             {"greeting": "hi"}, {}))
        seen["ready"] = channel.recv()
        seen["echo"] = call(channel, 1, m.route_call(0, "c1", request("/echo/x", word="x")))
        seen["log"] = seen["echo"]
        if seen["echo"]["t"] == m.LOG:  # the line comes first, then the answer
            seen["echo"] = channel.recv()
        # a capability round trip, with the next call arriving while it waits
        send(channel, {**m.route_call(1, "c2", request("/kv")), "id": 2})
        first = channel.recv()
        assert first["t"] == m.CAP and first["op"] == caps.HTTP_REQUEST
        send(channel, {**m.hook_call("biblio.after_save", {"biblionumber": 7}, "c3"), "id": 3})
        send(channel, m.cap_error(first["id"], caps.DENIED, "example.com:443 is not allowed"))
        second = channel.recv()
        assert second["t"] == m.CAP and second["op"] == caps.KV_GET
        send(channel, m.cap_ok(second["id"], [True, "kept"]))
        seen["kv"] = channel.recv()
        seen["hook"] = channel.recv()
        seen["expired"] = call(channel, 4, m.route_call(0, "c4", request("/echo/y", word="y")),
                               deadline=time.monotonic() - 1)
        seen["boom"] = call(channel, 5, m.route_call(2, "c5", request("/boom")))
        seen["odd"] = call(channel, 6, m.hook_call("item.after_save", {}, "c6"))
        seen["slow"] = call(channel, 7, m.route_call(3, "c7", request("/slow")), profile=True)
        seen["upgrade"] = call(channel, 8, m.upgrade_call("0.9.0", "1.0.0", "c8"))
        send(channel, {"t": "something-else"})  # ignored
        send(channel, m.stop())

    seen, failed = run_worker(host)
    assert failed is None, failed
    ready = seen["ready"]
    assert ready["t"] == m.READY and ready["layers"] == ["rlimits"]
    assert ready["routes"][0] == ["GET", "/echo/{word}"] and ready["hooks"] == [
        "biblio.after_save", "item.after_save"] and ready["upgrade"] is True
    assert seen["log"]["t"] == m.LOG and seen["log"]["fields"]["obj"] == "<class 'object'>"
    assert seen["echo"]["status"] == 200 and b'"config":{"greeting":"hi"}' in seen["echo"][
        "body"]
    assert seen["kv"]["status"] == 201
    assert b'"stored":"kept"' in seen["kv"]["body"] and b"is not allowed" in seen["kv"]["body"]
    assert seen["hook"]["id"] == 3 and seen["hook"]["value"] == {"seen": 7}
    assert seen["expired"]["code"] == m.EXPIRED
    assert seen["boom"]["code"] == m.HANDLER_ERROR and seen["boom"]["exc_type"] == \
        "RuntimeError" and "the handler broke" in seen["boom"]["traceback"]
    assert seen["odd"]["exc_type"] == "TypeError" and "unserialisable" in seen["odd"][
        "traceback"]
    assert seen["slow"]["body"] == b"done" and seen["slow"]["profile"]["interval_ms"] == 1
    assert any("slow" in stack for stack in seen["slow"]["profile"]["samples"])
    assert seen["upgrade"]["value"] == {"from": "0.9.0"}


def test_a_plugin_that_does_not_load_is_reported_fatal(tmp_path):
    module = plugin_folder(tmp_path, "plugin = 'not a Plugin'\n")

    def host(channel, seen):
        send(channel, m.init("proto", "1.0.0", str(module.parent), f"{module.name}:plugin",
                             {}, {}))
        seen["fatal"] = channel.recv()

    seen, failed = run_worker(host)
    assert failed is None, failed
    assert seen["fatal"]["t"] == m.FATAL
    assert "is a str, not a plugin_host.sdk.Plugin" in seen["fatal"]["message"]


def test_a_worker_whose_host_goes_away_just_ends():
    def host(channel, seen):
        send(channel, {"t": m.CALL})  # not an init: the worker ends at once

    seen, failed = run_worker(host)
    assert failed is None and seen == {}
