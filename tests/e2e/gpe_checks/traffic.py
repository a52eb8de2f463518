"""Traffic patterns the checks share."""

from . import http
from .waiting import wait_until

UPTIME = "gunicorn_worker_uptime_seconds"


def by_pid(scrape, name=UPTIME):
    """Value of a per-worker gauge by the worker's pid."""
    return {int(s.label("pid")): s.value for s in scrape.select(name)}


def serve_on_every_worker(stack, pids=None, baseline=None):
    """Send parallel slow requests until every live worker has refreshed its gauges.

    The exporter updates a worker's gauges (and, with Redis, the TTL of its keys) when
    that worker starts a request, so each worker must serve one. Slow requests held in
    parallel spread over all workers. Returns the scrape that shows it.
    """
    pids = stack.worker_pids() if pids is None else pids
    start = stack.scrape()
    baseline = by_pid(start) if baseline is None else baseline
    parallel = len(pids) * int(stack.app.get("threads", 1))
    sent = []

    def refreshed():
        traffic = http.send(stack.app_url, [("/slow?seconds=0.2", 200)] * parallel, concurrency=parallel)
        assert traffic.unexpected == [], traffic.unexpected
        sent.append(parallel)
        uptime = by_pid(stack.scrape())
        return all(pid in uptime and uptime[pid] != baseline.get(pid) for pid in pids)

    wait_until(refreshed, f"every worker {sorted(pids)} to serve a request", timeout=30, interval=0)
    # Callers take the returned scrape as a baseline: every request sent here must be in it.
    return wait_for_requests(stack, start, sum(sent))


def wait_for_requests(stack, before, sent, timeout=20):
    """The first scrape whose request counter is at least `sent` above `before`.

    The exporter counts a request after its response is written, so a client can see
    the answer a moment before the counter moves.
    """
    name = "gunicorn_worker_requests_total"

    def counted():
        scrape = stack.scrape()
        return scrape if scrape.total(name) - before.total(name) >= sent else None

    return wait_until(counted, f"{sent} more requests in {stack.app['metrics_url']}", timeout=timeout)
