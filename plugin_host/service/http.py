"""HTTP plumbing both services share: domain errors mapped to JSON answers in one place,
correlation ids, and reading request bodies (uploaded packages, JSON objects) with
clear refusals.

Every error answer has the same shape::

    {"error": {"code": "...", "message": "...", "problems": [...], "correlation_id": "..."}}
"""

from __future__ import annotations

import itertools
import json
import os
import re
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import PluginHostError, field_problems

log = structlog.get_logger("plugin_host.http")

#: Headers that describe one connection, not the message (RFC 9110 7.6.1): a plugin
#: neither sees nor sets them.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "trailers", "transfer-encoding", "upgrade", "proxy-connection"}
#: an HTTP token (RFC 9110 5.6.2) and a field value without control characters
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$")
HEADER_VALUE = re.compile(r"^[\t\x20-\x7e\x80-\xff]{0,8192}$")
CID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
PACKAGE_TYPES = {"application/zip", "application/octet-stream", "application/x-kplugin"}
#: how a package upload is declared in the OpenAPI documents: raw bytes as
#: application/octet-stream, which client generators turn into a file argument
#: (application/zip, which they skip, is accepted all the same)
PACKAGE_BODY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, for programs: e.g. invalid_request, not_found")
    message: str = Field(description="for people: what was wrong, naming the field")
    problems: list[str] | None = Field(default=None, description="each problem, by key")
    correlation_id: str | None = Field(default=None, description="find it in the log")


class ErrorBody(BaseModel):
    """Every error answer of both services."""

    error: ErrorDetail


ERROR_MEANINGS = {
    400: "the request could not be read", 401: "no token, or one that is unknown or revoked",
    403: "the caller's role may not do this", 404: "no such thing",
    405: "the method is not allowed here (Allow lists those that are)",
    409: "it conflicts with the current state", 413: "the body is larger than allowed",
    415: "the body is not of the type asked for",
    422: "invalid input: each problem names the field",
    429: "too many requests: wait and try again (Retry-After when known)",
    500: "a plugin's handler raised, or an unexpected error (see the log)",
    501: "this server is not configured for it",
    502: "a plugin's worker crashed or answered badly, or the index failed verification",
    503: "not available now: starting, busy, crash-looping, or a dependency is unreachable",
    504: "the plugin's call took longer than its timeout",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can return."""
    return {s: {"model": ErrorBody, "description": ERROR_MEANINGS[s]} for s in statuses}


class Answer(BaseModel):
    """Base of the documented answers: every field a client may read is declared (typed
    clients come out of the OpenAPI documents); fields added later are let through."""

    model_config = ConfigDict(extra="allow")


def answers(model: type[BaseModel], *errors: int, status: int = 200) -> dict[str, Any]:
    """A route's decorator arguments documenting its answer: ``model`` (its schema and
    examples) for ``status`` and the error body for ``errors``. The route's own dict is
    sent as it is (nothing filtered); tests/test_openapi.py and the schemathesis run keep
    the two in step."""
    doc = " ".join((model.__doc__ or "").strip().split("\n\n")[0].split())
    return {"response_model": None,
            "responses": {status: {"model": model, "description": doc or model.__name__},
                          **error_responses(*errors)}}


def example(*values: dict[str, Any]) -> ConfigDict:
    """An answer model's config with examples (shown in the API reference)."""
    return ConfigDict(extra="allow", json_schema_extra={"examples": list(values)})


def redirect_to(example_location: str, description: str = "a redirect") -> dict[str, Any]:
    """A redirect answer, documented with an example ``Location``."""
    return {"description": description, "headers": {"Location": {
        "schema": {"type": "string"}, "example": example_location}}}


def request_example(value: Any, media: str = "application/json") -> dict[str, Any]:
    """A route's ``openapi_extra`` showing an example request body."""
    return {"requestBody": {"content": {media: {"example": value}}}}


def operation_id(route: Any) -> str:
    """A route's OpenAPI operation id: its function's name (``list_plugins``,
    ``install_plugin``), so generated clients read like the API, not like FastAPI's
    ``list_plugins_admin_plugins_get``. tests/test_openapi.py keeps them unique."""
    return str(route.name)


class _Ids:
    """Correlation ids: 32 hex digits, a random prefix per process and a counter (made
    per request: a random id each time cost more than the rest of routing a call)."""

    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)  # a forked server gets its own

    def reseed(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count(int.from_bytes(os.urandom(4), "big"))

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFF_FFFF_FFFF_FFFF:016x}"


new_correlation_id = _Ids()


def correlation_id(request: Request) -> str:
    """The caller's ``X-Request-ID`` if it is a sane token, else a new id; kept on the
    request so error answers carry it."""
    given = request.headers.get("x-request-id", "")
    cid = given if CID_RE.match(given) else new_correlation_id()
    request.scope["correlation_id"] = cid
    return cid


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}},
                        status_code=status, headers=headers)


def install_error_handlers(app: FastAPI, service: str) -> None:
    """Map every error to the one JSON shape: domain errors with their status (401s with
    ``WWW-Authenticate``), validation errors as 422 naming each field, anything
    unexpected as 500 with a correlation id to find it in ``service``'s log."""

    _document_validation_errors(app)

    @app.exception_handler(PluginHostError)
    async def domain_error(request: Request, exc: PluginHostError) -> JSONResponse:
        extra: dict[str, Any] = {}
        problems = getattr(exc, "problems", None)
        if problems:
            extra["problems"] = problems
        extra.update(getattr(exc, "details", None) or {})
        cid = request.scope.get("correlation_id")
        if cid:
            extra["correlation_id"] = cid
        resp = error_response(exc.status, exc.code, exc.message, **extra)
        resp.headers.update(getattr(exc, "headers", None) or {})
        if exc.status == 401:
            resp.headers["WWW-Authenticate"] = "Bearer"
        if cid:
            resp.headers["X-Correlation-ID"] = cid
        return resp

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = field_problems(exc.errors())
        return error_response(422, "invalid_request", "; ".join(problems), problems=problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's own JSON parsing failed (not JSON, or nested too deeply)
            return error_response(422, "invalid_request",
                                  "the body is not JSON, or is nested too deeply")
        return error_response(exc.status_code, "http_error", str(exc.detail),
                              headers=getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def database_down(request: Request, exc: Exception) -> JSONResponse:
        """The database went away: say so (503, try again), not 'unexpected error'."""
        cid = request.scope.get("correlation_id") or new_correlation_id()
        log.warning("database.unavailable", correlation_id=cid, path=request.url.path,
                    error=str(getattr(exc, "orig", exc)).splitlines()[0][:200])
        return error_response(503, "database_unavailable",
                              f"the {service}'s database does not answer; running plugins "
                              "still serve, try this again shortly", correlation_id=cid,
                              headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        cid = request.scope.get("correlation_id") or new_correlation_id()
        log.exception("http.unexpected_error", correlation_id=cid, path=request.url.path)
        return error_response(500, "internal_error",
                              f"unexpected error; see the {service} log for correlation id "
                              f"{cid}", correlation_id=cid)


def _document_validation_errors(app: FastAPI) -> None:
    """FastAPI documents a route's invalid input with its own ``HTTPValidationError``;
    the answer is the one error body (``invalid_request``, a problem per field), so the
    documents say that."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = build()
        ref = {"$ref": "#/components/schemas/ErrorBody"}
        for item in doc.get("paths", {}).values():
            for op in item.values():
                answer = op.get("responses", {}).get("422")
                media = (answer or {}).get("content", {}).get("application/json", {})
                if media.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                    answer["description"] = ERROR_MEANINGS[422]
                    media["schema"] = ref
        schemas = doc.get("components", {}).get("schemas", {})
        if "HTTPValidationError" in schemas:
            del schemas["HTTPValidationError"], schemas["ValidationError"]
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


async def read_body(request: Request, limit: int, what: str = "the request body",
                    code: str = "too_large") -> bytes:
    """The request body, refused with 413 as soon as its declared length or the bytes
    streamed so far pass ``limit``: never read whole, then checked."""
    too_big = PluginHostError(f"{what} is larger than this server accepts ({limit} bytes)",
                              code=code, status=413)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


async def package_body(request: Request, limit: int) -> bytes:
    """The uploaded package: the request body, sent as application/zip. Past ``limit``
    bytes the upload is refused (413) without reading the rest."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    if ctype not in PACKAGE_TYPES:
        raise PluginHostError("send the package as the body with Content-Type: "
                              "application/zip", code="unsupported_media_type", status=415)
    data = await read_body(request, limit, "the package", "package_too_large")
    if not data:
        raise PluginHostError("the request body is empty: send the .kplugin file",
                              code="invalid_package", status=422)
    return data


def parse_json(data: bytes, what: str = "the body") -> Any:
    """JSON from a request, or a 422 naming what is wrong: not JSON, nested too deep,
    or holding a value that cannot be carried on (a lone surrogate, an integer beyond
    64 bits)."""
    try:
        value = json.loads(data) if data else None
    except RecursionError:
        raise PluginHostError(f"{what} is nested too deeply", code="invalid_request",
                              status=422) from None
    except ValueError as e:
        raise PluginHostError(f"{what} is not JSON: {e}", code="invalid_request",
                              status=422) from None
    problem = unrepresentable(value)
    if problem:
        raise PluginHostError(f"{what}: {problem}", code="invalid_request", status=422)
    return value


def unrepresentable(value: Any, depth: int = 0) -> str | None:
    """Why ``value`` cannot be stored or sent to a plugin (msgpack, UTF-8); None if it
    can."""
    if depth > 64:
        return "nested more than 64 levels deep"
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return None
    if isinstance(value, int):
        return None if -(2**63) <= value < 2**64 else f"the integer {value} is beyond 64 bits"
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "a string holds a lone surrogate (not valid Unicode)"
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            problem = unrepresentable(k, depth + 1) or unrepresentable(v, depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, list):
        for v in value:
            problem = unrepresentable(v, depth + 1)
            if problem:
                return problem
        return None
    return f"{type(value).__name__} is not a JSON value"


async def json_body(request: Request, limit: int = 1024 * 1024) -> dict[str, Any]:
    """The request's JSON object (at most ``limit`` bytes), or a 413/422 saying why not."""
    body = parse_json(await read_body(request, limit))
    if not isinstance(body, dict):
        raise PluginHostError("the body must be a JSON object", code="invalid_request",
                              status=422)
    return body
