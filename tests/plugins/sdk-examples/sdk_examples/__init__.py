"""An empty plugin: the SDK reference's examples register their routes on it."""

from plugin_host.sdk import Plugin

plugin = Plugin()
