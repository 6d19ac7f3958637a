"""Koha plugin host: runs sandboxed plugins, serves their UI, delivers Koha events.

Kept import-light on purpose: plugin worker processes import this package.
"""

__version__ = "0.1.0"

#: The version of the API the host offers plugins; manifests declare a range of it.
HOST_API_VERSION = "1.0.0"
