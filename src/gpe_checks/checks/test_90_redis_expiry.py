# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Last, because it waits for the stack's Redis keys to vanish: TTLs really expire."""

import time

import pytest

from gpe_checks.facts import require_expiring_redis_keys
from gpe_checks.traffic import serve_on_every_worker
from gpe_checks.waiting import wait_until

pytestmark = pytest.mark.redis

MARGIN_SECONDS = 5


def test_every_key_expires_after_traffic_stops(stack, record):
    require_expiring_redis_keys(stack)
    ttl = stack.app.redis.ttl_seconds
    serve_on_every_worker(stack)
    client = stack.redis_client()
    assert stack.redis_keys(client), "no key of the stack in Redis right after traffic"
    stopped = time.monotonic()
    # /metrics is still scraped by Prometheus meanwhile: reads must not renew the keys.
    wait_until(lambda: stack.redis_keys(client) == [], f"all keys to expire (TTL {ttl}s)",
               timeout=ttl + MARGIN_SECONDS, interval=0.2)
    took = time.monotonic() - stopped
    record(f"{took:.1f}s", f"<= {ttl + MARGIN_SECONDS}s")
