"""Fixtures of the end-to-end checks, and the short summary `make e2e` prints.

Run by Molecule's testinfra verifier (or plain pytest with --hosts/--ansible-inventory).
"""

import os
import time
from pathlib import Path

import pytest

from gpe_checks import upstream
from gpe_checks.facts import DEFAULT_MANIFEST_DIR, load_stack
from gpe_checks.lifecycle import start_app_again

_MEASURED = {}  # nodeid -> (measured, expected)
_ROWS = []  # (nodeid, outcome, seconds), in the order the checks ran
_FAILURES = []  # (nodeid, what the check said, {service: its last log lines})
_DEADLOCKS = []  # (exception, xfail reason) of checks the master's deadlock stopped


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
    """Attach the last log lines of every process of the stack to a failing check, unless
    the exporter's master deadlock struck (then it is that known defect's xfail)."""
    report = (yield).get_result()
    stack = item.funcargs.get("stack") if hasattr(item, "funcargs") else None
    if not report.failed or report.when == "teardown" or stack is None:
        return
    reason = _struck_by_master_deadlock(stack, call.excinfo)
    if reason:
        report.outcome = "skipped"
        report.wasxfail = reason
        return
    logs = {name: f"$ {service.logs_command}\n{service.logs()}" for name, service in stack.services.items()}
    for name, text in logs.items():
        if hasattr(report.longrepr, "addsection"):  # shown by pytest and kept in the JUnit XML
            report.longrepr.addsection(f"last log lines of {name}", text)
    crash = getattr(report.longrepr, "reprcrash", None)
    _FAILURES.append((report.nodeid, crash.message if crash else str(report.longrepr)[-500:], logs))


def _struck_by_master_deadlock(stack, excinfo):
    """The xfail reason when the master hangs in upstream.MASTER_CHLD_HANDLER_DEADLOCK.

    A HUP or TTOU can hit that race in any check that sends one; its own deterministic
    check is test_70's. The master handles no signal any more, so its manager stops it
    (the hard way, after its stop timeout) and starts it again for the checks that follow.
    A fixture error pytest raises again in later checks is recognised by its exception.
    """
    if excinfo is None:
        return ""
    for seen, reason in _DEADLOCKS:
        if seen is excinfo.value:
            return reason
    try:
        frames = upstream.master_chld_deadlock(stack.master_threads())
    except Exception:  # noqa: BLE001 - no diagnosis (app down, no py-spy): the failure stands
        return ""
    if not frames:
        return ""
    reason = f"{upstream.MASTER_CHLD_HANDLER_DEADLOCK.kwargs['reason']}; struck here, master's main thread: {frames}"
    try:
        stack.service(stack.app).stop()
        start_app_again(stack)
    except Exception as error:  # noqa: BLE001 - the checks that follow will show it
        reason += f"; starting the app again failed: {error}"
    _DEADLOCKS.append((excinfo.value, reason))
    return reason


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
