# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The load balancer in front of a fleet: its view of each node, and a bounded client that
keeps sending requests through it while the fleet changes (a node lost, a rolling restart)."""

import csv
import threading
import time
from dataclasses import dataclass, field

from . import http


def server_states(balancer):
    """{server (node name): status} of the balancer's backend (UP, DOWN, MAINT...), from its
    statistics CSV."""
    status, body = http.get(f"{balancer.stats_url};csv")
    if status != 200:
        raise AssertionError(f"{balancer.stats_url};csv answered {status}: {body[:300]}")
    rows = csv.DictReader(body.removeprefix("# ").splitlines())
    return {row["svname"]: row["status"].split()[0] for row in rows
            if row["pxname"] == balancer.backend and row["svname"] not in ("FRONTEND", "BACKEND")}


@dataclass
class ClientLoop:
    """GET `url` one request after the other, every `interval` seconds, in a thread, until
    stopped or bounded by max_requests and max_seconds. Each outcome is kept with its time
    (seconds since the start): a status, or the name of the error that stopped the request."""

    url: str
    interval: float = 0.02
    max_requests: int = 5000
    max_seconds: float = 180.0
    timeout: float = 10.0
    outcomes: list = field(default_factory=list)

    def __enter__(self):
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join(self.timeout + 5)

    def _run(self):
        deadline = self._started + self.max_seconds
        while not self._stop.is_set() and len(self.outcomes) < self.max_requests and time.monotonic() < deadline:
            self.outcomes.append((round(time.monotonic() - self._started, 2), http.attempt(self.url, self.timeout)))
            self._stop.wait(self.interval)

    @property
    def failed(self):
        return [(at, outcome) for at, outcome in self.outcomes if outcome != 200]

    def summary(self):
        return f"{len(self.outcomes)} requests, {len(self.failed)} failed{f': {self.failed[:10]}' if self.failed else ''}"
