# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Traffic patterns the checks share."""

from . import http
from .waiting import wait_until

UPTIME = "gunicorn_worker_uptime_seconds"
DURATION_COUNT = "gunicorn_worker_request_duration_seconds_count"
DURATION_BUCKET = "gunicorn_worker_request_duration_seconds_bucket"
# How long each request of serve_on_every_worker holds its worker: long enough that requests
# sent together land on different workers (a round that misses one is sent again).
HOLD_SECONDS = 0.1


def by_pid(scrape, name=UPTIME):
    """Value of a per-worker gauge by the worker's pid."""
    return {int(s.label("pid")): s.value for s in scrape.select(name)}


def serve_on_every_worker(stack, pids=None, baseline=None, histogram=False):
    """Send parallel slow requests until every live worker has refreshed its gauges.

    The exporter updates a worker's gauges (and, with Redis, the TTL of its keys) when
    that worker starts a request, so each worker must serve one. Slow requests held in
    parallel spread over all workers. Returns the scrape that shows it; with
    histogram=True one that also holds their observations in the duration histogram (a
    baseline for comparing _count).
    """
    return serve_and_count(stack, pids, baseline, histogram)[0]


def serve_and_count(stack, pids=None, baseline=None, histogram=False):
    """serve_on_every_worker, and how many requests that took: (scrape, requests sent)."""
    pids = stack.worker_pids() if pids is None else pids
    start = stack.scrape()
    baseline = by_pid(start) if baseline is None else baseline
    parallel = len(pids) * int(stack.app.threads)
    sent = []

    def refreshed():
        traffic = http.send(stack.app_url, [(f"/slow?seconds={HOLD_SECONDS}", 200)] * parallel, concurrency=parallel)
        assert traffic.unexpected == [], traffic.unexpected
        sent.append(parallel)
        scrape = stack.scrape()
        uptime = by_pid(scrape)
        return scrape if all(pid in uptime and uptime[pid] != baseline.get(pid) for pid in pids) else None

    scrape = wait_until(refreshed, f"every worker {sorted(pids)} to serve a request", timeout=30, interval=0)
    # Callers take the returned scrape as a baseline: every request sent here must be in
    # it. Counted over the live workers only: with Redis storage the series of workers
    # that died earlier expire meanwhile and would lower a plain sum.
    live = live_worker_ids(scrape, pids)

    # The histogram is observed a moment after the counter moves: a baseline for _count
    # must hold both. (With Redis storage quiet buckets can expire meanwhile, upstream's
    # QUIET_SERIES_EXPIRE: only a check that rules that out asks for the histogram.)
    names = ("gunicorn_worker_requests_total",) + ((DURATION_COUNT,) if histogram else ())

    def counted(now):
        moved = all(requests_of(now, live, name) - requests_of(start, live, name) >= sum(sent) for name in names)
        # _count and the buckets are written apart (separate Redis keys): a baseline
        # holds the whole observation, +Inf == _count.
        return moved and (not histogram or inf_bucket_of(now, live) == requests_of(now, live, DURATION_COUNT))

    counted_scrape = wait_until(stack.scrape, f"{sum(sent)} more requests of workers {sorted(pids)}",
                                timeout=20, until=counted)
    return counted_scrape, sum(sent)


def inf_bucket_of(scrape, worker_ids):
    """The duration histogram's +Inf bucket, summed over the given workers."""
    return requests_of(scrape, worker_ids, DURATION_BUCKET, le="+Inf")


def live_worker_ids(scrape, pids):
    """worker_id labels of the given worker pids (the gauges carry both labels)."""
    return {s.label("worker_id") for s in scrape.select(UPTIME) if int(s.label("pid")) in pids}


def requests_of(scrape, worker_ids, name="gunicorn_worker_requests_total", **labels):
    return sum(s.value for s in scrape.select(name, **labels) if s.label("worker_id") in worker_ids)


def requests_delta(before, after):
    """Requests counted between two scrapes, series by series.

    A series missing from `after` (its Redis keys expired with a dead worker) adds
    nothing, where a plain difference of sums would go negative.
    """
    name = "gunicorn_worker_requests_total"
    earlier = {s.label("worker_id"): s.value for s in before.select(name)}
    return sum(s.value - earlier.get(s.label("worker_id"), 0.0) for s in after.select(name))


def wait_for_requests(stack, before, sent, timeout=20):
    """The first scrape that counts at least `sent` requests more than `before`.

    The exporter counts a request after its response is written, so a client can see
    the answer a moment before the counter moves.
    """
    return wait_until(stack.scrape, f"{sent} more requests in {stack.app.metrics_url}",
                      timeout=timeout, until=lambda now: requests_delta(before, now) >= sent)
