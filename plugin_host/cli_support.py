"""What every ``plugin-host`` command shares: domain errors printed as one line naming
the problem, with exit status 2; never a traceback."""

from __future__ import annotations

import functools
import sys
from typing import Any

import click

from .errors import ManifestError, PluginHostError


def friendly(fn: Any) -> Any:
    """Turn domain errors into a clear message and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ManifestError as e:
            click.secho("error: invalid plugin.toml", fg="red", err=True)
            for p in e.problems:
                click.echo(f"  - {p}", err=True)
            sys.exit(2)
        except PluginHostError as e:
            click.secho(f"error: {e.message}", fg="red", err=True)
            sys.exit(2)
        except OSError as e:
            click.secho(f"error: {e.filename or ''}: {e.strerror or e}", fg="red", err=True)
            sys.exit(2)

    return wrapper


class FullHelpGroup(click.Group):
    """A command group whose list shows each command's whole first sentence, wrapped
    rather than cut off with "..."; its sub-groups are the same."""

    group_class = type  # sub-groups made with @group.group() are FullHelpGroups too

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
