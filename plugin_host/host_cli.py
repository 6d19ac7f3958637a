"""Host commands for operators and authors, against a host's admin API: ``status``,
``show``, ``upgrade``, ``rollback``, ``uninstall``, ``enable``, ``disable`` and
``config get|set`` (``install`` and ``secrets`` are beside them). The host is ``--url``
or PLUGIN_HOST_URL, the token ``--token`` or PLUGIN_HOST_ADMIN_TOKEN."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .cli_client import AS_JSON, HOST_TOKEN, HOST_URL, Api, emit
from .cli_support import FullHelpGroup, friendly
from .errors import PluginHostError


def _line(p: dict) -> str:
    extra = f" (previous {p['previous_version']})" if p.get("previous_version") else ""
    layers = ",".join(p.get("sandbox", {}).get("layers", []))
    return f"{p['name']:24} {p['version']:12} {p['state']:14} {layers}{extra}"


@click.command()
@HOST_URL
@HOST_TOKEN
@AS_JSON
@friendly
def status(url: str, token: str, as_json: bool) -> None:
    """The plugins installed on a host: version, state, sandbox layers."""
    body = Api(url, token).json("GET", "/admin/plugins")

    def human(b: dict) -> None:
        for p in b["plugins"]:
            click.echo(_line(p))
        if not b["plugins"]:
            click.echo("no plugins installed")
    emit(body, as_json, human)


@click.command()
@click.argument("name")
@HOST_URL
@HOST_TOKEN
@AS_JSON
@friendly
def show(name: str, url: str, token: str, as_json: bool) -> None:
    """One plugin: state, routes, hooks, config, secrets (set or not), warnings."""
    body = Api(url, token).json("GET", f"/admin/plugins/{name}")

    def human(p: dict) -> None:
        click.echo(_line(p))
        for method, path in p.get("routes", []):
            click.echo(f"  route  {method} /plugins/{name}/api{path}")
        for hook in p.get("hooks", []):
            click.echo(f"  hook   {hook}")
        for key, value in p.get("config", {}).items():
            click.echo(f"  config {key} = {json.dumps(value)}")
        for secret, state in p.get("secrets", {}).items():
            click.echo(f"  secret {secret}: {state}")
        for w in p.get("warnings", []):
            click.secho(f"  warning: {w}", fg="yellow")
    emit(body, as_json, human)


@click.command()
@click.argument("name")
@click.argument("range_", metavar="[RANGE]", required=False)
@click.option("--package", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Upgrade to this signed package instead of the registry's")
@HOST_URL
@HOST_TOKEN
@friendly
def upgrade(name: str, range_: str | None, package: Path | None, url: str, token: str) -> None:
    """Upgrade NAME live: to the newest release in RANGE from the registry [*], or to
    --package. No request fails; the config is kept; `rollback` goes back.

    Example: plugin-host upgrade book-notes ^1.2"""
    api = Api(url, token)
    if package is not None:
        if range_:
            raise PluginHostError("give a RANGE or --package, not both")
        body = api.json("POST", f"/admin/plugins/{name}/upgrade", content=package.read_bytes(),
                        headers={"Content-Type": "application/zip"})
        click.echo(f"upgraded {name} {body['previous_version']} → {body['version']}")
        return
    body = api.json("POST", f"/admin/plugins/{name}/upgrade", json={"range": range_ or "*"})
    for dep in body.get("installed", []):
        click.echo(f"installed {dep['name']} {dep['version']}")
    if body.get("upgraded"):
        click.echo(f"upgraded {name} {body['upgraded']['from']} → {body['upgraded']['to']}")
    else:
        click.echo(f"{name} {body['version']} is already the newest release in {range_ or '*'}")


def _lifecycle(action: str, help_: str):
    @click.command(action, help=help_)
    @click.argument("name")
    @HOST_URL
    @HOST_TOKEN
    @friendly
    def command(name: str, url: str, token: str) -> None:
        body = Api(url, token).json("POST", f"/admin/plugins/{name}/{action}")
        click.echo(f"{name} {body['version']}: {body['state']}")
    return command


rollback = _lifecycle("rollback", "Switch NAME back to the version before the current one, "
                                  "with no failed request.")
enable = _lifecycle("enable", "Start serving NAME again.")
disable = _lifecycle("disable", "Stop serving NAME (kept installed, with its data).")


@click.command()
@click.argument("name")
@click.option("--purge", is_flag=True, help="Also delete its kv data and secrets")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation")
@HOST_URL
@HOST_TOKEN
@friendly
def uninstall(name: str, purge: bool, yes: bool, url: str, token: str) -> None:
    """Uninstall NAME (its data kept unless --purge)."""
    if not yes:
        click.confirm(f"Uninstall {name}{' and delete its data' if purge else ''}?",
                      abort=True)
    Api(url, token).json("DELETE", f"/admin/plugins/{name}", params={"purge": purge})
    click.echo(f"uninstalled {name}" + (" and its data" if purge else " (its data kept)"))


@click.group(cls=FullHelpGroup)
def config() -> None:
    """A plugin's settings on a host."""


@config.command("get")
@click.argument("name")
@HOST_URL
@HOST_TOKEN
@AS_JSON
@friendly
def config_get(name: str, url: str, token: str, as_json: bool) -> None:
    """NAME's settings in force (its defaults under what was set)."""
    body = Api(url, token).json("GET", f"/admin/plugins/{name}")

    def human(cfg: dict) -> None:
        for key, value in cfg.items():
            click.echo(f"{key} = {json.dumps(value)}")
        for problem in body.get("config_problems", []):
            click.secho(f"warning: {problem}", fg="yellow")
    emit(body["config"], as_json, human)


def _value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text  # a bare word is a string


@config.command("set")
@click.argument("name")
@click.argument("pairs", nargs=-1, metavar="KEY=VALUE...")
@click.option("--replace", is_flag=True, help="Replace all settings (others to defaults)")
@HOST_URL
@HOST_TOKEN
@friendly
def config_set(name: str, pairs: tuple[str, ...], replace: bool, url: str, token: str) -> None:
    """Change NAME's settings: each VALUE is JSON (5, true, "x", [1]) or else a string.
    Checked whole by the host; nothing changes if one is wrong.

    Example: plugin-host config set book-notes openlibrary_url=https://ol.example.org"""
    api = Api(url, token)
    given = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise PluginHostError(f"{pair!r}: write KEY=VALUE")
        given[key] = _value(text)
    current = {} if replace else api.json("GET", f"/admin/plugins/{name}")["config"]
    body = api.json("PUT", f"/admin/plugins/{name}/config", json={**current, **given})
    for key, value in body["config"].items():
        click.echo(f"{key} = {json.dumps(value)}")


def _log_line(line: dict) -> str:
    import datetime as dt

    when = dt.datetime.fromtimestamp(line["time"]).strftime("%H:%M:%S.%f")[:-3]
    fields = " ".join(f"{k}={v}" for k, v in line.items()
                      if k not in ("seq", "time", "plugin", "level", "event"))
    return f"{when} [{line['level']}] {line['event']} {fields}".rstrip()


@click.command()
@click.argument("name")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C stops)")
@click.option("-n", "--lines", "limit", type=click.IntRange(1, 1000), default=50,
              show_default=True, help="How many of the last lines")
@HOST_URL
@HOST_TOKEN
@AS_JSON
@friendly
def logs(name: str, follow: bool, limit: int, url: str, token: str, as_json: bool) -> None:
    """NAME's own log lines (ctx.log, what it printed), apart from the host's.

    Example: plugin-host logs book-notes --follow"""
    api = Api(url, token)
    if not follow:
        body = api.json("GET", f"/admin/plugins/{name}/logs", params={"limit": limit})
        emit(body["lines"], as_json, lambda ls: [click.echo(_log_line(x)) for x in ls])
        return
    import httpx

    try:
        with httpx.stream("GET", f"{api.url}/admin/plugins/{name}/logs",
                          params={"follow": "true", "limit": limit}, timeout=None,
                          headers={"Authorization": f"Bearer {token}"}) as r:
            if r.status_code != 200:
                r.read()
                from .cli_client import ApiError
                raise ApiError(r)
            for raw in r.iter_lines():
                if raw:
                    click.echo(raw if as_json else _log_line(json.loads(raw)))
    except KeyboardInterrupt:
        pass
    except httpx.HTTPError as e:
        raise PluginHostError(f"the stream from {url} ended: {e}") from None


def _trace_text(t: dict) -> None:
    status = f" → {t['status']}" if "status" in t else ""
    ms = f"{t['ms']:.1f} ms" if t.get("ms") is not None else "running"
    click.echo(f"{t['correlation_id']}  {t['plugin']} {t['version']}  {t['call']}{status}  "
               f"{t['outcome']}  {ms}")
    for c in t["caps"]:
        click.echo(f"    {c['op']:14} {c['what']:50} {c['ms']:8.2f} ms  {c['outcome']}")


@click.command()
@click.argument("target")
@HOST_URL
@HOST_TOKEN
@AS_JSON
@friendly
def trace(target: str, url: str, token: str, as_json: bool) -> None:
    """The trace of one call by its correlation id (the X-Correlation-ID of its answer),
    or a plugin's last calls: each capability request with its time and outcome.

    \b
    Example:
      plugin-host trace 0c3f…            # one call, in every plugin it reached
      plugin-host trace book-notes       # book-notes' last calls, newest first"""
    api = Api(url, token)
    from .cli_client import ApiError

    try:
        body = api.json("GET", f"/admin/plugins/{target}/traces")
    except ApiError as e:
        if e.status != 404:
            raise
        body = api.json("GET", f"/admin/traces/{target}")
    emit(body["traces"], as_json, lambda ts: [_trace_text(t) for t in ts])


def speedscope(profile: dict) -> dict:
    """A speedscope file (https://www.speedscope.app/file-format-schema.json, "sampled")
    from folded stacks and their counts."""
    import re

    frames: list[dict] = []
    index: dict[str, int] = {}
    samples, weights = [], []
    for stack, count in sorted(profile["samples"].items()):
        ids = []
        for name in stack.split(";"):
            if name not in index:
                m = re.fullmatch(r"(.*) \((.*):(\d+)\)", name)
                index[name] = len(frames)
                frames.append({"name": m[1], "file": m[2], "line": int(m[3])} if m
                              else {"name": name})
            ids.append(index[name])
        samples.append(ids)
        weights.append(count * profile["interval_ms"])
    total = sum(weights)
    return {"$schema": "https://www.speedscope.app/file-format-schema.json",
            "exporter": "plugin-host profile", "name": f"{profile['plugin']} {profile['route']}",
            "shared": {"frames": frames},
            "profiles": [{"type": "sampled", "name": f"{profile['plugin']} {profile['route']} "
                                                     f"x {profile['calls']}",
                          "unit": "milliseconds", "startValue": 0, "endValue": total,
                          "samples": samples, "weights": weights}]}


@click.command()
@click.argument("name")
@click.option("--route", "route", required=True, metavar="'METHOD /PATH'",
              help="The route to call, e.g. 'GET /hello/Ada' (a bare path means GET)")
@click.option("--calls", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("-o", "--out", type=click.Path(path_type=Path), default=None,
              help="The flame graph file [NAME.speedscope.json]")
@click.option("--folded", is_flag=True, help="Write folded stacks (flamegraph.pl, inferno) "
                                             "instead of speedscope JSON")
@HOST_URL
@HOST_TOKEN
@friendly
def profile(name: str, route: str, calls: int, out: Path | None, folded: bool, url: str,
            token: str) -> None:
    """Call one of NAME's routes CALLS times while its worker samples the handler's
    stack, and write a flame graph: open it at https://www.speedscope.app (or
    `npx speedscope FILE`).

    Example: plugin-host profile book-notes --route 'GET /title/9780441013593' --calls 20"""
    method, _, path = route.strip().rpartition(" ")
    body = Api(url, token).json("POST", f"/admin/plugins/{name}/profile", json={
        "method": method or "GET", "path": path, "calls": calls})
    total = sum(body["samples"].values())
    out = out or Path(f"{name}.{'folded' if folded else 'speedscope.json'}")
    if folded:
        out.write_text("".join(f"{stack} {n}\n" for stack, n in sorted(body["samples"].items())))
    else:
        out.write_text(json.dumps(speedscope(body)))
    click.echo(f"{body['route']}, {body['calls']} calls: median {body['ms']['median']:.2f} ms, "
               f"max {body['ms']['max']:.2f} ms; statuses {body['statuses']}; {total} samples")
    if not total:
        click.echo("  no samples: each call took under the 1 ms sampling interval; give "
                   "more --calls, or profile a slower route")
    inclusive: dict[str, int] = {}
    for stack, n in body["samples"].items():
        for frame in set(stack.split(";")):
            inclusive[frame] = inclusive.get(frame, 0) + n
    for frame, n in sorted(inclusive.items(), key=lambda x: -x[1])[:8]:
        click.echo(f"  {100 * n / max(total, 1):5.1f}%  {frame}")
    click.echo(f"flame graph: {out}")
