"""Waiting for what a user would see, and watching a service while something changes."""

from __future__ import annotations

import threading
import time

import httpx


def wait_until(fn, timeout: float = 10.0, interval: float = 0.05):
    """Call ``fn`` until it returns something true or ``timeout`` passes; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


class Prober(threading.Thread):
    """Calls hello-world continuously and records any failure."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.stop_event = threading.Event()
        self.ok = 0
        self.failures: list[str] = []

    def run(self) -> None:
        with httpx.Client(timeout=5) as c:
            while not self.stop_event.is_set():
                try:
                    r = c.get(f"{self.url}/plugins/hello-world/api/greet/probe")
                    if r.status_code == 200 and r.json() == {"greeting": "Hello probe"}:
                        self.ok += 1
                    else:
                        self.failures.append(f"{r.status_code} {r.text}")
                except httpx.HTTPError as e:
                    self.failures.append(repr(e))
                time.sleep(0.01)

    def finish(self) -> None:
        self.stop_event.set()
        self.join(10)


class Load:
    """A few clients calling ``url`` without pause (through a load balancer, say); every
    answer other than 200 and every transport error is recorded with its time, and the
    JSON ``field`` of each 200 answer is kept in ``seen``."""

    def __init__(self, url: str, clients: int = 3, field: str | None = None,
                 verify: bool = False, timeout: float = 20, pause: float = 0.01):
        self.url = url
        self.pause = pause
        self.field = field
        self.verify, self.timeout = verify, timeout
        self.stop = threading.Event()
        self.ok = 0
        self.seen: list = []
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(clients)]

    def run(self) -> None:
        with httpx.Client(verify=self.verify, timeout=self.timeout) as c:
            while not self.stop.is_set():
                try:
                    r = c.get(self.url)
                    if r.status_code == 200:
                        self.ok += 1
                        if self.field:
                            self.seen.append(r.json()[self.field])
                    else:
                        self.failures.append(
                            f"{time.monotonic():.1f} {r.status_code} {r.text[:100]}")
                except httpx.HTTPError as e:
                    self.failures.append(f"{time.monotonic():.1f} {e!r}")
                if self.pause:
                    time.sleep(self.pause)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(self.timeout + 5)
