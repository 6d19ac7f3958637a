"""Koha's REST API v1 for other plugins and pages: a biblio as the shared ``BibRecord``
(from Koha's MARCXML), items by barcode, patrons by id or card number, a patron's holds
and checkouts (every page, following Koha's ``_page``/``_per_page`` paging).

Routes (under ``/plugins/koha-rest/api``):

- ``GET /biblios/{biblio_id}`` → the record
- ``GET /items?barcode=`` → ``{"items": [...]}``
- ``GET /patrons/{patron_id}`` and ``GET /patrons?cardnumber=`` → a patron / ``{"patrons"}``
- ``GET /patrons/{patron_id}/holds`` and ``/checkouts`` → ``{"total", "holds"|"checkouts"}``
"""

from __future__ import annotations

import re

from plugin_host.sdk import Plugin, Response, UpstreamUnavailable
from plugin_host.sdk.bib import from_marcxml
from plugin_host.sdk.services import failure, unavailable

plugin = Plugin()
SERVICE = "koha"
PER_PAGE = 100
MAX_PAGES = 50
PATRON_FIELDS = ("patron_id", "cardnumber", "firstname", "surname", "email", "library_id",
                 "category_id", "expiry_date")


def _koha_error(r) -> str | None:
    try:
        body = r.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def _call(ctx, path: str, params: dict | None = None, accept: str = "application/json"):
    """(answer, None) or (None, the plugin's Response for a failure)."""
    try:
        r = ctx.upstream("koha").get(path, params=params or {}, headers={"Accept": accept})
    except UpstreamUnavailable as e:
        return None, unavailable(SERVICE, e)
    if r.status != 200:
        return None, failure(SERVICE, r, _koha_error(r))
    return r, None


def _every_page(ctx, path: str, params: dict):
    """Every row of a paged list: (rows, total, None) or ([], 0, the failure)."""
    rows: list = []
    for page in range(1, MAX_PAGES + 1):
        r, failed = _call(ctx, path, {**params, "_page": page, "_per_page": PER_PAGE})
        if failed:
            return [], 0, failed
        chunk = r.json()
        rows += chunk
        total = int({k.lower(): v for k, v in r.headers.items()}.get("x-total-count",
                                                                      len(rows)))
        if len(rows) >= total or len(chunk) < PER_PAGE:
            return rows, total, None
    return rows, len(rows), None


def _id(value: str) -> int | None:
    return int(value) if re.fullmatch(r"[0-9]{1,12}", value) else None


@plugin.route("GET", "/biblios/{biblio_id}")
def biblio(request, ctx):
    biblio_id = _id(request.path_params["biblio_id"])
    if biblio_id is None:
        return Response(400, {"error": "a biblio id is a whole number"})
    r, failed = _call(ctx, f"/biblios/{biblio_id}", accept="application/marcxml+xml")
    if failed:
        return failed
    try:
        return from_marcxml(r.body, source=SERVICE, id=str(biblio_id)).to_dict()
    except ValueError as e:
        return Response(502, {"error": f"koha answered a biblio that is not MARCXML: {e}",
                              "service": SERVICE})


@plugin.route("GET", "/items")
def items(request, ctx):
    barcode = request.query.get("barcode")
    if not barcode:
        return Response(400, {"error": "give barcode"})
    rows, _, failed = _every_page(ctx, "/items", {"external_id": barcode})
    if failed:
        return failed
    return {"items": [{"id": i.get("item_id"), "biblio_id": i.get("biblio_id"),
                       "barcode": i.get("external_id"), "library_id": i.get("home_library_id"),
                       "callnumber": i.get("callnumber"),
                       "checked_out": i.get("checked_out_date") is not None,
                       "lost": bool(i.get("lost_status")), "withdrawn": bool(i.get("withdrawn"))}
                      for i in rows]}


def _patron(p: dict) -> dict:
    return {k: p.get(k) for k in PATRON_FIELDS}


@plugin.route("GET", "/patrons/{patron_id}")
def patron(request, ctx):
    patron_id = _id(request.path_params["patron_id"])
    if patron_id is None:
        return Response(400, {"error": "a patron id is a whole number"})
    r, failed = _call(ctx, f"/patrons/{patron_id}")
    return failed or _patron(r.json())


@plugin.route("GET", "/patrons")
def patrons(request, ctx):
    card = request.query.get("cardnumber")
    if not card:
        return Response(400, {"error": "give cardnumber"})
    rows, _, failed = _every_page(ctx, "/patrons", {"cardnumber": card})
    return failed or {"patrons": [_patron(p) for p in rows]}


@plugin.route("GET", "/patrons/{patron_id}/holds")
def holds(request, ctx):
    return _listing(request, ctx, "/holds", "holds")


@plugin.route("GET", "/patrons/{patron_id}/checkouts")
def checkouts(request, ctx):
    return _listing(request, ctx, "/checkouts", "checkouts")


def _listing(request, ctx, path: str, key: str):
    patron_id = _id(request.path_params["patron_id"])
    if patron_id is None:
        return Response(400, {"error": "a patron id is a whole number"})
    rows, total, failed = _every_page(ctx, path, {"patron_id": patron_id})
    return failed or {"total": total, key: rows}
