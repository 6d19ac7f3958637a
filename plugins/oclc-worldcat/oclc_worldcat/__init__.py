"""OCLC WorldCat for Koha: search by ISBN, ISSN, OCLC number or words (Search API v2
brief records), the institutions holding a record, and the full MARC record (Metadata
API), each answered as the shared ``BibRecord`` (plugin_host.sdk.bib).

Routes (under ``/plugins/oclc-worldcat/api``):

- ``GET /search?isbn=|issn=|oclc=|q=&limit=&offset=`` → ``{"total", "records": [...]}``
- ``GET /records/{oclc_number}`` → the record from its MARCXML
- ``GET /holdings/{oclc_number}?symbol=`` → ``{"oclc_number", "total", "institutions"}``
"""

from __future__ import annotations

import re

from plugin_host.sdk import Plugin, Response, UpstreamUnavailable
from plugin_host.sdk.bib import BibRecord, clean_isbn, from_marcxml
from plugin_host.sdk.services import failure, unavailable

plugin = Plugin()
SERVICE = "worldcat"


def _problem(r) -> str | None:
    """The ``detail`` of OCLC's problem answer, when there is one."""
    try:
        body = r.json()
    except ValueError:
        return None
    return body.get("detail") or body.get("title") if isinstance(body, dict) else None


def from_brief(b: dict) -> BibRecord:
    """A Search API v2 brief record as a ``BibRecord``."""
    title, _, subtitle = (b.get("title") or "").partition(" : ")
    year = re.search(r"[0-9]{4}", b.get("machineReadableDate") or b.get("date") or "")
    return BibRecord(
        source=SERVICE, id=str(b["oclcNumber"]), title=title.strip(),
        subtitle=subtitle.strip() or None,
        authors=[b["creator"]] if b.get("creator") else [],
        isbns=[i for i in (clean_isbn(x) for x in b.get("isbns") or []) if i],
        issns=list(b.get("issns") or []),
        oclc_numbers=[str(b["oclcNumber"]), *map(str, b.get("mergedOclcNumbers") or [])],
        publisher=b.get("publisher"), year=year.group(0) if year else None,
        edition=b.get("edition"), language=b.get("language"),
        format=(b.get("generalFormat") or "").lower() or None)


def _query(q: dict) -> str | None:
    if q.get("isbn"):
        return f"bn:{q['isbn'].replace('-', '')}"
    if q.get("issn"):
        return f"in:{q['issn']}"
    if q.get("oclc"):
        return f"no:{q['oclc']}"
    return q.get("q") or None


def _number(value: str) -> str | None:
    m = re.fullmatch(r"(?:\(OCoLC\)|ocm|ocn|on)?0*([0-9]{1,12})", value.strip())
    return m.group(1) if m else None


@plugin.route("GET", "/search")
def search(request, ctx):
    query = _query(request.query)
    if query is None:
        return Response(400, {"error": "give one of isbn, issn, oclc or q"})
    try:
        limit = int(request.query.get("limit", "10"))
        offset = int(request.query.get("offset", "1"))
    except ValueError:
        return Response(400, {"error": "limit and offset are whole numbers"})
    if not 1 <= limit <= 50 or offset < 1:
        return Response(400, {"error": "limit is 1 to 50 and offset starts at 1"})
    try:
        r = ctx.upstream("search").get("/brief-bibs", params={
            "q": query, "limit": limit, "offset": offset},
            headers={"Accept": "application/json"})
    except UpstreamUnavailable as e:
        return unavailable(SERVICE, e)
    if r.status != 200:
        return failure(SERVICE, r, _problem(r))
    body = r.json()
    return {"total": body.get("numberOfRecords", 0),
            "records": [from_brief(b).to_dict() for b in body.get("briefRecords", [])]}


@plugin.route("GET", "/records/{oclc_number}")
def record(request, ctx):
    number = _number(request.path_params["oclc_number"])
    if number is None:
        return Response(400, {"error": "an OCLC number is digits (ocm/ocn/on prefixes "
                                       "are taken off)"})
    try:
        r = ctx.upstream("metadata").get(f"/manage/bibs/{number}",
                                         headers={"Accept": "application/marcxml+xml"})
    except UpstreamUnavailable as e:
        return unavailable(SERVICE, e)
    if r.status != 200:
        return failure(SERVICE, r, _problem(r))
    try:
        return from_marcxml(r.body, source=SERVICE, id=number).to_dict()
    except ValueError as e:
        return Response(502, {"error": f"{SERVICE} answered a record that is not MARCXML: "
                                       f"{e}", "service": SERVICE})


@plugin.route("GET", "/holdings/{oclc_number}")
def holdings(request, ctx):
    number = _number(request.path_params["oclc_number"])
    if number is None:
        return Response(400, {"error": "an OCLC number is digits"})
    params = {"oclcNumber": number}
    symbol = request.query.get("symbol") or ctx.config.get("institution_symbol")
    if symbol:
        params["heldBySymbol"] = symbol
    try:
        r = ctx.upstream("search").get("/bibs-holdings", params=params,
                                       headers={"Accept": "application/json"})
    except UpstreamUnavailable as e:
        return unavailable(SERVICE, e)
    if r.status != 200:
        return failure(SERVICE, r, _problem(r))
    records = r.json().get("briefRecords") or []
    if not records:
        return Response(404, {"error": f"no WorldCat record {number}", "service": SERVICE})
    held = records[0].get("institutionHolding") or {}
    return {"oclc_number": number, "total": held.get("totalHoldingCount", 0),
            "record": from_brief(records[0]).to_dict(),
            "institutions": [{"symbol": h.get("oclcSymbol"), "name": h.get("institutionName"),
                              "country": h.get("country")}
                             for h in held.get("briefHoldings") or []]}
