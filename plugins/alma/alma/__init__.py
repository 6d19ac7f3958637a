"""Ex Libris Alma for Koha: a bib as the shared ``BibRecord`` (from its MARCXML), its
holdings, an item by barcode (Alma answers that look-up with a redirect to the item,
which the host follows within Alma's base URL), and a user.

Routes (under ``/plugins/alma/api``):

- ``GET /bibs/{mms_id}`` → the record
- ``GET /bibs/{mms_id}/holdings`` → ``{"mms_id", "holdings": [...]}``
- ``GET /items/{barcode}`` → the item with its status, place and record
- ``GET /users/{user_id}`` → ``{"id", "name", "group", "status", "email"}``

Alma says "not found" with a 400 and a code; those codes become 404 here.
"""

from __future__ import annotations

import re

from plugin_host.sdk import Plugin, Response, UpstreamUnavailable
from plugin_host.sdk.bib import BibRecord, clean_isbn, from_marcxml
from plugin_host.sdk.services import failure, unavailable

plugin = Plugin()
SERVICE = "alma"
JSON = {"Accept": "application/json"}
#: Alma's error codes for "no such bib / item / user"
NOT_FOUND = {"402203", "401689", "401690", "401861"}
MMS_ID = re.compile(r"[0-9]{6,20}")


def _error(r) -> tuple[str | None, str | None]:
    """(code, message) of Alma's first error."""
    try:
        errors = r.json()["errorList"]["error"]
        first = errors[0] if isinstance(errors, list) else errors
        return str(first.get("errorCode")), first.get("errorMessage")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None, None


def _get(ctx, path: str, params: dict | None = None):
    """The JSON answer, or the plugin's Response for a failure."""
    try:
        r = ctx.upstream("alma").get(path, params=params or {}, headers=JSON)
    except UpstreamUnavailable as e:
        return None, unavailable(SERVICE, e)
    if r.status != 200:
        code, message = _error(r)
        return None, failure(SERVICE, r, message, not_found=code in NOT_FOUND)
    return r.json(), None


def from_bib_data(b: dict) -> BibRecord:
    """Alma's short ``bib_data`` (in items and holdings) as a ``BibRecord``."""
    return BibRecord(
        source=SERVICE, id=str(b.get("mms_id")), title=(b.get("title") or "").rstrip(" /"),
        authors=[b["author"]] if b.get("author") else [],
        isbns=[i for i in [clean_isbn(b.get("isbn") or "")] if i],
        issns=[b["issn"]] if b.get("issn") else [],
        oclc_numbers=[m.group(1) for n in b.get("network_number") or []
                      if (m := re.match(r"\(OCoLC\)0*([0-9]+)", n))],
        publisher=b.get("publisher_const"), year=b.get("date_of_publication"))


@plugin.route("GET", "/bibs/{mms_id}")
def bib(request, ctx):
    mms_id = request.path_params["mms_id"]
    if not MMS_ID.fullmatch(mms_id):
        return Response(400, {"error": "an MMS id is 6 to 20 digits"})
    body, failed = _get(ctx, f"/bibs/{mms_id}", {"view": "full"})
    if failed:
        return failed
    for marc in body.get("anies") or []:
        try:
            return from_marcxml(marc, source=SERVICE, id=mms_id).to_dict()
        except ValueError:
            break
    return from_bib_data(body).to_dict()


@plugin.route("GET", "/bibs/{mms_id}/holdings")
def holdings(request, ctx):
    mms_id = request.path_params["mms_id"]
    if not MMS_ID.fullmatch(mms_id):
        return Response(400, {"error": "an MMS id is 6 to 20 digits"})
    body, failed = _get(ctx, f"/bibs/{mms_id}/holdings")
    if failed:
        return failed
    return {"mms_id": mms_id, "holdings": [
        {"id": h.get("holding_id"), "library": (h.get("library") or {}).get("desc"),
         "location": (h.get("location") or {}).get("desc"), "call_number": h.get("call_number")}
        for h in body.get("holding") or []]}


@plugin.route("GET", "/items/{barcode}")
def item(request, ctx):
    barcode = request.path_params["barcode"]
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", barcode):
        return Response(400, {"error": "a barcode is up to 64 letters, digits, . _ -"})
    body, failed = _get(ctx, "/items", {"item_barcode": barcode})
    if failed:
        return failed
    data = body.get("item_data") or {}
    return {"barcode": data.get("barcode"), "id": data.get("pid"),
            "status": (data.get("base_status") or {}).get("desc"),
            "library": (data.get("library") or {}).get("desc"),
            "location": (data.get("location") or {}).get("desc"),
            "call_number": (body.get("holding_data") or {}).get("call_number"),
            "material": (data.get("physical_material_type") or {}).get("desc"),
            "record": from_bib_data(body.get("bib_data") or {}).to_dict()}


@plugin.route("GET", "/users/{user_id}")
def user(request, ctx):
    user_id = request.path_params["user_id"]
    if not re.fullmatch(r"[^/\s]{1,255}", user_id):
        return Response(400, {"error": "a user id has no spaces or slashes"})
    body, failed = _get(ctx, f"/users/{user_id}", {"view": "full"})
    if failed:
        return failed
    emails = (body.get("contact_info") or {}).get("email") or []
    preferred = next((e for e in emails if e.get("preferred")), emails[0] if emails else {})
    return {"id": body.get("primary_id"), "name": body.get("full_name"),
            "group": (body.get("user_group") or {}).get("desc"),
            "status": (body.get("status") or {}).get("value"),
            "email": preferred.get("email_address")}
