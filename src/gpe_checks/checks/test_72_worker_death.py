# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""A worker killed with SIGKILL: the master replaces it and no request goes uncounted."""

import threading

import pytest

from gpe_checks import http, upstream
from gpe_checks.lifecycle import restarts, send_signal, wait_for_workers
from gpe_checks.traffic import by_pid, requests_delta, serve_on_every_worker, wait_for_requests
from gpe_checks.waiting import wait_until
from gpe_checks.workers import uptime_against_age

pytestmark = [pytest.mark.signals, pytest.mark.disruptive]

REQUESTS_DURING_REPLACEMENT = 40


@pytest.fixture(scope="module")
def killed_worker(stack):
    """SIGKILL one idle worker, then send traffic while the master replaces it."""
    before = serve_on_every_worker(stack)
    old = stack.worker_pids()
    victim = min(old)
    send_signal(stack, "KILL", victim)
    seen = {}
    client = threading.Thread(target=lambda: seen.update(traffic=http.send(
        stack.app_url, [("/", 200)] * REQUESTS_DURING_REPLACEMENT, concurrency=2)))
    client.start()
    new = wait_for_workers(stack, stack.app.workers, f"worker {victim} replaced", avoid={victim})
    client.join(timeout=60)
    traffic = seen["traffic"]
    succeeded = traffic.count(lambda path, status: status == 200)
    after = wait_for_requests(stack, before, succeeded)
    return {"before": before, "after": after, "victim": victim, "old": old, "new": new,
            "traffic": traffic, "succeeded": succeeded}


def test_killed_worker_is_replaced_and_requests_are_counted(stack, killed_worker, record):
    k = killed_worker
    (replacement,) = k["new"] - k["old"]
    counted = requests_delta(k["before"], k["after"])
    chld = restarts(k["after"], "chld") - restarts(k["before"], "chld")
    record(f"{k['succeeded']} of {REQUESTS_DURING_REPLACEMENT} answered 200, counted {counted:g}, "
           f"restart_total{{reason=chld}} +{chld:g}", "counted == answered, chld +1")
    assert len(k["new"]) == stack.app.workers
    assert counted == k["succeeded"]
    assert chld == 1
    # The replacement serves and is exported under its own pid.
    assert replacement in by_pid(serve_on_every_worker(stack, k["new"]))


def test_replacement_reports_its_own_age(stack, killed_worker, record):
    (replacement,) = killed_worker["new"] - killed_worker["old"]
    seen, wrong = uptime_against_age(stack, {replacement})
    record(seen, "the replacement's /proc age")
    assert not wrong, wrong


def test_killed_workers_series_leave_metrics(request, stack, killed_worker, record):
    if not stack.uses_redis:
        request.applymarker(upstream.DEAD_WORKER_SERIES_LINGER)
    victim = killed_worker["victim"]
    # With Redis the dead worker's keys expire with their TTL. Files stay until cleaned: the
    # master's child_exit would clean them before it starts the replacement the fixture
    # waited for, so a second covers a scrape.
    grace = stack.app.redis.ttl_seconds + 5 if stack.uses_redis else 1
    lingering = wait_until(
        lambda: [s for s in stack.scrape().samples if s.label("pid") == str(victim)],
        f"the series of killed worker {victim} to leave /metrics",
        timeout=grace,
        until=lambda found: found == [],
    )
    record(len(lingering), 0)
