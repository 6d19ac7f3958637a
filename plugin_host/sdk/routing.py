"""Route templates (``/greet/{name}``, ``/files/{rest:path}``) shared by host and SDK."""

from __future__ import annotations

import re
from dataclasses import dataclass

PARAM_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(path))?\}")
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


@dataclass(frozen=True)
class RouteTemplate:
    method: str
    template: str
    regex: re.Pattern[str]

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        m = self.regex.fullmatch(path)
        return m.groupdict() if m else None


def compile_route(method: str, template: str) -> RouteTemplate:
    method = method.upper()
    if method not in METHODS:
        raise ValueError(f"unsupported HTTP method {method!r}")
    if not template.startswith("/"):
        raise ValueError(f"route {template!r} must start with '/'")
    pattern, pos = "", 0
    for m in PARAM_RE.finditer(template):
        pattern += re.escape(template[pos:m.start()])
        pattern += f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)"
        pos = m.end()
    pattern += re.escape(template[pos:])
    return RouteTemplate(method, template, re.compile(pattern))


def match_routes(routes: list[RouteTemplate], method: str, path: str
                 ) -> tuple[int, RouteTemplate, dict[str, str]] | bool | None:
    """(index, route, params) of the first match; False if only the method differs."""
    path_matched = False
    for i, r in enumerate(routes):
        params = r.match(method, path)
        if params is not None:
            return i, r, params
        if r.regex.fullmatch(path):
            path_matched = True
    return False if path_matched else None
