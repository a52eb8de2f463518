# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Known defects of gunicorn-prometheus-exporter itself, as strict xfails.

Each marker names the upstream repository and the evidence. A release that fixes the
defect turns the check into an XPASS, which fails the run: then drop the marker.
"""

import pytest

REPO = "github.com/Agent-Hellboy/gunicorn-prometheus-exporter"

WORKER_STATE_TIMESTAMP_LABEL = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        f"upstream defect ({REPO}, raised in the review of PR #6, unchanged in 0.2.4): "
        "gunicorn_worker_state carries a `timestamp` label, so every update makes a new series"
    ),
)

WORKER_GAUGES_MEASURE_THE_MASTER = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        f"upstream defect ({REPO} 0.2.4, plugin.py PrometheusMixin.__init__): psutil.Process() is "
        "created in the master before the fork, so every worker's gunicorn_worker_memory_bytes and "
        "gunicorn_worker_cpu_percent are the master's (measured: each worker's memory gauge equals "
        "the master's statm RSS to the byte; a worker burning the CPU reports the idle master's percent)"
    ),
)

SIZE_HISTOGRAMS_NEVER_OBSERVED = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        f"upstream defect ({REPO} 0.2.4, plugin.py): gunicorn_worker_request_size_bytes and "
        "gunicorn_worker_response_size_bytes are declared but never observed"
    ),
)

DUPLICATE_HELP_LINES = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        f"upstream defect ({REPO} 0.2.4): /metrics repeats # HELP/# TYPE of every family "
        "(the exporter's registry is also read by its multiprocess collector), so "
        "`promtool check metrics` stops with 'second HELP line for metric name'"
    ),
)

RESTART_COUNT_NEVER_INCREMENTED = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        f"upstream defect ({REPO} 0.2.4, master.py): gunicorn_master_worker_restart_count_total "
        "is never incremented, even when gunicorn_master_worker_restart_total is"
    ),
)

DEAD_WORKER_SERIES_LINGER = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        f"upstream defect ({REPO} 0.2.4): no child_exit hook calls mark_process_dead, so with "
        "file storage the gauge series of a killed worker stay in /metrics"
    ),
)

YAML_MULTIPROC_DIR_IGNORED = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        f"upstream defect ({REPO} 0.2.4, config/settings.py): importing the package sets a default "
        "PROMETHEUS_MULTIPROC_DIR (~/.gunicorn_prometheus) before load_yaml_config can apply the "
        "file's exporter.prometheus.multiproc_dir, which is then ignored"
    ),
)

DUPLICATE_MASTER_SERIES = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        f"upstream defect ({REPO} 0.2.4): the master's series (gunicorn_master_worker_restart_total) "
        "appear twice in /metrics with the same labels, once from the default registry and once "
        "from the multiprocess collector; Prometheus reports duplicate samples"
    ),
)

QUIET_SERIES_EXPIRE = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        f"upstream defect ({REPO} 0.2.4, backend/core/client.py): with Redis storage each key has "
        "its own TTL, renewed only when that key is written, so a live worker's histogram buckets "
        "that no request hit within REDIS_TTL_SECONDS expire and "
        "gunicorn_worker_request_duration_seconds_count falls below requests_total "
        "(a counter reset for Prometheus)"
    ),
)

ASYNC_CLOSE_COUNTED_AS_FAILURE = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        f"upstream defect ({REPO} 0.2.4, plugin.py _generic_handle_request): Gunicorn's async "
        "workers end a request whose connection closes (Connection: close, HTTP/1.0, as nginx "
        "sends by default) by raising StopIteration; the wrapper catches it as an error, so the "
        "request lands in failed_requests_total and never in requests_total"
    ),
)

ASYNC_WORKER_CLASSES = ("PrometheusGeventWorker", "PrometheusEventletWorker")

REDIS_INC_NOT_SERIALIZED = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        f"upstream defect ({REPO} 0.2.4, backend/core/values.py RedisValue.inc): the value is "
        "added in memory and written to Redis outside any lock, so two threads of one "
        "PrometheusThreadWorker can write out of order and Redis keeps the older, lower value "
        "until that series is written again (seen under load: 1,995 of 2,000 requests)"
    ),
)

PID_KEYS_COLLIDE_ACROSS_NODES = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        f"upstream defect ({REPO} 0.2.4, backend/core/client.py _get_metric_key): a series' key "
        "is {prefix}:{type}:{pid}:metric:{hash of name and labels} and RedisValue.inc writes the "
        "worker's own running value (HSET), so workers on two nodes (separate pid namespaces) "
        "with one pid and one worker_id (age and start second: nodes restarted together) write "
        "one key under a shared prefix and the last writer wins (cleanup_process_keys, unused "
        "in 0.2.4, would also delete {prefix}:*:{pid}:* across nodes). Made on purpose with "
        "ns_last_pid: twins sent 5 and 7 requests, both read 8 instead of 12; keep one prefix "
        "per node"
    ),
)

MASTER_CHLD_HANDLER_DEADLOCK = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        f"upstream defect ({REPO} 0.2.4, master.py): handle_hup/ttin/ttou/usr1 end with "
        "_signal_queue.put_nowait, which holds queue.Queue's lock; SIGCHLD from a worker "
        "exiting at that moment runs handle_chld, which puts to the same queue and waits "
        "for that lock forever: the master's main thread hangs, handles no signal and "
        "replaces no worker again (seen once in the sidecar scenario: HUP, TTIN, USR1 and "
        "a killed worker all unanswered until the container was killed)"
    ),
)


EMPTY_MULTIPROCESS_FILE = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        "upstream defect (github.com/prometheus/client_python issue #1199, fix proposed in PR #1207, "
        "unfixed in the version the exporter 0.2.4 installs): MmapedDict creates a worker's .db "
        "file before it sizes it; a scrape of /metrics by the master in that moment (workers "
        "starting after a HUP, TTIN or a death) reads 0 bytes, struct.error aborts the whole "
        "MultiProcessCollector and /metrics answers 500"
    ),
)
# The app's log line that tells EMPTY_MULTIPROCESS_FILE from any other 500 of /metrics.
EMPTY_MULTIPROCESS_FILE_ERROR = "unpack_from requires a buffer of at least 4 bytes for unpacking 4 bytes at offset 0 (actual buffer size is 0)"


def master_chld_deadlock(threads):
    """Frames of the master's main thread (a py-spy dump) when it hangs in
    MASTER_CHLD_HANDLER_DEADLOCK: handle_chld waits in Queue.put for the lock the
    _queue_signal_metric it interrupted holds. "" for any other state."""
    main = next((block for block in threads.split("\nThread ") if '"MainThread"' in block.split("\n", 1)[0]), "")
    frames = [line.strip() for line in main.splitlines()[1:] if line.strip()]
    calls = [frame.split(" ", 1)[0] for frame in frames]
    if "PrometheusMaster.handle_chld" not in calls:
        return ""
    handler = calls.index("PrometheusMaster.handle_chld")
    if "Queue.put" in calls[:handler] and "PrometheusMaster._queue_signal_metric" in calls[handler + 1:]:
        return "; ".join(frames)
    return ""
