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


def _exporter_targets(stack, url):
    metrics = stack.app["metrics_url"].split("//", 1)[1].split("/", 1)[0]
    targets = http.get_json(f"{url}/api/v1/targets")["data"]["activeTargets"]
    return [t for t in targets if t["labels"].get("instance") == metrics]


def test_exporter_target_is_up(stack, record):
    url = _prometheus(stack)
    targets = wait_until(
        lambda: [t for t in _exporter_targets(stack, url) if t["health"] == "up"],
        "the exporter target to be up",
        timeout=30,
    )
    record([(t["labels"]["instance"], t["health"]) for t in targets], "one target, up")
    assert len(targets) == 1
    assert targets[0]["labels"]["job"] == stack.prometheus["job"]


def _query(url, promql):
    result = http.get_json(f"{url}/api/v1/query?query={http.quote(promql)}")["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_prometheus_counter_equals_metrics_endpoint(stack, record):
    url = _prometheus(stack)
    before = serve_on_every_worker(stack)
    http.send(stack.app_url, [("/", 200)] * 7)
    expected = wait_for_requests(stack, before, 7).total("gunicorn_worker_requests_total")
    # No traffic now: poll until a scrape after the traffic reached Prometheus.

    def scraped_after_traffic():
        value = _query(url, QUERY)
        return value if value == expected else None

    seen = wait_until(scraped_after_traffic, f"Prometheus to report {QUERY} == {expected:g}",
                      timeout=30, interval=0.25)
    record(seen, expected)
    assert stack.scrape().total("gunicorn_worker_requests_total") == expected
