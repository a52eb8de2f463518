# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The job summary the GitHub workflows write: every scenario's summary while it fits."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("step_summary", ROOT / "tools/step_summary.py")
step_summary = importlib.util.module_from_spec(spec)
spec.loader.exec_module(step_summary)


def _summary(reports, scenario, text):
    (reports / scenario).mkdir(parents=True)
    (reports / scenario / "summary.md").write_text(text)


def test_summaries_that_fit_are_printed_and_the_rest_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(step_summary, "LIMIT", 20)
    _summary(tmp_path, "default", "# default 12 ok\n")
    _summary(tmp_path, "redis", "# redis 12 ok\n")
    step_summary.main("gate-reports", tmp_path)
    out = capsys.readouterr().out
    assert "# default 12 ok" in out
    assert "# redis" not in out and f"{tmp_path}/redis/summary.md left out (size); see the gate-reports artifact." in out


def test_no_summary_is_said(tmp_path, capsys):
    step_summary.main("gate-reports", tmp_path)
    assert capsys.readouterr().out.strip() == "No scenario wrote a summary (reports/*/summary.md)."
