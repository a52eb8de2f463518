# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Print one line per scenario report, the failed checks, and a closing total from JUnit XML.

Usage: python tools/junit_total.py reports/*/junit.xml
The failed checks come last but one, a line each (scenario, check, first line of the reason),
so that the tail of a CI log says what went red; the last line reads
"e2e: N passed, N failed, N xfailed, N not applicable" (xfailed: known upstream defects,
strict; not applicable: checks skipped with their reason, e.g. Redis checks on file storage).
"""

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

# How many failed checks are listed before "... and N more".
MAX_LISTED = 15
REASON_WIDTH = 160


def _suites(path):
    root = ET.parse(path).getroot()
    return [root] if root.tag == "testsuite" else root.findall("testsuite")


def count(path):
    """(passed, failed, xfailed, not applicable) of one report."""
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    xfailed = 0
    for suite in _suites(path):
        for key in totals:
            totals[key] += int(suite.get(key, 0))
        xfailed += sum(1 for skipped in suite.iter("skipped") if skipped.get("type") == "pytest.xfail")
    failed = totals["failures"] + totals["errors"]
    return totals["tests"] - failed - totals["skipped"], failed, xfailed, totals["skipped"] - xfailed


def failed_checks(path):
    """(check, reason) of every failed or erroring test case in one report."""
    found = []
    for suite in _suites(path):
        for case in suite.iter("testcase"):
            for outcome in ("failure", "error"):
                element = case.find(outcome)
                if element is None:
                    continue
                text = element.get("message") or element.text or outcome
                reason = next((line.strip() for line in text.splitlines() if line.strip()), outcome)
                module = case.get("classname", "").rsplit(".", 1)[-1]
                # testinfra's host id ("ansible://localhost-") only makes the line longer.
                name = re.sub(r"ansible://[\w.]+-?", "", case.get("name", ""))
                found.append((f"{module}::{name}", reason[:REASON_WIDTH]))
    return found


def _line(counts):
    passed, failed, xfailed, not_applicable = counts
    return f"{passed} passed, {failed} failed, {xfailed} xfailed, {not_applicable} not applicable"


def main(paths):
    grand = [0, 0, 0, 0]
    failures = []
    for path in paths:
        counts = count(path)
        scenario = Path(path).parent.name
        print(f"{scenario}: {_line(counts)}")
        grand = [a + b for a, b in zip(grand, counts)]
        failures += [(scenario, check, reason) for check, reason in failed_checks(path)]
    if failures:
        print("failed checks:")
        for scenario, check, reason in failures[:MAX_LISTED]:
            print(f"  {scenario} {check}: {reason}")
        if len(failures) > MAX_LISTED:
            print(f"  ... and {len(failures) - MAX_LISTED} more (reports/<scenario>/summary.md)")
    print(f"e2e: {_line(grand)}")
    return 1 if grand[1] or not paths else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
