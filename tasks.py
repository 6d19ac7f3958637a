"""Tasks for developers, CI and operators: ``./dev`` shows them by who uses them,
``./dev --list`` lists all of them, ``./dev TASK --help`` shows their options. Each
collection lives in ``ops/tasks/``; this file only composes them."""

from invoke import Collection

from ops.tasks import deploy, dev, env, infra, monitoring, release

ns = Collection(*dev.tasks, dev.overview, *release.tasks, deploy.deploy, deploy.known_hosts,
                deploy.testhosts, env.ns, infra.ns, monitoring.ns)
