"""Tasks for developers, CI and operators: ``./dev --list`` shows them, ``./dev TASK --help``
their options. Each collection lives in ``ops/tasks/``; this file only composes them."""

from invoke import Collection

from ops.tasks import deploy, dev, env, infra, monitoring, release

ns = Collection(*dev.tasks, *release.tasks, deploy.deploy, deploy.known_hosts, deploy.testhosts,
                env.ns, infra.ns,
                monitoring.ns)
