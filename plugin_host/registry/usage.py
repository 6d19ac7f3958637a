"""Active installs: hosts whose operator turned ``usage_reporting`` on tell the registry,
once a day, which plugins they run (``POST /api/v1/usage``: a random installation id the
host made for itself, and name + version per plugin; nothing else). The catalogue shows
each plugin's **active installs**: the installations that reported it in the last
``ACTIVE_DAYS`` days.

Reports are anonymous, so the count is an estimate an attacker could inflate; the
registry limits what one address may add (``PER_ADDRESS_PER_DAY`` new installations a
day), counts a plugin once per installation per day, and ignores plugins it does not
list."""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ..errors import PluginHostError
from .db import PluginRecord, UsageReport
from .metrics import USAGE_REPORTS

ACTIVE_DAYS = 7
PER_ADDRESS_PER_DAY = 50
KEEP_DAYS = 90
INSTALLATION = re.compile(r"^[0-9a-f]{32}$")


def today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def active_installs(s: Session, plugin: str | None = None) -> dict[str, int]:
    """plugin → installations that reported it in the last ACTIVE_DAYS days."""
    since = today() - datetime.timedelta(days=ACTIVE_DAYS - 1)
    stmt = select(UsageReport.plugin, func.count(func.distinct(UsageReport.installation))
                  ).where(UsageReport.day >= since).group_by(UsageReport.plugin)
    if plugin is not None:
        stmt = stmt.where(UsageReport.plugin == plugin)
    return {name: n for name, n in s.execute(stmt)}


class Usage:
    def __init__(self, sessions: sessionmaker):
        self.sessions = sessions
        self.seen: dict[tuple[str, str], set[str]] = defaultdict(set)  # (day, address) → ids

    def record(self, installation: str, plugins: list[dict[str, Any]],
               address: str) -> dict[str, Any]:
        """Count one report; returns what was counted."""
        if not INSTALLATION.match(installation):
            USAGE_REPORTS.labels("invalid").inc()
            raise PluginHostError("installation: 32 lower-case hex digits (a random id the "
                                  "host made)", code="invalid_request", status=422)
        day = today()
        key = (day.isoformat(), address)
        for old in [k for k in self.seen if k[0] != key[0]]:
            del self.seen[old]
        known = self.seen[key]
        if installation not in known and len(known) >= PER_ADDRESS_PER_DAY:
            USAGE_REPORTS.labels("refused").inc()
            raise PluginHostError(f"more than {PER_ADDRESS_PER_DAY} installations reported "
                                  "from one address today", code="too_many_reports", status=429)
        known.add(installation)
        wanted = {p["name"]: p["version"] for p in plugins}
        with self.sessions.begin() as s:
            listed = set(s.scalars(select(PluginRecord.name).where(
                PluginRecord.name.in_(list(wanted)))))
            already = set(s.scalars(select(UsageReport.plugin).where(
                UsageReport.installation == installation, UsageReport.day == day)))
            for name in sorted(listed - already):
                s.add(UsageReport(installation=installation, plugin=name, day=day,
                                  version=wanted[name]))
            s.query(UsageReport).filter(
                UsageReport.day < day - datetime.timedelta(days=KEEP_DAYS)).delete()
        USAGE_REPORTS.labels("counted").inc()
        return {"counted": sorted(listed), "ignored": sorted(set(wanted) - listed),
                "day": day.isoformat()}
