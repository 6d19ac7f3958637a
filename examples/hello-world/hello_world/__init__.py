"""hello-world: a route, a hook and a UI component."""

from plugin_host.sdk import Plugin

plugin = Plugin()


@plugin.route("GET", "/greet/{name}")
def greet(request, ctx):
    ctx.log.info("greeting", name=request.path_params["name"])
    return {"greeting": f"Hello {request.path_params['name']}"}


@plugin.hook("biblio.after_save")
def on_save(event, ctx):
    return {"greeted_record": event.get("biblionumber")}
