"""Koha's REST API v1, as its Swagger document describes it (``api/v1/swagger/`` in
Koha's repository, https://github.com/Koha-Community/Koha):

- ``POST /api/v1/oauth/token``: client credentials with ``client_id`` and
  ``client_secret`` in the form (Koha does not read HTTP Basic there); a wrong client is
  403 ``unauthorized_client``; tokens last 3600 s;
- ``GET /biblios/{biblio_id}`` by ``Accept``: ``application/json`` (the biblio object),
  ``application/marcxml+xml``, ``application/marc-in-json``; anything else 406;
- ``GET /items?external_id=``, ``GET /patrons/{patron_id}``, ``GET /patrons?cardnumber=``,
  ``GET /holds?patron_id=``, ``GET /checkouts?patron_id=``: lists paged by ``_page`` and
  ``_per_page`` (default 20) with ``X-Total-Count``, ``X-Base-Total-Count`` and ``Link``;
- errors ``{"error": …, "error_code": …}``.

Contract: tests/support/services/contracts/koha-rest.yaml."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

from . import catalogue
from .base import Call, Reply, Service

BASE = "/api/v1"


class KohaRest(Service):
    token_path = f"{BASE}/oauth/token"
    client_auth = "body"
    token_ttl = 3600

    def _token(self, call: Call) -> Reply:
        reply = super()._token(call)
        if reply.status == 401:  # Koha's own answer for a client it does not know
            return Reply(403, {"error": "unauthorized_client"})
        return reply

    def error(self, status: int, message: str) -> Reply:
        codes = {401: "authentication_required", 403: "missing_permission", 404: "not_found",
                 406: "not_acceptable", 429: "too_many_requests"}
        return Reply(status, {"error": message, "error_code": codes.get(status,
                                                                         "internal_server_error")})

    def route(self, call: Call) -> Reply:
        if call.method != "GET":
            return self.error(405, "Method not allowed")
        path = call.path.removeprefix(BASE)
        if m := re.fullmatch(r"/biblios/([0-9]+)", path):
            return self._biblio(call, int(m.group(1)))
        if m := re.fullmatch(r"/patrons/([0-9]+)", path):
            patron = next((p for p in catalogue.PATRONS
                           if p["patron_id"] == int(m.group(1))), None)
            return Reply(200, self._patron(patron)) if patron else self.error(
                404, "Patron not found")
        if path == "/patrons":
            card = call.arg("cardnumber")
            return self._page(call, [self._patron(p) for p in catalogue.PATRONS
                                     if card in (None, p["cardnumber"])])
        if path == "/items":
            barcode = call.arg("external_id")
            return self._page(call, [self._item(b) for b in catalogue.BOOKS
                                     if barcode in (None, b.barcode)])
        if path == "/holds":
            patron = call.arg("patron_id")
            return self._page(call, [
                {"hold_id": h, "patron_id": p, "biblio_id": b,
                 "item_id": None if i is None else str(i),  # a string in hold.yaml
                 "pickup_library_id": "CPL", "priority": 1, "status": None,
                 "hold_date": "2026-11-30", "expiration_date": None, "suspended": False}
                for h, p, b, i in catalogue.HOLDS if patron in (None, str(p))])
        if path == "/checkouts":
            patron = call.arg("patron_id")
            return self._page(call, [
                {"checkout_id": c, "patron_id": p, "item_id": i, "library_id": "CPL",
                 "checkout_date": "2026-11-20T10:00:00+00:00",
                 "due_date": "2026-12-11T23:59:00+00:00", "renewals_count": 0,
                 "auto_renew": False, "onsite_checkout": False}
                for c, p, i in catalogue.CHECKOUTS if patron in (None, str(p))])
        return self.error(404, "Not found")

    def _biblio(self, call: Call, biblio_id: int) -> Reply:
        book = catalogue.by("biblio_id", biblio_id)
        if book is None:
            return self.error(404, "Object not found.")
        accept = call.headers.get("accept", "application/json")
        if "application/marcxml+xml" in accept:
            return Reply(200, catalogue.marcxml(book, control_number=str(biblio_id),
                                                control_org="KOHA"),
                         {"Content-Type": "application/marcxml+xml"})
        if "application/json" in accept or accept == "*/*":
            return Reply(200, {"biblio_id": biblio_id, "title": book.title,
                               "subtitle": book.subtitle, "author": book.author,
                               "copyright_date": int(book.year), "frameworkcode": "BKS",
                               "serial": book.issn is not None, "opac_suppressed": False})
        return self.error(406, "Not acceptable")

    @staticmethod
    def _patron(p: dict) -> dict:
        return {k: p[k] for k in ("patron_id", "cardnumber", "firstname", "surname", "email",
                                  "library_id", "category_id")} | {
            "expiry_date": "2027-12-31", "restricted": False}

    @staticmethod
    def _item(book: catalogue.Book) -> dict:
        return {"item_id": book.item_id, "biblio_id": book.biblio_id,
                "external_id": book.barcode, "home_library_id": "CPL",
                "holding_library_id": "CPL", "callnumber": f"PS3558.E63 {book.year}",
                "item_type_id": "BK", "not_for_loan_status": 0, "lost_status": 0,
                "withdrawn": 0, "damaged_status": 0, "checked_out_date": None,
                "location": "GEN", "timestamp": "2026-11-01T12:00:00+00:00"}

    def _page(self, call: Call, rows: list[dict]) -> Reply:
        try:
            page = int(call.arg("_page", "1"))
            per_page = int(call.arg("_per_page", "20"))
        except ValueError:
            return Reply(400, {"errors": [{"message": "Expected integer", "path": "/_page"}],
                               "status": 400})
        if page < 1 or per_page == 0 or per_page < -1:
            return Reply(400, {"errors": [{"message": "Out of range", "path": "/_per_page"}],
                               "status": 400})
        chunk = rows if per_page == -1 else rows[(page - 1) * per_page:page * per_page]
        headers = {"X-Total-Count": str(len(rows)), "X-Base-Total-Count": str(len(rows))}
        if per_page != -1:
            last = max(1, -(-len(rows) // per_page))
            keep = {k: v[0] for k, v in call.query.items() if k not in ("_page", "_per_page")}

            def link(n: int, rel: str) -> str:
                q = urlencode({**keep, "_page": n, "_per_page": per_page})
                return f'<{self.url}{call.path}?{q}>; rel="{rel}"'
            parts = [link(1, "first")]
            if page > 1:
                parts.append(link(page - 1, "prev"))
            if page < last:
                parts.append(link(page + 1, "next"))
            parts.append(link(last, "last"))
            headers["Link"] = ", ".join(parts)
        return Reply(200, json.loads(json.dumps(chunk)), headers)
