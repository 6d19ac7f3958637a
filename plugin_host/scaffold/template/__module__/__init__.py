"""{{title}}: the backend of the {{name}} plugin."""

from plugin_host.sdk import Plugin, Response

plugin = Plugin()


@plugin.route("GET", "/hello/{who}")
def hello(request, ctx):
    ctx.log.info("hello", who=request.path_params["who"])
    return {"message": f"Hello {request.path_params['who']} from {ctx.plugin.name}"}


@plugin.route("POST", "/counter")
def count(request, ctx):
    n = ctx.kv.get("counter", 0) + 1
    ctx.kv.set("counter", n)
    return Response(201, {"counter": n})


@plugin.hook("biblio.after_save")
def on_biblio_saved(event, ctx):
    return {"seen": event.get("biblionumber")}
