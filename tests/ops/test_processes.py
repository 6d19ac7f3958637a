"""The helper every test, environment and bench uses to start servers."""

from __future__ import annotations

import socket

from ops.processes import free_port


def test_free_port_never_hands_out_the_same_port_twice():
    """The kernel gives the same free port to two bind(0) calls now and then (a CI run
    started node-exporter and Prometheus on one port: Prometheus lost, and its readiness
    probe was answered by node-exporter). Every port handed out is new and bindable."""
    ports = [free_port() for _ in range(3000)]
    assert len(set(ports)) == len(ports)
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[-1]))
