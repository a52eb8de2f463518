# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""What only a stack of containers has: health, its own network and aliases, exactly the
published ports designed, Prometheus scraping by container name, the exporter sidecar, a
crash of the app container, and the compose file that describes the same containers."""

import shlex
import time
from dataclasses import dataclass

import pytest
import yaml

from gpe_checks import containers, http
from gpe_checks.facts import Place
from gpe_checks.lifecycle import app_is_serving, wait_for_workers
from gpe_checks.metrics import Scrape
from gpe_checks.prometheus import job_targets
from gpe_checks.traffic import requests_delta, serve_on_every_worker, wait_for_requests
from gpe_checks.waiting import wait_until

pytestmark = pytest.mark.containers

REQUESTS = 9


@dataclass(frozen=True)
class Pattern:
    """The containers of a stack as its manifests describe them."""

    name: str
    containers: dict  # component -> container name
    network: str
    labels: dict  # what every object of the stack carries
    published: dict  # component -> ["host address:host port:container port"]
    compose_file: str


@pytest.fixture(scope="module")
def pattern(stack):
    if not stack.in_containers:
        pytest.skip("the stack runs as processes on its hosts, not in containers")
    parts = {name: component.container for name, component in stack.components.items()}
    (network,) = {container.network for container in parts.values()}
    return Pattern(
        name=stack.name,
        containers={name: container.name for name, container in parts.items()},
        network=network,
        labels=stack.app.container.labels,
        published={name: sorted(container.published) for name, container in parts.items()},
        compose_file=stack.app.container.compose_file,
    )


def _sidecar(stack):
    if not stack.sidecar:
        pytest.skip("this stack runs no exporter sidecar")
    return stack.sidecar.endpoints["metrics"].url


def _sidecar_scrape(url):
    status, body = http.get(url)
    assert status == 200, f"{url} answered {status}: {body[:300]}"
    return Scrape(body)


def test_every_container_is_healthy(stack, pattern, record):
    expected = {c: "healthy" for c in pattern.containers}
    # A container an earlier check restarted is "starting" until its first probe passes.
    seen = wait_until(
        lambda: {c: containers.health(containers.inspect(stack.host, name)) for c, name in pattern.containers.items()},
        "every container healthy", timeout=30, interval=0.5, until=lambda found: found == expected)
    record(seen, expected)


def test_containers_share_only_the_stack_network_under_their_aliases(stack, pattern, record):
    seen = {}
    for component, name in pattern.containers.items():
        networks = containers.inspect(stack.host, name)["NetworkSettings"]["Networks"]
        # Docker adds the container's short id to its aliases; the designed alias is the component.
        seen[component] = {net: sorted(set(conf.get("Aliases") or []) & {component}) for net, conf in networks.items()}
    expected = {c: {pattern.network: [c]} for c in pattern.containers}
    record(seen, expected)
    assert seen == expected
    labels = containers.inspect(stack.host, pattern.network)["Labels"]
    assert labels.items() >= pattern.labels.items(), labels


def test_ports_are_published_exactly_as_designed(stack, pattern, record):
    """Loopback only, and nothing of Redis unless the stack publishes it
    (docker_stack_publish_redis): unpublished, Redis is reached on the stack's network."""
    seen = {c: containers.published(containers.inspect(stack.host, name)) for c, name in pattern.containers.items()}
    expected = pattern.published
    record(seen, expected)
    assert seen == expected


def test_prometheus_scrapes_every_job_by_container_name(stack, pattern, record):
    url = stack.prometheus.url
    jobs = stack.prometheus.jobs
    expected = {job: {target: "up" for target in targets} for job, targets in jobs.items()}
    seen = wait_until(lambda: {job: job_targets(url, job) for job in jobs}, f"every target of {sorted(jobs)} up",
                      timeout=30, until=lambda found: found == expected)
    record(seen, expected)
    names = {target.rsplit(":", 1)[0] for targets in jobs.values() for target in targets}
    assert names <= set(pattern.containers.values()), f"targets not named by container: {sorted(names)}"


def test_sidecar_serves_exactly_what_the_app_stored(stack, pattern, record):
    url = _sidecar(stack)
    before = serve_on_every_worker(stack)
    sidecar_before = _sidecar_scrape(url)
    assert http.send(stack.app_url, [("/", 200)] * REQUESTS).unexpected == []
    app_after = wait_for_requests(stack, before, REQUESTS)
    sidecar_after = wait_until(lambda: _sidecar_scrape(url), f"{REQUESTS} more requests at the sidecar",
                               timeout=10, until=lambda now: requests_delta(sidecar_before, now) >= REQUESTS)
    counted = {"app": requests_delta(before, app_after), "sidecar": requests_delta(sidecar_before, sidecar_after)}
    up = sidecar_after.total("gpe_sidecar_source_up")
    record(f"{counted}, gpe_sidecar_source_up {up:g}", f"{REQUESTS} each, source up 1")
    assert counted == {"app": REQUESTS, "sidecar": REQUESTS}
    assert up == 1


@pytest.mark.disruptive
def test_sidecar_health_follows_its_redis(stack, pattern, record):
    url = _sidecar(stack)
    if not stack.uses_redis:
        pytest.skip("the sidecar reads a volume the app shares with it: no source to lose")
    sidecar = stack.place(stack.sidecar)
    # The sidecar's own healthcheck, as its image declares it.
    health = containers.healthcheck(containers.inspect(stack.host, pattern.containers["sidecar"]))
    redis = stack.service(stack.redis)
    assert sidecar.run(health).rc == 0
    redis.stop()
    try:
        down = (sidecar.run(health).rc, _sidecar_scrape(url).total("gpe_sidecar_source_up"))
    finally:
        redis.start()
    back = wait_until(lambda: sidecar.run(health).rc, "sidecar health 0 with Redis back",
                      timeout=30, interval=0.25, until=lambda rc: rc == 0)
    record(f"Redis stopped: health rc {down[0]}, source_up {down[1]:g}; back: rc {back}",
           "stopped: rc 1, source_up 0; back: rc 0")
    assert down == (1, 0)


@pytest.mark.disruptive
def test_crashed_app_container_is_restarted_and_counts_again(stack, pattern, record):
    """SIGKILL of the master (from the host: inside the container it is pid 1 and immune):
    Docker's restart policy starts the container again, its restart count goes up by one,
    and the new master serves and counts every request."""
    name = pattern.containers["app"]
    info = containers.inspect(stack.host, name)
    restarts_before, pid = info["RestartCount"], info["State"]["Pid"]
    killed = time.monotonic()
    stack.host.check_output(f"kill -KILL {int(pid)}")
    wait_until(lambda: containers.inspect(stack.host, name)["RestartCount"], f"Docker to restart {name}",
               timeout=30, interval=0.2, until=lambda count: count > restarts_before)
    wait_until(lambda: app_is_serving(stack), "the app and /metrics to answer again", timeout=60, interval=0.2)
    wait_for_workers(stack, stack.app.workers, f"{stack.app.workers} workers after the restart")
    recovered = time.monotonic() - killed
    before = serve_on_every_worker(stack)
    assert http.send(stack.app_url, [("/", 200)] * REQUESTS).unexpected == []
    counted = requests_delta(before, wait_for_requests(stack, before, REQUESTS))
    restarts = containers.inspect(stack.host, name)["RestartCount"] - restarts_before
    record(f"restarts +{restarts}, serving after {recovered:.1f}s, counted {counted:g}",
           f"restarts +1, counted {REQUESTS}")
    assert restarts == 1
    assert counted == REQUESTS


def test_compose_file_describes_the_running_containers(stack, pattern, record):
    """The compose file rendered beside the stack names the same images, environment,
    published ports, network aliases and labels as the containers that run."""
    document = yaml.safe_load(stack.host.file(pattern.compose_file).content_string)
    differences = []
    for component, name in pattern.containers.items():
        service = document["services"].get(component)
        if service is None:
            differences.append(f"{component}: not in the compose file")
            continue
        info = containers.inspect(stack.host, name)
        running = {
            "container_name": info["Name"].lstrip("/"),
            "image": info["Config"]["Image"],
            "ports": containers.published(info),
            "aliases": [component] if component in (info["NetworkSettings"]["Networks"][pattern.network]["Aliases"] or []) else [],
            "labels": {k: v for k, v in info["Config"]["Labels"].items() if k.startswith("gpe-stack.")},
            "environment": {k: v for k, v in containers.environment(info).items() if k in service.get("environment", {})},
        }
        described = {
            "container_name": service["container_name"],
            "image": service["image"],
            "ports": sorted(service.get("ports", [])),
            "aliases": service["networks"][pattern.network]["aliases"],
            "labels": service["labels"],
            "environment": service.get("environment", {}),
        }
        differences += [f"{component}.{key}: runs {running[key]!r}, file says {described[key]!r}"
                        for key in running if running[key] != described[key]]
    extra = sorted(set(document["services"]) - set(pattern.containers))
    record(differences + extra, [])
    assert differences == [] and extra == []


def test_compose_accepts_the_rendered_file(stack, pattern, record):
    host = stack.host
    if host.run("docker compose version").rc == 0:
        compose = "docker compose"
    elif host.exists("docker-compose"):
        compose = "docker-compose"
    else:
        pytest.skip("neither `docker compose` nor docker-compose on this Docker host (docker_host installs it)")
    result = host.run(f"{compose} --file {shlex.quote(pattern.compose_file)} --project-name "
                      f"{shlex.quote(pattern.name)} config --services")
    record(f"{compose}: rc {result.rc}, services {result.stdout.split()}", f"rc 0, {sorted(pattern.containers)}")
    assert result.rc == 0, result.stderr
    assert sorted(result.stdout.split()) == sorted(pattern.containers)


def test_grafana_serves_the_dashboard(stack, pattern):
    if not stack.grafana:
        pytest.skip("no Grafana image on this Docker host: Grafana has no Debian package and no "
                    "registry is reachable here (set docker_stack_grafana_image where one is)")
    status, body = http.get(f"{stack.grafana.endpoints['http'].url}/api/search?query=")
    assert status == 200, body[:300]
    assert "gunicorn" in body.lower(), body[:300]


def test_multiprocess_volume_is_shared_with_the_sidecar(stack, pattern, record):
    if stack.uses_redis:
        pytest.skip("Redis storage: app and sidecar share Redis, not a volume")
    directory = shlex.quote(stack.app.multiproc_dir)
    listing = {c: sorted(Place(stack.host, pattern.containers[c]).check_output(f"ls -A {directory}").split())
               for c in ("app", "sidecar") if c in pattern.containers}
    record(listing, "the same files in both")
    assert listing.get("sidecar") == listing["app"] and any(n.endswith(".db") for n in listing["app"])
