# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Redis stopped under traffic: the app keeps answering, /metrics does not hang, and
once Redis is back every request is counted again (Redis storage only)."""

import time

import pytest

from gpe_checks import http
from gpe_checks.traffic import requests_delta, serve_and_count, serve_on_every_worker, wait_for_requests
from gpe_checks.waiting import wait_until

pytestmark = [pytest.mark.redis, pytest.mark.disruptive]

DURING_OUTAGE = 4
METRICS_DEADLINE_SECONDS = 5
# A stopped Redis container takes its name with it: the exporter's next connection waits
# for the resolver to give up on that name first: each nameserver of the container's
# resolv.conf tried `attempts` times for `timeout` seconds (glibc's defaults 2 and 5 s; seen
# here: /metrics answered after 5.0 s in most runs and after more than 10 s once).
RESOLVER_DEFAULTS = {"timeout": 5, "attempts": 2}


def resolver_bound_seconds(resolv_conf):
    """How long glibc may take to give up on a name, from a resolv.conf's text."""
    options = dict(RESOLVER_DEFAULTS)
    nameservers = 0
    for line in resolv_conf.splitlines():
        words = line.split()
        if words[:1] == ["nameserver"]:
            nameservers += 1
        elif words[:1] == ["options"]:
            for word in words[1:]:
                name, _, value = word.partition(":")
                if name in options and value.isdigit():
                    options[name] = int(value)
    return options["timeout"] * options["attempts"] * max(nameservers, 1)


def test_app_survives_a_redis_outage_and_counting_recovers(stack, record):
    if not stack.uses_redis:
        pytest.skip("this stack stores metrics in files: no Redis to lose")
    if not stack.redis:
        pytest.skip("the stack's Redis is not deployed by this collection here: it cannot be stopped")
    resolver = resolver_bound_seconds(stack.app_place.check_output("cat /etc/resolv.conf")) if stack.redis.in_container else 0
    deadline = METRICS_DEADLINE_SECONDS + resolver
    before = serve_on_every_worker(stack)
    redis = stack.service(stack.redis)
    redis.stop()
    try:
        sent_at = time.monotonic()
        traffic = http.send(stack.app_url, [("/", 200)] * DURING_OUTAGE, concurrency=4)
        asked = time.monotonic()
        status = http.attempt(stack.app.metrics_url, timeout=deadline)
        metrics_took = time.monotonic() - asked
    finally:
        redis.start()
    back = time.monotonic()
    wait_until(lambda: stack.redis_client().ping(), "Redis to answer again", timeout=30)
    # Each worker writes its counters (kept in memory meanwhile) on its next request.
    _, refresh = serve_and_count(stack)
    sent = DURING_OUTAGE + refresh
    after = wait_for_requests(stack, before, sent)
    recovered = time.monotonic() - back
    counted = requests_delta(before, after)
    record(f"app {traffic.count(lambda p, s: s == 200)}/{DURING_OUTAGE} 200 in {asked - sent_at:.1f}s, /metrics {status} in "
           f"{metrics_took:.2f}s, counted {counted:g} of {sent} after {recovered:.1f}s",
           f"all 200, /metrics 200 within {deadline}s, {sent} counted")
    assert traffic.unexpected == []
    assert status == 200
    assert counted == sent
