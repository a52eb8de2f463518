# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Redis storage: the exporter's keys exist with a bounded TTL; file storage writes none."""

import json
import re
import shlex
import time

import pytest

from gpe_checks import http, upstream
from gpe_checks.probes import probe_source
from gpe_checks.traffic import serve_on_every_worker
from gpe_checks.facts import require_expiring_redis_keys
from gpe_checks.waiting import wait_until

pytestmark = pytest.mark.redis

REQUESTS = "gunicorn_worker_requests_total"
COUNT = "gunicorn_worker_request_duration_seconds_count"


def test_redis_keys_have_bounded_ttl(stack, record):
    if not stack.uses_redis:
        pytest.skip("this stack stores metrics in files, not in Redis")
    serve_on_every_worker(stack)
    client = stack.redis_client()
    keys = stack.redis_keys(client)
    metric_keys = [k for k in keys if ":metric:" in k]
    meta_keys = [k for k in keys if ":meta:" in k]
    # Milliseconds: TTL in seconds rounds a key in its last half second down to 0; PTTL 0
    # is a key in its last millisecond (it has a TTL: -1 would be none).
    # -2 is a key that expired between SCAN and PTTL (series nobody writes any more).
    ttls = {k: t for k in keys if (t := client.pttl(k)) != -2}
    ttl_ms = stack.app.redis.ttl_seconds * 1000
    record(
        f"{len(metric_keys)} metric, {len(meta_keys)} meta keys, PTTL {min(ttls.values())}..{max(ttls.values())} ms",
        f"both kinds present, PTTL in [0, {ttl_ms}]" if not stack.app.redis.ttl_disabled else "no TTL",
    )
    assert metric_keys and meta_keys, keys
    if stack.app.redis.ttl_disabled:
        assert set(ttls.values()) == {-1}, ttls
    else:
        assert all(0 <= t <= ttl_ms for t in ttls.values()), {k: t for k, t in ttls.items() if not 0 <= t <= ttl_ms}


# {prefix}:{type[_mode]}:{pid}:metric|meta:{md5 of the series}
KEY_SHAPE = r"(?P<type>[a-z]+(?:_[a-z]+)?):(?P<pid>[0-9]+):(?:metric|meta):[0-9a-f]{32}"


def test_every_key_is_the_exporters_under_its_prefix(stack, record):
    """REDIS_KEY_PREFIX holds every key of the stack's Redis, and only the exporter's (in a
    fleet, each app node's prefix holds that node's)."""
    if not stack.uses_redis:
        pytest.skip("this stack stores metrics in files, not in Redis")
    # Traffic that writes keys, without waiting for /metrics (which may be what broke).
    parallel = len(stack.worker_pids()) * int(stack.app.threads)
    assert http.send(stack.app_url, [("/slow?seconds=0.1", 200)] * parallel, concurrency=parallel).unexpected == []
    prefix = stack.app.redis.key_prefix
    keys = list(stack.redis_client().scan_iter(match="*", count=1000))
    shape = re.compile("(?:" + "|".join(map(re.escape, stack.key_prefixes)) + "):" + KEY_SHAPE)
    others = sorted(key for key in keys if not shape.fullmatch(key))
    own = [key for key in keys if key.startswith(f"{prefix}:")]
    record(f"{len(keys) - len(others)} of {len(keys)} keys <prefix>:<type>:<pid>:metric or meta:<md5>, "
           f"prefixes {stack.key_prefixes}, {len(own)} under {prefix}",
           "all of them, at least one under this app's")
    assert not others, f"keys not of the exporter under {stack.key_prefixes}: ({len(others)}) {others[:5]}"
    assert own, f"no key under {prefix}: after {parallel} requests"


# The exporter writes a metric's hash (with updated_at, Redis server time) and then sets
# its EXPIRE: what is left of the TTL is the full TTL less the time since that write,
# within the round trips between the two and between TIME and PTTL here.
TTL_TOLERANCE_MS = 100


def test_each_metric_key_expires_a_full_ttl_after_its_last_write(stack, record):
    require_expiring_redis_keys(stack)
    serve_on_every_worker(stack)
    client = stack.redis_client()
    keys = [k for k in stack.redis_keys(client) if ":metric:" in k]
    pipe = client.pipeline(transaction=False)
    pipe.time()
    for key in keys:
        pipe.hget(key, "updated_at")
        pipe.pttl(key)
    (seconds, micros), *answers = pipe.execute()
    now = seconds + micros / 1e6
    ttl_ms = stack.app.redis.ttl_seconds * 1000
    # A key that expired meanwhile answers no updated_at and PTTL -2.
    written = {key: (float(at), pttl) for key, at, pttl in zip(keys, answers[::2], answers[1::2]) if at is not None}
    off = {key: pttl - (ttl_ms - (now - at) * 1000) for key, (at, pttl) in written.items()}
    freshest = max(pttl for _, pttl in written.values())
    record(f"{len(written)} metric keys; the freshest PTTL {freshest} ms; off by {min(off.values()):.0f}..{max(off.values()):.0f} ms",
           f"{ttl_ms} ms less the time since its last write, within {TTL_TOLERANCE_MS} ms")
    assert all(abs(value) <= TTL_TOLERANCE_MS for value in off.values()), {
        key: round(value) for key, value in off.items() if abs(value) > TTL_TOLERANCE_MS}


def test_redis_metric_hashes_hold_values(stack):
    if not stack.uses_redis:
        pytest.skip("this stack stores metrics in files, not in Redis")
    serve_on_every_worker(stack)
    client = stack.redis_client()
    key = next(k for k in stack.redis_keys(client) if ":metric:" in k)
    fields = client.hgetall(key)
    assert {"value", "timestamp", "updated_at"} <= set(fields), fields
    float(fields["value"])


def test_file_storage_writes_no_redis_key(stack, record):
    if stack.uses_redis:
        pytest.skip("this stack stores metrics in Redis")
    if not stack.redis:
        pytest.skip("this stack has no Redis to look into")
    http.send(stack.app_url, [("/", 200)] * 3)
    keys = stack.redis_keys()
    record(len(keys), 0)
    assert keys == []


def test_file_storage_writes_the_multiprocess_directory(stack):
    if stack.uses_redis:
        pytest.skip("this stack stores metrics in Redis")
    serve_on_every_worker(stack)
    files = stack.app_place.check_output(f"ls -A {shlex.quote(stack.app.multiproc_dir)}").split()
    assert any(name.endswith(".db") for name in files), files


def test_histogram_keeps_buckets_no_request_hit_lately(request, stack, record):
    """Every worker's histogram _count equals its requests_total, also after a while in
    which only slow requests came: live series must not expire (checked on both backends)."""
    if stack.uses_redis:
        request.applymarker(upstream.QUIET_SERIES_EXPIRE)
    ttl = stack.app.redis.ttl_seconds if stack.uses_redis else 0
    workers = stack.app.workers
    # Fast requests land in the lowest buckets; afterwards only 0.2 s requests come.
    assert http.send(stack.app_url, [("/", 200)] * 8 * workers, concurrency=workers).unexpected == []
    quiet_until = time.monotonic() + ttl + 1
    while time.monotonic() < quiet_until:  # bounded: one round per worker-wide refresh
        scrape = serve_on_every_worker(stack)

    def per_worker(scrape):
        return ({s.label("worker_id"): s.value for s in scrape.select(COUNT)},
                {s.label("worker_id"): s.value for s in scrape.select(REQUESTS)})

    # The histogram is observed a moment after the counter moves: poll briefly (well within
    # the TTL, so nothing expires while the checks wait).
    counts, requests = wait_until(
        lambda: per_worker(stack.scrape()), f"_count == requests_total for each of {workers} workers",
        timeout=2, until=lambda pair: len(pair[1]) == workers and pair[0] == pair[1])
    record(f"after {ttl + 1}s of slow requests only: _count {counts}", f"requests_total {requests}")


def test_concurrent_increments_store_the_latest_value(request, stack, record):
    """Two threads increment one series: Redis must end with the value both produced.

    Runs the exporter's own RedisValue in the app's virtualenv against the stack's Redis,
    with the first thread held between its addition and its write (a schedule threads of
    a PrometheusThreadWorker can take on their own).
    """
    if not stack.uses_redis:
        pytest.skip("file storage: prometheus_client locks each value while it adds and writes")
    request.applymarker(upstream.REDIS_INC_NOT_SERIALIZED)
    source = probe_source("redis_value_race.py")
    probe = stack.app_place.command(f"{shlex.quote(stack.app.venv)}/bin/python -c {shlex.quote(source)} 2>/dev/null")
    # The app's manifest (it holds the password) reaches the probe by the shell's redirection,
    # on no command line.
    manifest = stack.app.source.split(":", 1)[1]
    out = stack.host.check_output(f"{probe} < {shlex.quote(manifest)}")
    seen = json.loads(out.splitlines()[-1])
    record(f"stored {seen['stored']:g}", f"{seen['memory']:g} (the value in memory)")
    assert seen["stored"] == seen["memory"]
