# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""gpe-sidecar: serves the metrics a Gunicorn app with gunicorn-prometheus-exporter stores,
from beside the app (its own container), reading the app's Redis or multiprocess directory.

Modes (the first argument):
  sidecar     serve /metrics of the configured source plus gpe_sidecar_source_up
  standalone  serve /metrics with the sidecar's own series only (no source needed)
  health      exit 0 when the local /metrics answers (and, for a sidecar, its source is up)
  help        print this text

Environment:
  SIDECAR_MODE_SOURCE  redis or multiproc (sidecar mode)         default: redis
  SIDECAR_BIND         address to listen on                      default: 0.0.0.0
  SIDECAR_PORT         port to listen on                         default: 9200
  REDIS_HOST, REDIS_PORT, REDIS_DB, REDIS_PASSWORD, REDIS_KEY_PREFIX   the app's Redis
  PROMETHEUS_MULTIPROC_DIR                                       the app's shared directory
"""

import os
import signal
import sys
import threading
import urllib.request

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily

MODES = ("sidecar", "standalone", "health", "help")


def settings(env=None):
    env = os.environ if env is None else env
    return {
        "source": env.get("SIDECAR_MODE_SOURCE", "redis"),
        "bind": env.get("SIDECAR_BIND", "0.0.0.0"),
        "port": int(env.get("SIDECAR_PORT", "9200")),
        "redis": {
            "host": env.get("REDIS_HOST", "127.0.0.1"),
            "port": int(env.get("REDIS_PORT", "6379")),
            "db": int(env.get("REDIS_DB", "0")),
            "password": env.get("REDIS_PASSWORD") or None,
            "prefix": env.get("REDIS_KEY_PREFIX", "gunicorn"),
        },
        "multiproc_dir": env.get("PROMETHEUS_MULTIPROC_DIR", ""),
    }


def source_collector(conf):
    """(collector, reachable) for the app's metrics: the collector reads them as the
    exporter itself would; reachable() raises when the source cannot be read (the
    exporter's Redis collector swallows its errors and yields nothing)."""
    if conf["source"] == "multiproc":
        from prometheus_client import multiprocess

        directory = conf["multiproc_dir"]

        def reachable():
            if not os.path.isdir(directory):
                raise OSError(f"PROMETHEUS_MULTIPROC_DIR {directory!r} is not a directory")

        return multiprocess.MultiProcessCollector(CollectorRegistry(), path=directory), reachable
    if conf["source"] == "redis":
        r = conf["redis"]
        # The exporter validates its settings when first used; the sidecar serves no app.
        for name, value in {"PROMETHEUS_BIND_ADDRESS": conf["bind"], "PROMETHEUS_METRICS_PORT": str(conf["port"]),
                            "GUNICORN_WORKERS": "1", "REDIS_ENABLED": "true", "REDIS_HOST": r["host"],
                            "REDIS_PORT": str(r["port"])}.items():
            os.environ.setdefault(name, value)
        import redis
        from gunicorn_prometheus_exporter.backend.core.collector import RedisMultiProcessCollector

        client = redis.Redis(host=r["host"], port=r["port"], db=r["db"], password=r["password"],
                             socket_timeout=2, socket_connect_timeout=2)
        collector = RedisMultiProcessCollector(CollectorRegistry(), redis_client=client,
                                               redis_key_prefix=r["prefix"])
        return collector, client.ping
    raise ValueError(f"SIDECAR_MODE_SOURCE must be redis or multiproc, not {conf['source']!r}")


class Sidecar:
    """What /metrics shows: the source's families, then whether the source answered."""

    def __init__(self, mode, source=None, source_name=""):
        self.mode, self.source_name = mode, source_name
        self.source, self.reachable = source if source else (None, None)

    def collect(self):
        up = 0
        if self.source is not None:
            try:
                self.reachable()
                families = list(self.source.collect())
                up = 1
            except Exception as error:  # noqa: BLE001 - reported as source_up 0 and on stderr
                print(f"gpe-sidecar: reading {self.source_name} failed: {error}", file=sys.stderr)
                families = []
            yield from families
        gauge = GaugeMetricFamily("gpe_sidecar_source_up", "1 when the last read of the source worked",
                                  labels=["mode", "source"])
        gauge.add_metric([self.mode, self.source_name or "none"], up)
        yield gauge


def serve(mode, conf):
    registry = CollectorRegistry()
    source = source_collector(conf) if mode == "sidecar" else None
    registry.register(Sidecar(mode, source, conf["source"] if source else ""))
    start_http_server(conf["port"], addr=conf["bind"], registry=registry)
    print(f"gpe-sidecar {mode}: /metrics on {conf['bind']}:{conf['port']}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    return 0


def health(conf, timeout=5.0):
    """0 when /metrics answers 200 and no source is down; 1 otherwise (with the reason)."""
    host = "127.0.0.1" if conf["bind"] in ("0.0.0.0", "") else conf["bind"]
    try:
        with urllib.request.urlopen(f"http://{host}:{conf['port']}/metrics", timeout=timeout) as answer:  # noqa: S310
            text = answer.read().decode()
    except OSError as error:
        print(f"unhealthy: /metrics does not answer: {error}", file=sys.stderr)
        return 1
    lines = [line for line in text.splitlines() if line.startswith("gpe_sidecar_source_up{")]
    if not lines:
        print("unhealthy: no gpe_sidecar_source_up in /metrics", file=sys.stderr)
        return 1
    if 'mode="sidecar"' in lines[0] and not lines[0].endswith(" 1.0"):
        print(f"unhealthy: source down: {lines[0]}", file=sys.stderr)
        return 1
    print("healthy")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    mode = argv[0] if argv else "help"
    if mode not in MODES:
        print(f"unknown mode {mode!r}\n\n{__doc__}", file=sys.stderr)
        return 2
    if mode == "help":
        print(__doc__)
        return 0
    conf = settings()
    if mode == "health":
        return health(conf)
    return serve(mode, conf)


if __name__ == "__main__":
    sys.exit(main())
