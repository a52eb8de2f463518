# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Graceful shutdown: SIGTERM to the Gunicorn master, as a process manager sends it.

Each class stops the app once and starts it again through its process manager at the end.
"""

import time

import pytest

from gpe_checks.lifecycle import start_app_again, terminate_during_request
from gpe_checks.waiting import wait_until

pytestmark = [pytest.mark.signals, pytest.mark.disruptive]

# Margin for polling and for the exporter's exit hook after the last worker is gone.
EXIT_MARGIN_SECONDS = 1.0
# Gunicorn's arbiter, stopping, looks every 0.1 s whether the workers are gone and kills
# those left once graceful_timeout has passed (Arbiter.stop): a worker may run that much past it.
ARBITER_POLL_SECONDS = 0.1
# Until the workers notice the stop, they still accept: a sync worker at once, an async
# (gevent, eventlet) worker in its loop that wakes once a second.
SIGNAL_LATENCY_SECONDS = 1.5


def _no_answer(outcome):
    return not isinstance(outcome, int)


class TestInFlightRequestDrains:
    """A request shorter than graceful_timeout completes; nothing new is served."""

    @pytest.fixture(scope="class")
    @classmethod
    def stop(cls, stack):
        request_seconds = max(1.0, stack.app.graceful_timeout / 3)
        yield terminate_during_request(stack, request_seconds, stack.app.graceful_timeout + 10)
        start_app_again(stack)

    def test_in_flight_request_completes(self, stop, record):
        record(stop.in_flight_status, 200)
        assert stop.in_flight_status == 200

    def test_new_connections_are_not_served(self, stop, record):
        # The master handles SIGTERM a moment after it arrives: requests in that moment are
        # still served. From the first unanswered one on, nothing may be served again.
        first = next((i for i, (_, outcome) in enumerate(stop.probes) if _no_answer(outcome)), None)
        assert first is not None, f"every request after SIGTERM was answered: {stop.probes}"
        began = stop.probes[first][0]
        later = [p for p in stop.probes[first:] if not _no_answer(p[1])]
        kinds = sorted({str(outcome) for _, outcome in stop.probes})
        record(f"{len(stop.probes)} tried, unanswered from {began:.2f}s, answered later {later}, {kinds}, "
               f"after the exit {stop.after_exit}",
               f"unanswered from <= {SIGNAL_LATENCY_SECONDS}s on, refused after the exit")
        assert began <= SIGNAL_LATENCY_SECONDS
        assert later == []
        # Once the master closed its sockets and the workers left, the port refuses.
        assert stop.after_exit == "ConnectionRefusedError", f"after the exit: {stop.after_exit}"

    def test_every_process_exits_within_graceful_timeout(self, stack, stop, record):
        """No process is found running after graceful_timeout and the arbiter's last look
        (each look at the processes takes a moment: the last exit lies between the last look
        that found one running and the look that found all gone)."""
        limit = stack.app.graceful_timeout + ARBITER_POLL_SECONDS
        record(f"last seen running {stop.last_seen_running:.2f}s, all gone by {stop.last_exit:.2f}s after SIGTERM",
               f"none running after {limit:g}s")
        assert stop.last_seen_running <= limit

    def test_ports_are_free_and_nothing_is_left(self, stack, stop, record):
        listening = {port: stack.listening(address, port) for address, port in (
            (stack.app.endpoints["http"].address, stack.app.endpoints["http"].port),
            (stack.app.metrics.address, stack.app.metrics.port))}
        left = stack.app_leftovers()
        record(f"listening {listening}, processes of the app left: {sorted(left)}", "none")
        assert not any(listening.values())
        assert left == set()

    def test_redis_keys_expire_after_shutdown(self, stack, stop, record):
        if not stack.uses_redis:
            pytest.skip("this stack stores metrics in files, not in Redis")
        ttl = stack.app.redis.ttl_seconds
        client = stack.redis_client()
        # Counted from the exit of the last process: its last writes set the last TTLs.
        left = ttl + EXIT_MARGIN_SECONDS - (time.monotonic() - stop.finished_at)
        wait_until(lambda: stack.redis_keys(client), "keys of the stopped stack to expire",
                   timeout=max(left, 0.0), until=lambda keys: keys == [], interval=0.2)
        record(f"none left {time.monotonic() - stop.finished_at:.1f}s after the exit",
               f"none within TTL {ttl}s + {EXIT_MARGIN_SECONDS:g}s")


class TestRequestPastGracefulTimeout:
    """A request longer than graceful_timeout is cut off and its worker killed on time."""

    @pytest.fixture(scope="class")
    @classmethod
    def stop(cls, stack):
        request_seconds = stack.app.graceful_timeout + 10
        yield terminate_during_request(stack, request_seconds, stack.app.graceful_timeout + 10)
        start_app_again(stack)

    def test_request_is_cut_off_at_graceful_timeout(self, stack, stop, record):
        limit = stack.app.graceful_timeout
        record(f"{stop.in_flight_status} after {stop.in_flight_ended:.2f}s", f"no answer at {limit}s")
        assert _no_answer(stop.in_flight_status)
        assert limit <= stop.in_flight_ended <= limit + EXIT_MARGIN_SECONDS

    def test_workers_are_killed_on_time(self, stack, stop, record):
        limit = stack.app.graceful_timeout
        record(f"last exit {stop.last_exit:.2f}s after SIGTERM", f"{limit}s .. {limit + EXIT_MARGIN_SECONDS}s")
        assert limit <= stop.last_exit <= limit + EXIT_MARGIN_SECONDS
