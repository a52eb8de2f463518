# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""One measurement of the overhead benchmark, run on the measured host by the benchmark
virtualenv's Python (playbooks/benchmark.yml copies it there); prints its result as JSON.

  machine                      cores, CPU, kernel and the versions measured
  overhead --round N           the same app under plain Gunicorn, the exporter with file
                               storage and with Redis storage, one after the other (the
                               order turns with N), each loaded by wrk for the same time
  scrape-live --storage S --workers N
                               the cost of a scrape of /metrics with N live workers
  scrape-dead --storage S --restarts N
                               the same after N workers ended through max_requests=1

Every process it starts (Gunicorn, redis-server, wrk) is its own child, stopped by pid;
everything listens on loopback at ports from --port-base."""

import argparse
import http.client
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

VARIANTS = ("baseline", "exporter-file", "exporter-redis")
HOOKS = ("default_on_starting", "default_post_fork", "default_worker_int", "default_on_exit")
# The exporter's documented setup; workers, bind and max_requests come from the command line.
EXPORTER_CONFIG = """from gunicorn_prometheus_exporter.hooks import (
    {imports},
)

worker_class = "gunicorn_prometheus_exporter.PrometheusWorker"
on_starting = default_on_starting
post_fork = default_post_fork
worker_int = default_worker_int
on_exit = default_on_exit
# redis_when_ready connects the Redis storage; without it no key is written.
when_ready = {when_ready}
"""
START_SECONDS = 30
STOP_SECONDS = 15


class MeasureError(RuntimeError):
    """A measurement that could not be made, with what was seen."""


def _get(port, path, timeout=10.0):
    """(status, body) of one GET on loopback."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _wait(what, condition, seconds, describe=lambda: ""):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise MeasureError(f"{what} not within {seconds} s. {describe()}")


def _answers(port, path):
    try:
        return _get(port, path, timeout=2.0)[0] == 200
    except OSError:
        return False


def _children(pid):
    """The pids whose parent is pid (a scan of /proc: not every kernel has .../children)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _stop(process, name):
    """SIGTERM, then SIGKILL after STOP_SECONDS; returns False when TERM was not enough."""
    if process.poll() is not None:
        return True
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_SECONDS)
        return True
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        print(f"{name} (pid {process.pid}) ignored SIGTERM for {STOP_SECONDS} s: killed", file=sys.stderr)
        return False


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.work_dir)
        self.work.mkdir(parents=True, exist_ok=True)
        self.python = Path(sys.executable)
        self.redis_port = args.port_base
        self.booted = set()  # the workers of the last start
        self.findings = []  # what went wrong around a measurement that was still made

    def ports(self, variant):
        index = VARIANTS.index(variant)
        return self.args.port_base + 10 + 2 * index, self.args.port_base + 11 + 2 * index

    @contextmanager
    def redis(self):
        """A redis-server of its own, nothing written to disk, stopped at the end."""
        log = open(self.work / "redis.log", "w")
        process = subprocess.Popen(
            [self.args.redis_server, "--bind", "127.0.0.1", "--port", str(self.redis_port), "--save", "",
             "--appendonly", "no", "--dir", str(self.work)], stdout=log, stderr=subprocess.STDOUT)
        try:
            import redis

            client = redis.Redis(host="127.0.0.1", port=self.redis_port)

            def ready():
                if process.poll() is not None:
                    raise MeasureError(f"redis-server exited {process.returncode}: {(self.work / 'redis.log').read_text()[-400:]}")
                try:
                    return client.ping()
                except redis.exceptions.ConnectionError:
                    return False

            _wait("redis-server answering PING", ready, START_SECONDS)
            yield client
        finally:
            _stop(process, "redis-server")
            log.close()

    @contextmanager
    def gunicorn(self, variant, workers, max_requests=0, timeout=30):
        """The test app under `variant`, up once its app and metrics ports answer."""
        app_port, metrics_port = self.ports(variant)
        run = self.work / variant
        shutil.rmtree(run, ignore_errors=True)
        (run / "multiproc").mkdir(parents=True)
        argv = [str(self.python), "-m", "gunicorn", "--bind", f"127.0.0.1:{app_port}", "--workers", str(workers),
                "--chdir", self.args.app_dir, "--max-requests", str(max_requests), "--timeout", str(timeout), "--graceful-timeout", "5"]
        environment = dict(os.environ)
        if variant == "baseline":
            argv += ["--worker-class", "sync"]
        else:
            storage = variant.split("-", 1)[1]
            when_ready = "redis_when_ready" if storage == "redis" else "default_when_ready"
            config = run / "gunicorn.conf.py"
            config.write_text(EXPORTER_CONFIG.format(imports=",\n    ".join(HOOKS + (when_ready,)), when_ready=when_ready))
            argv += ["--config", str(config)]
            environment.update({
                "PROMETHEUS_METRICS_PORT": str(metrics_port), "PROMETHEUS_BIND_ADDRESS": "127.0.0.1",
                "PROMETHEUS_MULTIPROC_DIR": str(run / "multiproc"), "GUNICORN_WORKERS": str(workers),
                "REDIS_ENABLED": str(storage == "redis").lower(), "REDIS_HOST": "127.0.0.1",
                "REDIS_PORT": str(self.redis_port), "REDIS_KEY_PREFIX": "bench", "REDIS_TTL_SECONDS": "600"})
        log_path = run / "gunicorn.log"
        log = open(log_path, "w")
        process = subprocess.Popen(argv + ["testapp:application"], env=environment, stdout=log, stderr=subprocess.STDOUT)
        describe = lambda: f"Its log ends: {log_path.read_text()[-600:]}"  # noqa: E731
        try:
            # Every worker forked before the first scrape: a worker forked while the master
            # serves /metrics may start with prometheus_client's lock held, and hang.
            def up():
                if process.poll() is not None:
                    raise MeasureError(f"{variant} exited {process.returncode} at start. {describe()}")
                self.booted = _children(process.pid)
                return (len(self.booted) == workers
                        and (variant == "baseline" or _answers(metrics_port, "/metrics")) and _answers(app_port, "/health"))

            _wait(f"{variant} answering on its ports", up, START_SECONDS, describe)
            yield process, app_port, metrics_port, run
        finally:
            stopped = _stop(process, variant)
            log.close()
            if not stopped:
                # What was measured stands; the report lists what was seen.
                self.findings.append(f"{variant}'s master (pid {process.pid}) ignored SIGTERM for {STOP_SECONDS} s and "
                                     f"was killed. {describe()}")

    def wrk(self, port, seconds, connections=None):
        argv = [self.args.wrk, "-t", str(self.args.threads), "-c", str(connections or self.args.connections), "-d", f"{seconds}s",
                "--latency", f"http://127.0.0.1:{port}/"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
        if done.returncode != 0:
            raise MeasureError(f"wrk exited {done.returncode}: {done.stderr[-400:]}")
        return done.stdout

    def scrapes(self, metrics_port):
        """The time of each of --scrapes sequential scrapes, the bytes and samples of the last."""
        seconds = []
        for _ in range(self.args.scrapes):
            start = time.perf_counter()
            status, body = _get(metrics_port, "/metrics", timeout=60.0)
            seconds.append(time.perf_counter() - start)
            if status != 200:
                raise MeasureError(f"/metrics answered {status}: {body[:300]!r}")
        text = body.decode()
        samples = [line for line in text.splitlines() if line and not line.startswith("#")]
        workers = {m.group(1) for m in re.finditer(r'^gunicorn_worker_requests_total\{[^}]*worker_id="([^"]+)"', text, re.M)}
        return {"seconds": seconds, "median_seconds": statistics.median(seconds), "bytes": len(body),
                "samples": len(samples), "worker_series": len(workers)}


def _storage_state(client, run):
    """What the storage holds: Redis memory and keys, or the multiprocess files."""
    if client is not None:
        keys = [key.decode() for key in client.scan_iter(match="bench:*", count=1000)]
        return {"redis_used_memory_bytes": client.info("memory")["used_memory"], "redis_keys": len(keys),
                "pids": len({key.split(":")[2] for key in keys})}
    files = list((run / "multiproc").glob("*.db"))
    return {"multiproc_files": len(files), "multiproc_bytes": sum(f.stat().st_size for f in files),
            "pids": len({f.stem.rsplit("_", 1)[1] for f in files})}


def machine(bench):
    def version(argv, pattern):
        output = subprocess.run(argv, capture_output=True, text=True, check=False)
        match = re.search(pattern, output.stdout + output.stderr)
        return match.group(1) if match else "unknown"

    cpu = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
    return {
        "cores": os.cpu_count(), "cpu": cpu.group(1).strip() if cpu else platform.machine(),
        "kernel": platform.release(), "python": platform.python_version(),
        "gunicorn": importlib.metadata.version("gunicorn"),
        "exporter": importlib.metadata.version("gunicorn-prometheus-exporter"),
        "prometheus_client": importlib.metadata.version("prometheus_client"),
        "redis-server": version([bench.args.redis_server, "--version"], r"v=(\S+)"),
        "wrk": version([bench.args.wrk, "-v"], r"wrk (\S+)"),
    }


def round_order(number):
    """The variants in the order of round `number`: each goes first, second and third in turn."""
    shift = number % len(VARIANTS)
    return VARIANTS[shift:] + VARIANTS[:shift]


def overhead(bench, number):
    """Each variant in turn (the order turns with the round): started afresh, warmed, loaded."""
    order = round_order(number)
    result = {"round": number, "order": list(order), "wrk": {}, "storage": {}}
    with bench.redis() as client:
        for variant in order:
            client.flushall()
            with bench.gunicorn(variant, bench.args.workers) as (_, app_port, _, run):
                bench.wrk(app_port, bench.args.warmup_seconds)
                commands = client.info("stats")["total_commands_processed"]
                result["wrk"][variant] = bench.wrk(app_port, bench.args.seconds)
                # The round trips to Redis during the measured run (INFO itself is one).
                commands = client.info("stats")["total_commands_processed"] - commands - 1
                if variant != "baseline":
                    result["storage"][variant] = _storage_state(client if variant.endswith("redis") else None, run)
                    result["storage"][variant]["redis_commands"] = commands
    return result


def scrape_live(bench, storage, workers):
    """N workers all serving (more connections than workers, for seconds), then scraped."""
    variant = f"exporter-{storage}"
    with bench.redis() as client:
        with bench.gunicorn(variant, workers) as (_, app_port, metrics_port, run):
            # Twice as many connections as workers keep every sync worker busy.
            bench.wrk(app_port, bench.args.warmup_seconds, connections=max(bench.args.connections, 2 * workers))
            measured = bench.scrapes(metrics_port)
            state = _storage_state(client if storage == "redis" else None, run)
    return {"storage": storage, "workers": workers, **measured, **state}


def scrape_dead(bench, storage, restarts):
    """One worker, max_requests=1: each request ends the worker that serves it, the master
    forks the next. After `restarts` answered requests (the check of readiness the first),
    that many workers have ended; scraped once the last one's successor is forked.

    A worker forked while the master's signal-metrics thread holds prometheus_client's lock
    (it counts the SIGCHLD of the worker before) hangs at its first request; Gunicorn's
    timeout, short here, kills it. Those are counted as `hung`, not as restarts."""
    variant = f"exporter-{storage}"
    timeout = bench.args.worker_timeout
    with bench.redis() as client:
        with bench.gunicorn(variant, 1, max_requests=1 if restarts else 0, timeout=timeout) as (
                process, app_port, metrics_port, run):
            ended = set(bench.booted) if restarts else set()
            hung = 0
            start = time.monotonic()
            while len(ended) < restarts:
                try:
                    status, body = _get(app_port, "/burn?seconds=0", timeout=timeout + 5)
                except (OSError, http.client.HTTPException):
                    status, body = None, b""
                if status == 200:
                    ended.add(int(body.split()[-1]))
                    continue
                hung += 1
                if hung > bench.args.max_hung:
                    raise MeasureError(
                        f"{hung} requests unanswered after {len(ended)} restarts: the master (pid {process.pid}) "
                        f"no longer replaces its workers")
            restart_seconds = time.monotonic() - start
            # Not a request: it would end the worker it asks.
            _wait("the last worker replaced", lambda: _children(process.pid) - ended, START_SECONDS)
            measured = bench.scrapes(metrics_port)
            state = _storage_state(client if storage == "redis" else None, run)
    return {"storage": storage, "restarts": len(ended), "hung": hung, "restart_seconds": restart_seconds,
            **measured, **state}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["machine", "overhead", "scrape-live", "scrape-dead"])
    parser.add_argument("--round", type=int, default=1)
    parser.add_argument("--storage", choices=["file", "redis"], default="file")
    parser.add_argument("--workers", type=int, default=2, help="workers of every variant (overhead), or live workers")
    parser.add_argument("--restarts", type=int, default=0)
    parser.add_argument("--app-dir", required=True, help="where testapp.py is")
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--redis-server", default="redis-server")
    parser.add_argument("--wrk", default="wrk")
    parser.add_argument("--port-base", type=int, default=18100)
    parser.add_argument("--seconds", type=int, default=10, help="wrk's measured run")
    parser.add_argument("--warmup-seconds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--worker-timeout", type=int, default=2, help="Gunicorn's timeout while workers restart")
    parser.add_argument("--max-hung", type=int, default=50, help="unanswered requests before the master counts as stuck")
    args = parser.parse_args(argv)
    bench = Bench(args)
    try:
        if args.what == "machine":
            result = machine(bench)
        elif args.what == "overhead":
            result = overhead(bench, args.round)
        elif args.what == "scrape-live":
            result = scrape_live(bench, args.storage, args.workers)
        else:
            result = scrape_dead(bench, args.storage, args.restarts)
    except MeasureError as error:
        result = {"error": str(error)}
    if bench.findings:
        result["findings"] = bench.findings
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
