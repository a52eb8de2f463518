# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Failing checks: the stack's last log lines attached, unless a known race struck: the
exporter's master deadlock (upstream.MASTER_CHLD_HANDLER_DEADLOCK; the app is started again
for the checks that follow) or a scrape reading a worker's unsized file
(upstream.EMPTY_MULTIPROCESS_FILE). Either turns the failure into that defect's xfail."""

import pytest

from . import upstream
from .lifecycle import start_app_again, stop_hung_app


class FailureDiagnosis:
    def __init__(self, report):
        self.report = report
        self.deadlocks = []  # (exception, xfail reason) of checks the master's deadlock stopped
        self.restarted = {}  # (module, stack name) -> reason: the app was started again there

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = (yield).get_result()
        stack = item.funcargs.get("stack") if hasattr(item, "funcargs") else None
        if not report.failed or report.when == "teardown" or stack is None:
            return
        reason = self.xfail_reason(item, stack, call.excinfo)
        logs = {} if reason else {name: f"$ {service.logs_command}\n{service.logs()}"
                                  for name, service in stack.services.items()}
        reason = reason or empty_multiprocess_file(call.excinfo, logs)
        if reason:
            report.outcome = "skipped"
            report.wasxfail = reason
            return
        for name, text in logs.items():
            if hasattr(report.longrepr, "addsection"):  # shown by pytest and kept in the JUnit XML
                report.longrepr.addsection(f"last log lines of {name}", text)
        crash = getattr(report.longrepr, "reprcrash", None)
        self.report.failed(report.nodeid, crash.message if crash else str(report.longrepr)[-500:], logs)

    def xfail_reason(self, item, stack, excinfo):
        """Why a failed check is the master deadlock's xfail ("" when it is a failure): the
        deadlock struck it, or struck earlier in its module and the check reads what that
        module's fixtures set up before the app was started again."""
        module = item.nodeid.split("::", 1)[0]
        reason = self._struck_by_master_deadlock(stack, excinfo, module)
        if not reason and _uses_module_state(item):
            reason = self.restarted.get((module, stack.name), "")
        return reason

    def _struck_by_master_deadlock(self, stack, excinfo, module=""):
        """The xfail reason when the master hangs in upstream.MASTER_CHLD_HANDLER_DEADLOCK.

        A HUP or TTOU can hit that race in any check that sends one; its own deterministic
        check is test_70's. The master handles no signal any more: it is killed and its manager
        starts it again for the checks that follow.
        A fixture error pytest raises again in later checks is recognised by its exception.
        """
        if excinfo is None:
            return ""
        for seen, reason in self.deadlocks:
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
            stop_hung_app(stack)
            start_app_again(stack)
        except Exception as error:  # noqa: BLE001 - the checks that follow will show it
            reason += f"; starting the app again failed: {error}"
        self.deadlocks.append((excinfo.value, reason))
        # What a module's fixtures set up before this (the workers a HUP started) is gone now.
        self.restarted[(module, stack.name)] = (
            f"{reason}; the app was started again, so this module's state from before (its fixtures) is gone")
        return reason


def empty_multiprocess_file(excinfo, logs):
    """The xfail reason when /metrics answered 500 because the master read a worker's .db
    file before it was sized (upstream.EMPTY_MULTIPROCESS_FILE, a race of worker starts):
    the check's error names the 500 of /metrics and the app's log shows that struct.error."""
    message = str(excinfo.value) if excinfo is not None else ""
    if "/metrics answered 500" not in message:
        return ""
    evidence = next((name for name, text in logs.items() if upstream.EMPTY_MULTIPROCESS_FILE_ERROR in text), "")
    if not evidence:
        return ""
    return (f"{upstream.EMPTY_MULTIPROCESS_FILE.kwargs['reason']}; struck here, in the log of {evidence}: "
            f"struct.error: {upstream.EMPTY_MULTIPROCESS_FILE_ERROR}")


def _uses_module_state(item):
    """Whether a check uses a module-scoped fixture besides `stack` (state set up once)."""
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    return any(name != "stack" and defs and defs[-1].scope == "module" for name, defs in definitions.items())
