"""``ctx.upstream(NAME)``: the host calls a library service for a plugin, under the
policy its manifest declares (plugin_host/integrations.py) and the operator may
override: a rate limit (token bucket, and a daily quota), a circuit breaker, retries of
idempotent calls with exponential backoff and full jitter (tenacity) honouring
``Retry-After``, a timeout per attempt within the plugin call's own budget, and the
credentials, which only the host holds (OAuth 2 client credentials with the token
cached and refreshed once on a 401, or an API key in a header or the query). Redirects
are followed only while they stay under the upstream's base URL.

Refusals come back to the plugin as ``UpstreamUnavailable`` (circuit open, throttled,
retries spent) with a message saying which and for how long."""

from __future__ import annotations

import asyncio
import datetime
import posixpath
import random
import re
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx
from opentelemetry.trace import SpanKind
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from ..integrations import IDEMPOTENT, Upstream
from ..protocol import capabilities as caps
from ..protocol.capabilities import CapabilityRefused
from ..service import tracing
from . import metrics

#: headers the plugin may not set: the host's credentials and routing
RESERVED = {"authorization", "host", "cookie", "proxy-authorization"}


class Retryable(Exception):
    def __init__(self, outcome: str, message: str, retry_after: float | None = None,
                 answer: dict[str, Any] | None = None):
        super().__init__(message)
        self.outcome, self.message, self.retry_after, self.answer = \
            outcome, message, retry_after, answer


class Breaker:
    """closed → (``failures`` in a row) → open → (``reset`` s) → half-open: one trial
    call; its success closes, its failure opens again."""

    def __init__(self, failures: int, reset: float, on_change: Callable[[str], None]):
        self.limit, self.reset, self.on_change = failures, reset, on_change
        self.state, self.failures, self.opened_at, self.trial = "closed", 0, 0.0, False

    def _set(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.on_change(state)

    def allow(self) -> float | None:
        """None if a call may go; else the seconds until one may."""
        if self.state == "open":
            wait = self.opened_at + self.reset - time.monotonic()
            if wait > 0:
                return wait
            self._set("half_open")
        if self.state == "half_open":
            if self.trial:
                return 1.0
            self.trial = True
        return None

    def success(self) -> None:
        self.failures, self.trial = 0, False
        self._set("closed")

    def failure(self) -> None:
        self.failures += 1
        self.trial = False
        if self.state == "half_open" or self.failures >= self.limit:
            self.opened_at = time.monotonic()
            self._set("open")


class RateLimiter:
    def __init__(self, per_second: float, burst: int, per_day: int | None):
        self.rate, self.burst, self.per_day = per_second, burst, per_day
        self.tokens, self.stamp = float(burst), time.monotonic()
        self.day, self.used_today = "", 0

    def wait(self) -> float:
        """Seconds until the next call may go (0: now, and it is counted)."""
        today = datetime.datetime.now(datetime.UTC).date().isoformat()
        if today != self.day:
            self.day, self.used_today = today, 0
        if self.per_day is not None and self.used_today >= self.per_day:
            return float("inf")
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.used_today += 1
            return 0.0
        return (1 - self.tokens) / self.rate


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


class UpstreamClient:
    def __init__(self, plugin: str, name: str, upstream: Upstream, http: httpx.AsyncClient,
                 secret: Callable[[str], str | None], response_limit: int):
        self.plugin, self.name, self.up, self.http = plugin, name, upstream, http
        self.secret, self.response_limit = secret, response_limit
        self.breaker = Breaker(upstream.breaker.failures, upstream.breaker.reset_seconds,
                               self._breaker_changed)
        self.limiter = RateLimiter(upstream.rate.per_second, upstream.rate.burst,
                                   upstream.rate.per_day)
        self.token: tuple[str, float] | None = None  # (access token, expires at)
        self.token_lock = asyncio.Lock()
        self.last_error: str | None = None
        self._breaker_changed("closed")

    def _breaker_changed(self, state: str) -> None:
        metrics.UPSTREAM_BREAKER.labels(self.plugin, self.name).set(
            {"closed": 0, "half_open": 0.5, "open": 1}[state])

    def describe(self) -> dict[str, Any]:
        """The health view (a plugin's detail in the admin API)."""
        token = None if self.token is None else max(0, int(self.token[1] - time.time()))
        return {"url": self.up.url, "breaker": self.breaker.state,
                "consecutive_failures": self.breaker.failures, "last_error": self.last_error,
                "auth": self.up.auth.type, "token_expires_in": token,
                "used_today": self.limiter.used_today, "per_day": self.up.rate.per_day}

    def url_for(self, path: str) -> str:
        """``path`` under the base URL; anything that would leave it is refused."""
        if isinstance(path, str) and path.startswith("//"):  # another host, scheme-relative
            raise CapabilityRefused(caps.DENIED, f"ctx.upstream({self.name!r}): {path[:100]!r} "
                                    "leaves the upstream")
        if not isinstance(path, str) or not path.startswith("/") \
                or any(ord(c) < 33 or c in "\\#?" for c in path):
            raise CapabilityRefused(caps.ERROR, f"ctx.upstream({self.name!r}): the path "
                                    "must start with / and hold no spaces, query or fragment "
                                    "(pass params=)")
        decoded = unquote(path)
        if any(posixpath.normpath(p) != p.rstrip("/") and p != "/" for p in (path, decoded)) \
                or re.search(r"%(2f|5c|00|25)", path, re.I):
            raise CapabilityRefused(caps.DENIED, f"ctx.upstream({self.name!r}): {path!r} "
                                    "leaves the upstream's base path")
        url = self.up.url + path
        if urlsplit(url).netloc != urlsplit(self.up.url).netloc:
            raise CapabilityRefused(caps.DENIED, f"ctx.upstream({self.name!r}): {path!r} "
                                    "leaves the upstream")
        return url

    async def request(self, args: dict[str, Any], budget: float) -> dict[str, Any]:
        method = str(args.get("method", "GET")).upper()
        url = self.url_for(args.get("path", ""))
        params = args.get("params") or {}
        headers = {k: v for k, v in (args.get("headers") or {}).items()}
        if not isinstance(params, dict) or not all(
                isinstance(k, str) and isinstance(v, str | int | float | list)
                for k, v in params.items()):
            raise CapabilityRefused(caps.ERROR, "ctx.upstream: params are names and values")
        reserved = {k for k in headers if k.lower() in RESERVED | self._auth_header()}
        a = self.up.auth
        reserved |= {k for k in params if a.type == "api_key" and a.query
                     and k.lower() == a.query.lower()}
        if reserved:
            raise CapabilityRefused(caps.DENIED, f"ctx.upstream({self.name!r}): header "
                                    f"or parameter {sorted(reserved)[0]} is the host's to set")
        deadline = time.monotonic() + budget
        wait = self.breaker.allow()
        if wait is not None:
            self._count("rejected")
            raise CapabilityRefused(caps.UPSTREAM_UNAVAILABLE, f"upstream {self.name}: "
                                    f"circuit open after {self.breaker.failures} failures in "
                                    f"a row; calls fail fast for {wait:.0f} s more")
        await self._throttle(deadline)
        attempts = self.up.retries + 1 if method in IDEMPOTENT else 1
        try:
            async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(attempts), reraise=True,
                    retry=retry_if_exception_type(Retryable),
                    wait=lambda state: self._backoff(state, deadline)):
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        metrics.UPSTREAM_RETRIES.labels(self.plugin, self.name).inc()
                    answer = await self._attempt(method, url, params, headers,
                                                 args.get("body"), deadline)
        except Retryable as e:
            self.breaker.failure()
            self.last_error = e.message
            if e.answer is not None:  # the upstream's own last answer (a 5xx, a 429)
                return e.answer
            raise CapabilityRefused(caps.UPSTREAM_UNAVAILABLE, f"upstream {self.name}: "
                                    f"{e.message} (after {attempts} attempt(s))") from None
        self.breaker.success()
        return answer

    def _auth_header(self) -> set[str]:
        a = self.up.auth
        return {a.header.lower()} if a.type == "api_key" and a.header else set()

    async def _throttle(self, deadline: float) -> None:
        wait = self.limiter.wait()
        while wait > 0:
            if time.monotonic() + wait > deadline:
                self._count("throttled")
                metrics.UPSTREAM_THROTTLED.labels(self.plugin, self.name, "local").inc()
                why = "its daily quota is used up" if wait == float("inf") else \
                    f"its rate limit ({self.up.rate.per_second:g}/s) leaves no room"
                raise CapabilityRefused(caps.UPSTREAM_UNAVAILABLE,
                                        f"upstream {self.name}: throttled: {why}")
            await asyncio.sleep(wait)
            wait = self.limiter.wait()

    def _backoff(self, state: RetryCallState, deadline: float) -> float:
        exc = state.outcome.exception() if state.outcome else None
        base = self.up.backoff_ms / 1000 * 2 ** (state.attempt_number - 1)
        pause = random.uniform(0, base)  # full jitter
        if isinstance(exc, Retryable) and exc.retry_after is not None:
            pause = exc.retry_after
        if time.monotonic() + pause >= deadline - 0.05:
            raise exc if exc is not None else RuntimeError("no time left")
        return pause

    def _redirect(self, url: str, location: str) -> str | None:
        """Where a redirect leads, if that is still under the upstream's base URL (Alma
        answers an item look-up by barcode with a 302 to the item); else None."""
        target, base = urlsplit(urljoin(url, location)), urlsplit(self.up.url)
        if (target.scheme, target.netloc) != (base.scheme, base.netloc) \
                or not target.path.startswith(base.path.rstrip("/") + "/") or target.fragment:
            return None
        try:
            within = self.url_for(target.path[len(base.path.rstrip("/")):])
        except CapabilityRefused:
            return None
        return within + (f"?{target.query}" if target.query else "")

    async def _attempt(self, method: str, url: str, params: dict, headers: dict,
                       body: Any, deadline: float, refreshed: bool = False,
                       hops: int = 0) -> dict[str, Any]:
        timeout = min(self.up.timeout_ms / 1000, max(0.01, deadline - time.monotonic()))
        send_headers, send_params = dict(headers), dict(params)
        await self._authenticate(send_headers, send_params, deadline)
        start = time.perf_counter()
        with tracing.span(f"upstream {self.name} {method}", SpanKind.CLIENT, **{
                "koha.plugin": self.plugin, "koha.upstream": self.name,
                "http.request.method": method, "server.address": urlsplit(url).hostname,
                "url.path": urlsplit(url).path}) as span:
            tracing.inject_headers(send_headers)  # the service may join the trace
            r = await self._send(span, method, url, send_params, send_headers, body, timeout,
                                 start)
        if r.status_code == 401 and self.up.auth.type == "oauth2_client_credentials" \
                and not refreshed:
            self.token = None  # expired or revoked early: one new token, one more try
            return await self._attempt(method, url, params, headers, body, deadline, True,
                                       hops)
        if r.status_code in (301, 302, 303, 307, 308) and hops < 5 \
                and (target := self._redirect(url, r.headers.get("location", ""))):
            keep = r.status_code in (307, 308)
            return await self._attempt(method if keep else "GET", target, {}, headers,
                                       body if keep else None, deadline, refreshed, hops + 1)
        answer = {"status": r.status_code, "headers": dict(r.headers), "body": r.content}
        if r.status_code == 429:
            metrics.UPSTREAM_THROTTLED.labels(self.plugin, self.name, "upstream").inc()
            raise Retryable("throttled", "429 Too Many Requests",
                            retry_after(r.headers.get("retry-after")), answer)
        if r.status_code >= 500:
            raise Retryable("5xx", f"{r.status_code} from the upstream",
                            retry_after(r.headers.get("retry-after")), answer)
        return answer

    async def _send(self, span: Any, method: str, url: str, params: dict, headers: dict,
                    body: Any, timeout: float, start: float) -> httpx.Response:
        """One HTTP exchange, counted and traced, its answer held to the size limit."""
        outcome = "error"
        try:
            r = await self.http.request(method, url, params=params, headers=headers,
                                        content=body, timeout=timeout, follow_redirects=False)
            if len(r.content) > self.response_limit:
                raise CapabilityRefused(caps.HTTP_ERROR, f"upstream {self.name}: the answer "
                                        f"is larger than {self.response_limit} bytes")
            outcome = f"{r.status_code // 100}xx"
            span.set_attribute("http.response.status_code", r.status_code)
            return r
        except httpx.TimeoutException:
            outcome = "timeout"
            raise Retryable("timeout", f"no answer within {timeout:.2f} s") from None
        except httpx.HTTPError as e:
            raise Retryable("error", f"{type(e).__name__}: {e}") from None
        finally:
            span.set_attribute("koha.outcome", outcome)
            self._count(outcome, time.perf_counter() - start)

    async def _authenticate(self, headers: dict, params: dict, deadline: float) -> None:
        a = self.up.auth
        if a.type == "api_key":
            key = self._secret(a.key_secret)
            if a.header:
                headers[a.header] = f"{a.prefix} {key}" if a.prefix else key
            else:
                params[a.query] = key
        elif a.type == "oauth2_client_credentials":
            headers["Authorization"] = f"Bearer {await self._access_token(deadline)}"

    def _secret(self, name: str | None) -> str:
        value = self.secret(name or "")
        if value is None:
            raise CapabilityRefused(caps.SECRET_NOT_SET, f"upstream {self.name}: the "
                                    f"operator has not set {name} (plugin-host secrets set "
                                    f"{self.plugin} {name})")
        return value

    async def _access_token(self, deadline: float) -> str:
        async with self.token_lock:
            if self.token is not None and self.token[1] - time.time() > 30:
                return self.token[0]
            a = self.up.auth
            form = {"grant_type": "client_credentials", **({"scope": a.scope} if a.scope
                                                           else {})}
            outcome = "error"
            client = (self._secret(a.client_id_secret), self._secret(a.client_secret_secret))
            if a.client_auth == "body":
                form.update(client_id=client[0], client_secret=client[1])
            try:
                r = await self.http.post(
                    a.token_url or "", data=form, follow_redirects=False,
                    auth=client if a.client_auth == "basic" else None,
                    timeout=min(self.up.timeout_ms / 1000, max(0.01, deadline - time.monotonic())))
                body = r.json()
                if r.status_code != 200 or not isinstance(body.get("access_token"), str):
                    raise CapabilityRefused(caps.UPSTREAM_UNAVAILABLE, f"upstream {self.name}: "
                                            f"its token endpoint answered {r.status_code}")
                outcome = "ok"
            except (httpx.HTTPError, ValueError) as e:
                raise Retryable("error", f"token endpoint: {type(e).__name__}") from None
            finally:
                metrics.UPSTREAM_TOKENS.labels(self.plugin, self.name, outcome).inc()
            self.token = (body["access_token"], time.time() + float(body.get("expires_in", 300)))
            return self.token[0]

    def _count(self, outcome: str, seconds: float | None = None) -> None:
        metrics.UPSTREAM_REQUESTS.labels(self.plugin, self.name, outcome).inc()
        if seconds is not None:
            metrics.UPSTREAM_LATENCY.labels(self.plugin, self.name).observe(seconds)
