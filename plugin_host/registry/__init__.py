"""The registry (marketplace back end): accounts and roles, publishing with automated
checks, human review, and the plugin catalogue. See docs/registry.md."""
