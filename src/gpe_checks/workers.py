# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Driving one chosen worker: keep it busy on the CPU, then make it refresh its gauges.

The exporter sets a worker's gauges when that worker starts a request (its CPU gauge is
psutil's cpu_percent since the worker's previous request), so a check that wants the
gauges of the worker it made busy must get a second request into that same worker.
"""

import http.client
import threading
import time
from contextlib import contextmanager

from . import http as stack_http
from .traffic import by_pid, serve_on_every_worker

SYNC = "PrometheusWorker"
# The uptime gauge is set when a request starts; /proc is read once the requests answered.
UPTIME_TOLERANCE = 1.0


def uptime_against_age(stack, pids):
    """Every live worker serves a request; then the uptime gauge of each worker of pids
    must be its age from /proc less the time since that request started (at most the
    time the requests took), within UPTIME_TOLERANCE. Returns ({pid: gauge and age},
    {pid: what is wrong})."""
    live = stack.worker_pids()
    assert set(pids) <= live, f"workers {sorted(set(pids) - live)} are gone (live: {sorted(live)})"
    started = time.monotonic()
    uptime = by_pid(serve_on_every_worker(stack, live))
    truth = stack.processes(pids)
    window = time.monotonic() - started
    seen = {pid: f"{uptime[pid]:.2f}s, /proc age {truth[pid].age:.2f}s" for pid in pids}
    wrong = {pid: f"{seen[pid]}: off by {truth[pid].age - uptime[pid]:.2f}s, the requests took {window:.2f}s"
             for pid in pids
             if not -UPTIME_TOLERANCE <= truth[pid].age - uptime[pid] <= window + UPTIME_TOLERANCE}
    return seen, wrong


def _request(connection, target):
    connection.request("GET", target)
    response = connection.getresponse()
    body = response.read().decode("utf-8", "replace")
    assert response.status == 200, f"GET {target} answered {response.status}: {body[:200]}"
    return body


@contextmanager
def all_workers_but_one_held(stack, pids, seconds):
    """Hold every worker but one in a /stream request (sync workers take one request at
    a time): the next requests all go to the one left."""
    started = threading.Semaphore(0)
    statuses = []

    def hold():
        statuses.append(stack_http.stream(f"{stack.app_url}/stream?seconds={seconds}", started.release, seconds + 10))

    holders = [threading.Thread(target=hold, daemon=True) for _ in range(len(pids) - 1)]
    for holder in holders:
        holder.start()
    for _ in holders:
        assert started.acquire(timeout=10), "a /stream request never reached a worker"
    try:
        yield
    finally:
        for holder in holders:
            holder.join(seconds + 15)
        assert statuses == [200] * len(holders), f"held requests ended with {statuses}"


def burn_and_refresh(stack, pids, seconds):
    """Keep one worker's CPU busy for `seconds` (/burn), then send that worker one more
    request, which sets its gauges. Returns (pid, processes before, processes after):
    what /proc showed of every worker just before the burn and just after the second
    request was answered."""
    connection, _ = stack_http._connect(stack.app_url, seconds + 30)
    try:
        if stack.app.worker_class == SYNC:
            # No keep-alive: the second request reaches the same worker because it is
            # the only one free.
            with all_workers_but_one_held(stack, pids, seconds + 3):
                before = stack.processes(pids)
                pid = int(_request(connection, f"/burn?seconds={seconds}").split()[-1])
                connection.close()
                _request(connection, "/")
                after = stack.processes(pids)
        else:
            # Threaded and async workers keep the connection: the same worker answers.
            before = stack.processes(pids)
            pid = int(_request(connection, f"/burn?seconds={seconds}").split()[-1])
            _request(connection, "/")
            after = stack.processes(pids)
    except http.client.HTTPException as error:
        raise AssertionError(f"the app did not answer /burn and / in turn: {error!r}") from error
    finally:
        connection.close()
    return pid, before, after
