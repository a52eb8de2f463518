# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The check library's pure parts: parsing, sums, histogram deltas, waiting."""

import math
import time

import pytest

from gpe_checks.metrics import Scrape, bucket_deltas, is_cumulative
from gpe_checks.waiting import WaitTimeout, wait_until

EXPOSITION = """\
# HELP gunicorn_worker_requests_total Total number of requests handled by this worker
# TYPE gunicorn_worker_requests_total counter
gunicorn_worker_requests_total{worker_id="worker_1_1"} 3.0
gunicorn_worker_requests_total{worker_id="worker_2_1"} 4.0
# HELP gunicorn_worker_request_duration_seconds Request duration in seconds
# TYPE gunicorn_worker_request_duration_seconds histogram
gunicorn_worker_request_duration_seconds_bucket{le="0.1",worker_id="worker_1_1"} 2.0
gunicorn_worker_request_duration_seconds_bucket{le="+Inf",worker_id="worker_1_1"} 3.0
gunicorn_worker_request_duration_seconds_count{worker_id="worker_1_1"} 3.0
gunicorn_worker_request_duration_seconds_sum{worker_id="worker_1_1"} 0.5
gunicorn_worker_request_duration_seconds_bucket{le="0.1",worker_id="worker_2_1"} 4.0
gunicorn_worker_request_duration_seconds_bucket{le="+Inf",worker_id="worker_2_1"} 4.0
gunicorn_worker_request_duration_seconds_count{worker_id="worker_2_1"} 4.0
gunicorn_worker_request_duration_seconds_sum{worker_id="worker_2_1"} 0.1
# HELP gunicorn_worker_requests_total Total number of requests handled by this worker
# TYPE gunicorn_worker_requests_total counter
# HELP gunicorn_worker_state Current state of the worker (1=running, 0=stopped)
# TYPE gunicorn_worker_state gauge
gunicorn_worker_state{pid="10",state="running",timestamp="5",worker_id="worker_1_1"} 1.0
"""


def test_total_sums_every_series_and_filters_by_label():
    scrape = Scrape(EXPOSITION)
    assert scrape.total("gunicorn_worker_requests_total") == 7
    assert scrape.total("gunicorn_worker_requests_total", worker_id="worker_2_1") == 4
    assert scrape.total("gunicorn_worker_requests_total", worker_id="nobody") == 0


def test_buckets_are_summed_over_workers_by_bound():
    buckets = Scrape(EXPOSITION).buckets("gunicorn_worker_request_duration_seconds")
    assert buckets == {0.1: 6.0, math.inf: 7.0}
    assert is_cumulative(buckets)


def test_bucket_deltas_treat_new_bounds_as_zero():
    assert bucket_deltas({0.1: 1.0}, {0.1: 3.0, math.inf: 5.0}) == {0.1: 2.0, math.inf: 5.0}


@pytest.mark.parametrize(
    "buckets, expected",
    [
        ({0.1: 1.0, 1.0: 2.0, math.inf: 2.0}, True),
        ({0.1: 3.0, 1.0: 2.0, math.inf: 3.0}, False),  # decreasing
        ({0.1: 1.0, 1.0: 2.0}, False),  # no +Inf bound
        ({}, False),
    ],
)
def test_is_cumulative(buckets, expected):
    assert is_cumulative(buckets) is expected


def test_duplicate_help_lines_are_reported_by_name():
    assert Scrape(EXPOSITION).duplicate_help_lines() == ["gunicorn_worker_requests_total"]


def test_sample_labels_are_readable():
    sample = Scrape(EXPOSITION).select("gunicorn_worker_state")[0]
    assert sample.label("pid") == "10"
    assert sample.label("missing", "x") == "x"


def test_wait_until_returns_the_first_truthy_value():
    calls = iter([None, 0, "", "ready"])
    assert wait_until(lambda: next(calls), "ready", timeout=5, interval=0) == "ready"


def test_wait_until_treats_errors_as_not_yet_and_reports_the_last():
    def probe():
        raise ConnectionRefusedError("port closed")

    started = time.monotonic()
    with pytest.raises(WaitTimeout, match="port closed"):
        wait_until(probe, "the port", timeout=0.3, interval=0.05)
    assert time.monotonic() - started < 2


def test_wait_timeout_is_an_assertion_error():
    # Strict xfails of upstream defects accept only AssertionError: a timeout must count.
    assert issubclass(WaitTimeout, AssertionError)


def test_wait_until_reports_the_last_value_its_condition_rejected():
    with pytest.raises(WaitTimeout, match=r"last seen: \{'a': 'down'\}"):
        wait_until(lambda: {"a": "down"}, "a to be up", timeout=0.2, interval=0.05,
                   until=lambda found: found == {"a": "up"})


def test_a_series_exposed_twice_is_counted_once_and_reported():
    text = (
        "# TYPE gunicorn_master_worker_restart_total counter\n"
        'gunicorn_master_worker_restart_total{reason="hup"} 3.0\n'
        'gunicorn_master_worker_restart_total{reason="chld"} 7.0\n'
        "# TYPE gunicorn_master_worker_restart_total counter\n"
        'gunicorn_master_worker_restart_total{reason="hup"} 3.0\n'
    )
    scrape = Scrape(text)
    assert scrape.total("gunicorn_master_worker_restart_total", reason="hup") == 3
    assert scrape.total("gunicorn_master_worker_restart_total") == 10
    assert scrape.duplicate_series() == [("gunicorn_master_worker_restart_total", (("reason", "hup"),))]


def test_requests_delta_ignores_series_that_vanished():
    from gpe_checks.traffic import requests_delta

    before = Scrape(
        'gunicorn_worker_requests_total{worker_id="dead"} 9.0\n'
        'gunicorn_worker_requests_total{worker_id="live"} 2.0\n'
    )
    after = Scrape(
        'gunicorn_worker_requests_total{worker_id="live"} 5.0\n'
        'gunicorn_worker_requests_total{worker_id="new"} 1.0\n'
    )
    assert requests_delta(before, after) == 4.0
