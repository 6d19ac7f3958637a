"""The errors a capability call raises when the host refuses it."""

from __future__ import annotations

from ..protocol import capabilities as caps


class CapabilityError(Exception):
    """A capability call the host refused; ``code`` says why. The others are kinds of it.

    Examples:
        >>> try:
        ...     ctx.http.get("https://example.com/")
        ... except CapabilityError as e:
        ...     print(e.code)
        capability_denied
    """

    code = caps.ERROR

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class PermissionDenied(CapabilityError):
    """Outside the plugin's permissions: a host:port not in ``permissions.network``, a
    secret not in ``permissions.secrets``.

    Examples:
        >>> try:
        ...     ctx.http.get("https://example.com/")
        ... except PermissionDenied as e:
        ...     print(e.message)
        ctx.http: example.com:443 is not in permissions.network
    """

    code = caps.DENIED


class QuotaExceeded(CapabilityError):
    """A ``ctx.kv.set`` that would pass ``permissions.kv_quota``.

    Examples:
        >>> try:
        ...     ctx.kv.set("big", "x" * 100_000)
        ... except QuotaExceeded:
        ...     ctx.log.warning("note.too_big")
    """

    code = caps.QUOTA_EXCEEDED


class UpstreamUnavailable(CapabilityError):
    """``ctx.upstream`` could not get an answer: the circuit is open after repeated
    failures, a rate limit or daily quota leaves no room, or every retry failed. The
    message says which and for how long.

    Examples:
        >>> def lookup(isbn):
        ...     try:
        ...         return ctx.upstream("worldcat").get("/brief-bibs", params={"q": isbn})
        ...     except UpstreamUnavailable as e:
        ...         return Response(503, {"error": e.message}, {"retry-after": "30"})
    """

    code = caps.UPSTREAM_UNAVAILABLE


ERRORS = {cls.code: cls for cls in (CapabilityError, PermissionDenied, QuotaExceeded,
                                    UpstreamUnavailable)}
