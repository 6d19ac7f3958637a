"""The plugin worker process: loads one plugin's backend and serves calls from the host."""
