# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The short summary `make e2e` prints and writes (summary.md): the counts, then one table
per area (areas.py) with what each check measured and expected, the checks that do not
apply to this stack as one count per reason, the known upstream defects (strict xfails)
with their references, and each failure with the last log lines of the stack's processes."""

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from .areas import AREAS, area_of

OTHER_AREA = "other"


@dataclass
class Row:
    nodeid: str
    outcome: str  # passed, failed, skipped (not applicable), xfail, XPASS
    seconds: float
    area: str
    reason: str = ""  # why it was skipped, or the xfail's reason

    @property
    def name(self):
        return self.nodeid.split("::", 1)[-1]


def _skip_reason(report):
    """The message of pytest.skip(): longrepr is (path, line, 'Skipped: message')."""
    if isinstance(report.longrepr, tuple):
        return report.longrepr[2].removeprefix("Skipped: ")
    return str(report.longrepr)


def count_line(rows):
    counts = {outcome: sum(row.outcome == outcome for row in rows) for outcome in ("passed", "xfail", "skipped")}
    failed = len(rows) - sum(counts.values())
    return (f"{counts['passed']} passed, {failed} failed, {counts['xfail']} xfailed, "
            f"{counts['skipped']} not applicable")


class Report:
    def __init__(self):
        self.measured = {}  # nodeid -> (measured, expected)
        self.rows = []  # Row, in the order the checks ran
        self.failures = []  # (nodeid, what the check said, {service: its last log lines})
        self.areas = {}  # nodeid -> area of every check that runs against a stack

    def pytest_collection_modifyitems(self, items):
        for item in items:
            if "stack" in getattr(item, "fixturenames", ()):
                names = {marker.name for marker in item.iter_markers()}
                self.areas[item.nodeid] = area_of(names) or OTHER_AREA

    def record(self, nodeid, measured, expected):
        self.measured[nodeid] = (measured, expected)

    def failed(self, nodeid, message, logs):
        self.failures.append((nodeid, message, logs))

    def pytest_runtest_logreport(self, report):
        # One row per check of a stack: its call, or its setup when that already failed or skipped.
        if report.nodeid not in self.areas:
            return
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            outcome, reason = report.outcome, ""
            if hasattr(report, "wasxfail"):
                outcome = "xfail" if report.skipped else "XPASS"
                reason = report.wasxfail
            elif report.skipped:
                reason = _skip_reason(report)
            self.rows.append(Row(report.nodeid, outcome, report.duration, self.areas[report.nodeid], reason))

    def markdown(self):
        defects = list(dict.fromkeys(row.reason for row in self.rows if row.outcome == "xfail"))
        lines = [count_line(self.rows)]
        for area in [*AREAS, OTHER_AREA]:
            rows = [row for row in self.rows if row.area == area]
            if not rows:
                continue
            lines += ["", f"## {area}: {count_line(rows)}", ""]
            shown = [row for row in rows if row.outcome != "skipped"]
            if not shown:
                lines.append("(none applies to this stack)")
                continue
            lines += ["| check | result | measured | expected | time |", "| --- | --- | --- | --- | --- |"]
            for row in shown:
                measured, expected = self.measured.get(row.nodeid, ("", ""))
                result = f"xfail [D{defects.index(row.reason) + 1}]" if row.outcome == "xfail" else row.outcome
                lines.append(f"| {row.name} | {result} | {measured} | {expected} | {row.seconds:.2f}s |")
        not_applicable = [row for row in self.rows if row.outcome == "skipped"]
        if not_applicable:
            lines += ["", f"## Not applicable to this stack: {len(not_applicable)} checks", ""]
            for reason in dict.fromkeys(row.reason for row in not_applicable):
                names = [row.name for row in not_applicable if row.reason == reason]
                lines.append(f"- {reason} ({len(names)}): {', '.join(names)}")
        if defects:
            lines += ["", "## Known upstream defects (strict xfail: a fix turns them into failures to drop)", ""]
            for number, reason in enumerate(defects, 1):
                names = [row.name for row in self.rows if row.outcome == "xfail" and row.reason == reason]
                lines.append(f"- D{number}: {reason}. Checks: {', '.join(names)}")
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
        terminalreporter.write_line(f"checks: {count_line(self.rows)}")
