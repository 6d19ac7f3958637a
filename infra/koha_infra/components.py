"""What every component shares: its children's resource options."""

from __future__ import annotations

from pulumi import ComponentResource, ResourceOptions


def child_opts(parent: ComponentResource, **kw) -> ResourceOptions:
    """Options for a child resource of ``parent`` (extra options such as a provider)."""
    return ResourceOptions(parent=parent, **kw)
