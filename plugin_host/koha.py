"""What Koha offers plugins: the events the host delivers (each with its payload's
shape) and the UI slots of Koha's staff interface and OPAC a plugin's components can
fill. One catalogue for the manifest checks (pack, publish, install), the hook route,
the SDK's test builders and the generated docs (docs/plugins/koha-events.md).

Events are named ``AREA.WHEN_WHAT`` after the Koha plugin hooks they come from
(``after_biblio_action``, ``after_item_action``, ``after_circ_action``,
``after_hold_action``, ``patron_generate_userid`` and the like, ``cronjob_nightly``,
``before_send_messages``, background jobs). A payload carries at least the fields below;
Koha may add more, which are passed on as they are.
"""

from __future__ import annotations

import difflib
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ManifestError, PluginHostError


class Payload(BaseModel):
    model_config = ConfigDict(extra="allow")


class BiblioSaved(Payload):
    biblionumber: int = Field(gt=0, description="The record's biblionumber")
    action: Literal["create", "modify"] = Field("modify", description="What happened")
    record: str | None = Field(None, description="The record as MARCXML, when Koha sends it")


class BiblioDeleted(Payload):
    biblionumber: int = Field(gt=0)


class ItemSaved(Payload):
    itemnumber: int = Field(gt=0)
    biblionumber: int = Field(gt=0)
    action: Literal["create", "modify"] = "modify"
    barcode: str | None = None
    homebranch: str | None = Field(None, description="Branch code of the item's home library")


class ItemDeleted(Payload):
    itemnumber: int = Field(gt=0)
    biblionumber: int = Field(gt=0)


class Checkout(Payload):
    issue_id: int | None = Field(None, gt=0)
    itemnumber: int = Field(gt=0)
    borrowernumber: int = Field(gt=0)
    branchcode: str = Field(min_length=1, description="Where it was checked out")
    date_due: datetime


class Checkin(Payload):
    itemnumber: int = Field(gt=0)
    borrowernumber: int | None = Field(None, gt=0, description="None when it was not on loan")
    branchcode: str = Field(min_length=1)
    returndate: datetime


class Renewal(Payload):
    issue_id: int | None = Field(None, gt=0)
    itemnumber: int = Field(gt=0)
    borrowernumber: int = Field(gt=0)
    date_due: datetime


class Hold(Payload):
    reserve_id: int = Field(gt=0)
    biblionumber: int = Field(gt=0)
    borrowernumber: int = Field(gt=0)
    branchcode: str = Field(min_length=1, description="Pick-up library")
    itemnumber: int | None = Field(None, gt=0, description="When the hold is on one item")


class PatronSaved(Payload):
    borrowernumber: int = Field(gt=0)
    action: Literal["create", "modify"] = "modify"
    categorycode: str | None = None
    branchcode: str | None = None


class PatronDeleted(Payload):
    borrowernumber: int = Field(gt=0)


class Nightly(Payload):
    day: date = Field(description="The day the nightly run is for")


class MessagesBeforeSend(Payload):
    message_ids: list[int] = Field(default_factory=list,
                                   description="The queued messages about to be sent")


class BackgroundJobFinished(Payload):
    job_id: int = Field(gt=0)
    type: str = Field(min_length=1,
                      description="Koha's job type, e.g. batch_item_record_modification")
    status: Literal["finished", "failed", "cancelled"]


#: event → (what it means, the payload's model)
EVENTS: dict[str, tuple[str, type[Payload]]] = {
    "biblio.after_save": ("a bibliographic record was created or modified", BiblioSaved),
    "biblio.after_delete": ("a bibliographic record was deleted", BiblioDeleted),
    "item.after_save": ("an item was created or modified", ItemSaved),
    "item.after_delete": ("an item was deleted", ItemDeleted),
    "circulation.after_checkout": ("an item was checked out", Checkout),
    "circulation.after_checkin": ("an item was checked in", Checkin),
    "circulation.after_renewal": ("a loan was renewed", Renewal),
    "hold.after_place": ("a hold was placed", Hold),
    "hold.after_fill": ("a hold was filled (the item is waiting or in transit)", Hold),
    "hold.after_cancel": ("a hold was cancelled", Hold),
    "patron.after_save": ("a patron was created or modified", PatronSaved),
    "patron.after_delete": ("a patron was deleted", PatronDeleted),
    "cronjob.nightly": ("Koha's nightly cron job ran (cronjob_nightly)", Nightly),
    "messages.before_send": ("notices are about to be sent (before_send_messages)",
                             MessagesBeforeSend),
    "background_job.after_finish": ("a background job ended", BackgroundJobFinished),
}

#: slot → where it is in Koha
SLOTS: dict[str, str] = {
    "opac.head": "OPAC: every page, in <head> (styles, small scripts)",
    "opac.biblio.sidebar": "OPAC: the record detail page, beside the record",
    "opac.biblio.tab": "OPAC: the record detail page, a tab of its own",
    "opac.search.result": "OPAC: each record in a search result",
    "opac.user.summary": "OPAC: the patron's account summary",
    "staff.head": "Staff interface: every page, in <head>",
    "staff.dashboard": "Staff interface: the start page",
    "staff.biblio.tab": "Staff interface: the record detail page, a tab of its own",
    "staff.biblio.toolbar": "Staff interface: the record detail page's toolbar",
    "staff.item.detail": "Staff interface: the items table of a record, per item",
    "staff.circulation.checkout": "Staff interface: the checkout page, beside the patron",
    "staff.patron.sidebar": "Staff interface: the patron's page, in the sidebar",
    "staff.tools": "Staff interface: the Tools page",
}


def did_you_mean(word: str, known: list[str] | dict) -> str:
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f": did you mean {close[0]!r}?" if close else ""


def unknown_event(event: str) -> str:
    return f"{event!r} is not a Koha event{did_you_mean(event, EVENTS)} (the events: " \
           "docs/plugins/koha-events.md)"


def unknown_slot(slot: str) -> str:
    return f"{slot!r} is not a UI slot{did_you_mean(slot, SLOTS)} (the slots: " \
           "docs/plugins/koha-events.md)"


def check_names(manifest: Any) -> None:
    """A manifest's events and slots must be in the catalogue: ManifestError naming each
    unknown one with a did-you-mean. (Checked at pack, publish and install; plugins
    installed before a name left the catalogue keep loading.)"""
    problems = [f"permissions.hooks: {unknown_event(h)}"
                for h in manifest.permissions.hooks if h not in EVENTS]
    problems += [f"ui.components.{i}.slot: {unknown_slot(c.slot)}"
                 for i, c in enumerate(manifest.ui.components) if c.slot not in SLOTS]
    if problems:
        raise ManifestError(problems)


def validate_payload(event: str, payload: Any) -> dict[str, Any]:
    """The payload as Koha sent it once the event's model accepts it (extra fields are
    passed on), or a 422 naming each field that is missing or wrong; an unknown event is
    a 404."""
    if event not in EVENTS:
        raise PluginHostError(unknown_event(event), code="unknown_event", status=404)
    model = EVENTS[event][1]
    try:
        model.model_validate(payload)
    except ValidationError as e:
        problems = [f"{'.'.join(map(str, err['loc'])) or 'payload'}: {err['msg']}"
                    for err in e.errors()]
        raise PluginHostError(f"the {event} payload is not valid: {'; '.join(problems)}",
                              code="invalid_payload", status=422) from None
    return payload


def example(event: str, **fields: Any) -> dict[str, Any]:
    """A valid payload of ``event`` for tests, with ``fields`` changed (SDK builders)."""
    base: dict[str, Any] = {
        "biblionumber": 42, "itemnumber": 7, "borrowernumber": 51, "reserve_id": 3,
        "issue_id": 12, "branchcode": "CPL", "job_id": 9, "type": "batch_item_record_modification",
        "status": "finished", "date_due": "2026-12-24T23:59:00", "returndate":
        "2026-12-01T10:00:00", "day": "2026-12-01", "message_ids": [1, 2]}
    model = EVENTS[event][1] if event in EVENTS else None
    if model is None:
        raise PluginHostError(unknown_event(event), code="unknown_event", status=404)
    payload = {k: v for k, v in base.items()
               if k in model.model_fields and model.model_fields[k].is_required()}
    payload.update(fields)
    return validate_payload(event, model.model_validate(payload).model_dump(mode="json"))


def markdown() -> str:
    """docs/plugins/koha-events.md: every event with its payload's fields, every slot."""
    import json

    lines = ["# Koha events and UI slots", "",
             "Generated from `plugin_host/koha.py` by `invoke schema` (a test fails when "
             "this page is not current). A manifest naming an event or slot not listed "
             "here is refused at pack, publish and install; `POST /hooks/EVENT` refuses an "
             "unknown event (404) and a payload missing a field or of the wrong type (422, "
             "naming the field). Payloads may carry more fields than listed: they are "
             "passed on.", "", "## Events", ""]
    for name, (meaning, model) in EVENTS.items():
        lines += [f"### `{name}`", "", meaning[0].upper() + meaning[1:] + ".", "",
                  "| field | type | required | meaning |", "| --- | --- | --- | --- |"]
        schema = model.model_json_schema()
        required = set(schema.get("required", []))
        for field, spec in schema["properties"].items():
            kind = spec.get("type") or " or ".join(
                s.get("type", json.dumps(s.get("const", s.get("enum"))))
                for s in spec.get("anyOf", []))
            if "enum" in spec:
                kind = " / ".join(f"`{v}`" for v in spec["enum"])
            if spec.get("format"):
                kind += f" ({spec['format']})"
            lines.append(f"| `{field}` | {kind} | {'yes' if field in required else 'no'} | "
                         f"{spec.get('description', '')} |")
        lines += ["", "```json", json.dumps(example(name)), "```", ""]
    lines += ["## UI slots", "", "| slot | where |", "| --- | --- |"]
    lines += [f"| `{name}` | {where} |" for name, where in SLOTS.items()]
    return "\n".join(lines) + "\n"
