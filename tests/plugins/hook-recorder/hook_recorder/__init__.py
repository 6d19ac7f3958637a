"""Keeps each Koha event it receives (``GET /events`` lists them, oldest first) and
answers ``/echo/...`` with what it was sent: the Koha bridge's tests check what Koha's
hooks and REST calls turn into on the host."""

from plugin_host.sdk import Plugin, Response

plugin = Plugin()
EVENTS = ["biblio.after_save", "biblio.after_delete", "item.after_save", "item.after_delete",
          "circulation.after_checkout", "circulation.after_checkin",
          "circulation.after_renewal", "hold.after_place", "hold.after_fill",
          "hold.after_cancel", "patron.after_save", "patron.after_delete", "cronjob.nightly"]


def _recorder(event_name):
    def record(event, ctx):
        seen = ctx.kv.get("events") or []
        seen.append({"event": event_name, "payload": event})
        ctx.kv.set("events", seen)
        return {"recorded": len(seen)}
    return record


for _name in EVENTS:
    plugin.hook(_name)(_recorder(_name))


@plugin.route("GET", "/events")
def events(request, ctx):
    return ctx.kv.get("events") or []


@plugin.route("GET", "/echo/{what}")
def echo_get(request, ctx):
    return {"method": "GET", "what": request.path_params["what"], "query": request.query}


@plugin.route("POST", "/echo/{what}")
def echo_post(request, ctx):
    return Response(201, {"method": "POST", "what": request.path_params["what"],
                          "body": request.json()})
