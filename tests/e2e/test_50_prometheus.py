"""Prometheus scrapes the exporter and sees the same numbers as /metrics."""

import pytest

from gpe_checks import http
from gpe_checks.traffic import serve_on_every_worker, wait_for_requests
from gpe_checks.waiting import wait_until

QUERY = "sum(gunicorn_worker_requests_total)"


def _prometheus(stack):
    if not stack.prometheus:
        pytest.skip("this stack has no Prometheus")
    return stack.prometheus["url"]


def _job_targets(stack, url):
    targets = http.get_json(f"{url}/api/v1/targets")["data"]["activeTargets"]
    return {t["labels"]["instance"]: t["health"] for t in targets
            if t["labels"].get("job") == stack.prometheus["job"]}


def test_exporter_targets_are_up(stack, record):
    url = _prometheus(stack)
    configured = set(stack.prometheus["targets"])
    expected = {instance: "up" for instance in configured}
    seen = wait_until(
        lambda: _job_targets(stack, url),
        f"targets {sorted(configured)} of job {stack.prometheus['job']} to be up",
        timeout=30,
        until=lambda found: found == expected,
    )
    record(seen, expected)
    metrics_port = str(stack.app["metrics_port"])
    assert any(instance.rsplit(":", 1)[1] == metrics_port for instance in seen), (
        f"no target scrapes the exporter's port {metrics_port}: {sorted(seen)}"
    )


def _query(url, promql):
    result = http.get_json(f"{url}/api/v1/query?query={http.quote(promql)}")["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_prometheus_counter_equals_metrics_endpoint(stack, record):
    url = _prometheus(stack)
    before = serve_on_every_worker(stack)
    http.send(stack.app_url, [("/", 200)] * 7)
    expected = wait_for_requests(stack, before, 7).total("gunicorn_worker_requests_total")
    # No traffic now: poll until a scrape after the traffic reached Prometheus.
    seen = wait_until(lambda: _query(url, QUERY), f"Prometheus to report {QUERY} == {expected:g}",
                      timeout=30, interval=0.25, until=lambda value: value == expected)
    record(seen, expected)
    assert stack.scrape().total("gunicorn_worker_requests_total") == expected
