# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Per-worker gauges: one series per live worker, each value the truth about that worker
as its own /proc entry tells it."""

import pytest

from gpe_checks import http, upstream
from gpe_checks.traffic import by_pid, serve_on_every_worker, wait_for_requests
from gpe_checks.waiting import wait_until
from gpe_checks.workers import UPTIME_TOLERANCE, burn_and_refresh, uptime_against_age

pytestmark = pytest.mark.metrics

# How far a memory gauge may be from the worker's resident memory read from /proc just
# after the request that set it (the worker's RSS moves by a few pages between the two).
# The master differs by megabytes, another unit (KiB, pages) by orders of magnitude.
MEMORY_TOLERANCE = 64 * 1024
# One worker burns the CPU this long; its gauge is its CPU time over the time from the
# start of the burn to the start of its next request, in percent. The window /proc is read
# over is a little longer (the requests' round trips), so the two agree within this many
# points.
BURN_SECONDS = 1.0
CPU_TOLERANCE = 15.0

MEMORY = "gunicorn_worker_memory_bytes"
CPU = "gunicorn_worker_cpu_percent"
STATE = "gunicorn_worker_state"


def test_live_workers_match_configuration(stack, record):
    def as_configured():
        pids = stack.worker_pids()
        return pids if len(pids) == stack.app.workers else None

    pids = wait_until(as_configured, f"{stack.app.workers} live workers", timeout=20)
    record(len(pids), stack.app.workers)


def test_one_series_per_live_worker(stack, record):
    pids = stack.worker_pids()
    scrape = serve_on_every_worker(stack, pids)
    counts = {}
    for name in (MEMORY, CPU, "gunicorn_worker_uptime_seconds"):
        live = [s for s in scrape.select(name) if int(s.label("pid")) in pids]
        counts[name] = len(live)
        assert sorted(int(s.label("pid")) for s in live) == sorted(pids), (name, live)
    record(counts, f"{len(pids)} each")


@upstream.WORKER_GAUGES_MEASURE_THE_MASTER
def test_memory_gauge_is_each_workers_resident_memory(stack, record):
    pids = stack.worker_pids()
    gauges = by_pid(serve_on_every_worker(stack, pids), MEMORY)
    truth = stack.processes(pids)
    off = {pid: int(gauges[pid] - truth[pid].rss) for pid in pids}
    record({pid: f"{gauges[pid] / 2**20:.2f} MiB, /proc {truth[pid].rss / 2**20:.2f} MiB ({off[pid] / 1024:+.0f} KiB)"
            for pid in pids},
           f"/proc's resident memory, within {MEMORY_TOLERANCE // 1024} KiB")
    assert all(abs(difference) <= MEMORY_TOLERANCE for difference in off.values()), f"gauge - /proc in bytes: {off}"


def test_uptime_gauge_is_each_workers_age(stack, record):
    seen, wrong = uptime_against_age(stack, stack.worker_pids())
    record(seen, f"/proc age, less the time since the request, within {UPTIME_TOLERANCE}s")
    assert not wrong, wrong


@upstream.WORKER_GAUGES_MEASURE_THE_MASTER
def test_cpu_gauge_of_a_busy_worker_is_its_cpu_time(stack, record):
    pids = stack.worker_pids()
    # Every worker starts a request now: the reference of its next CPU reading.
    serve_on_every_worker(stack, pids)
    pid, before, after = burn_and_refresh(stack, pids, BURN_SECONDS)
    truth = 100 * (after[pid].cpu_seconds - before[pid].cpu_seconds) / (after[pid].age - before[pid].age)
    gauges = by_pid(stack.scrape(), CPU)
    idle = {other: gauges[other] for other in pids - {pid}}
    record(f"busy worker {pid}: {gauges[pid]:.1f}%, /proc {truth:.1f}%; idle: {idle}",
           f"/proc within {CPU_TOLERANCE} points, idle workers below half of it")
    assert abs(gauges[pid] - truth) <= CPU_TOLERANCE, f"gauge {gauges[pid]:.1f}%, /proc {truth:.1f}%"
    assert all(value < truth / 2 for value in idle.values()), f"idle workers {idle}, busy {truth:.1f}%"


def test_every_live_worker_is_running(stack, record):
    pids = stack.worker_pids()
    scrape = serve_on_every_worker(stack, pids)
    latest = {}
    for sample in scrape.select(STATE):
        pid = int(sample.label("pid"))
        if pid in pids:
            # The newest series of a worker is the one its last request wrote.
            key = float(sample.label("timestamp", 0))
            if pid not in latest or key >= latest[pid][0]:
                latest[pid] = (key, sample)
    states = {pid: (s.label("state"), s.value) for pid, (_, s) in latest.items()}
    record(states, "running=1 for each")
    assert states == {pid: ("running", 1.0) for pid in pids}


@upstream.WORKER_STATE_TIMESTAMP_LABEL
def test_worker_state_labels_are_stable(stack):
    pids = stack.worker_pids()
    scrape = serve_on_every_worker(stack, pids)
    labels = {tuple(sorted(dict(s.labels))) for s in scrape.select(STATE)}
    assert labels == {("pid", "state", "worker_id")}


@upstream.SIZE_HISTOGRAMS_NEVER_OBSERVED
def test_request_and_response_sizes_are_observed(stack):
    before = serve_on_every_worker(stack)
    sent = 5
    http.send(stack.app_url, [("/", 200)] * sent)
    after = wait_for_requests(stack, before, sent)
    for name in ("gunicorn_worker_request_size_bytes", "gunicorn_worker_response_size_bytes"):
        assert after.total(f"{name}_count") - before.total(f"{name}_count") == sent, name
