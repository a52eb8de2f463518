# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""A fleet (one stack's app on several nodes, sharing Redis and Prometheus) counts every
request once, on the node that served it, and Prometheus sums the fleet exactly.

A load balancer in front of the fleet (where the stack has one) sends requests to every
node in turn, exactly; a node that is lost (its VM stopped) leaves Prometheus and the
balancer within stated bounds while clients see no failure, and comes back when started.

Workers on different nodes share pids (each node has its own pid namespace), and the
exporter keys a worker's series by pid alone. Twins (gpe_checks.twins) make that collision on
purpose: with a key prefix per node each twin keeps its own count; with one shared prefix
the twins' workers overwrite each other's series (upstream.PID_KEYS_COLLIDE_ACROSS_NODES).

Checked once per fleet, from its first app node; the other nodes' rows say so.
"""

import shlex
import subprocess
import time
import uuid

import pytest

from gpe_checks import http, twins, upstream
from gpe_checks.balancer import ClientLoop, server_states
from gpe_checks.prometheus import job_targets, of_job, query, query_by
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


def fleet_nodes(stack):
    """The fleet's app nodes, when this is its first one (checked once per fleet)."""
    if not stack.in_fleet:
        pytest.skip("this stack runs its app on one node: no fleet")
    nodes = stack.fleet()
    if nodes[0].name != stack.name:
        pytest.skip(f"a fleet is checked once, from its first app node {nodes[0].name}")
    return nodes


def counted(nodes, send):
    """({instance: requests its node counted}, the fleet sum's move in Prometheus) across
    send(). Every worker serves first: with Redis storage an idle worker's series expire."""
    for node in nodes:
        serve_on_every_worker(node)
    own_before, _, (sum_before,) = _observed(nodes)
    send()
    own_after, _, (sum_after,) = _observed(nodes)
    return {instance: own_after[instance] - own_before[instance] for instance in own_after}, sum_after - sum_before


def send_all(url, count):
    unexpected = http.send(url, [("/", 200)] * count).unexpected
    assert unexpected == [], f"{url} answered {unexpected}"


@pytest.fixture(scope="module")
def fleet_counts(stack):
    """({instance: requests sent to that node on its own}, counted()). Prometheus' count by
    target equals each node's own (counted waits for that)."""
    nodes, sent = fleet_nodes(stack), {}

    def send_to_each_node():
        for index, node in enumerate(nodes):
            start = node.scrape()
            # A different number per node, so that a count landing on another node shows.
            served, extra = serve_and_count(node)[1], 2 * index + 1
            send_all(node.app_url, extra)
            sent[node.app_instance] = served + extra
            wait_for_requests(node, start, served + extra)

    return sent, counted(nodes, send_to_each_node)


def test_each_node_counts_exactly_the_requests_it_served(fleet_counts, record):
    sent, (own, _) = fleet_counts
    record(own, sent)
    assert own == sent


def test_prometheus_sums_the_fleet_exactly(fleet_counts, record):
    sent, (_, fleet) = fleet_counts
    record(f"fleet sum +{fleet:g}", f"+{sum(sent.values())}, sent {sent}")
    assert fleet == sum(sent.values())


def fleet_balancer(stack):
    nodes = fleet_nodes(stack)
    if not stack.balancer:
        pytest.skip("this fleet has no load balancer")
    return nodes, stack.balancer


def test_balancer_has_every_app_node_up(stack, record):
    nodes, balancer = fleet_balancer(stack)
    expected = {node.app.node: "UP" for node in nodes}
    states = server_states(balancer)
    record(states, expected)
    assert states == expected


def test_balancer_spreads_requests_over_the_nodes_exactly(stack, record):
    """Round robin: 6 requests per node through the balancer are 6 on each node, and the fleet
    sum moves by all of them."""
    nodes, balancer = fleet_balancer(stack)
    total = 6 * len(nodes)
    own, fleet = counted(nodes, lambda: send_all(balancer.url, total))
    expected = {node.app_instance: total // len(nodes) for node in nodes}
    record({"per node": own, "fleet sum": f"+{fleet:g}"}, {"per node": expected, "fleet sum": f"+{total}"})
    assert (own, fleet) == (expected, total)


def power(command, action, node):
    """Stop or start a node with the controller's --power-command; returns how long it took."""
    argv = shlex.split(command.format(action=action, node=node))
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-300:]}"
    return time.monotonic() - started


@pytest.mark.disruptive
def test_a_lost_node_leaves_prometheus_and_the_balancer_and_comes_back(stack, record, request):
    """The last app node's VM is stopped while a client keeps sending requests through the
    balancer: once it is off, Prometheus shows its target down within two scrape intervals
    and a second, and the balancer within Balancer.down_within_seconds; the other nodes
    serve and count every request; started again, it is back in both and gets its share.
    The client sees no failed request throughout."""
    nodes, balancer = fleet_balancer(stack)
    command = request.config.getoption("power_command")
    if not command:
        pytest.skip("stopping a node's VM is the provider's: give --power-command (e.g. 'docker {action} gpe-vm-{node}')")
    lost, kept = nodes[-1], nodes[:-1]
    prometheus = stack.prometheus

    def states():
        return server_states(balancer)[lost.app.node], job_targets(prometheus.url, prometheus.job)[lost.app_instance]

    def settle(wanted, since):
        """Seconds after `since` until the balancer and Prometheus each showed `wanted`."""
        seen = {}

        def look():
            balancer_state, prometheus_state = states()
            now = time.monotonic() - since
            if balancer_state == wanted["balancer"]:
                seen.setdefault("balancer", round(max(0.0, now), 2))
            if prometheus_state == wanted["prometheus"]:
                seen.setdefault("prometheus", round(max(0.0, now), 2))
            return len(seen) == 2

        wait_until(look, f"{lost.app.node} to be {wanted}", timeout=60 + 2 * prometheus.scrape_seconds, interval=0.1)
        return seen

    with ClientLoop(f"{balancer.url}/") as loss:
        started = time.monotonic()
        stop_took = power(command, "stop", lost.app.node)
        gone = settle({"balancer": "DOWN", "prometheus": "down"}, started + stop_took)
    without = counted(kept, lambda: send_all(balancer.url, 4 * len(kept)))
    with ClientLoop(f"{balancer.url}/") as comeback:
        started = time.monotonic()
        start_took = power(command, "start", lost.app.node)
        back = settle({"balancer": "UP", "prometheus": "up"}, started)
    again = counted(nodes, lambda: send_all(balancer.url, 6 * len(nodes)))
    bounds = {"balancer": balancer.down_within_seconds, "prometheus": 2 * prometheus.scrape_seconds + 1}
    record({"stop took": round(stop_took, 2), "then out of": gone, "start took": round(start_took, 2),
            "back in after start": back, "client while lost": loss.summary(),
            "client while back": comeback.summary(), "counted without it": without, "counted with it": again},
           {"out within": bounds, "counted without it": ({node.app_instance: 4 for node in kept}, 4 * len(kept)),
            "counted with it": ({node.app_instance: 6 for node in nodes}, 6 * len(nodes)), "failed": 0})
    assert gone["balancer"] <= bounds["balancer"] and gone["prometheus"] <= bounds["prometheus"], gone
    assert without == ({node.app_instance: 4 for node in kept}, 4 * len(kept))
    assert again == ({node.app_instance: 6 for node in nodes}, 6 * len(nodes))
    assert loss.failed == [] and comeback.failed == []


# The pid every twin's master gets first: far above what the nodes' processes reach.
TWIN_MASTER_PID = 40000
# A master starts a thread or two before its worker (threads take pids too), not always as
# many on every node: an attempt whose worker pids differ tells how to start the next one.
TWIN_ATTEMPTS = 4


def colliding_twins(stack, prefixes):
    """One twin per app node (the i-th under prefixes[i]) whose workers share one pid and one
    worker_id, so that they write the same Redis key under one prefix; each has served one
    request (twins.start_together)."""
    nodes, seen = fleet_nodes(stack), []
    first_pids = [TWIN_MASTER_PID] * len(nodes)
    for _ in range(TWIN_ATTEMPTS):
        started = twins.start_together(nodes, prefixes, first_pids)
        try:
            identity = [(twin.worker, tuple(sorted(twin.worker_ids(REQUESTS)))) for twin in started]
        except BaseException:
            for twin in started:
                twins.stop(twin)
            raise
        if len(set(identity)) == 1 and len(identity[0][1]) == 1:
            return started
        seen.append(dict(zip((node.app.node for node in nodes), identity)))
        for twin in started:
            twins.stop(twin)
        delete_keys(stack, prefixes)
        lowest = min(pid for pid, _ in identity)
        first_pids = [first - (pid - lowest) for first, (pid, _) in zip(first_pids, identity)]
    raise twins.TwinError(f"no collision made in {TWIN_ATTEMPTS} attempts: (worker pid, worker_ids) {seen}")


def send_to_twin(twin, count):
    unexpected = http.send(twin.url, [("/", 200)] * count).unexpected
    if unexpected:
        raise twins.TwinError(f"{twin.node.app.node}'s twin answered {unexpected}")
    twin.settled_total(REQUESTS)  # its last write has landed before another twin writes


def twin_counts(stack, prefixes):
    """Colliding twins (the i-th under prefixes[i]) serve 2i+5 requests each, one twin after
    the other; returns ({node: requests sent}, {node: requests its twin's /metrics counts}).
    The twins and their keys are gone afterwards."""
    if not stack.uses_redis:
        pytest.skip("this stack stores metrics in files, not in Redis: no keys to share")
    started = colliding_twins(stack, prefixes)
    try:
        sent = {}
        for index, twin in enumerate(started):
            sent[twin.node.app.node] = 2 * index + 5
            send_to_twin(twin, sent[twin.node.app.node] - 1)  # one came from twins.start_together
        return sent, {twin.node.app.node: twin.settled_total(REQUESTS) for twin in started}
    finally:
        for twin in started:
            twins.stop(twin)
        delete_keys(stack, prefixes)


def delete_keys(stack, prefixes):
    client = stack.redis_client()
    for prefix in set(prefixes):
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)


def test_workers_of_one_pid_on_two_nodes_count_apart_under_a_prefix_per_node(stack, record):
    """The deployment design: one key prefix per node keeps colliding pids apart."""
    run = uuid.uuid4().hex[:6]
    nodes = fleet_nodes(stack)
    sent, counted = twin_counts(stack, [f"gpe-twin-{run}-{node.app.node}" for node in nodes])
    record(counted, sent)
    assert counted == sent


@upstream.PID_KEYS_COLLIDE_ACROSS_NODES
def test_workers_of_one_pid_on_two_nodes_sum_up_under_one_shared_prefix(stack, record):
    """One prefix for the whole fleet: every reader of it should hold the fleet's total."""
    nodes = fleet_nodes(stack)
    sent, counted = twin_counts(stack, [f"gpe-twin-{uuid.uuid4().hex[:6]}"] * len(nodes))
    total = sum(sent.values())
    record(counted, {node: total for node in counted})
    assert counted == {node: total for node in counted}
