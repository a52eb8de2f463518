"""Per-worker gauges: one series per live worker, with values that make sense."""

from gpe_checks import http, upstream
from gpe_checks.traffic import by_pid, serve_on_every_worker, wait_for_requests
from gpe_checks.waiting import wait_until

MEMORY = "gunicorn_worker_memory_bytes"
CPU = "gunicorn_worker_cpu_percent"
STATE = "gunicorn_worker_state"


def test_live_workers_match_configuration(stack, record):
    def as_configured():
        pids = stack.worker_pids()
        return pids if len(pids) == stack.app.workers else None

    pids = wait_until(as_configured, f"{stack.app.workers} live workers", timeout=20)
    record(len(pids), stack.app.workers)


def test_one_series_per_live_worker(stack, record):
    pids = stack.worker_pids()
    scrape = serve_on_every_worker(stack, pids)
    counts = {}
    for name in (MEMORY, CPU, "gunicorn_worker_uptime_seconds"):
        live = [s for s in scrape.select(name) if int(s.label("pid")) in pids]
        counts[name] = len(live)
        assert sorted(int(s.label("pid")) for s in live) == sorted(pids), (name, live)
    record(counts, f"{len(pids)} each")
    for pid in pids:
        assert scrape.select(MEMORY, pid=pid)[0].value > 0
        assert scrape.select(CPU, pid=pid)[0].value >= 0


def test_uptime_grows_between_scrapes(stack, record):
    pids = stack.worker_pids()
    first = serve_on_every_worker(stack, pids)
    earlier = by_pid(first)
    later = by_pid(serve_on_every_worker(stack, pids, earlier))
    record({p: round(later[p] - earlier[p], 2) for p in pids}, "> 0 for every worker")
    assert all(later[p] > earlier[p] for p in pids)


def test_every_live_worker_is_running(stack, record):
    pids = stack.worker_pids()
    scrape = serve_on_every_worker(stack, pids)
    latest = {}
    for sample in scrape.select(STATE):
        pid = int(sample.label("pid"))
        if pid in pids:
            # The newest series of a worker is the one its last request wrote.
            key = float(sample.label("timestamp", 0))
            if pid not in latest or key >= latest[pid][0]:
                latest[pid] = (key, sample)
    states = {pid: (s.label("state"), s.value) for pid, (_, s) in latest.items()}
    record(states, "running=1 for each")
    assert states == {pid: ("running", 1.0) for pid in pids}


@upstream.WORKER_STATE_TIMESTAMP_LABEL
def test_worker_state_labels_are_stable(stack):
    pids = stack.worker_pids()
    scrape = serve_on_every_worker(stack, pids)
    labels = {tuple(sorted(dict(s.labels))) for s in scrape.select(STATE)}
    assert labels == {("pid", "state", "worker_id")}


@upstream.SIZE_HISTOGRAMS_NEVER_OBSERVED
def test_request_and_response_sizes_are_observed(stack):
    before = serve_on_every_worker(stack)
    sent = 5
    http.send(stack.app_url, [("/", 200)] * sent)
    after = wait_for_requests(stack, before, sent)
    for name in ("gunicorn_worker_request_size_bytes", "gunicorn_worker_response_size_bytes"):
        assert after.total(f"{name}_count") - before.total(f"{name}_count") == sent, name
