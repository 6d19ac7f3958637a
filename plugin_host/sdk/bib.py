"""One bibliographic record type the integration plugins share: WorldCat, Alma and Koha
answer in their own shapes; each plugin maps them into a :class:`BibRecord`, so a page
or another plugin reads a title, its authors and its identifiers the same way whatever
the source.

``from_marcxml`` reads MARC 21 in MARCXML (what the WorldCat Metadata API, Alma's
``anies`` and Koha's ``application/marcxml+xml`` give), parsed without DTDs or entities
(defusedxml): a record is data from outside, never trusted::

    from plugin_host.sdk.bib import BibRecord, from_marcxml

    record = from_marcxml(r.body, source="koha", id="42")
    return record.to_dict()
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from defusedxml import ElementTree

__all__ = ["BibRecord", "clean_isbn", "from_marcxml"]

MARC = "{http://www.loc.gov/MARC21/slim}"

#: leader/06 type of record → a format word (MARC 21 Bibliographic, Leader)
_FORMATS = {"a": "text", "t": "text", "c": "music-score", "d": "music-score",
            "e": "map", "f": "map", "g": "video", "i": "audio", "j": "music",
            "k": "image", "m": "computer-file", "o": "kit", "p": "mixed", "r": "object"}


@dataclass(frozen=True)
class BibRecord:
    """A bibliographic record, the same whatever the service it came from.

    ``source`` names the service (``worldcat``, ``alma``, ``koha``) and ``id`` is the
    record's number there (an OCLC number, an MMS id, a biblio id)."""

    source: str
    id: str
    title: str
    subtitle: str | None = None
    authors: list[str] = field(default_factory=list)
    isbns: list[str] = field(default_factory=list)
    issns: list[str] = field(default_factory=list)
    oclc_numbers: list[str] = field(default_factory=list)
    publisher: str | None = None
    year: str | None = None
    edition: str | None = None
    language: str | None = None
    format: str | None = None
    subjects: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, every field present (``None`` or ``[]`` when the source has none)."""
        return asdict(self)


def clean_isbn(value: str) -> str | None:
    """The ISBN in a MARC 020 $a or a service's field (``"0441013597 (pbk.)"`` →
    ``"0441013597"``), or None when there is none."""
    m = re.search(r"\b(97[89][0-9]{10}|[0-9]{9}[0-9Xx])\b", value.replace("-", ""))
    return m.group(1).upper() if m else None


def _trim(value: str | None) -> str | None:
    """MARC's closing punctuation off (``"Dune /"`` → ``"Dune"``)."""
    if value is None:
        return None
    value = re.sub(r"[\s/:;,=]+$", "", value.strip())
    value = re.sub(r"(?<![A-Z])\.$", "", value)  # "Ace Books." but not "U.S.A."
    return value or None


def from_marcxml(xml: bytes | str, *, source: str, id: str | None = None) -> BibRecord:
    """The first ``<record>`` in ``xml`` (a ``<collection>`` or a lone ``<record>``) as a
    :class:`BibRecord`; ``id`` defaults to its 001. ``ValueError`` when it is not
    MARCXML."""
    try:
        root = ElementTree.fromstring(xml, forbid_dtd=True)
    except Exception as e:  # defusedxml and expat raise several kinds
        raise ValueError(f"not MARCXML: {type(e).__name__}: {e}") from None
    record = root if root.tag == f"{MARC}record" else root.find(f"{MARC}record")
    if record is None:
        raise ValueError(f"not MARCXML: no <record> in <{root.tag}>")

    def fields(tag: str) -> list[Any]:
        return [f for f in record.iter(f"{MARC}datafield") if f.get("tag") == tag]

    def sub(f: Any, code: str) -> list[str]:
        return [s.text or "" for s in f.findall(f"{MARC}subfield") if s.get("code") == code]

    def first(tags: tuple[str, ...], code: str) -> str | None:
        for tag in tags:
            for f in fields(tag):
                for v in sub(f, code):
                    if v.strip():
                        return v
        return None

    control = {f.get("tag"): f.text or "" for f in record.iter(f"{MARC}controlfield")}
    leader = (record.findtext(f"{MARC}leader") or "").ljust(24)
    oclc = [m.group(1) for f in fields("035") for v in sub(f, "a")
            if (m := re.match(r"\(OCoLC\)\D*0*([0-9]+)", v.strip()))]
    if control.get("003", "").strip() == "OCoLC" and control.get("001", "").strip().isdigit():
        oclc.insert(0, control["001"].strip().lstrip("0"))
    authors = [_trim(v) for tag in ("100", "110", "111", "700", "710", "711")
               for f in fields(tag) for v in sub(f, "a")]
    year = None
    if m := re.search(r"[0-9]{4}", first(("264", "260"), "c") or control.get("008", "")[7:11]):
        year = m.group(0)
    language = control.get("008", "")[35:38].strip() or None
    return BibRecord(
        source=source,
        id=id if id is not None else control.get("001", "").strip(),
        title=_trim(first(("245",), "a")) or "",
        subtitle=_trim(first(("245",), "b")),
        authors=[a for a in dict.fromkeys(authors) if a],
        isbns=list(dict.fromkeys(i for f in fields("020") for v in sub(f, "a")
                                 if (i := clean_isbn(v)))),
        issns=list(dict.fromkeys(v.strip() for f in fields("022") for v in sub(f, "a")
                                 if v.strip())),
        oclc_numbers=list(dict.fromkeys(oclc)),
        publisher=_trim(first(("264", "260"), "b")),
        year=year,
        edition=_trim(first(("250",), "a")),
        language=language if language and language.isalpha() else None,
        format=_FORMATS.get(leader[6]),
        subjects=list(dict.fromkeys(s for f in fields("650") for v in sub(f, "a")
                                    if (s := _trim(v)))),
    )
