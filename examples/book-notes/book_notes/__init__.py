"""book-notes: notes kept in ctx.kv; titles fetched through ctx.http.

The Open Library base URL is a setting (``ctx.config["openlibrary_url"]``); the host
only lets the plugin reach the host:port pairs listed in plugin.toml.
"""

from plugin_host.sdk import PermissionDenied, Plugin, QuotaExceeded, Response

plugin = Plugin()


def _base(ctx):
    return ctx.config.get("openlibrary_url", "https://openlibrary.org").rstrip("/")


@plugin.route("POST", "/notes")
def add_note(request, ctx):
    note = request.json() or {}
    if not isinstance(note.get("id"), str) or not note.get("text"):
        return Response(422, {"error": "a note needs a string 'id' and a 'text'"})
    try:
        ctx.kv.set(f"note:{note['id']}", note)
    except QuotaExceeded as e:
        return Response(507, {"error": str(e)})
    return Response(201, {"stored": note["id"]})


@plugin.route("GET", "/notes/{id}")
def get_note(request, ctx):
    note = ctx.kv.get(f"note:{request.path_params['id']}")
    return note if note is not None else Response(404, {"error": "no such note"})


@plugin.route("GET", "/notes")
def list_notes(request, ctx):
    return {"ids": [k.removeprefix("note:") for k in ctx.kv.keys("note:")]}


@plugin.route("GET", "/title/{isbn}")
def title(request, ctx):
    headers = {}
    key = ctx.secrets.get("OPENLIBRARY_KEY")
    if key:
        headers["authorization"] = f"Bearer {key}"
    r = ctx.http.get(f"{_base(ctx)}/isbn/{request.path_params['isbn']}.json", headers=headers)
    if r.status != 200:
        return Response(502, {"error": f"Open Library answered {r.status}"})
    return {"isbn": request.path_params["isbn"], "title": r.json().get("title")}


@plugin.route("GET", "/fetch")
def fetch(request, ctx):
    """Fetch any URL: shows that the host refuses what plugin.toml does not allow."""
    try:
        r = ctx.http.get(request.query["url"])
    except PermissionDenied as e:
        return Response(403, {"refused": str(e)})
    return {"status": r.status}


@plugin.hook("biblio.after_save")
def remember(event, ctx):
    n = ctx.kv.get("saves", 0) + 1
    ctx.kv.set("saves", n)
    return {"saves": n}
