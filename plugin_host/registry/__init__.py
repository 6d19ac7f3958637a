"""The plugin registry: accounts and roles, publishing with automated checks, human
review, the catalogue, and the TUF-signed static index hosts install from.
See docs/registry/."""
