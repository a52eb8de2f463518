# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Prometheus' HTTP API, as the checks ask it."""

import json
from datetime import datetime

from . import http
from .waiting import WaitTimeout, wait_until


def of_job(metric, job, instance=None):
    """The series of `metric` scraped by `job`, from one of its targets when `instance` is given."""
    return f'{metric}{{job="{job}"' + (f',instance="{instance}"' if instance else "") + "}"


def query(url, promql):
    """Values of an instant query, one float per series."""
    result = http.get_json(f"{url}/api/v1/query?query={http.quote(promql)}")["data"]["result"]
    return [float(series["value"][1]) for series in result]


def query_by(url, promql, label):
    """Values of an instant query by one label of its series."""
    result = http.get_json(f"{url}/api/v1/query?query={http.quote(promql)}")["data"]["result"]
    return {series["metric"].get(label, ""): float(series["value"][1]) for series in result}


def wait_for_query(url, promql, expected, timeout=30, detail=None):
    """Poll until the query answers exactly [expected]; return that answer. On timeout the
    message also lists the series of `detail` (what a sum was taken over) as Prometheus has them."""
    try:
        return wait_until(lambda: query(url, promql), f"Prometheus to answer {promql} == {expected:g}",
                          timeout=timeout, interval=0.25, until=lambda values: values == [expected])
    except WaitTimeout as timeout_error:
        if not detail:
            raise
        result = http.get_json(f"{url}/api/v1/query?query={http.quote(detail)}")["data"]["result"]
        series = {json.dumps(s["metric"], sort_keys=True): s["value"][1] for s in result}
        raise WaitTimeout(f"{timeout_error}; {detail} in Prometheus: {series}") from None


def job_targets(url, job, scraped_after=None):
    """Health of a job's targets by instance; with scraped_after (epoch seconds), a target
    not scraped since then reads "not scraped"."""
    targets = http.get_json(f"{url}/api/v1/targets")["data"]["activeTargets"]
    return {
        t["labels"]["instance"]: t["health"]
        if scraped_after is None or _epoch(t["lastScrape"]) > scraped_after else "not scraped"
        for t in targets if t["labels"].get("job") == job
    }


def _epoch(rfc3339):
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()
