# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""A short-lived second instance ("twin") of a node's app, whose processes get pids from one
the check chooses: the pid namespace's ns_last_pid is set just before the twin's master
starts. The master forks the same processes on every node before its worker, so twins on
separate nodes run workers of one pid on purpose, as workers of a fleet do by chance (each
node has its own pid namespace). Twins start together, at one instant the controller sets:
the exporter names a worker by its age and start second (worker_id), so twins started in
one second also give their workers one worker_id, and their series one Redis key.

A twin runs the node's own Gunicorn command line and environment (read from the running
master as root, so the Redis password never appears in a command), as the app's user, on the
app's bind address at ports PORT_OFFSET above the app's, with its own key prefix, multiprocess
directory and pidfile. Started and stopped by its pid, never by name.
"""

import math
import shlex
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from . import http
from .metrics import Scrape
from .waiting import WaitTimeout, wait_until

PORT_OFFSET = 100
START_SECONDS = 30


class TwinError(RuntimeError):
    """A twin could not be started or stopped: the check's premise failed, not the exporter."""


@dataclass
class Twin:
    node: object  # facts.Stack of the app node it runs on
    directory: str  # its pidfile, multiprocess directory and log
    url: str
    metrics_url: str
    master: int
    worker: int

    def scrape(self):
        status, body = http.get(self.metrics_url)
        if status != 200:
            raise TwinError(f"twin on {self.node.app.node}: {self.metrics_url} answered {status}: {body[:300]}")
        return Scrape(body)

    def settled_total(self, name, interval=0.3):
        """The total of a metric once two scrapes `interval` apart agree (its writes landed)."""
        seen = []

        def settled():
            seen.append(self.scrape().total(name))
            return len(seen) > 1 and seen[-1] == seen[-2]

        try:
            wait_until(settled, f"the twin on {self.node.app.node} to settle", timeout=10, interval=interval)
        except WaitTimeout as error:
            raise TwinError(str(error)) from None
        return seen[-1]

    def worker_ids(self, name):
        """The worker_id labels of a metric's series in the twin's /metrics."""
        return {sample.label("worker_id") for sample in self.scrape().select(name)}


def _launch_command(node, prefix, first_pid, at, directory, ports):
    """The root shell command that starts the twin in the background (setsid -f): in a
    mount namespace of its own with a fresh /proc (a container's /proc/sys is read-only), it
    waits for the instant `at` (epoch seconds), then sets ns_last_pid so that the master
    gets first_pid."""
    app, host = node.app, node.host
    master = node.master_pid()
    argv = [part.decode() for part in host.file(f"/proc/{master}/cmdline").content.split(b"\0") if part]
    address = app.endpoints["http"].address
    user = app.control.user
    overrides = [f"PROMETHEUS_METRICS_PORT={ports[1]}", f"REDIS_KEY_PREFIX={prefix}", "GUNICORN_WORKERS=1",
                 f"PROMETHEUS_MULTIPROC_DIR={directory}/multiproc"]
    gunicorn = argv + ["--bind", f"{address}:{ports[0]}", "--workers", "1", "--pid", f"{directory}/gunicorn.pid"]
    # xargs forks the one process that becomes the master: it hands the master's environment
    # (NUL-separated) to env -i, ahead of the overrides.
    run = (f"exec setpriv --reuid={shlex.quote(user)} --regid={shlex.quote(user)} --init-groups "
           f'env -i "$@" {" ".join(map(shlex.quote, overrides))} {" ".join(map(shlex.quote, gunicorn))}')
    until = f"import time; time.sleep(max(0, {at!r} - time.time()))"
    inner = (f"cd \"$(readlink /proc/{master}/cwd)\" && mount -t proc proc /proc && "
             f"python3 -c {shlex.quote(until)} && "
             f"echo {first_pid - 1} > /proc/sys/kernel/ns_last_pid && "
             f"exec xargs -0 -a /proc/{master}/environ sh -c {shlex.quote(run)} twin")
    return (f"mkdir -p {directory}/multiproc && chown -R {shlex.quote(user)} {directory} && "
            f"setsid -f unshare --mount sh -c {shlex.quote(inner)} > {directory}/log 2>&1 < /dev/null")


def start_together(nodes, prefixes, first_pids, lead=2.0):
    """One twin per node (nodes[i]'s under prefixes[i], its master at first_pids[i], its
    worker's pid in Twin.worker), all started at one instant `lead` seconds from now, each
    having served one request."""
    # Just after a whole second, so that the workers (started within a second of their
    # masters) name the same second in their worker_id. The nodes' clocks agree with the
    # controller's (one kernel here, NTP on VMs).
    at = math.ceil(time.time() + lead) + 0.05
    launched = [_launch(*each, at) for each in zip(nodes, prefixes, first_pids)]
    return [_ready(*each) for each in launched]


def _launch(node, prefix, first_pid, at):
    app, host = node.app, node.host
    ports = (app.endpoints["http"].port + PORT_OFFSET, app.metrics.port + PORT_OFFSET)
    address = app.endpoints["http"].address
    for port in ports:
        if node.listening(address, port):
            raise TwinError(f"{app.node}: port {port} is taken, a twin needs it")
    directory = f"/tmp/gpe-twin-{uuid.uuid4().hex[:8]}"
    result = host.run(_launch_command(node, prefix, first_pid, at, directory, ports))
    if result.rc != 0:
        raise TwinError(f"{app.node}: the twin did not start ({result.rc}): {result.stderr.strip()[-300:]}")
    # Reached where the controller reaches the app (its bind address may be a wildcard).
    return node, directory, with_port(app.url, ports[0]), with_port(app.metrics_url, ports[1])


def with_port(url, port):
    parts = urlsplit(url)
    return parts._replace(netloc=f"{parts.netloc.rsplit(':', 1)[0]}:{port}").geturl()


def _ready(node, directory, url, metrics_url):
    """The twin once its worker has served one request. Only HTTP is polled until then: a
    command run on the node would take pids the twin's processes are meant to get."""
    host = node.host
    try:
        wait_until(lambda: http.attempt(url) == 200, f"the twin on {node.app.node} to serve", timeout=START_SECONDS)
        master = int(host.file(f"{directory}/gunicorn.pid").content_string.strip())
        (worker,) = host.check_output(f"ps -o pid= --ppid {master}").split()
    except (WaitTimeout, ValueError) as error:
        log = host.run(f"tail -n 20 {directory}/log").stdout
        started = host.run(f"cat {directory}/gunicorn.pid").stdout.strip()
        stop(Twin(node, directory, url, metrics_url, int(started) if started.isdigit() else 0, 0))
        raise TwinError(f"{node.app.node}: {error}; its log:\n{log}") from None
    return Twin(node, directory, url, metrics_url, master, int(worker))


def stop(twin):
    """TERM to the twin's master, wait until it is gone, remove its directory."""
    host = twin.node.host
    if twin.master:
        host.run(f"kill -TERM {twin.master}")
        try:
            wait_until(lambda: not host.file(f"/proc/{twin.master}").exists,
                       f"the twin's master {twin.master} to exit", timeout=START_SECONDS)
        except WaitTimeout as error:
            raise TwinError(str(error)) from None
    host.run(f"rm -rf {twin.directory}")
