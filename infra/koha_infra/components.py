"""What every component shares: its children's resource options."""

from __future__ import annotations

from pulumi import ComponentResource, ResourceOptions


def child_opts(parent: ComponentResource, **kw) -> ResourceOptions:
    """Options for a child resource of ``parent`` (extra options such as a provider)."""
    return ResourceOptions(parent=parent, **kw)


def services(i: int) -> str:
    """What host ``i`` runs, as ``infra.inventory`` assigns it: the first the plugin
    host, the registry and Prometheus, the others the plugin host (``_``-joined: a GCP
    label value allows no commas). Tagged on each machine for the policy pack."""
    return "plugin-host_registry_monitoring" if i == 0 else "plugin-host"
