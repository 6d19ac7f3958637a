"""An example for each ``plugin-host`` command whose own help has none, added under its
``--help`` (a test checks every command has one)."""

from __future__ import annotations

import click

#: an example for each command whose own help has none (shown under its --help)
EXAMPLES = {
    "serve": "plugin-host serve --port 8080 --data-dir /var/lib/koha/host "
             "--trusted-key keys/ --registry-url https://index.example.org "
             "--registry-root root.json",
    "sandbox": "plugin-host sandbox --json",
    "registry serve": "plugin-host registry serve --port 8090 --data-dir /var/lib/koha/registry",
    "registry index": "plugin-host registry index --refresh",
    "registry rotate-keys": "plugin-host registry rotate-keys timestamp snapshot",
    "install": "plugin-host install hello-world@^1 --url http://127.0.0.1:8080",
    "plugin new": "plugin-host plugin new shelf-check --author 'Jane <jane@example.org>'",
    "plugin pack": "plugin-host plugin pack shelf-check",
    "plugin verify": "plugin-host plugin verify dist/shelf-check-0.1.0.kplugin "
                     "--trusted-key keys/me.pub",
    "plugin schema": "plugin-host plugin schema > plugin-manifest.schema.json",
    "keys generate": "plugin-host keys generate keys/me",
    "fleet apply": "plugin-host fleet apply plugins.json --host http://h1:8080 "
                   "--host http://h2:8080",
    "fleet status": "plugin-host fleet status --url http://h1:8080",
    "fleet converge": "plugin-host fleet converge --host http://h1:8080 --host http://h2:8080",
    "fleet rollback": "plugin-host fleet rollback --host http://h1:8080 --host http://h2:8080",
    "backup run": "plugin-host backup run registry --to /var/backups/koha/registry",
    "backup list": "plugin-host backup list --from /var/backups/koha/registry",
    "backup verify": "plugin-host backup verify /var/backups/koha/registry/"
                     "registry-20261202T030000Z.tar.gz",
    "backup restore": "plugin-host backup restore registry /var/backups/koha/registry/"
                      "registry-20261202T030000Z.tar.gz",
    "status": "plugin-host status --url http://127.0.0.1:8080 --json",
    "show": "plugin-host show book-notes",
    "hook": "echo '{\"biblionumber\": 42}' | plugin-host hook biblio.after_save --payload -",
    "rollback": "plugin-host rollback book-notes",
    "enable": "plugin-host enable book-notes",
    "disable": "plugin-host disable book-notes",
    "uninstall": "plugin-host uninstall book-notes --purge --yes",
    "config get": "plugin-host config get book-notes --json",
    "logout": "plugin-host logout --registry https://plugins.example.org",
    "review list": "plugin-host review list --json",
    "review show": "plugin-host review show shelf-check 0.2.0",
    "review download": "plugin-host review download shelf-check 0.2.0 -o review.kplugin",
    "review diff": "plugin-host review diff shelf-check 0.2.0",
    "review approve": "plugin-host review approve shelf-check 0.2.0 --comment 'thanks'",
    "review reject": "plugin-host review reject shelf-check 0.2.0 --comment 'sends patron "
                     "names to a third party'",
}


def add_examples(group: click.Group, path: tuple[str, ...] = ()) -> None:
    for name, cmd in group.commands.items():
        key = " ".join((*path, name))
        if isinstance(cmd, click.Group):
            add_examples(cmd, (*path, name))
        elif key in EXAMPLES and "Example" not in (cmd.help or ""):
            cmd.help = f"{(cmd.help or '').rstrip()}\n\nExample: {EXAMPLES[key]}"


