# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The overhead benchmark's arithmetic and reports (tools/bench_report.py), on wrk's own output."""

import csv
import json
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("bench_report", ROOT / "tools/bench_report.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

# What Debian's wrk 4.1.0 printed here against a loopback server.
WRK = """Running 2s test @ http://127.0.0.1:18999/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    23.13ms   10.60ms  47.59ms   61.74%
    Req/Sec   172.10     44.83   262.00     60.00%
  Latency Distribution
     50%   23.18ms
     75%   31.29ms
     90%   36.48ms
     99%   46.26ms
  343 requests in 2.00s, 5.13MB read
Requests/sec:    171.29
Transfer/sec:      2.56MB
"""


def test_parse_wrk():
    assert bench.parse_wrk(WRK) == {"requests": 343, "seconds": 2.0, "rps": 171.29, "p50_ms": 23.18,
                                    "p99_ms": 46.26, "errors": 0}


def test_parse_wrk_counts_errors_and_reads_every_unit():
    output = (WRK.replace("23.18ms", "635.00us").replace("46.26ms", "1.20s")
              + "  Socket errors: connect 0, read 2, write 0, timeout 1\n  Non-2xx or 3xx responses: 4\n")
    parsed = bench.parse_wrk(output)
    assert (parsed["p50_ms"], parsed["p99_ms"], parsed["errors"]) == (0.635, 1200.0, 7)


def test_parse_wrk_refuses_output_without_the_latency_distribution():
    with pytest.raises(ValueError, match="no p50, p99"):
        bench.parse_wrk(WRK.replace("     50%   23.18ms\n", "").replace("     99%   46.26ms\n", ""))


def _result(rps, p50, p99):
    return {"requests": int(rps * 10), "seconds": 10.0, "rps": rps, "p50_ms": p50, "p99_ms": p99, "errors": 0}


ROUNDS = [
    {"baseline": _result(1000, 2.0, 4.0), "file": _result(800, 2.5, 5.0), "redis": _result(500, 4.0, 8.0)},
    {"baseline": _result(900, 2.2, 4.4), "file": _result(810, 2.4, 4.8), "redis": _result(450, 4.4, 8.8)},
    {"baseline": _result(1100, 1.8, 3.6), "file": _result(770, 2.7, 5.4), "redis": _result(660, 3.6, 7.2)},
]


def test_ratios_are_taken_within_each_round():
    summary = bench.summarize(ROUNDS, "baseline")
    assert summary["baseline"]["rps_ratio"] == (1.0, 1.0, 1.0)
    assert summary["file"]["rps"] == (770, 800, 810)
    assert summary["file"]["rps_ratio"] == pytest.approx((0.7, 0.8, 0.9))
    assert summary["redis"]["p99_ms_ratio"] == pytest.approx((2.0, 2.0, 2.0))


def test_every_round_needs_every_variant():
    with pytest.raises(ValueError, match="same variants"):
        bench.summarize(ROUNDS + [{"baseline": _result(1, 1, 1)}], "baseline")
    with pytest.raises(ValueError, match="no round"):
        bench.summarize([], "baseline")


def test_reports(tmp_path):
    summary = bench.summarize(ROUNDS, "baseline")
    bench.write_csv(tmp_path / "rounds.csv", ROUNDS)
    rows = list(csv.DictReader((tmp_path / "rounds.csv").open()))
    assert len(rows) == 9 and rows[4] == {"round": "2", "variant": "file", "requests": "8100", "seconds": "10.0",
                                          "rps": "810", "p50_ms": "2.4", "p99_ms": "4.8", "errors": "0"}
    table = bench.markdown(summary, "baseline", {"cores": 2, "Python": "3.11.2"}, 3)
    assert table.startswith("Machine: cores 2, Python 3.11.2. 3 rounds")
    assert "| file | 800 (770-810) | 2.50 (2.40-2.70) | 5.00 (4.80-5.40) | 0.800 (0.700-0.900) |" in table
    bench.plot(tmp_path / "rps.png", summary, "rps", "requests/s")
    assert (tmp_path / "rps.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _wrk(rps):
    return WRK.replace("Requests/sec:    171.29", f"Requests/sec:    {rps}")


def _point(storage, key, value, seconds):
    state = ({"redis_keys": 30 * value + 30, "redis_used_memory_bytes": 2**20, "pids": value + 1} if storage == "redis"
             else {"multiproc_files": 3 * value + 3, "multiproc_bytes": 2**21, "pids": value + 1})
    return {"storage": storage, key: value, "hung": 0, "restart_seconds": 1.0, "seconds": seconds, "bytes": 4000 + value,
            "samples": 16 * value, "worker_series": value, **state}


def _results(dead_error=None):
    storage = {"exporter-file": {"multiproc_files": 6, "multiproc_bytes": 2**22, "pids": 2, "redis_commands": 0},
               "exporter-redis": {"redis_keys": 80, "redis_used_memory_bytes": 2**20, "pids": 2, "redis_commands": 17150}}
    overhead = [{"round": n, "order": [], "storage": storage,
                 "wrk": {"baseline": _wrk(1000 + n), "exporter-file": _wrk(500 + n), "exporter-redis": _wrk(100 + n)}}
                for n in (1, 2, 3)]
    dead = [_point("file", "restarts", 0, [0.002, 0.003]), _point("redis", "restarts", 100, [0.05, 0.07])]
    if dead_error:
        dead.append({"error": dead_error})
    return {"settings": {"rounds": 3, "seconds": 10, "threads": 2, "connections": 8, "workers": 2},
            "machine": {"cores": 2, "python": "3.11.2"}, "overhead": overhead,
            "scrape_live": [_point("file", "workers", 1, [0.001, 0.002, 0.004]), _point("redis", "workers", 2, [0.01])],
            "scrape_dead": dead}


def test_the_report_holds_every_table_and_plot(tmp_path):
    text, failures = bench.report(_results(), tmp_path)
    assert failures == []
    assert "| exporter-file | 502 (501-503) | 23.18 (23.18-23.18) | 46.26 (46.26-46.26) | 0.501 (0.500-0.501) |" in text
    assert "lower in every round" in text and "Machine: cores 2, python 3.11.2. 3 rounds" in text
    assert "| exporter-file | 6 files, 4.0 MiB | 0.0 |" in text
    assert "| exporter-redis | 80 keys, 1.0 MiB used | 50.0 |" in text  # 17,150 commands, wrk's 343 requests
    assert "| file | 1 | 2.0 (1.0-4.0) | 4001 | 16 | 1 | 6 files, 2.0 MiB |" in text
    assert "| redis | 100 | 60.0 (50.0-70.0) | 4100 | 1600 | 100 | 3030 keys, 1.0 MiB used |" in text
    assert (tmp_path / "bench.md").read_text() == text
    for png in ("overhead_rps", "overhead_p99", "scrape_live", "scrape_dead"):
        assert (tmp_path / f"{png}.png").read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader((tmp_path / "scrape.csv").open()))
    assert [(r["series"], r["storage"], r["workers"], r["ended_workers"]) for r in rows] == [
        ("live", "file", "1", "0"), ("live", "redis", "2", "0"), ("ended", "file", "1", "0"), ("ended", "redis", "1", "100")]


def test_a_failed_measurement_is_in_the_report_and_the_exit_code(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(_results(dead_error="the master no longer replaces its workers")))
    assert bench.main([str(results), str(tmp_path / "out")]) == 1
    assert "- scrape_dead 3: the master no longer replaces its workers" in (tmp_path / "out/bench.md").read_text()


def test_a_difference_counts_only_beyond_the_spread():
    assert bench.verdict((0.4, 0.5, 0.9)) == "lower in every round"
    assert bench.verdict((1.1, 1.2, 1.3)) == "higher in every round"
    assert bench.verdict((0.9, 1.0, 1.1)) == "within the rounds' spread"


def test_what_went_wrong_around_a_measurement_is_listed_and_the_measurement_kept(tmp_path):
    results = _results()
    results["overhead"][2]["findings"] = ["exporter-redis's master (pid 9354) ignored SIGTERM for 15 s and was killed."]
    text, failures = bench.report(results, tmp_path)
    assert failures == [] and "3 rounds" in text
    assert ("## Seen while measuring (the measurements stand)\n\n- overhead 3: exporter-redis's master (pid 9354) "
            "ignored SIGTERM for 15 s and was killed.") in text
