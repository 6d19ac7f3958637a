"""OCLC WorldCat, as its published APIs answer (one server holds both; the plugin's two
upstreams point at it):

- the token endpoint (``https://oauth.oclc.org/token``): client credentials with the
  WSKey and secret in HTTP Basic, ``scope`` = ``wcapi`` or ``WorldCatMetadataAPI``;
- WorldCat Search API v2 (``https://americas.discovery.api.oclc.org/worldcat/search/v2``):
  ``GET /brief-bibs?q=…&limit=&offset=`` (``bn:`` ISBN, ``in:`` ISSN, ``no:`` OCLC number;
  ``limit`` 1 to 50, ``offset`` from 1), ``GET /brief-bibs/{oclcNumber}``,
  ``GET /bibs-holdings?oclcNumber=&heldBySymbol=``;
- WorldCat Metadata API (``https://metadata.api.oclc.org/worldcat``):
  ``GET /manage/bibs/{oclcNumber}`` with ``Accept: application/marcxml+xml``.

Errors are problem details (``type``, ``title``, ``detail``). The contract test checks the
answers against tests/support/services/contracts/worldcat.yaml, transcribed from OCLC's
OpenAPI documents (https://developer.api.oclc.org/wcv2 and /wc-metadata-v2)."""

from __future__ import annotations

import re

from . import catalogue
from .base import Call, Reply, Service

SEARCH = "/worldcat/search/v2"
METADATA = "/worldcat/manage/bibs/"
INDEXES = {"bn": "isbn", "in": "issn", "no": "oclc"}


def brief(book: catalogue.Book) -> dict:
    record = {
        "oclcNumber": book.oclc, "title": book.title + (f" : {book.subtitle}"
                                                         if book.subtitle else ""),
        "creator": book.author, "date": book.year, "machineReadableDate": book.year,
        "language": book.language, "generalFormat": "Book", "specificFormat": "PrintBook",
        "publisher": book.publisher, "publicationPlace": "New York",
        "isbns": [book.isbn], "mergedOclcNumbers": [],
        "catalogingInfo": {"catalogingAgency": "DLC", "transcribingAgency": "DLC",
                           "catalogingLanguage": "eng", "levelOfCataloging": " "},
    }
    if book.issn:
        record["issns"] = [book.issn]
        record["generalFormat"], record["specificFormat"] = "Jrnl", "Print"
    return record


class WorldCat(Service):
    token_path = "/token"

    def token_answer(self, token: str, form: dict[str, str]) -> dict:
        return {"access_token": token, "token_type": "bearer", "expires_in": self.token_ttl,
                "scope": form.get("scope", ""), "principalID": "", "principalIDNS": "",
                "contextInstitutionId": "128807", "expires_at": "2026-12-31 00:00:00Z"}

    def error(self, status: int, message: str) -> Reply:
        kinds = {400: "INVALID_QUERY_PARAMETER_VALUE", 401: "UNAUTHORIZED", 404: "NOT_FOUND",
                 406: "NOT_ACCEPTABLE", 429: "TOO_MANY_REQUESTS"}
        return Reply(status, {"type": kinds.get(status, "SERVER_ERROR"),
                              "title": message, "detail": message},
                     {"Content-Type": "application/problem+json"} if status != 401 else {})

    def route(self, call: Call) -> Reply:
        if call.method != "GET":
            return self.error(405, "Method not allowed")
        if call.path == f"{SEARCH}/brief-bibs":
            return self._search(call)
        if m := re.fullmatch(rf"{SEARCH}/brief-bibs/([0-9]+)", call.path):
            book = catalogue.by("oclc", m.group(1))
            return Reply(200, brief(book)) if book else self.error(
                404, f"Record {m.group(1)} not found")
        if call.path == f"{SEARCH}/bibs-holdings":
            return self._holdings(call)
        if m := re.fullmatch(rf"{METADATA}([0-9]+)", call.path):
            if "application/marcxml+xml" not in call.headers.get("accept", ""):
                return self.error(406, "Accept application/marcxml+xml or application/marc")
            book = catalogue.by("oclc", m.group(1))
            if book is None:
                return self.error(404, f"Unable to locate resource: {m.group(1)}")
            return Reply(200, catalogue.marcxml(book, control_number=book.oclc,
                                                control_org="OCoLC"),
                         {"Content-Type": "application/marcxml+xml;charset=UTF-8"})
        return self.error(404, "Not found")

    def _search(self, call: Call) -> Reply:
        q = call.arg("q")
        try:
            limit, offset = int(call.arg("limit", "10")), int(call.arg("offset", "1"))
        except ValueError:
            return self.error(400, "limit and offset are integers")
        if not q:
            return self.error(400, "Query parameter 'q' is required")
        if not 1 <= limit <= 50 or offset < 1:
            return self.error(400, "limit must be 1 to 50 and offset at least 1")
        m = re.fullmatch(r"(bn|in|no):\s*([0-9Xx-]+)", q.strip())
        if m is None:  # keyword search over titles
            hits = [b for b in catalogue.BOOKS if q.lower() in b.title.lower()]
        else:
            attr, value = INDEXES[m.group(1)], m.group(2).replace("-", "")
            hits = [b for b in catalogue.BOOKS
                    if str(getattr(b, attr) or "").replace("-", "") == value]
        page = hits[offset - 1:offset - 1 + limit]
        body: dict = {"numberOfRecords": len(hits)}
        if page:
            body["briefRecords"] = [brief(b) for b in page]
        return Reply(200, body)

    def _holdings(self, call: Call) -> Reply:
        number = call.arg("oclcNumber")
        if not number:
            return self.error(400, "Query parameter 'oclcNumber' is required")
        book = catalogue.by("oclc", number)
        if book is None:
            return Reply(200, {"numberOfRecords": 0})
        symbol = call.arg("heldBySymbol")
        held = [h for h in catalogue.HOLDINGS[book.oclc] if symbol in (None, h[0])]
        record = {**brief(book), "institutionHolding": {
            "totalHoldingCount": len(held),
            "briefHoldings": [{"oclcSymbol": s, "institutionName": name, "country": country,
                               "institutionNumber": 1000 + i}
                              for i, (s, name, country) in enumerate(held)]}}
        return Reply(200, {"numberOfRecords": 1, "briefRecords": [record]})
