# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Prometheus scrapes the exporter and sees the same numbers as /metrics."""

import pytest

from gpe_checks import http
from gpe_checks.prometheus import job_targets, wait_for_query
from gpe_checks.traffic import serve_on_every_worker, wait_for_requests
from gpe_checks.waiting import wait_until

pytestmark = pytest.mark.prometheus



def _prometheus(stack):
    if not stack.prometheus:
        pytest.skip("this stack has no Prometheus")
    return stack.prometheus.url


def test_exporter_targets_are_up(stack, record):
    url = _prometheus(stack)
    configured = set(stack.prometheus.targets)
    expected = {instance: "up" for instance in configured}
    seen = wait_until(
        lambda: job_targets(url, stack.prometheus.job),
        f"targets {sorted(configured)} of job {stack.prometheus.job} to be up",
        timeout=30,
        until=lambda found: found == expected,
    )
    record(seen, expected)
    metrics_port = str(stack.app.metrics.port)
    assert any(instance.rsplit(":", 1)[1] == metrics_port for instance in seen), (
        f"no target scrapes the exporter's port {metrics_port}: {sorted(seen)}"
    )


def test_prometheus_counter_equals_metrics_endpoint(stack, record):
    url = _prometheus(stack)
    before = serve_on_every_worker(stack)
    http.send(stack.app_url, [("/", 200)] * 7)
    expected = wait_for_requests(stack, before, 7).total("gunicorn_worker_requests_total")
    # No traffic now: poll until a scrape after the traffic reached Prometheus.
    series = stack.series("gunicorn_worker_requests_total")
    (seen,) = wait_for_query(url, f"sum({series})", expected, detail=series)
    record(seen, expected)
    assert stack.scrape().total("gunicorn_worker_requests_total") == expected
