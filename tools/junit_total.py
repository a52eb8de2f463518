"""Print one line per scenario report and a closing total from JUnit XML files.

Usage: python tools/junit_total.py reports/*/junit.xml
The last line reads "e2e: N passed, N failed, N skipped" (xfails count as skipped).
"""

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def count(path):
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        for key in totals:
            totals[key] += int(suite.get(key, 0))
    failed = totals["failures"] + totals["errors"]
    return totals["tests"] - failed - totals["skipped"], failed, totals["skipped"]


def main(paths):
    grand = [0, 0, 0]
    for path in paths:
        passed, failed, skipped = count(path)
        print(f"{Path(path).parent.name}: {passed} passed, {failed} failed, {skipped} skipped")
        grand = [a + b for a, b in zip(grand, (passed, failed, skipped))]
    print(f"e2e: {grand[0]} passed, {grand[1]} failed, {grand[2]} skipped")
    return 1 if grand[1] or not paths else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
