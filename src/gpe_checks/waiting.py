# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Poll a condition with a deadline instead of sleeping a fixed time."""

import time


class WaitTimeout(AssertionError):
    """The condition did not hold before the deadline; carries the last value seen."""


def wait_until(probe, what, timeout=30.0, interval=0.1, until=bool, give_up=None):
    """Call probe() until until(value) holds and return that value.

    probe may raise: the error counts as "not yet". When time runs out, the message
    names what was awaited and the last value (or error) seen. give_up(), called after
    each "not yet", may return why the condition can never hold: the wait ends there.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = probe()
            if until(last):
                return last
        except Exception as error:  # noqa: BLE001 - reported below when time is up
            last = error
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"waited {timeout:.0f}s for {what}; last seen: {last!r}")
        hopeless = give_up() if give_up else ""
        if hopeless:
            raise WaitTimeout(f"stopped waiting for {what}: {hopeless}; last seen: {last!r}")
        time.sleep(interval)
