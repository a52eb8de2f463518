# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Each image of the stack alone on its own network, reached through its loopback ports.

Reads /var/cache/gpe-stack/standalone.json, which playbooks/standalone.yml writes.
"""

import json
import shlex

import pytest

from gpe_checks import containers, http
from gpe_checks.metrics import Scrape
from gpe_checks.packages import assert_image_packages
from gpe_checks.waiting import wait_until

MANIFEST = "/var/cache/gpe-stack/standalone.json"
IMAGES = "/var/cache/gpe-stack/images/images.json"


@pytest.fixture(scope="module")
def standalone(host):
    manifest = host.file(MANIFEST)
    assert manifest.exists, f"no {MANIFEST}: did playbooks/standalone.yml run?"
    return json.loads(manifest.content_string)


def _url(standalone, container, container_port):
    ports = standalone["containers"][container]["ports"]
    (host_port,) = [h for h, c in ports.items() if c == str(container_port)]
    return f"http://{standalone['address']}:{host_port}"


def _name(standalone, container):
    return f"{standalone['network']}-{container}"


@pytest.mark.parametrize("container", ["redis", "prometheus", "app", "sidecar"])
def test_container_is_healthy_on_its_own_network(host, standalone, container):
    state = json.loads(host.check_output(f"docker inspect {_name(standalone, container)}"))[0]
    assert state["State"]["Health"]["Status"] == "healthy"
    assert list(state["NetworkSettings"]["Networks"]) == [standalone["network"]]


@pytest.mark.parametrize("container", ["redis", "prometheus", "app", "sidecar"])
def test_ports_are_published_on_loopback_only(host, standalone, container):
    published = json.loads(host.check_output(
        f"docker inspect --format '{{{{json .NetworkSettings.Ports}}}}' {_name(standalone, container)}"))
    bindings = {(b["HostIp"], b["HostPort"]) for spec in published.values() for b in (spec or [])}
    expected = {(standalone["address"], port) for port in standalone["containers"][container]["ports"]}
    assert standalone["address"].startswith("127."), f"published on {standalone['address']}, not loopback"
    assert bindings == expected


def test_app_answers_and_counts_failures_exactly(standalone):
    app, metrics = _url(standalone, "app", 8088), _url(standalone, "app", 9093) + "/metrics"
    errors = 3
    assert http.send(app, [("/", 200)] * 5).unexpected == []

    def failed():
        return Scrape(http.get(metrics)[1]).total("gunicorn_worker_failed_requests_total", endpoint="/error")

    before = failed()
    # The healthcheck requests /health all the time; only this check requests /error.
    assert http.send(app, [("/error", 500)] * errors).unexpected == []
    after = wait_until(failed, f"{errors} more failed requests", timeout=20, until=lambda v: v >= before + errors)
    assert after - before == errors


def test_redis_answers_on_its_port(standalone):
    import redis

    port = int(_url(standalone, "redis", 6379).rsplit(":", 1)[1])
    assert redis.Redis(host=standalone["address"], port=port, socket_timeout=5).ping() is True


def test_prometheus_is_ready(standalone):
    assert http.get(_url(standalone, "prometheus", 9090) + "/-/ready")[0] == 200


def test_standalone_sidecar_serves_only_its_own_series(standalone):
    scrape = Scrape(http.get(_url(standalone, "sidecar", 9200) + "/metrics")[1])
    assert scrape.select("gpe_sidecar_source_up", mode="standalone")[0].value == 0
    assert scrape.select("gunicorn_worker_requests_total") == []


def test_sidecar_health_mode_answers_zero_when_healthy(host, standalone):
    name = _name(standalone, "sidecar")
    # The sidecar's own healthcheck, as its image declares it.
    result = host.run(f"docker exec {name} {containers.healthcheck(containers.inspect(host, name))}")
    assert (result.rc, result.stdout.strip()) == (0, "healthy")


@pytest.mark.parametrize("container", ["app", "sidecar"])
def test_running_container_holds_the_packages_under_test(host, standalone, container, record):
    """What runs is what was asked for (GPE_EXPORTER_PACKAGE, GPE_GUNICORN_PACKAGE), as in
    the images scenario, here in the running container."""
    packages = json.loads(host.file(IMAGES).content_string)["packages"][container]
    name = _name(standalone, container)

    def in_container(command):
        return host.check_output(f"docker exec {name} sh -c {shlex.quote(command)}")

    assert_image_packages(in_container, packages, record)
