# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""What the overhead benchmark measured, as numbers a maintainer acts on: wrk's output read,
the rounds summed up (min, median, max of each variant, and each variant's ratio to the
baseline of the same round), written as CSV, a Markdown table and PNG plots.

The benchmark interleaves its variants round by round, so a ratio compares two runs made
moments apart on the same machine; the spread of the ratios over the rounds is what a
difference must exceed to count."""

import csv
import re
import statistics

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _milliseconds(text):
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def parse_wrk(output):
    """From `wrk --latency` output: requests, seconds, requests per second, p50 and p99 in
    ms, and the errors (non-2xx/3xx answers and socket errors). Fails on output that lacks
    any of them, rather than reporting a number wrk did not print."""
    found = {
        "requests": re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),", output, re.MULTILINE),
        "rps": re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE),
        "p50": re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE),
        "p99": re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE),
    }
    missing = sorted(name for name, match in found.items() if match is None)
    if missing:
        raise ValueError(f"wrk printed no {', '.join(missing)} (was it run with --latency?):\n{output[-600:]}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests": int(found["requests"].group(1)),
        "seconds": _milliseconds(found["requests"].group(2) + found["requests"].group(3)) / 1e3,
        "rps": float(found["rps"].group(1)),
        "p50_ms": _milliseconds(found["p50"].group(1)),
        "p99_ms": _milliseconds(found["p99"].group(1)),
        "errors": (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, socket.groups())) if socket else 0),
    }


def spread(values):
    """min, median, max."""
    values = sorted(values)
    return values[0], statistics.median(values), values[-1]


def summarize(rounds, baseline, metrics=("rps", "p50_ms", "p99_ms")):
    """rounds: one {variant: parse_wrk result} per round, every round with every variant.
    Returns {variant: {metric: (min, median, max), metric + "_ratio": (min, median, max)}},
    each ratio taken against the baseline of its own round."""
    if not rounds:
        raise ValueError("no round was measured")
    variants = list(rounds[0])
    if baseline not in variants or any(list(r) != variants for r in rounds):
        raise ValueError(f"every round needs the same variants, {baseline} among them: {[list(r) for r in rounds]}")
    summary = {}
    for variant in variants:
        summary[variant] = {}
        for metric in metrics:
            summary[variant][metric] = spread(r[variant][metric] for r in rounds)
            summary[variant][f"{metric}_ratio"] = spread(r[variant][metric] / r[baseline][metric] for r in rounds)
    return summary


def write_csv(path, rounds):
    """One row per round and variant, as measured."""
    fields = ["round", "variant", "requests", "seconds", "rps", "p50_ms", "p99_ms", "errors"]
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fields)
        writer.writeheader()
        for number, measured in enumerate(rounds, 1):
            for variant, result in measured.items():
                writer.writerow({"round": number, "variant": variant, **{k: result[k] for k in fields[2:]}})


def _cell(triple, digits):
    low, middle, high = triple
    return f"{middle:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def markdown(summary, baseline, machine, rounds):
    """The table: per variant median (min-max) of throughput and latencies, and of each ratio
    to the baseline of the same round; the machine and versions in the header."""
    lines = [f"Machine: {', '.join(f'{k} {v}' for k, v in machine.items())}. {rounds} rounds, variants "
             f"interleaved; median (min-max); ratios to `{baseline}` of the same round.", "",
             "| variant | requests/s | p50 ms | p99 ms | requests/s ratio | p50 ratio | p99 ratio |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for variant, values in summary.items():
        lines.append(f"| {variant} | {_cell(values['rps'], 0)} | {_cell(values['p50_ms'], 2)} | "
                     f"{_cell(values['p99_ms'], 2)} | {_cell(values['rps_ratio'], 3)} | "
                     f"{_cell(values['p50_ms_ratio'], 3)} | {_cell(values['p99_ms_ratio'], 3)} |")
    return "\n".join(lines) + "\n"


def plot(path, summary, metric, label):
    """A bar per variant at its median, the min-max range as its error bar."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    from matplotlib import pyplot

    variants = list(summary)
    low, middle, high = zip(*(summary[v][metric] for v in variants))
    figure, axes = pyplot.subplots(figsize=(6, 3.5))
    axes.bar(variants, middle, yerr=[[m - lo for m, lo in zip(middle, low)], [hi - m for m, hi in zip(middle, high)]],
             capsize=6, color="#4c72b0")
    axes.set_ylabel(label)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
