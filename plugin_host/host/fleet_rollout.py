"""Rolling a declared plugin set out over a fleet, from the operator's machine (what
`plugin-host fleet apply` and the deploy run): declare it once (the hosts share the
database), then converge the hosts one at a time — the first is the canary — each
behind a health gate. If a host fails to converge or its plugins are not healthy
after ``settle`` seconds, the set before is declared again and every host already
touched converges back to it; the rollout stops there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..errors import PluginHostError


class FleetError(PluginHostError):
    code = "fleet_failed"


@dataclass
class Admin:
    """A host's admin API."""

    url: str
    token: str
    timeout: float = 300

    def call(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        try:
            r = httpx.request(method, f"{self.url.rstrip('/')}{path}", timeout=self.timeout,
                              headers={"Authorization": f"Bearer {self.token}"}, **kw)
        except httpx.HTTPError as e:
            raise FleetError(f"{self.url}: cannot reach the host ({e})") from None
        try:
            body = r.json()
        except ValueError:
            body = {}
        if r.status_code >= 400:
            message = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
            raise FleetError(f"{self.url}: {r.status_code}: {message or r.text[:300]}")
        return body


@dataclass
class Rollout:
    generation: int = 0
    #: host url → what its converge changed
    changes: dict[str, list[str]] = field(default_factory=dict)
    rolled_back: bool = False


def unhealthy(admin: Admin, desired: list[dict]) -> list[str]:
    """Why a host does not serve the declared set healthily (empty: it does)."""
    try:
        r = httpx.get(f"{admin.url.rstrip('/')}/readyz", timeout=10)
    except httpx.HTTPError as e:
        return [f"not reachable: {e}"]
    if r.status_code != 200:
        return [f"/readyz answered {r.status_code}"]
    plugins = {p["name"]: p for p in admin.call("GET", "/admin/plugins")["plugins"]}
    problems = []
    for want in desired:
        have = plugins.get(want["name"])
        if have is None:
            problems.append(f"{want['name']}: not installed")
        elif want["enabled"] and have["state"] != "enabled":
            problems.append(f"{want['name']}: {have['state']}"
                            + (f" ({have['error']})" if have.get("error") else ""))
    return problems


def rollout(hosts: list[str], token: str, declared: dict[str, Any], settle: float = 2.0,
            log: Callable[[str], None] = print) -> Rollout:
    """Declare ``declared`` and converge ``hosts`` in order (the first is the canary)."""
    if not hosts:
        raise FleetError("hosts: name at least one plugin host (--host URL)")
    admins = [Admin(h, token) for h in hosts]
    applied = admins[0].call("PUT", "/admin/fleet", json=declared)
    result = Rollout(generation=applied["generation"])
    log(f"declared generation {applied['generation']}: "
        + (", ".join(f"{p['name']} {p['version']}" for p in applied["plugins"]) or "no plugins"))
    touched: list[Admin] = []
    for i, admin in enumerate(admins):
        role = "canary" if i == 0 and len(admins) > 1 else "host"
        touched.append(admin)
        try:
            done = admin.call("POST", "/admin/fleet/converge")
            problems = list(done["errors"]) + list(done["drift"])
            if done["generation"] != applied["generation"]:
                problems.insert(0, f"it sees generation {done['generation']}, not "
                                   f"{applied['generation']}: it does not share "
                                   f"{admins[0].url}'s database (database_url)")
            if not problems:
                time.sleep(settle)
                problems = unhealthy(admin, applied["plugins"])
        except FleetError as e:
            problems = [e.message]
        if problems:
            log(f"{role} {admin.url}: FAILED: {'; '.join(problems)}")
            went_back = _roll_back(admins[0], touched, log)
            result.rolled_back = went_back is not None
            raise FleetError(f"generation {applied['generation']} failed on {admin.url} "
                             f"({'; '.join(problems)}); " + (
                                 f"the previous set was declared again and {went_back} of "
                                 f"{len(touched)} host(s) went back to it"
                                 if went_back is not None else
                                 "it is the first set declared, so there is none to go back "
                                 "to: the hosts it reached keep it"))
        result.changes[admin.url] = done["actions"]
        log(f"{role} {admin.url}: " + (", ".join(done["actions"]) or "no change"))
    changes = sum(len(c) for c in result.changes.values())
    log(f"fleet: {changes} change{'' if changes == 1 else 's'} on {len(admins)} "
        f"host{'' if len(admins) == 1 else 's'}, generation {result.generation}")
    return result


def roll_back(hosts: list[str], token: str, log: Callable[[str], None] = print) -> None:
    """Declare the set before the current one again and converge ``hosts`` in order."""
    if not hosts:
        raise FleetError("hosts: name at least one plugin host (--host URL)")
    admins = [Admin(h, token) for h in hosts]
    if _roll_back(admins[0], admins, log) is None:
        raise FleetError("there is no previous plugin set to roll back to")
    desired = admins[0].call("GET", "/admin/fleet")["desired"]["plugins"]
    for admin in admins:
        problems = unhealthy(admin, desired)
        if problems:
            raise FleetError(f"{admin.url} after the rollback: {'; '.join(problems)}")


def _roll_back(first: Admin, touched: list[Admin], log: Callable[[str], None]
               ) -> int | None:
    """Declare the previous set and converge ``touched``, each it can reach: how many went
    back; None if there is no previous set."""
    try:
        back = first.call("POST", "/admin/fleet/rollback")
    except FleetError as e:
        if "no previous" not in e.message:
            raise
        log("no previous set to go back to: the hosts keep what they converged to")
        return None
    log(f"declared the previous set again (generation {back['generation']})")
    went_back = 0
    for admin in touched:
        try:
            done = admin.call("POST", "/admin/fleet/converge")
        except FleetError as e:  # the others still go back; this one converges later
            log(f"could not roll back {admin.url}: {e.message}")
            continue
        went_back += 1
        log(f"rolled back {admin.url}: " + (", ".join(done["actions"]) or "no change")
            + ("" if done["converged"] else f" (still differs: {'; '.join(done['drift'])})"))
    return went_back


def status_lines(status: dict[str, Any]) -> list[str]:
    """``GET /admin/fleet`` as an operator reads it."""
    desired = status["desired"]
    lines = [f"declared generation {desired['generation']}: "
             + (", ".join(f"{p['name']} {p['version']}"
                          + ("" if p["enabled"] else " (disabled)")
                          for p in desired["plugins"]) or "nothing declared")]
    for h in status["hosts"]:
        state = "stale" if h["stale"] else ("in sync" if not h["drift"] else "DRIFT")
        lines.append(f"  {h['instance']}: {state}, generation {h['generation']}, "
                     f"release {h['release']}, seen {h['seen_at']}")
        lines += [f"    - {d}" for d in h["drift"]]
    if not status["hosts"]:
        lines.append("  no host has reported yet")
    return lines
