# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Every query of the shipped Grafana dashboard returns data from the stack's live Prometheus.

The dashboard (gpe_checks/data/, package data of the check library) is what Grafana is provisioned with; Grafana itself is
not needed to prove its queries: they are PromQL, asked here as Grafana would ask them.
"""

import json
from importlib import resources

import pytest

from gpe_checks import http, upstream
from gpe_checks.lifecycle import send_signal, wait_for_workers
from gpe_checks.prometheus import job_targets
from gpe_checks.traffic import serve_on_every_worker, wait_for_requests
from gpe_checks.waiting import wait_until

pytestmark = pytest.mark.prometheus

DASHBOARD = resources.files("gpe_checks").joinpath("data/gunicorn-prometheus-exporter.json")
LIVE_WORKERS = "Live workers"


def _dashboard():
    return json.loads(DASHBOARD.read_text())


def _panels():
    return [(panel["title"], target["expr"]) for panel in _dashboard()["panels"] for target in panel["targets"]]


def _variable(name):
    (variable,) = [v for v in _dashboard()["templating"]["list"] if v["name"] == name]
    return variable


def _for_job(expr, stack):
    """The query as Grafana sends it with the dashboard's $job set to the stack's job, and
    $instance to the app node's target in a fleet, else to All."""
    instance = stack.app_instance if stack.in_fleet else _variable("instance")["allValue"]
    return expr.replace("$job", stack.prometheus.job).replace("$instance", instance)


def _series(url, expr):
    return http.get_json(f"{url}/api/v1/query?query={http.quote(expr)}")["data"]["result"]


@pytest.fixture(scope="module")
def prometheus_with_traffic(stack):
    """Traffic every panel shows: answered and failing requests, and one worker restart."""
    if not stack.prometheus:
        pytest.skip("this stack has no Prometheus")
    before = serve_on_every_worker(stack)
    traffic = http.send(stack.app_url, [("/", 200)] * 6 + [("/error", 500)] * 2)
    assert traffic.unexpected == [], traffic.unexpected
    wait_for_requests(stack, before, 6)
    old = stack.worker_pids()
    send_signal(stack, "HUP", stack.master_pid())
    wait_for_workers(stack, stack.app.workers, f"new workers replacing {sorted(old)}", avoid=old)
    serve_on_every_worker(stack)
    return stack.prometheus.url


@pytest.mark.parametrize("title, expr", _panels(), ids=[title for title, _ in _panels()])
def test_panel_query_returns_data(stack, prometheus_with_traffic, title, expr, record):
    expr = _for_job(expr, stack)
    # rate() and increase() need two scrapes after the traffic: poll, a scrape interval is short.
    found = wait_until(lambda: _series(prometheus_with_traffic, expr), f"panel {title!r} ({expr}) to return data",
                       timeout=20, interval=0.25, until=lambda result: len(result) > 0)
    record(f"{len(found)} series", ">= 1 series")


def test_live_workers_panel_counts_the_configured_workers(request, stack, prometheus_with_traffic, record):
    if not stack.uses_redis:
        # The HUP above replaced every worker: with file storage their gauges stay.
        request.applymarker(upstream.DEAD_WORKER_SERIES_LINGER)
    (expr,) = [_for_job(expr, stack) for title, expr in _panels() if title == LIVE_WORKERS]
    # The replaced workers' series expire with their TTL first (Redis); with file storage
    # they stay (the xfail above): gone from /metrics, Prometheus would mark them stale at
    # its next scrape, so three scrape intervals show it.
    grace = stack.app.redis.ttl_seconds + 10 if stack.uses_redis else 3 * stack.prometheus.scrape_seconds
    # With Redis storage an idle worker's series expire with its TTL: keep every worker busy.
    def live_workers():
        serve_on_every_worker(stack)
        return [float(s["value"][1]) for s in _series(prometheus_with_traffic, expr)]

    found = wait_until(live_workers, f"{LIVE_WORKERS} to read {stack.app.workers}", timeout=grace,
                       interval=0.25, until=lambda values: values == [stack.app.workers])
    record(found, [stack.app.workers])


def _label_values(url, name, stack):
    """What the dashboard's variable `name` offers: label_values(<selector>, <label>) is
    Grafana's; Prometheus answers it on its label API."""
    definition = _variable(name)["definition"]
    selector, label = definition.split("(", 1)[1].rsplit(")", 1)[0].rsplit(",", 1)
    selector = selector.strip().replace("$job", stack.prometheus.job)
    return http.get_json(f"{url}/api/v1/label/{label.strip()}/values?match[]={http.quote(selector)}")["data"]


def test_job_variable_offers_the_stacks_job(stack, prometheus_with_traffic, record):
    values = _label_values(prometheus_with_traffic, "job", stack)
    record(values, f"contains {stack.prometheus.job}")
    assert stack.prometheus.job in values


def test_instance_variable_offers_every_target_of_the_job(stack, prometheus_with_traffic, record):
    # The targets whose series the panels filter by node (a fleet's app nodes; one target otherwise).
    values = _label_values(prometheus_with_traffic, "instance", stack)
    targets = sorted(job_targets(prometheus_with_traffic, stack.prometheus.job))
    record(sorted(values), targets)
    assert sorted(values) == targets
    assert not stack.in_fleet or stack.app_instance in values
