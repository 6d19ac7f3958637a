"""``plugin-host backup``: back up, list, verify and restore the host's or the registry's
state (plugin_host/service/backup.py). Settings (data folder, database URL) come from
PLUGIN_HOST_* or PLUGIN_REGISTRY_* variables as for ``serve``, so the commands run with
the service's own environment file."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from .cli_support import FullHelpGroup, friendly
from .errors import PluginHostError
from .service import backup as b
from .service import backup_metrics as bm

SERVICE = click.argument("service", type=click.Choice(b.SERVICES))
DATA_DIR = click.option("--data-dir", type=click.Path(path_type=Path), default=None,
                        help="The service's data folder [from its settings]")
DATABASE_URL = click.option("--database-url", default=None,
                            help="The service's database [from its settings]")


def _settings(service: str, data_dir: Path | None, database_url: str | None) -> Any:
    from pydantic import ValidationError

    given = {k: v for k, v in (("data_dir", data_dir), ("database_url", database_url)) if v}
    try:
        if service == "host":
            from .host.settings import HostSettings
            return HostSettings(**given)
        from .registry.settings import RegistrySettings
        return RegistrySettings(**given)
    except ValidationError as e:
        err = e.errors()[0]
        prefix = "PLUGIN_HOST_" if service == "host" else "PLUGIN_REGISTRY_"
        raise PluginHostError(f"bad setting: {'.'.join(map(str, err['loc']))}: {err['msg']} "
                              f"(options, or {prefix}* variables)") from None


def _human(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


@click.group(cls=FullHelpGroup)
def backup() -> None:
    """Back up and restore the host's or the registry's state (docs/operations/backups.md)."""


@backup.command("run")
@SERVICE
@click.option("--to", "dest", required=True, type=click.Path(path_type=Path),
              help="Folder the archives go to")
@click.option("--keep", type=click.IntRange(min=1), default=7, show_default=True,
              help="Archives kept (the newest)")
@click.option("--no-database", is_flag=True,
              help="Only the data folder (another host backs up a shared database)")
@click.option("--metrics-dir", type=click.Path(path_type=Path), default=None,
              help="node_exporter's textfile folder: the outcome goes there for the alerts")
@click.option("--interval", default="1d", show_default=True,
              help="How often backups are meant to run (30m, 6h, 1d): the alerts measure "
                   "staleness against it, and --loop backs up when it has passed")
@click.option("--loop", is_flag=True,
              help="Keep running: back up whenever the newest archive is older than "
                   "--interval; after a deploy, carry on from the new release")
@DATA_DIR
@DATABASE_URL
@friendly
def backup_run(service: str, dest: Path, keep: int, no_database: bool,
               metrics_dir: Path | None, interval: str, loop: bool,
               data_dir: Path | None, database_url: str | None) -> None:
    """Back up SERVICE (host or registry) now, or with --loop whenever one is due."""
    settings = _settings(service, data_dir, database_url)
    every = bm.parse_duration(interval)

    def once() -> bool:
        started = time.monotonic()
        try:
            archive = b.create(service, settings.data_dir, settings.db_url, dest,
                               database=not no_database, keep=keep)
        except (PluginHostError, OSError) as e:
            message = e.message if isinstance(e, PluginHostError) else str(e)
            click.secho(f"error: backup of the {service} failed: {message}", fg="red", err=True)
            failed = True
        else:
            click.echo(f"backup {archive.path} ({_human(archive.size)}, "
                       f"{time.monotonic() - started:.1f} s; "
                       f"{len(b.archives(dest, service))} kept)", err=loop)
            failed = False
        if metrics_dir is not None:
            bm.write_metrics(metrics_dir, service, dest, interval=every, failed=failed,
                            duration=time.monotonic() - started)
        return not failed

    if not loop:
        if not once():
            sys.exit(2)
        return
    program = os.path.realpath(sys.argv[0])
    retry_at = 0.0
    if metrics_dir is not None:  # what the archives already say, before the first run
        bm.write_metrics(metrics_dir, service, dest, interval=every, failed=False, duration=0)
    while True:
        due = bm.due_in(dest, service, every) <= 0 and time.time() >= retry_at
        if due and not once():
            retry_at = time.time() + min(every, 600)
        wait = max(bm.due_in(dest, service, every), retry_at - time.time())
        time.sleep(min(60.0, max(1.0, wait)))  # wakes each minute to notice a new release
        if os.path.realpath(sys.argv[0]) != program:  # a new release was switched in
            click.echo("backup: a new release is installed; continuing from it", err=True)
            os.execv(sys.argv[0], sys.argv)


@backup.command("list")
@click.option("--from", "dest", required=True, type=click.Path(path_type=Path),
              help="Folder holding the archives")
@friendly
def backup_list(dest: Path) -> None:
    """The archives in a folder, oldest first."""
    found = b.archives(dest)
    for a in found:
        click.echo(f"{a.created:%Y-%m-%d %H:%M:%S}Z  {a.service:8}  {_human(a.size):>9}  {a.path}")
    if not found:
        click.echo(f"no backups in {dest}")


@backup.command("verify")
@click.argument("archive", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@friendly
def backup_verify(archive: Path) -> None:
    """Read ARCHIVE back and check every member against its manifest."""
    m = b.verify(archive)
    click.echo(f"OK {archive.name}: {m['service']} of release {m['release']}, made "
               f"{m['created']}, database {m['database'] or 'not included'}, "
               f"{len(m['files'])} files verified")


@backup.command("restore")
@SERVICE
@click.argument("archive", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation")
@DATA_DIR
@DATABASE_URL
@friendly
def backup_restore(service: str, archive: Path, yes: bool, data_dir: Path | None,
                   database_url: str | None) -> None:
    """Restore SERVICE from ARCHIVE (stop the service first). The data folder it
    replaces is kept beside it as DATA_DIR.before-restore-TIME."""
    settings = _settings(service, data_dir, database_url)
    m = b.verify(archive)
    if not yes:
        click.confirm(f"Replace the {service}'s database and {settings.data_dir} with the "
                      f"backup made {m['created']}?", abort=True)
    b.restore(archive, service, settings.data_dir, settings.db_url)
    click.echo(f"restored the {service} from {archive.name} (made {m['created']}); start "
               "the service again")
