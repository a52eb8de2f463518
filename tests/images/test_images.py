"""The stack's images on the Docker host: tagged by content, non-root, and they run.

Reads <build dir>/images.json, which the images role writes. Containers started here get
a name of their own and are removed at the end of each check.
"""

import hashlib
import json
import time

import pytest

from gpe_checks.waiting import wait_until

BUILD_DIR = "/var/cache/gpe-stack/images"
USERS = {"redis": "redis", "prometheus": "prometheus"}


@pytest.fixture(scope="module")
def images(host):
    manifest = host.file(f"{BUILD_DIR}/images.json")
    assert manifest.exists, f"no {BUILD_DIR}/images.json: did the images role run?"
    return json.loads(manifest.content_string)


def _inspect(host, ref):
    return json.loads(host.check_output(f"docker image inspect {ref}"))[0]


@pytest.mark.parametrize("component", ["redis", "prometheus"])
def test_image_tag_is_the_hash_of_its_dockerfile(host, images, component):
    if images["source"] != "bootstrap":
        pytest.skip("pulled upstream images keep their own tags")
    dockerfile = host.file(f"{BUILD_DIR}/{component}/Dockerfile").content
    expected = hashlib.sha256(dockerfile).hexdigest()[:12]
    assert images["images"][component].endswith(f":{expected}")
    assert _inspect(host, images["images"][component])["Id"]


@pytest.mark.parametrize("component", ["redis", "prometheus"])
def test_image_runs_as_its_own_user(host, images, component):
    assert _inspect(host, images["images"][component])["Config"]["User"] == USERS[component]


def test_base_image_has_python(host, images):
    if images["source"] != "bootstrap":
        pytest.skip("no base image when upstream images are pulled")
    out = host.check_output(f"docker run --rm --network none {images['base']} python3 -c 'import venv; print(1)'")
    assert out == "1"


@pytest.fixture
def container(host):
    """Run a detached container; stopped and removed afterwards, even on failure."""
    names = []

    def run(image, *args):
        name = f"gpe-check-{len(names)}-{int(time.time() * 1000)}"
        names.append(name)
        host.check_output(f"docker run -d --name {name} --network none {image} {' '.join(args)}")
        return name

    yield run
    for name in names:
        host.run(f"docker rm -f {name}")


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
