# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The overhead benchmark's measuring program (tools/bench_measure.py): what it can be shown
to do without Gunicorn and the exporter, which only the benchmark's own virtualenv has."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("bench_measure", ROOT / "tools/bench_measure.py")
measure = importlib.util.module_from_spec(spec)
spec.loader.exec_module(measure)


def test_every_variant_takes_every_place_in_turn():
    orders = [measure.round_order(number) for number in (1, 2, 3)]
    assert orders == [("exporter-file", "exporter-redis", "baseline"), ("exporter-redis", "baseline", "exporter-file"),
                      ("baseline", "exporter-file", "exporter-redis")]
    for place in range(3):
        assert {order[place] for order in orders} == set(measure.VARIANTS)
    assert measure.round_order(4) == orders[0]


def test_children_are_found_by_their_parent():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in measure._children(measure.os.getpid())
        assert measure._children(child.pid) == set()
    finally:
        child.kill()
        child.wait()


def test_file_storage_is_counted_by_files_and_pids(tmp_path):
    directory = tmp_path / "multiproc"
    directory.mkdir()
    for name, size in (("counter_101.db", 4096), ("gauge_live_101.db", 8192), ("histogram_202.db", 4096)):
        (directory / name).write_bytes(b"\0" * size)
    (directory / "notes.txt").write_text("not a metrics file")
    assert measure._storage_state(None, tmp_path) == {"multiproc_files": 3, "multiproc_bytes": 16384, "pids": 2}


class FakeRedis:
    """scan_iter and info as redis-py answers them (a fake for pure counting logic)."""

    def __init__(self, keys):
        self.keys = keys

    def scan_iter(self, match, count):
        assert match == "bench:*"
        return iter(key.encode() for key in self.keys)

    def info(self, section):
        assert section == "memory"
        return {"used_memory": 123456}


def test_redis_storage_is_counted_by_keys_and_pids():
    keys = ["bench:counter:101:metric:ab", "bench:counter:101:meta:ab", "bench:gauge_all:202:metric:cd"]
    assert measure._storage_state(FakeRedis(keys), None) == {"redis_used_memory_bytes": 123456, "redis_keys": 3,
                                                              "pids": 2}


METRICS = b"""# HELP gunicorn_worker_requests_total Total requests
# TYPE gunicorn_worker_requests_total counter
gunicorn_worker_requests_total{worker_id="worker_1_100"} 3.0
gunicorn_worker_requests_total{worker_id="worker_2_200"} 4.0
gunicorn_worker_uptime_seconds{worker_id="worker_1_100"} 9.0
"""


def test_scrapes_are_timed_and_counted(metrics_page):
    page, conf = metrics_page
    page["text"] = METRICS.decode()
    bench = SimpleNamespace(args=SimpleNamespace(scrapes=3))
    measured = measure.Bench.scrapes(bench, conf["port"])
    assert len(measured["seconds"]) == 3 and all(0 < s < 5 for s in measured["seconds"])
    assert {k: measured[k] for k in ("bytes", "samples", "worker_series")} == {"bytes": len(METRICS), "samples": 3,
                                                                              "worker_series": 2}


def test_a_measurement_that_cannot_be_made_is_reported(tmp_path, capsys):
    assert measure.main(["scrape-dead", "--app-dir", str(tmp_path), "--work-dir", str(tmp_path / "work"),
                         "--redis-server", "false", "--port-base", "18950"]) == 0
    assert json.loads(capsys.readouterr().out) == {"error": "redis-server exited 1: "}


def test_a_master_that_ignores_sigterm_is_killed_and_reported(tmp_path):
    ignoring = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                 "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert ignoring.stdout.readline() == "ready\n"
    measure.STOP_SECONDS, saved = 0.5, measure.STOP_SECONDS
    try:
        assert measure._stop(ignoring, "stand-in master") is False
    finally:
        measure.STOP_SECONDS = saved
    assert ignoring.returncode == -9
