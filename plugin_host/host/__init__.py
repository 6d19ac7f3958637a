"""The plugin host service: admin API, plugin routes, hooks, UI slots, worker pools."""
