"""Fixtures of the end-to-end checks, and the short summary `make e2e` prints.

Run by Molecule's testinfra verifier (or plain pytest with --hosts/--ansible-inventory).
"""

import os
import time
from pathlib import Path

import pytest

from gpe_checks.facts import DEFAULT_MANIFEST_DIR, load_stack

_MEASURED = {}  # nodeid -> (measured, expected)
_ROWS = []  # (nodeid, outcome, seconds), in the order the checks ran
_FAILURES = []  # (nodeid, what the check said, {service: its last log lines})


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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the last log lines of every process of the stack to a failing check."""
    report = (yield).get_result()
    stack = item.funcargs.get("stack") if hasattr(item, "funcargs") else None
    if not report.failed or report.when == "teardown" or stack is None:
        return
    logs = {name: f"$ {service.logs_command}\n{service.logs()}" for name, service in stack.services.items()}
    for name, text in logs.items():
        if hasattr(report.longrepr, "addsection"):  # shown by pytest and kept in the JUnit XML
            report.longrepr.addsection(f"last log lines of {name}", text)
    crash = getattr(report.longrepr, "reprcrash", None)
    _FAILURES.append((report.nodeid, crash.message if crash else str(report.longrepr)[-500:], logs))


def pytest_runtest_logreport(report):
    # One row per check: its call, or its setup when that already failed or skipped.
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        outcome = report.outcome
        if hasattr(report, "wasxfail"):
            outcome = "xfail" if report.skipped else "XPASS"
        _ROWS.append((report.nodeid, outcome, report.duration))


def _summary_markdown(rows):
    lines = [
        "| check | result | measured | expected | time |",
        "| --- | --- | --- | --- | --- |",
    ]
    for nodeid, outcome, duration in rows:
        measured, expected = _MEASURED.get(nodeid, ("", ""))
        name = nodeid.split("::", 1)[-1]
        lines.append(f"| {name} | {outcome} | {measured} | {expected} | {duration:.2f}s |")
    for nodeid, message, logs in _FAILURES:
        lines += ["", f"## Failed: {nodeid.split('::', 1)[-1]}", "", "```", message.strip(), "```"]
        for name, text in logs.items():
            lines += ["", f"Last log lines of {name}:", "", "```", text.strip(), "```"]
    return "\n".join(lines) + "\n"


def pytest_terminal_summary(terminalreporter):
    if not _ROWS:
        return
    table = _summary_markdown(_ROWS)
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
