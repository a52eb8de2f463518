# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The stack's images on the Docker host: tagged by content, non-root, and they run.

Reads <build dir>/images.json, which the images role writes. Containers started here get
a name of their own and are removed at the end of each check.
"""

import json
import shlex
import time

import pytest

from gpe_checks import containers
from gpe_checks.packages import assert_image_packages
from gpe_checks.waiting import wait_until

BUILD_DIR = "/var/cache/gpe-stack/images"
USERS = {"redis": "redis", "prometheus": "prometheus", "app": "app", "sidecar": "sidecar"}
COMPONENTS = sorted(USERS)


@pytest.fixture(scope="module")
def images(host):
    manifest = host.file(f"{BUILD_DIR}/images.json")
    assert manifest.exists, f"no {BUILD_DIR}/images.json: did the images role run?"
    return json.loads(manifest.content_string)


def _inspect(host, ref):
    return json.loads(host.check_output(f"docker image inspect {ref}"))[0]


@pytest.mark.parametrize("component", COMPONENTS)
def test_image_tag_is_the_hash_of_its_build_context(host, images, component):
    if images["source"] != "bootstrap" and component in ("redis", "prometheus"):
        pytest.skip("pulled upstream images keep their own tags")
    context = f"{BUILD_DIR}/{component}"
    digest = host.check_output(
        f"cd {context} && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum").split()[0]
    assert images["images"][component] == f"gpe-{component}:{digest[:12]}"
    assert _inspect(host, images["images"][component])["Id"]


@pytest.mark.parametrize("component", COMPONENTS)
def test_image_runs_as_its_own_user(host, images, component):
    assert _inspect(host, images["images"][component])["Config"]["User"] == USERS[component]


@pytest.mark.parametrize("component", ["app", "sidecar"])
def test_image_holds_the_packages_under_test(host, images, component, record):
    """GPE_EXPORTER_PACKAGE and GPE_GUNICORN_PACKAGE are what the image installed: by name,
    version, and source (the wheel of a local package, file by file)."""
    packages = images["packages"][component]
    image = images["images"][component]

    def in_image(command):
        return host.check_output(f"docker run --rm --network none --entrypoint sh {image} -c {shlex.quote(command)}")

    assert_image_packages(in_image, packages, record)


def test_base_image_has_python(host, images):
    if images["source"] != "bootstrap":
        pytest.skip("no base image when upstream images are pulled")
    out = host.check_output(f"docker run --rm --network none {images['base']} python3 -c 'import venv; print(1)'")
    assert out == "1"


@pytest.fixture
def container(host):
    """Run a detached container; stopped and removed afterwards, even on failure."""
    names = []

    def run(image, *args, network="none"):
        name = f"gpe-check-{len(names)}-{int(time.time() * 1000)}"
        names.append(name)
        host.check_output(f"docker run -d --name {name} --network {network} {image} {' '.join(args)}")
        return name

    yield run
    for name in names:
        removed = host.run(f"docker rm -f {name}")
        # A container whose `docker run` failed was never created: nothing to remove.
        assert removed.rc == 0 or "No such container" in removed.stderr, removed.stderr


def _health(host, name):
    return host.check_output(f"docker inspect --format '{{{{.State.Health.Status}}}}' {name}")


def test_redis_container_becomes_healthy_and_answers(host, images, container):
    name = container(images["images"]["redis"])
    wait_until(lambda: _health(host, name), f"{name} to be healthy", timeout=30, interval=0.2,
               until=lambda status: status == "healthy")
    assert host.check_output(f"docker exec {name} redis-cli ping") == "PONG"


def test_prometheus_image_checks_a_config(host, images):
    out = host.check_output(
        f"docker run --rm --network none --entrypoint /usr/bin/promtool {images['images']['prometheus']} "
        "check config /etc/prometheus/prometheus.yml")
    assert "SUCCESS" in out


def _healthy(host, name):
    wait_until(lambda: _health(host, name), f"{name} to be healthy", timeout=60, interval=0.2,
               until=lambda status: status == "healthy")


def test_app_container_becomes_healthy_and_exports(host, images, container):
    name = container(images["images"]["app"])
    _healthy(host, name)
    # The healthcheck's requests are served by the workers, so /metrics has counted some.
    app = images["facts"]["app"]
    text = host.check_output(
        f"docker exec {name} {app['venv']}/bin/python -c "
        f"\"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{app['metrics_port']}/metrics', "
        "timeout=5).read().decode())\"")
    assert "# TYPE gunicorn_worker_requests_total counter" in text


def _health_command(host, name):
    """The container's own healthcheck, as its image declares it."""
    return containers.healthcheck(containers.inspect(host, name))


def _sidecar(host, images, *args):
    return host.run(f"docker run --rm --network none {images['images']['sidecar']} {' '.join(args)}")


def test_sidecar_help_names_every_mode(host, images):
    result = _sidecar(host, images, "help")
    assert result.rc == 0
    assert all(mode in result.stdout for mode in ("sidecar", "standalone", "health", "help"))


def test_sidecar_rejects_an_unknown_mode(host, images):
    result = _sidecar(host, images, "serve")
    assert result.rc == 2
    assert "unknown mode 'serve'" in result.stderr


def test_sidecar_health_fails_without_an_exporter(host, images):
    result = _sidecar(host, images, "health")
    assert result.rc == 1
    assert "does not answer" in result.stderr


def test_standalone_sidecar_is_healthy(host, images, container):
    name = container(images["images"]["sidecar"], "standalone")
    _healthy(host, name)
    assert host.run(f"docker exec {name} {_health_command(host, name)}").rc == 0


def test_sidecar_without_its_source_is_unhealthy(host, images, container):
    # Sidecar mode with a Redis that is not there: it serves, but says the source is down.
    name = container(images["images"]["sidecar"], "sidecar")
    result = wait_until(
        lambda: host.run(f"docker exec {name} {_health_command(host, name)}"),
        f"{name} to answer its health check", timeout=30, interval=0.2,
        until=lambda r: "does not answer" not in r.stderr)
    assert result.rc == 1
    assert 'gpe_sidecar_source_up{mode="sidecar",source="redis"} 0.0' in result.stderr
