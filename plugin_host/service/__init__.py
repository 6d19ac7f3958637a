"""What the two HTTP services (the plugin host and the registry) share, and nothing else:
the settings base (:mod:`.settings`), the database engine and migrations (:mod:`.db`),
HTTP error handling and request bodies (:mod:`.http`), and the probe and metrics
endpoints (:mod:`.probes`).

The host and the registry import this package; they never import each other.
"""
