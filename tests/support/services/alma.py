"""Ex Libris Alma's REST API, as published (https://developers.exlibrisgroup.com/alma/apis/,
base ``https://api-REGION.hosted.exlibrisgroup.com/almaws/v1``):

- the API key in ``Authorization: apikey KEY`` (or an ``apikey`` query parameter);
- JSON only when asked (``Accept: application/json`` or ``format=json``), else XML;
- ``GET /bibs/{mms_id}`` (``anies`` holds the MARCXML), ``GET /bibs/{mms_id}/holdings``,
  ``GET /items?item_barcode=B`` answering **302** to the item's own URL
  ``/bibs/{mms_id}/holdings/{holding_id}/items/{item_pid}``, ``GET /users/{user_id}``;
- errors in ``errorList`` with Alma's codes (``402203`` bad MMS id, ``401689`` unknown
  barcode, ``401861`` unknown user), and the thresholds: 429 ``PER_SECOND_THRESHOLD``
  (25 calls per second per institution) and ``DAILY_THRESHOLD``; every answer carries
  ``X-Exl-Api-Remaining`` (calls left today).

Contract: tests/support/services/contracts/alma.yaml."""

from __future__ import annotations

import re

from . import catalogue
from .base import Call, Reply, Service

BASE = "/almaws/v1"


class Alma(Service):
    daily_limit = 1000

    def __init__(self) -> None:
        super().__init__()
        self.used_today = 0

    def authenticated(self, call: Call) -> bool:
        return call.headers.get("authorization") == f"apikey {self.api_key}" \
            or call.arg("apikey") == self.api_key

    def handle(self, call: Call) -> Reply:
        with self.lock:
            self.used_today += 1
            if self.used_today > self.daily_limit:
                return self._errors(429, "DAILY_THRESHOLD", "Daily threshold exceeded")
        reply = super().handle(call)
        reply.headers["X-Exl-Api-Remaining"] = str(max(0, self.daily_limit - self.used_today))
        return reply

    def _errors(self, status: int, code: str, message: str) -> Reply:
        return Reply(status, {"errorsExist": True, "errorList": {"error": [{
            "errorCode": code, "errorMessage": message,
            "trackingId": "E01-0212345678-ABCDE"}]}, "result": None})

    def error(self, status: int, message: str) -> Reply:
        code = {401: "UNAUTHORIZED", 429: "PER_SECOND_THRESHOLD"}.get(status, "GENERAL_ERROR")
        if status == 401:
            message = "API-key not defined or not configured to allow this API."
        if status == 429:
            message = "HTTP requests are more than allowed per second"
        return self._errors(status, code, message)

    def route(self, call: Call) -> Reply:
        wants_json = "application/json" in call.headers.get("accept", "") \
            or call.arg("format") == "json"
        if not wants_json:
            return Reply(200, "<web_service_result/>", {"Content-Type": "application/xml"})
        if call.method != "GET":
            return self._errors(400, "GENERAL_ERROR", "Method not supported")
        path = call.path.removeprefix(BASE)
        if m := re.fullmatch(r"/bibs/([0-9]+)", path):
            book = catalogue.by("mms_id", m.group(1))
            return Reply(200, self._bib(book)) if book else self._errors(
                400, "402203", f"Input parameters mmsId {m.group(1)} is not valid.")
        if m := re.fullmatch(r"/bibs/([0-9]+)/holdings", path):
            book = catalogue.by("mms_id", m.group(1))
            if book is None:
                return self._errors(400, "402203",
                                    f"Input parameters mmsId {m.group(1)} is not valid.")
            return Reply(200, {"holding": [self._holding(book)], "total_record_count": 1,
                               "bib_data": self._bib_data(book)})
        if path == "/items":
            return self._item_redirect(call)
        if m := re.fullmatch(r"/bibs/([0-9]+)/holdings/([0-9]+)/items/([0-9]+)", path):
            book = catalogue.by("item_pid", m.group(3))
            if book is None or (book.mms_id, book.holding_id) != m.group(1, 2):
                return self._errors(400, "401690", "Item not found.")
            return Reply(200, self._item(book))
        if m := re.fullmatch(r"/users/([^/]+)", path):
            patron = next((p for p in catalogue.PATRONS if p["primary_id"] == m.group(1)), None)
            return Reply(200, self._user(patron)) if patron else self._errors(
                400, "401861", "User with identifier " + m.group(1) + " was not found.")
        return self._errors(400, "GENERAL_ERROR", "No such API")

    def _item_redirect(self, call: Call) -> Reply:
        barcode = call.arg("item_barcode")
        book = catalogue.by("barcode", barcode) if barcode else None
        if book is None:
            return self._errors(400, "401689", f"No items found for barcode {barcode}.")
        where = (f"{self.url}{BASE}/bibs/{book.mms_id}/holdings/{book.holding_id}"
                 f"/items/{book.item_pid}")
        return Reply(302, b"", {"Location": where, "Content-Type": "text/plain"})

    @staticmethod
    def _bib_data(book: catalogue.Book) -> dict:
        return {"mms_id": book.mms_id, "title": book.title, "author": book.author,
                "isbn": book.isbn, "issn": book.issn, "network_number": [
                    f"(OCoLC){book.oclc}"], "publisher_const": book.publisher,
                "date_of_publication": book.year, "place_of_publication": "New York"}

    def _bib(self, book: catalogue.Book) -> dict:
        return {**self._bib_data(book), "record_format": "marc21", "suppress_from_publishing":
                "false", "language": {"value": book.language}, "created_date": "2020-01-01Z",
                "anies": [catalogue.marcxml(book, control_number=book.mms_id,
                                            control_org="EXL")]}

    @staticmethod
    def _holding(book: catalogue.Book) -> dict:
        return {"holding_id": book.holding_id, "call_number": f"PS3558.E63 {book.year}",
                "library": {"value": "MAIN", "desc": "Main Library"},
                "location": {"value": "STACKS", "desc": "Stacks"}}

    def _item(self, book: catalogue.Book) -> dict:
        holding = self._holding(book)
        return {"bib_data": self._bib_data(book),
                "holding_data": {"holding_id": book.holding_id,
                                 "call_number": holding["call_number"]},
                "item_data": {"pid": book.item_pid, "barcode": book.barcode,
                              "base_status": {"value": "1", "desc": "Item in place"},
                              "physical_material_type": {"value": "BOOK", "desc": "Book"},
                              "policy": {"value": "LOAN", "desc": "Loanable"},
                              "library": holding["library"], "location": holding["location"]}}

    @staticmethod
    def _user(p: dict) -> dict:
        return {"primary_id": p["primary_id"], "first_name": p["firstname"],
                "last_name": p["surname"], "full_name": f"{p['firstname']} {p['surname']}",
                "user_group": {"value": p["group"][0], "desc": p["group"][1]},
                "status": {"value": "ACTIVE", "desc": "Active"},
                "contact_info": {"email": [{"email_address": p["email"], "preferred": True}]}}
