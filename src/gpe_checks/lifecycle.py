# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Signals to the Gunicorn master and what the stack does about them.

Signals go to the pid in the stack's own Gunicorn pidfile (in a container: its first
process), never to a process found by name; stopped services are started again through
their process manager.
"""

import threading
import time
from dataclasses import dataclass, field

from . import http, upstream
from .waiting import wait_until

RESTARTS = "gunicorn_master_worker_restart_total"
PROBE_SECONDS = 0.05
REFUSED_WITHIN_SECONDS = 2.0
# A master that has not done what a signal asks within this long is looked at (py-spy),
# then again every HANG_LOOK_EVERY_SECONDS.
HANG_LOOK_AFTER_SECONDS = 2.0
HANG_LOOK_EVERY_SECONDS = 1.0


def send_signal(stack, signal, pid):
    stack.app_place.check_output(f"kill -{signal} {int(pid)}")


def send_terminate(stack, pid):
    """SIGTERM to the master, the way its manager sends it when stopping the app."""
    service = stack.service(stack.app)
    if service.manager == "docker":
        # Through `docker stop`, in the background: Docker then knows the stop was wanted,
        # where a bare signal would have the restart policy start the container again.
        stack.host.check_output(f"{service.stop_command} >/dev/null 2>&1 &")
    else:
        send_signal(stack, "TERM", pid)


def restarts(scrape, reason):
    """gunicorn_master_worker_restart_total for one reason, each series taken once."""
    return scrape.total(RESTARTS, reason=reason)


def master_hangs(stack, after=None):
    """A give_up for waits on the master: its deadlock (upstream.MASTER_CHLD_HANDLER_DEADLOCK),
    which it never leaves, so that the wait ends in seconds instead of at its timeout. The
    first look comes `after` seconds (HANG_LOOK_AFTER_SECONDS) from now."""
    next_look = [time.monotonic() + (HANG_LOOK_AFTER_SECONDS if after is None else after)]

    def hangs():
        if time.monotonic() < next_look[0]:
            return ""
        try:
            frames = upstream.master_chld_deadlock(stack.master_threads())
        except Exception:  # noqa: BLE001 - no diagnosis (no py-spy, app gone): keep waiting
            frames = ""
        next_look[0] = time.monotonic() + HANG_LOOK_EVERY_SECONDS
        return f"the master hangs, main thread: {frames}" if frames else ""

    return hangs


def wait_for_workers(stack, count, what, avoid=frozenset(), timeout=30):
    """Wait until the master has `count` live workers, none of them in `avoid`."""

    def settled():
        pids = stack.worker_pids()
        return pids if len(pids) == count and not pids & avoid and stack.alive(pids) == pids else None

    return wait_until(settled, what, timeout=timeout, give_up=master_hangs(stack))


def stop_hung_app(stack):
    """Stop an app whose master handles no signal any more. On a host: SIGKILL to its master
    and workers (the pids of its own pidfile and their children), then its manager's stop,
    which returns at once. In a container the manager's stop kills it after its timeout."""
    service = stack.service(stack.app)
    if service.manager != "docker":
        pids = {stack.master_pid()} | stack.worker_pids()
        stack.app_place.check_output("kill -KILL " + " ".join(str(int(pid)) for pid in sorted(pids)))
        wait_until(lambda: stack.alive(pids), f"killed processes {sorted(pids)} to be gone", timeout=10,
                   until=lambda alive: not alive)
    service.stop()


def app_is_serving(stack):
    """The app and its metrics endpoint both answer (after a start)."""
    status, _ = http.get(stack.app_url + "/health", timeout=2)
    return status == 200 and http.get(stack.app.metrics_url, timeout=2)[0] == 200


def start_app_again(stack):
    """Start the app through its process manager unless it runs; wait until it serves."""
    if not stack.app_running():
        stack.service(stack.app).start()
    wait_until(lambda: app_is_serving(stack), "the app and /metrics to answer again", timeout=60, interval=0.2)
    wait_for_workers(stack, stack.app.workers, f"{stack.app.workers} workers after the start")


@dataclass
class Stop:
    """What one SIGTERM to the master looked like from outside."""

    in_flight_status: object = None  # HTTP status, or the error the client got
    in_flight_ended: float = None  # seconds after SIGTERM
    probes: list = field(default_factory=list)  # (seconds after SIGTERM, status or error name)
    # pid -> seconds after SIGTERM when a look first found it gone (it exited before), and
    # when a look last found it running (it exited after): a look takes a while, in a
    # container more, so the exit lies between the two.
    exited: dict = field(default_factory=dict)
    running_at: dict = field(default_factory=dict)
    master: int = 0
    workers: set = field(default_factory=set)
    finished_at: float = 0.0  # time.monotonic() when the last process was gone
    after_exit: object = None  # what a new request got once every process was gone

    @property
    def last_exit(self):
        return max(self.exited.values())

    @property
    def last_seen_running(self):
        return max(self.running_at.values(), default=0.0)


def terminate_during_request(stack, request_seconds, timeout):
    """SIGTERM the master while a /stream request of `request_seconds` is in a worker.

    New requests are tried while the stack drains. Returns a Stop once every process
    exited, or fails after `timeout` seconds.
    """
    stop = Stop(master=stack.master_pid(), workers=stack.worker_pids())
    in_worker = threading.Event()
    term = {}

    def in_flight():
        def started():
            in_worker.set()

        stop.in_flight_status = http.stream(
            f"{stack.app_url}/stream?seconds={request_seconds}", started, timeout + 5)
        stop.in_flight_ended = time.monotonic() - term["at"]

    client = threading.Thread(target=in_flight, daemon=True)
    client.start()
    assert in_worker.wait(10), "the /stream request never reached a worker"
    term["at"] = time.monotonic()
    send_terminate(stack, stop.master)
    pending = {stop.master} | stop.workers
    deadline = term["at"] + timeout
    drained = threading.Event()

    def probe():
        # A new request PROBE_SECONDS after the last one ended, while the stack drains. In its
        # own thread: a request the closing listener leaves unanswered takes its 1 s timeout,
        # which would otherwise delay the exit times measured below.
        while not drained.is_set():
            began = time.monotonic() - term["at"]
            stop.probes.append((round(began, 2), http.attempt(stack.app_url + "/", 1)))
            drained.wait(PROBE_SECONDS)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    # Looked at once the exit is late anyway: a look takes a moment, and would delay the
    # exit times measured here.
    hangs = master_hangs(stack, after=stack.app.graceful_timeout + 1)
    try:
        while pending and time.monotonic() < deadline:
            hung = hangs() if stop.master in pending else ""
            assert not hung, f"still running after SIGTERM: {sorted(pending)}; {hung}"
            now = time.monotonic() - term["at"]
            running = stack.alive(pending)
            for pid in pending:
                (stop.running_at if pid in running else stop.exited)[pid] = now
            pending -= set(stop.exited)
            time.sleep(PROBE_SECONDS)
        stop.finished_at = time.monotonic()
    finally:
        drained.set()
        prober.join(timeout=5)
    client.join(timeout=max(0.0, deadline - time.monotonic()) + 5)
    assert not pending, f"still running {timeout}s after SIGTERM: {sorted(pending)}"
    stop.after_exit = _first_refusal(stack.app_url + "/")
    return stop


def _first_refusal(url, within=REFUSED_WITHIN_SECONDS):
    """What a new request gets once every process is gone: refused, at the latest when the
    process manager has released the port (Docker's proxy of a published port goes with
    the container a moment later). Returns the last outcome seen within the bound."""
    deadline = time.monotonic() + within
    while True:
        outcome = http.attempt(url, 1)
        if outcome == "ConnectionRefusedError" or time.monotonic() >= deadline:
            return outcome
        time.sleep(PROBE_SECONDS)
