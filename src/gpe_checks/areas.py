# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The areas checks belong to: one pytest marker each (`pytest -m redis`, `make verify M=redis`).

Every check module names exactly one area in `pytestmark`; checks that stop, kill or
restart part of the stack are also marked `disruptive` (`-m "not disruptive"` leaves a
stack as it was found). The summary groups its rows by area, in this order.
"""

AREAS = {
    "packages": "the exporter and Gunicorn under test are the installed ones",
    "ports": "each endpoint listens exactly where it is configured",
    "configuration": "the exporter's settings reach the processes",
    "services": "units under systemd: state, restart policy, own user, sandbox, the password kept out",
    "metrics": "every metric family and value against the traffic and the processes",
    "redis": "Redis storage: keys, prefixes, TTLs that expire",
    "prometheus": "Prometheus scrapes the stack and the dashboard's queries answer",
    "signals": "HUP, TTIN/TTOU, USR1, killed workers, graceful shutdown",
    "load": "counters under load from a real load tool",
    "fleet": "one stack's app on several nodes: each counts its own, Prometheus sums them",
    "containers": "containers, their network, health and restarts",
}
DISRUPTIVE = "disruptive"
DISRUPTIVE_HELP = "stops, kills or restarts part of the stack (it recovers before the check ends)"


def area_of(marker_names):
    """The area among a check's marker names (None when it has none)."""
    return next((name for name in AREAS if name in marker_names), None)
