"""Master signals and worker death, as far as issue #2 needs them for upstream defects.

Signals go to the pid in the stack's own Gunicorn pidfile, never to a process found by name.
"""

import pytest

from gpe_checks import http, upstream
from gpe_checks.traffic import serve_on_every_worker
from gpe_checks.waiting import wait_until

RESTARTS = "gunicorn_master_worker_restart_total"
RESTART_COUNT = "gunicorn_master_worker_restart_count_total"


def _signal(host, signal, pid):
    host.check_output(f"kill -{signal} {int(pid)}")


def _replaced_workers(stack, old_pids):
    """Wait until the master runs its configured number of workers, none of them old."""

    def replaced():
        pids = stack.worker_pids()
        return pids if len(pids) == stack.app["workers"] and not pids & old_pids else None

    return wait_until(replaced, f"{stack.app['workers']} new workers replacing {sorted(old_pids)}", timeout=30)


@pytest.fixture(scope="module")
def hup_restart(host, stack):
    """Send HUP once per module; return the scrapes around it and the new worker pids."""
    before = serve_on_every_worker(stack)
    old = stack.worker_pids()
    _signal(host, "HUP", stack.master_pid())
    new = _replaced_workers(stack, old)
    after = wait_until(stack.scrape, "a HUP restart counted", timeout=20,
                       until=lambda s: s.total(RESTARTS, reason="hup") > before.total(RESTARTS, reason="hup"))
    return before, after, old, new


def test_hup_replaces_workers_and_counts_one_restart(stack, hup_restart, record):
    before, after, old, new = hup_restart
    delta = after.total(RESTARTS, reason="hup") - before.total(RESTARTS, reason="hup")
    record(f"restart_total{{reason=hup}} +{delta:g}, workers {sorted(old)} -> {sorted(new)}", "+1, all new")
    assert delta == 1
    traffic = http.send(stack.app_url, [("/", 200)] * 4)
    assert traffic.unexpected == []


@upstream.RESTART_COUNT_NEVER_INCREMENTED
def test_restart_count_follows_restarts(hup_restart):
    before, after, _, _ = hup_restart
    assert after.total(RESTART_COUNT) - before.total(RESTART_COUNT) >= 1


def test_killed_worker_is_replaced_and_its_series_go(request, host, stack, record):
    if not stack.uses_redis:
        request.applymarker(upstream.DEAD_WORKER_SERIES_LINGER)
    serve_on_every_worker(stack)
    victim = min(stack.worker_pids())
    _signal(host, "KILL", victim)
    _replaced_workers(stack, {victim})
    serve_on_every_worker(stack)
    # With Redis the dead worker's keys expire with their TTL; files stay until cleaned.
    grace = stack.app["redis"]["ttl_seconds"] + 5 if stack.uses_redis else 3
    lingering = wait_until(
        lambda: [s for s in stack.scrape().samples if s.label("pid") == str(victim)],
        f"the series of killed worker {victim} to leave /metrics",
        timeout=grace,
        until=lambda found: found == [],
    )
    record(len(lingering), 0)


@upstream.DUPLICATE_MASTER_SERIES
def test_every_series_is_exposed_once(hup_restart, record):
    # After a HUP the master has series of its own (restart counters).
    _, after, _, _ = hup_restart
    duplicates = after.duplicate_series()
    record(len(duplicates), 0)
    assert duplicates == []
