# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Where a scenario's time goes: each Molecule step timed on its own, over repeated runs.

    python tools/timings.py [--runs N] [--out FILE] scenario...

Runs the steps of the scenario's test sequence that have something to run (destroy, converge,
idempotence, verify, destroy for most; not syntax) one `molecule <step>` at a time, N times, and prints
a Markdown table: the median and the spread (min-max) of every step and of the whole, in
seconds, then the slowest checks of the verify step (median over the runs, from its JUnit
report). Every playbook's own slowest tasks are in the step's output (profile_tasks).
A failing step stops the run: timings of a broken scenario mean nothing.
"""

import argparse
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from scenarios import ROOT, acting_steps

SLOWEST_CHECKS = 5


def sequence(scenario):
    """The steps `molecule test` runs that have something to run, but syntax (about 1 s
    inside `molecule test`; alone, Molecule's own start would be most of it)."""
    return [step for step in acting_steps(scenario) if step != "syntax"]


def step_names(steps):
    """Column names: a step that runs twice (destroy) is told apart by its place."""
    names = []
    for index, step in enumerate(steps):
        if steps.count(step) > 1:
            step = f"{step} ({'before' if index < len(steps) / 2 else 'after'})"
        names.append(step)
    return names


def run_step(scenario, step, log):
    start = time.monotonic()
    with open(log, "a") as output:
        result = subprocess.run(["molecule", step, "-s", scenario], stdout=output, stderr=subprocess.STDOUT,
                                cwd=ROOT, check=False)
    seconds = time.monotonic() - start
    if result.returncode:
        sys.exit(f"{scenario}: molecule {step} failed (exit {result.returncode}); see {log}")
    return seconds


def check_times(scenario):
    """{check: seconds} of the last verify (its JUnit report)."""
    report = ROOT / "reports" / scenario / "junit.xml"
    if not report.exists():
        return {}
    return {case.get("name"): float(case.get("time", 0)) for case in ET.parse(report).getroot().iter("testcase")}


def spread(values):
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


def measure(scenario, runs, log):
    steps = sequence(scenario)
    names = step_names(steps)
    times = {name: [] for name in names}
    totals, checks = [], {}
    for run in range(1, runs + 1):
        total = 0.0
        for step, name in zip(steps, names):
            print(f"== {scenario} run {run}/{runs}: {name}", flush=True)
            seconds = run_step(scenario, step, log)
            times[name].append(seconds)
            total += seconds
            if step == "verify":
                for check, value in check_times(scenario).items():
                    checks.setdefault(check, []).append(value)
        totals.append(total)
        print(f"== {scenario} run {run}/{runs}: {total:.0f}s", flush=True)
    return names, times, totals, checks


def table(results, runs):
    steps = list(dict.fromkeys(name for names, *_ in results.values() for name in names))
    lines = [f"Seconds, median (min-max) of {runs} runs, each step a `molecule <step>` of its own:", "",
             "| scenario | " + " | ".join(steps) + " | total |", "| --- " * (len(steps) + 2) + "|"]
    for scenario, (names, times, totals, _) in results.items():
        cells = [spread(times[step]) if step in names else "-" for step in steps]
        lines.append(f"| {scenario} | " + " | ".join(cells) + f" | {spread(totals)} |")
    for scenario, (*_, checks) in results.items():
        slowest = sorted(checks.items(), key=lambda item: statistics.median(item[1]), reverse=True)[:SLOWEST_CHECKS]
        if slowest:
            lines += ["", f"Slowest checks of {scenario} (median s): "
                      + ", ".join(f"{name} {statistics.median(values):.1f}" for name, values in slowest)]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="+")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "reports" / "timings.md"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results = {}
    for scenario in args.scenarios:
        log = out.parent / f"timings-{scenario}.log"
        log.write_text("")
        results[scenario] = measure(scenario, args.runs, log)
    text = table(results, args.runs)
    out.write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
