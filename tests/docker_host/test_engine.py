# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The Docker host the docker_host role provisioned: an engine that answers and can run
a container (from an image imported here, since no registry is reachable)."""

import json
import os

import pytest

SOCKET = "/var/run/docker.sock"
# A tag of this run only: nothing else can be named so, and it is removed afterwards.
SCRATCH_IMAGE = f"gpe-check-scratch:run-{os.getpid()}"


def test_engine_answers_on_its_socket(host):
    assert host.socket(f"unix://{SOCKET}").is_listening
    version = json.loads(host.check_output("docker version --format '{{json .}}'"))
    # The client on PATH may be newer than the engine: it negotiates the engine's API.
    assert version["Server"]["Version"] and version["Server"]["ApiVersion"], version


def test_engine_uses_overlay2(host):
    assert host.check_output("docker info --format '{{.Driver}}'") == "overlay2"


@pytest.fixture
def scratch_image(host):
    """An image of the host's /bin/true and the libraries it links, imported on the spot."""
    host.check_output(
        "set -e; d=$(mktemp -d); cp /bin/true $d/true; "
        "for lib in $(ldd /bin/true | grep -o '/[^ ]*'); do mkdir -p $d$(dirname $lib); cp $lib $d$lib; done; "
        f"tar -C $d -c . | docker import --change 'CMD [\"/true\"]' - {SCRATCH_IMAGE} >/dev/null; rm -rf $d"
    )
    yield SCRATCH_IMAGE
    host.check_output(f"docker image rm {SCRATCH_IMAGE}")


def test_engine_runs_a_container(host, scratch_image):
    result = host.run(f"docker run --rm --network none {scratch_image}")
    assert result.rc == 0, result.stderr
