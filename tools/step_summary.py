# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The scenarios' summaries as one GitHub job summary, on standard output.

Usage: python3 tools/step_summary.py ARTIFACT >> "$GITHUB_STEP_SUMMARY"
Prints every reports/*/summary.md while they fit the 1 MiB GitHub keeps of a step
summary; a summary that does not fit is named, with the artifact that holds it.
"""

import sys
from pathlib import Path

LIMIT = 1_000_000


def main(artifact, reports=Path("reports")):
    summaries = sorted(reports.glob("*/summary.md"))
    if not summaries:
        print("No scenario wrote a summary (reports/*/summary.md).")
        return
    total = 0
    for path in summaries:
        text = path.read_text()
        if total + len(text.encode()) > LIMIT:
            print(f"\n{path} left out (size); see the {artifact} artifact.")
            continue
        total += len(text.encode())
        print(text)


if __name__ == "__main__":
    main(sys.argv[1])
