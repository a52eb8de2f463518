# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""A fleet (one stack's app on several nodes, sharing Redis and Prometheus) counts every
request once, on the node that served it, and Prometheus sums the fleet exactly.

Checked once per fleet, from its first app node; the other nodes' rows say so.
"""

import pytest

from gpe_checks import http
from gpe_checks.prometheus import of_job, query, query_by
from gpe_checks.traffic import serve_and_count, serve_on_every_worker, wait_for_requests
from gpe_checks.waiting import wait_until

pytestmark = pytest.mark.fleet

REQUESTS = "gunicorn_worker_requests_total"


def _observed(nodes):
    """Each node's own count (its /metrics) and Prometheus' (by target, and summed over the
    job), once the two agree: the scrapes after the last traffic have landed."""
    prometheus = nodes[0].prometheus
    series = of_job(REQUESTS, prometheus.job)

    def look():
        own = {node.app_instance: node.scrape().total(REQUESTS) for node in nodes}
        return own, query_by(prometheus.url, f"sum by (instance) ({series})", "instance"), query(
            prometheus.url, f"sum({series})")

    return wait_until(look, "Prometheus to hold each node's count", timeout=10 * prometheus.scrape_seconds + 10,
                      interval=0.25, until=lambda seen: seen[0] == seen[1] and seen[2] == [sum(seen[0].values())])


@pytest.fixture(scope="module")
def fleet_counts(stack):
    """Counts before and after traffic sent to each node on its own. Every worker of every
    node serves requests in both rounds: with Redis storage an idle worker's series expire."""
    if not stack.in_fleet:
        pytest.skip("this stack runs its app on one node: no fleet")
    nodes = stack.fleet()
    if nodes[0].name != stack.name:
        pytest.skip(f"a fleet is checked once, from its first app node {nodes[0].name}")
    for node in nodes:
        serve_on_every_worker(node)
    before = _observed(nodes)
    sent = {}
    for index, node in enumerate(nodes):
        start = node.scrape()
        # A different number per node, so that a count landing on another node shows.
        served, extra = serve_and_count(node)[1], 2 * index + 1
        assert http.send(node.app_url, [("/", 200)] * extra).unexpected == []
        sent[node.app_instance] = served + extra
        wait_for_requests(node, start, served + extra)
    after = _observed(nodes)
    return before, sent, after


def test_each_node_counts_exactly_the_requests_it_served(fleet_counts, record):
    (own_before, _, _), sent, (own_after, _, _) = fleet_counts
    counted = {instance: own_after[instance] - own_before[instance] for instance in sent}
    record(counted, sent)
    assert counted == sent


def test_prometheus_sums_the_fleet_exactly(fleet_counts, record):
    (_, _, (sum_before,)), sent, (_, by_target, (sum_after,)) = fleet_counts
    record(f"fleet sum +{sum_after - sum_before:g}, by target {by_target}", f"+{sum(sent.values())}, sent {sent}")
    assert sum_after - sum_before == sum(sent.values())
    assert sorted(by_target) == sorted(sent)
