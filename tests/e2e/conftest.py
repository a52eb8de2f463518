"""Fixtures of the end-to-end checks, and the short summary `make e2e` prints.

Run by Molecule's testinfra verifier (or plain pytest with --hosts/--ansible-inventory).
"""

import os
import time
from pathlib import Path

import pytest

from gpe_checks.facts import DEFAULT_MANIFEST_DIR, load_stack

_MEASURED = {}  # nodeid -> (measured, expected)


@pytest.fixture(scope="module")
def stack(host):
    directory = host.ansible.get_variables().get("gpe_manifest_dir", DEFAULT_MANIFEST_DIR)
    return load_stack(host, directory)


@pytest.fixture
def record(request):
    """record(measured, expected): shown in the summary table next to the result."""

    def _record(measured, expected):
        _MEASURED[request.node.nodeid] = (measured, expected)

    return _record


def pytest_configure(config):
    config._gpe_rows = []


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        outcome = "xfail" if hasattr(report, "wasxfail") and report.skipped else report.outcome
        if hasattr(report, "wasxfail") and report.passed:
            outcome = "XPASS"
        rows = pytest_runtest_logreport.rows
        rows.append((report.nodeid, outcome, report.duration))


pytest_runtest_logreport.rows = []


def _summary_markdown(rows):
    lines = [
        "| check | result | measured | expected | time |",
        "| --- | --- | --- | --- | --- |",
    ]
    for nodeid, outcome, duration in rows:
        measured, expected = _MEASURED.get(nodeid, ("", ""))
        name = nodeid.split("::", 1)[-1]
        lines.append(f"| {name} | {outcome} | {measured} | {expected} | {duration:.2f}s |")
    return "\n".join(lines) + "\n"


def pytest_terminal_summary(terminalreporter):
    rows = pytest_runtest_logreport.rows
    if not rows:
        return
    table = _summary_markdown(rows)
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
