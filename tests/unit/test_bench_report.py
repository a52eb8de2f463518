# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The overhead benchmark's arithmetic and reports (tools/bench_report.py), on wrk's own output."""

import csv
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
