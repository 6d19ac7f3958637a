"""The few records, items and patrons every fake service holds, each service keeping them
under its own numbers (OCLC numbers, MMS ids, biblio ids), with their MARCXML."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class Book:
    oclc: str
    mms_id: str
    biblio_id: int
    title: str
    subtitle: str | None
    author: str
    isbn: str
    publisher: str
    year: str
    language: str
    subjects: tuple[str, ...]
    barcode: str
    item_id: int
    holding_id: str
    item_pid: str
    issn: str | None = None


BOOKS = [
    Book("57483598", "991234560001021", 42, "Dune", None, "Herbert, Frank", "9780441013593",
         "Ace Books", "2005", "eng", ("Science fiction", "Deserts"), "39000000001", 1001,
         "221234560001021", "231234560001021"),
    Book("1110447", "991234570001021", 43, "Koha", "a gift culture", "Ransom, Joann",
         "9780473123456", "Horowhenua Library Trust", "2001", "eng",
         ("Integrated library systems",), "39000000002", 1002, "221234570001021",
         "231234570001021"),
    Book("1586310", "991234580001021", 44, "Library journal", None, "Bowker",
         "9780000000002", "R.R. Bowker", "1976", "eng", ("Libraries",), "39000000003",
         1003, "221234580001021", "231234580001021", issn="0363-0277"),
]

#: institutions holding each OCLC number (WorldCat's bibs-holdings)
HOLDINGS = {"57483598": [("OCPSB", "OCLC Library", "US"), ("HLT", "Horowhenua Libraries",
                                                             "NZ")],
            "1110447": [("HLT", "Horowhenua Libraries", "NZ")], "1586310": []}

PATRONS = [
    {"patron_id": 7, "cardnumber": "23529000001", "firstname": "Ada", "surname": "Lovelace",
     "email": "ada@example.org", "library_id": "CPL", "category_id": "PT",
     "primary_id": "ada.lovelace", "group": ("UNDERGRAD", "Undergraduate")},
    {"patron_id": 8, "cardnumber": "23529000002", "firstname": "Alan", "surname": "Turing",
     "email": "alan@example.org", "library_id": "MPL", "category_id": "ST",
     "primary_id": "alan.turing", "group": ("STAFF", "Staff")},
]

#: (hold or checkout, patron_id, biblio_id, item_id)
HOLDS = [(1, 7, 42, None), (2, 7, 43, 1002), (3, 8, 44, None)]
CHECKOUTS = [(11, 7, 1001), (12, 8, 1003)]


def by(attr: str, value: object) -> Book | None:
    return next((b for b in BOOKS if str(getattr(b, attr)) == str(value)), None)


def marcxml(book: Book, *, control_number: str, control_org: str,
            collection: bool = False) -> str:
    def df(tag: str, *subs: tuple[str, str], ind: str = "  ") -> str:
        inner = "".join(f'<subfield code="{c}">{escape(v)}</subfield>' for c, v in subs)
        return f'<datafield tag="{tag}" ind1="{ind[0]}" ind2="{ind[1]}">{inner}</datafield>'

    f008 = f"050101s{book.year}    nyu           000 1 {book.language} d"
    title = [("a", book.title + (" :" if book.subtitle else " /"))]
    if book.subtitle:
        title.append(("b", book.subtitle + " /"))
    body = "".join([
        "<leader>00000nam a2200000 i 4500</leader>",
        f'<controlfield tag="001">{escape(control_number)}</controlfield>',
        f'<controlfield tag="003">{control_org}</controlfield>',
        f'<controlfield tag="008">{f008}</controlfield>',
        df("020", ("a", f"{book.isbn} (pbk.)")),
        *([df("022", ("a", book.issn))] if book.issn else []),
        df("035", ("a", f"(OCoLC){book.oclc}")),
        df("100", ("a", book.author + ","), ind="1 "),
        df("245", *title, ind="10"),
        df("264", ("a", "New York :"), ("b", book.publisher + ","), ("c", book.year + "."),
           ind=" 1"),
        *[df("650", ("a", s + "."), ind=" 0") for s in book.subjects],
    ])
    ns = 'xmlns="http://www.loc.gov/MARC21/slim"'
    head = '<?xml version="1.0" encoding="UTF-8"?>'
    if collection:
        return f"{head}<collection {ns}><record>{body}</record></collection>"
    return f"{head}<record {ns}>{body}</record>"
