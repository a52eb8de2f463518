# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""What the overhead benchmark measured, as numbers a maintainer acts on: wrk's output read,
the rounds summed up (min, median, max of each variant, and each variant's ratio to the
baseline of the same round), written as CSV, a Markdown table and PNG plots.

The benchmark interleaves its variants round by round, so a ratio compares two runs made
moments apart on the same machine; the spread of the ratios over the rounds is what a
difference must exceed to count."""

import argparse
import csv
import json
import re
import statistics
import sys
from pathlib import Path

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
             "| variant | requests/s | p50 ms | p99 ms | requests/s ratio | p50 ratio | p99 ratio | requests/s against the baseline |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for variant, values in summary.items():
        lines.append(f"| {variant} | {_cell(values['rps'], 0)} | {_cell(values['p50_ms'], 2)} | "
                     f"{_cell(values['p99_ms'], 2)} | {_cell(values['rps_ratio'], 3)} | "
                     f"{_cell(values['p50_ms_ratio'], 3)} | {_cell(values['p99_ms_ratio'], 3)} | "
                     f"{'' if variant == baseline else verdict(values['rps_ratio'])} |")
    return "\n".join(lines) + "\n"


def verdict(ratio):
    """Whether a difference exceeds what the rounds themselves spread over."""
    low, _, high = ratio
    if high < 1:
        return "lower in every round"
    if low > 1:
        return "higher in every round"
    return "within the rounds' spread"


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


def plot_lines(path, points, x, label, xlabel):
    """Scrape time (median, min-max as error bars) against x, one line per storage."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6, 3.5))
    for storage in sorted({p["storage"] for p in points}):
        mine = sorted((p for p in points if p["storage"] == storage), key=lambda p: p[x])
        xs = [p[x] for p in mine]
        low, middle, high = zip(*(spread(s * 1e3 for s in p["seconds"]) for p in mine))
        axes.errorbar(xs, middle, yerr=[[m - lo for m, lo in zip(middle, low)], [hi - m for m, hi in zip(middle, high)]],
                      marker="o", capsize=4, label=f"{storage} storage")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(label)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


VARIANTS = ("baseline", "exporter-file", "exporter-redis")
BASELINE = VARIANTS[0]


def _storage_cells(state):
    if "redis_keys" in state:
        return f"{state['redis_keys']:g} keys, {state['redis_used_memory_bytes'] / 2**20:.1f} MiB used"
    return f"{state['multiproc_files']:g} files, {state['multiproc_bytes'] / 2**20:.1f} MiB"


def _scrape_row(point, first):
    low, middle, high = spread(s * 1e3 for s in point["seconds"])
    return (f"| {point['storage']} | {point[first]} | {middle:.1f} ({low:.1f}-{high:.1f}) | {point['bytes']} | "
            f"{point['samples']} | {point['worker_series']} | {_storage_cells(point)} |")


def report(results, out):
    """Every table and plot from the raw results; returns (markdown, failures)."""
    failures = [f"{what} {number}: {entry['error']}" for what in ("overhead", "scrape_live", "scrape_dead")
                for number, entry in enumerate(results[what], 1) if "error" in entry]
    settings = results["settings"]
    parts = [f"# Exporter overhead and scrape cost\n\nSame test app, {settings['workers']} sync workers; wrk "
             f"{settings['threads']} threads, {settings['connections']} connections, {settings['seconds']} s per run "
             f"on loopback.\n"]
    overhead = [entry for entry in results["overhead"] if "error" not in entry]
    if overhead:
        rounds = [{variant: parse_wrk(entry["wrk"][variant]) for variant in VARIANTS} for entry in overhead]
        summary = summarize(rounds, BASELINE)
        write_csv(out / "overhead.csv", rounds)
        plot(out / "overhead_rps.png", summary, "rps", "requests/s")
        plot(out / "overhead_p99.png", summary, "p99_ms", "p99 latency (ms)")
        parts.append(markdown(summary, BASELINE, results["machine"], len(rounds)))
        errors = sum(r[v]["errors"] for r in rounds for v in VARIANTS)
        parts.append(f"wrk errors (non-2xx answers and socket errors) over every run: {errors}.\n")
        storage = ["| variant | after each round's traffic (median) | Redis commands per request (median) |",
                   "| --- | --- | --- |"]
        for variant in VARIANTS[1:]:
            states = [entry["storage"][variant] for entry in overhead]
            middle = {key: statistics.median(s[key] for s in states) for key in states[0]}
            per_request = statistics.median(e["storage"][variant]["redis_commands"] / r[variant]["requests"]
                                            for e, r in zip(overhead, rounds))
            storage.append(f"| {variant} | {_storage_cells(middle)} | {per_request:.1f} |")
        parts.append("\n".join(storage) + "\n")
    header = "| storage | {} | scrape ms, median (min-max) | bytes | samples | worker series | storage |\n" + \
             "| --- | --- | --- | --- | --- | --- | --- |"
    live = [p for p in results["scrape_live"] if "error" not in p]
    dead = [p for p in results["scrape_dead"] if "error" not in p]
    with open(out / "scrape.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["series", "storage", "workers", "ended_workers", "hung", "scrape_ms_median", "scrape_ms_min",
                         "scrape_ms_max", "bytes", "samples", "worker_series", "redis_keys", "redis_used_memory_bytes",
                         "multiproc_files", "multiproc_bytes"])
        for series, points in (("live", live), ("ended", dead)):
            for p in points:
                low, middle, high = spread(s * 1e3 for s in p["seconds"])
                writer.writerow([series, p["storage"], p.get("workers", 1), p.get("restarts", 0), p.get("hung", 0),
                                 round(middle, 3), round(low, 3), round(high, 3), p["bytes"], p["samples"],
                                 p["worker_series"], p.get("redis_keys", ""), p.get("redis_used_memory_bytes", ""),
                                 p.get("multiproc_files", ""), p.get("multiproc_bytes", "")])
    if live:
        plot_lines(out / "scrape_live.png", live, "workers", "scrape time (ms)", "live workers")
        parts.append(f"## One scrape of /metrics as live workers grow\n\n{header.format('live workers')}\n"
                     + "\n".join(_scrape_row(p, "workers") for p in live) + "\n")
    if dead:
        plot_lines(out / "scrape_dead.png", dead, "restarts", "scrape time (ms)", "workers ended (max_requests)")
        rows = "\n".join(_scrape_row(p, "restarts") for p in dead)
        ended = [p for p in dead if p["restarts"]]
        took = ", ".join(f"{p['storage']} {p['restarts']}: {p['restart_seconds']:.1f} s" for p in ended)
        hung = ", ".join(f"{p['storage']} {p['restarts']}: {p['hung']}" for p in ended)
        parts.append(f"## One scrape of /metrics as ended workers accumulate (one live worker, max_requests=1)\n\n"
                     f"{header.format('ended workers')}\n{rows}\n\nEnding them took {took or 'no time'}. New workers "
                     f"that hung at their first request until Gunicorn's timeout killed them: {hung or 'none measured'}.\n")
    seen = [f"{what} {number}: {finding}" for what in ("overhead", "scrape_live", "scrape_dead")
            for number, entry in enumerate(results[what], 1) for finding in entry.get("findings", [])]
    if seen:
        parts.append("## Seen while measuring (the measurements stand)\n\n" + "\n".join(f"- {f}" for f in seen) + "\n")
    if failures:
        parts.append("## Measurements that failed\n\n" + "\n".join(f"- {f}" for f in failures) + "\n")
    text = "\n".join(parts)
    (out / "bench.md").write_text(text)
    return text, failures


def main(argv=None):
    parser = argparse.ArgumentParser(description="Tables and plots of the overhead benchmark's raw results.")
    parser.add_argument("results", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    text, failures = report(json.loads(args.results.read_text()), args.out)
    print(text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
