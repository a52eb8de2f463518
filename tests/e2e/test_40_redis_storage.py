"""Redis storage: the exporter's keys exist with a bounded TTL; file storage writes none."""

import pytest

from gpe_checks import http
from gpe_checks.traffic import serve_on_every_worker


def test_redis_keys_have_bounded_ttl(stack, record):
    if not stack.uses_redis:
        pytest.skip("this stack stores metrics in files, not in Redis")
    serve_on_every_worker(stack)
    client = stack.redis_client()
    keys = stack.redis_keys(client)
    prefix = stack.app["redis"]["key_prefix"]
    metric_keys = [k for k in keys if ":metric:" in k]
    meta_keys = [k for k in keys if ":meta:" in k]
    # Milliseconds: TTL in seconds rounds a key in its last half second down to 0.
    # -2 is a key that expired between SCAN and PTTL (series nobody writes any more).
    ttls = {k: t for k in keys if (t := client.pttl(k)) != -2}
    ttl_ms = stack.app["redis"]["ttl_seconds"] * 1000
    record(
        f"{len(metric_keys)} metric, {len(meta_keys)} meta keys, PTTL {min(ttls.values())}..{max(ttls.values())} ms",
        f"both kinds present, PTTL in (0, {ttl_ms}]" if not stack.app["redis"]["ttl_disabled"] else "no TTL",
    )
    assert metric_keys and meta_keys, keys
    assert all(k.startswith(f"{prefix}:") for k in keys)
    if stack.app["redis"]["ttl_disabled"]:
        assert set(ttls.values()) == {-1}, ttls
    else:
        assert all(0 < t <= ttl_ms for t in ttls.values()), {k: t for k, t in ttls.items() if not 0 < t <= ttl_ms}


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


def test_file_storage_writes_the_multiprocess_directory(host, stack):
    if stack.uses_redis:
        pytest.skip("this stack stores metrics in Redis")
    serve_on_every_worker(stack)
    files = host.file(stack.app["multiproc_dir"]).listdir()
    assert any(name.endswith(".db") for name in files), files
