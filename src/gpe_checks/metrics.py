# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Read the exporter's text exposition and compute exact sums and deltas."""

import math
from collections import defaultdict
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Sample:
    name: str
    labels: tuple  # sorted (key, value) pairs, hashable
    value: float

    def label(self, key, default=None):
        return dict(self.labels).get(key, default)


class Scrape:
    """One /metrics response, parsed."""

    def __init__(self, text):
        self.text = text
        self.samples = []
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples.append(
                    Sample(sample.name, tuple(sorted(sample.labels.items())), float(sample.value))
                )

    def __repr__(self):
        # What a timed-out wait shows as the last value seen.
        requests = {s.label("worker_id"): s.value for s in self.select("gunicorn_worker_requests_total")}
        return f"<scrape of {len(self.samples)} samples, requests_total by worker {requests}>"

    def select(self, name, **labels):
        """Samples of one series name whose labels include all the given ones.

        A series exposed twice with the same labels and value is taken once: the
        exporter repeats its master's series (see duplicate_series()).
        """
        return list(dict.fromkeys(
            s for s in self.samples
            if s.name == name and all(s.label(k) == str(v) for k, v in labels.items())
        ))

    def duplicate_series(self):
        """(name, labels) pairs that appear more than once in the exposition."""
        counts = defaultdict(int)
        for sample in self.samples:
            counts[(sample.name, sample.labels)] += 1
        return sorted(key for key, count in counts.items() if count > 1)

    def total(self, name, **labels):
        return sum(s.value for s in self.select(name, **labels))

    def buckets(self, histogram):
        """Cumulative bucket counts of a histogram, summed over all series, by `le`."""
        by_le = defaultdict(float)
        for sample in self.select(f"{histogram}_bucket"):
            by_le[float(sample.label("le"))] += sample.value
        return dict(sorted(by_le.items()))

    def series_by(self, name, label):
        """Map label value -> list of samples, for one series name."""
        grouped = defaultdict(list)
        for sample in self.select(name):
            grouped[sample.label(label)].append(sample)
        return dict(grouped)

    def duplicate_help_lines(self):
        """Metric names whose `# HELP` line appears more than once in the raw text."""
        seen = defaultdict(int)
        for line in self.text.splitlines():
            if line.startswith("# HELP "):
                seen[line.split()[2]] += 1
        return sorted(name for name, count in seen.items() if count > 1)


def bucket_deltas(before, after):
    """Per-`le` difference of two bucket maps (a bucket missing before counts as 0)."""
    return {le: after[le] - before.get(le, 0.0) for le in after}


def is_cumulative(buckets):
    """True when counts never decrease as `le` grows and +Inf is the last bound."""
    bounds = list(buckets)
    values = [buckets[b] for b in bounds]
    return bool(bounds) and math.isinf(bounds[-1]) and all(
        a <= b for a, b in zip(values, values[1:])
    )
