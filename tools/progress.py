# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Progress of `make test`: how long the scenarios still to run will take.

Used by tools/scenarios.py: estimate(DURATIONS, scenarios) is the seconds they took last,
record(DURATIONS, scenario, seconds) keeps a scenario's time. DURATIONS is a file of
"scenario seconds" lines that `make test` keeps in reports/. A scenario it has not seen yet
counts with its time on a fresh clone here (TYPICAL).
"""

from pathlib import Path

# Seconds per scenario on a fresh clone here (December 2026, Mitogen's strategy); images
# is the time with the Debian base bootstrapped; gevent and eventlet converged over thread;
# multinode with its node image built (about 20 s more the first time); vms with the
# multinode scenario's destroy.
TYPICAL = {"default": 103, "redis": 118, "yaml_config": 119, "thread": 68, "gevent": 51, "eventlet": 63,
           "docker_host": 8, "images": 120, "standalone": 31, "sidecar": 131, "compose": 216, "multinode": 300,
           "vms": 290}
UNKNOWN = 150


def load(path):
    durations = {}
    if Path(path).exists():
        for line in Path(path).read_text().splitlines():
            name, _, seconds = line.partition(" ")
            if seconds.strip().isdigit():
                durations[name] = int(seconds)
    return durations


def estimate(path, scenarios):
    known = {**TYPICAL, **load(path)}
    return sum(known.get(name, UNKNOWN) for name in scenarios)


def record(path, scenario, seconds):
    durations = load(path)
    durations[scenario] = int(seconds)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("".join(f"{name} {value}\n" for name, value in sorted(durations.items())))
