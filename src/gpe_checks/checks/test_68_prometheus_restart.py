# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Prometheus restarted: the target is up again within two scrape intervals and the
counter it stored stays monotone across the restart.

The first of the disruptive checks: with Redis storage it must wait until the series of
workers replaced earlier have expired (their TTL), and the signal checks that follow
replace workers."""

import time

import pytest

from gpe_checks import http
from gpe_checks.prometheus import job_targets, wait_for_query
from gpe_checks.traffic import live_worker_ids, serve_on_every_worker, wait_for_requests
from gpe_checks.waiting import wait_until

pytestmark = [pytest.mark.prometheus, pytest.mark.disruptive]

SERIES = "gunicorn_worker_requests_total"
# Prometheus 2.x hands discovered targets to its scrape manager at most every 5 s (a fixed
# reload period), so a restarted server scrapes its first target up to 5 s after ready.
TARGET_SYNC_SECONDS = 5


def test_target_up_after_restart_and_counter_monotone(stack, record):
    if not stack.prometheus:
        pytest.skip("this stack has no Prometheus")
    url = stack.prometheus.url
    series_of_app = stack.series(SERIES)
    interval = stack.prometheus.scrape_seconds
    expected = {target: "up" for target in stack.prometheus.targets}
    window_start = time.time()
    before = serve_on_every_worker(stack)
    if stack.uses_redis:
        # Series of workers an earlier check replaced stay until their keys' TTL ends; were
        # they to vanish while Prometheus is down, it would never mark them stale and its
        # sum would count them for its whole lookback. Start once only live workers remain.
        live = live_worker_ids(before, stack.worker_pids())
        wait_until(stack.scrape, "only the live workers' series in /metrics",
                   timeout=stack.app.redis.ttl_seconds + 5, interval=0.25,
                   until=lambda scrape: {s.label("worker_id") for s in scrape.select(SERIES)} <= live)
    http.send(stack.app_url, [("/", 200)] * 5)
    counted = wait_for_requests(stack, before, 5).total(SERIES)
    # The last value before the restart is stored before Prometheus goes down.
    wait_for_query(url, f"sum({series_of_app})", counted, detail=series_of_app)

    service = stack.service(stack.prometheus)
    service.stop()
    stopped_at = time.time()
    service.start()
    wait_until(lambda: http.get(f"{url}/-/ready", timeout=2)[0], "Prometheus to be ready", timeout=60,
               interval=0.1, until=lambda status: status == 200)
    ready = time.monotonic()
    seen = wait_until(lambda: job_targets(url, stack.prometheus.job, scraped_after=stopped_at),
                      f"targets {sorted(expected)} up",
                      timeout=30, interval=0.1, until=lambda found: found == expected)
    took = time.monotonic() - ready

    # With Redis storage the series of workers idle longer than the TTL left meanwhile;
    # each worker writes them back (with their totals) on its next request.
    refreshed = serve_on_every_worker(stack)
    http.send(stack.app_url, [("/", 200)] * 5)
    final = wait_for_requests(stack, refreshed, 5).total(SERIES)
    wait_for_query(url, f"sum({series_of_app})", final, detail=series_of_app)
    # The stored samples themselves (a range vector), not evaluation points: a series that
    # came back just before the stop has samples on both sides, if none at a step boundary.
    end = time.time()
    window = f"{int(end - window_start) + 1}s"
    query = f"{url}/api/v1/query?query={http.quote(f'{series_of_app}[{window}]')}&time={end:.3f}"
    series = http.get_json(query)["data"]["result"]
    drops = {}
    for s in series:
        values = [float(v) for _, v in s["values"]]
        drops.update({s["metric"]["worker_id"]: (a, b) for a, b in zip(values, values[1:]) if b < a})
    spans = [(float(s["values"][0][0]), float(s["values"][-1][0])) for s in series]
    limit = TARGET_SYNC_SECONDS + 2 * interval
    record(f"up {took:.2f}s after ready, {len(series)} series, drops {drops}",
           f"up within {limit:g}s (target sync + 2 scrape intervals), no drop")
    assert seen == expected
    assert took <= limit
    assert series and drops == {}
    # The window covers both sides of the restart.
    assert min(start for start, _ in spans) < stopped_at < max(end for _, end in spans)
