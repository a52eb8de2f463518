# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The estimate of the time left that `make test` prints before each scenario."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("progress", ROOT / "tools/progress.py")
progress = importlib.util.module_from_spec(spec)
spec.loader.exec_module(progress)


def test_estimate_takes_the_last_durations_then_the_typical_ones(tmp_path):
    durations = tmp_path / "durations"
    assert progress.estimate(durations, ["default", "unheard_of"]) == progress.TYPICAL["default"] + progress.UNKNOWN
    progress.record(durations, "default", 61)
    progress.record(durations, "redis", 70)
    progress.record(durations, "default", 59)
    assert durations.read_text() == "default 59\nredis 70\n"
    assert progress.estimate(durations, ["default", "redis", "compose"]) == 59 + 70 + progress.TYPICAL["compose"]
    assert progress.estimate(durations, []) == 0
