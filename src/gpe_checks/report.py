# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The short summary `make e2e` prints and writes: one row per check with what it measured
and what it expected, then each failure with the last log lines of the stack's processes."""

import os
import time
from pathlib import Path

import pytest


class Report:
    def __init__(self):
        self.measured = {}  # nodeid -> (measured, expected)
        self.rows = []  # (nodeid, outcome, seconds), in the order the checks ran
        self.failures = []  # (nodeid, what the check said, {service: its last log lines})
        self.stack_checks = set()  # nodeids of the checks that run against a stack

    def pytest_collection_modifyitems(self, items):
        self.stack_checks.update(item.nodeid for item in items if "stack" in getattr(item, "fixturenames", ()))

    def record(self, nodeid, measured, expected):
        self.measured[nodeid] = (measured, expected)

    def failed(self, nodeid, message, logs):
        self.failures.append((nodeid, message, logs))

    def pytest_runtest_logreport(self, report):
        # One row per check of a stack: its call, or its setup when that already failed or skipped.
        if report.nodeid not in self.stack_checks:
            return
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            outcome = report.outcome
            if hasattr(report, "wasxfail"):
                outcome = "xfail" if report.skipped else "XPASS"
            self.rows.append((report.nodeid, outcome, report.duration))

    def markdown(self):
        lines = [
            "| check | result | measured | expected | time |",
            "| --- | --- | --- | --- | --- |",
        ]
        for nodeid, outcome, duration in self.rows:
            measured, expected = self.measured.get(nodeid, ("", ""))
            name = nodeid.split("::", 1)[-1]
            lines.append(f"| {name} | {outcome} | {measured} | {expected} | {duration:.2f}s |")
        for nodeid, message, logs in self.failures:
            lines += ["", f"## Failed: {nodeid.split('::', 1)[-1]}", "", "```", message.strip(), "```"]
            for name, text in logs.items():
                lines += ["", f"Last log lines of {name}:", "", "```", text.strip(), "```"]
        return "\n".join(lines) + "\n"

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter):
        if not self.rows:
            return
        table = self.markdown()
        report_dir = os.environ.get("GPE_REPORT_DIR")
        if report_dir:
            path = Path(report_dir)
            path.mkdir(parents=True, exist_ok=True)
            (path / "summary.md").write_text(
                f"# {os.environ.get('MOLECULE_SCENARIO_NAME', 'e2e')} "
                f"({time.strftime('%Y-%m-%d %H:%M:%S')})\n\n{table}"
            )
        terminalreporter.write_sep("=", "what was verified")
        terminalreporter.write_line(table)
