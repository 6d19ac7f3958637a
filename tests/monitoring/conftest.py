"""Monitoring tests use the real promtool, amtool, Prometheus and Alertmanager (see
tests/support/system.py for what happens when one is missing)."""
