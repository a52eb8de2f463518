# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Master signals: each is counted once under its reason and does what Gunicorn documents.

HUP replaces every worker, TTIN adds one, TTOU removes one, USR1 reopens the log files
and keeps the workers. Signals go to the pid in the stack's own pidfile.
"""

import json
import shlex

import pytest

from gpe_checks import http, upstream
from gpe_checks.probes import probe_source
from gpe_checks.lifecycle import master_hangs, restarts, send_signal, wait_for_workers
from gpe_checks.traffic import by_pid, serve_on_every_worker
from gpe_checks.waiting import wait_until
from gpe_checks.workers import uptime_against_age

pytestmark = [pytest.mark.signals, pytest.mark.disruptive]

RESTART_COUNT = "gunicorn_master_worker_restart_count_total"


def _counted(stack, before, reason):
    """The first scrape where the master counted a `reason` restart after `before`."""
    return wait_until(stack.scrape, f"a {reason} restart counted", timeout=20, give_up=master_hangs(stack),
                      until=lambda s: restarts(s, reason) > restarts(before, reason))


@pytest.fixture(scope="module")
def hup_restart(stack):
    """Send HUP once per module; return the scrapes around it and the worker pids."""
    before = serve_on_every_worker(stack)
    old = stack.worker_pids()
    send_signal(stack, "HUP", stack.master_pid())
    new = wait_for_workers(stack, stack.app.workers, f"new workers replacing {sorted(old)}", avoid=old)
    return before, _counted(stack, before, "hup"), old, new


def test_hup_replaces_workers_and_counts_one_restart(stack, hup_restart, record):
    before, after, old, new = hup_restart
    delta = restarts(after, "hup") - restarts(before, "hup")
    record(f"restart_total{{reason=hup}} +{delta:g}, workers {sorted(old)} -> {sorted(new)}", "+1, all new")
    assert delta == 1
    traffic = http.send(stack.app_url, [("/", 200)] * 4)
    assert traffic.unexpected == []
    # The new workers serve and are exported under their own pids.
    assert set(by_pid(serve_on_every_worker(stack, new))) >= new


def test_workers_a_hup_started_report_their_own_age(stack, hup_restart, record):
    seen, wrong = uptime_against_age(stack, hup_restart[3])
    record(seen, "each new worker's /proc age")
    assert not wrong, wrong


@upstream.RESTART_COUNT_NEVER_INCREMENTED
def test_restart_count_follows_restarts(hup_restart):
    before, after, _, _ = hup_restart
    assert after.total(RESTART_COUNT) - before.total(RESTART_COUNT) >= 1


@upstream.DUPLICATE_MASTER_SERIES
def test_every_series_is_exposed_once(hup_restart, record):
    # After a HUP the master has series of its own (restart counters).
    _, after, _, _ = hup_restart
    duplicates = after.duplicate_series()
    record(len(duplicates), 0)
    assert duplicates == []


def test_ttin_adds_a_worker_and_ttou_removes_one(stack, record):
    configured = stack.app.workers
    before = serve_on_every_worker(stack)
    old = stack.worker_pids()

    send_signal(stack, "TTIN", stack.master_pid())
    grown = wait_for_workers(stack, configured + 1, f"{configured + 1} workers after TTIN")
    (added,) = grown - old
    after_ttin = _counted(stack, before, "ttin")
    # The added worker serves and gets series of its own: processes and series agree.
    exported = set(by_pid(serve_on_every_worker(stack, grown)))
    _, added_age_wrong = uptime_against_age(stack, {added})

    send_signal(stack, "TTOU", stack.master_pid())
    shrunk = wait_for_workers(stack, configured, f"{configured} workers after TTOU")
    after_ttou = _counted(stack, after_ttin, "ttou")

    deltas = {
        "ttin": restarts(after_ttou, "ttin") - restarts(before, "ttin"),
        "ttou": restarts(after_ttou, "ttou") - restarts(before, "ttou"),
    }
    record(f"{deltas}, workers {len(old)} -> {len(grown)} -> {len(shrunk)}",
           f"+1 each, {configured} -> {configured + 1} -> {configured}")
    assert deltas == {"ttin": 1, "ttou": 1}
    assert exported >= grown, f"live workers without series: {sorted(grown - exported)}"
    assert not added_age_wrong, f"the worker TTIN added: {added_age_wrong}"
    assert len(shrunk) == configured and shrunk < grown  # TTOU stops a worker, starts none


def test_usr1_counts_once_and_keeps_the_workers(stack, record):
    before = serve_on_every_worker(stack)
    workers = stack.worker_pids()
    send_signal(stack, "USR1", stack.master_pid())
    after = _counted(stack, before, "usr1")
    delta = restarts(after, "usr1") - restarts(before, "usr1")
    now = stack.worker_pids()
    record(f"restart_total{{reason=usr1}} +{delta:g}, workers kept: {now == workers}", "+1, same workers")
    assert delta == 1
    assert now == workers
    assert http.send(stack.app_url, [("/", 200)] * 4).unexpected == []


@upstream.MASTER_CHLD_HANDLER_DEADLOCK
def test_chld_handler_returns_while_a_signal_metric_is_queued(stack, record):
    """SIGCHLD right while the master queues a signal metric: the handler must return.

    Runs the exporter's own PrometheusMaster in the app's virtualenv (a master built, never
    started), holds its queue's lock as put_nowait does and calls handle_chld, as the
    kernel would on top of that frame. A hang is a master that never handles a signal again.
    """
    source = probe_source("master_chld_reentry.py")
    out = stack.app_place.check_output(
        f"{shlex.quote(stack.app.venv)}/bin/python -c {shlex.quote(source)} 2>/dev/null")
    seen = json.loads(out.splitlines()[-1])
    record(f"returned: {seen['returned']} after {seen['seconds']}s", "returned: True")
    assert seen["returned"]
