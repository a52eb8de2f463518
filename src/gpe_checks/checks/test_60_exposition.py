# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The exposition format: every metric family of the exporter, with its type, and lint."""

import shlex

import pytest

from gpe_checks import upstream
from gpe_checks.facts import Place
from gpe_checks.metrics import Scrape
from gpe_checks.traffic import serve_on_every_worker

pytestmark = pytest.mark.metrics

FAMILIES = {
    "gunicorn_worker_requests_total": "counter",
    "gunicorn_worker_request_duration_seconds": "histogram",
    "gunicorn_worker_memory_bytes": "gauge",
    "gunicorn_worker_cpu_percent": "gauge",
    "gunicorn_worker_uptime_seconds": "gauge",
    "gunicorn_worker_state": "gauge",
    "gunicorn_worker_failed_requests_total": "counter",
    "gunicorn_master_worker_restart_total": "counter",
}


def test_every_metric_family_is_declared_with_its_type(stack, record):
    declared = {}
    for line in serve_on_every_worker(stack).text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            declared[name] = kind
    seen = {name: declared.get(name) for name in FAMILIES}
    record(seen, FAMILIES)
    assert seen == FAMILIES


def _promtool(stack, text):
    """promtool where the stack's Prometheus is: on its node, or in its container or pod."""
    place = stack.place(stack.prometheus) if stack.prometheus else Place(stack.host)
    if not place.isolated and not place.host.exists("promtool"):
        pytest.skip(f"promtool is not installed on {place.host.backend.get_hostname()} (it comes with Prometheus)")
    return place.host.run(f"printf %s {shlex.quote(text)} | {place.command('promtool check metrics')}")


def _without_repeated_help(text):
    seen, lines = set(), []
    for line in text.splitlines(keepends=True):
        if line.startswith(("# HELP ", "# TYPE ")):
            key = tuple(line.split()[:3])
            if key in seen:
                continue
            seen.add(key)
        lines.append(line)
    return "".join(lines)


def test_promtool_lint_passes_apart_from_repeated_help(stack, record):
    """Everything but the known upstream repetition lints clean, so a new finding shows."""
    text = serve_on_every_worker(stack).text
    result = _promtool(stack, _without_repeated_help(text))
    record(f"rc {result.rc}: {(result.stdout + result.stderr).strip()[:120]}", "rc 0")
    assert result.rc == 0, result.stdout + result.stderr
    Scrape(text)  # the client library's parser accepts the raw text


@upstream.DUPLICATE_HELP_LINES
def test_promtool_accepts_raw_exposition(stack):
    result = _promtool(stack, serve_on_every_worker(stack).text)
    assert result.rc == 0, result.stdout + result.stderr

