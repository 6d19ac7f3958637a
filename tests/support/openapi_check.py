"""What the API reference must hold for every operation of an OpenAPI document: a
summary, a description, an example of its request body (if it takes one) and of each
answer it gives, a typed schema for its JSON answers, and at least one documented error
status, each with the one error body. Returns the gaps, one line each."""

from __future__ import annotations

from typing import Any

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
#: operations that cannot answer with an error of their own (nothing they do can fail
#: but the server itself)
NO_ERRORS = {"healthz"}
#: operations whose error answers have their own documented shape: a probe answers its
#: state (503: starting) in the shape of its 200
OWN_ERROR_BODY = {"readyz"}
#: bodies whose schema says all there is: raw bytes (packages, downloads)
SELF_DESCRIBING = ({"type": "string", "format": "binary"},)


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        return doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def _has_example(doc: dict[str, Any], media: dict[str, Any]) -> bool:
    if "example" in media or "examples" in media:
        return True
    schema = media.get("schema") or {}
    if schema in SELF_DESCRIBING:
        return True
    return bool(_resolve(doc, schema).get("examples"))


def _typed(doc: dict[str, Any], schema: dict[str, Any]) -> bool:
    """A schema a client generator turns into a type: a model with properties, or a
    list, string or binary; not a bare object of anything."""
    s = _resolve(doc, schema)
    return bool(s.get("properties") or s.get("type") in ("string", "array")
                or s.get("anyOf") or s.get("oneOf"))


def gaps(doc: dict[str, Any]) -> list[str]:
    out = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path} ({op.get('operationId')})"
            if not op.get("summary"):
                out.append(f"{where}: no summary")
            if not (op.get("description") or "").strip():
                out.append(f"{where}: no description")
            for media_type, media in (op.get("requestBody") or {}).get("content", {}).items():
                if not _has_example(doc, media):
                    out.append(f"{where}: no example request ({media_type})")
            answers = {s: r for s, r in op["responses"].items() if s[0] in "123"}
            if not answers:
                out.append(f"{where}: no success answer documented")
            for status, answer in answers.items():
                content = answer.get("content") or {}
                if status.startswith("3"):
                    if not answer.get("headers", {}).get("Location", {}).get("example"):
                        out.append(f"{where}: {status} has no example Location")
                    continue
                if status == "204":
                    continue
                if not content:
                    out.append(f"{where}: {status} has no content")
                for media_type, media in content.items():
                    if not _has_example(doc, media):
                        out.append(f"{where}: {status} {media_type} has no example")
                    if media_type == "application/json" and not _typed(doc, media.get(
                            "schema") or {}):
                        out.append(f"{where}: {status} has no typed schema")
            errors = {s: r for s, r in op["responses"].items() if s[0] in "45"}
            if not errors and op.get("operationId") not in NO_ERRORS:
                out.append(f"{where}: no error status documented")
            for status, answer in errors.items():
                schema = (answer.get("content") or {}).get("application/json", {}).get("schema")
                if schema != ERROR_REF and op.get("operationId") not in OWN_ERROR_BODY:
                    out.append(f"{where}: {status} is not documented with the error body")
    return out
