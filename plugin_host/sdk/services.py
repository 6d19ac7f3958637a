"""What an integration plugin answers when a library service did not give what was
asked: the same statuses and error bodies whatever the service, so a page (or another
plugin) handles WorldCat, Alma and Koha alike::

    from plugin_host.sdk.services import failure, unavailable

    try:
        r = ctx.upstream("alma").get(f"/bibs/{mms_id}")
    except UpstreamUnavailable as e:
        return unavailable("alma", e)
    if r.status != 200:
        return failure("alma", r, detail=alma_message(r))

- the record is not there: **404**;
- the request was wrong (the service said 400 or 406): **400**;
- the service refused the host's credentials (401, 403): **502**, naming the secrets;
- the service is throttling (429): **503** with its ``Retry-After``;
- it failed (5xx) or could not be reached (``UpstreamUnavailable``): **502** / **503**.
"""

from __future__ import annotations

from . import HttpResponse, Response, UpstreamUnavailable

__all__ = ["failure", "unavailable"]


def failure(service: str, r: HttpResponse, detail: str | None = None,
            not_found: bool = False) -> Response:
    """The plugin's answer for the service's non-success answer ``r``; ``not_found``
    for services that say "not found" with another status (Alma answers 400)."""
    said = f"{service} answered {r.status}" + (f": {detail}" if detail else "")
    if r.status == 404 or not_found:
        return Response(404, {"error": detail or "not found", "service": service})
    if r.status in (400, 406, 422):
        return Response(400, {"error": said, "service": service})
    if r.status in (401, 403):
        return Response(502, {"error": f"{said}; the host's credentials for {service} are "
                                        "wrong or lack a permission (plugin-host secrets set)",
                              "service": service})
    if r.status == 429:
        after = {k.lower(): v for k, v in r.headers.items()}.get("retry-after")
        return Response(503, {"error": said, "service": service},
                        {"Retry-After": after} if after else {})
    return Response(502, {"error": said, "service": service})


def unavailable(service: str, e: UpstreamUnavailable) -> Response:
    """The plugin's answer when the host could not get one (circuit open, throttled,
    timed out after its retries)."""
    return Response(503, {"error": e.message, "service": service})
