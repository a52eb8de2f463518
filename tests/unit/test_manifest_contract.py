# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The stack contract: the manifests the roles write validate against the schema the check
library reads, for a host stack and a container stack; a broken manifest fails loading
with its file and field.

The manifests are rendered by the roles' own variables and the one writer
(service/tasks/register.yml), into a scratch registry instead of /etc/gpe-stack/stacks.d.
"""

import copy
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gpe_checks.facts import Stack
from gpe_checks.model import App, ManifestError, Package, Prometheus, Redis, group_stacks, read_component, stack_of

ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "collections/ansible_collections/gunicorn_prometheus/stack/roles"

# The host roles' registrations passed to the writer the way service/tasks/main.yml does.
HOST_PLAYBOOK = """\
- hosts: localhost
  gather_facts: false
  vars_files:
    - {roles}/service/defaults/main.yml
    - {roles}/service/vars/main.yml
    - {roles}/gunicorn_app/defaults/main.yml
    - {roles}/gunicorn_app/vars/main.yml
    - {roles}/redis/defaults/main.yml
    - {roles}/redis/vars/main.yml
    - {roles}/prometheus/defaults/main.yml
    - {roles}/prometheus/vars/main.yml
  vars:
    __service_manager: supervisor
    __service_supervisorctl: /opt/gpe-stack/supervisor/bin/supervisorctl -c /etc/gpe-stack/supervisord.conf
    __prometheus_apps: []
  tasks:
    - ansible.builtin.include_role:
        name: gunicorn_prometheus.stack.service
        tasks_from: register
      vars:
        service_stack: gpe
        service_name: "{{{{ item.service_name }}}}"
        service_user: "{{{{ item.user }}}}"
        service_registrations:
          - "{{{{ item.registration | combine({{'kind': 'host', 'service': _service_control[__service_manager] | combine({{'paths': ['/x']}})}}) }}}}"
      loop:
        - {{service_name: gpe-app, user: gpe-app, registration: "{{{{ _gunicorn_app_registration }}}}"}}
        - {{service_name: gpe-redis, user: redis, registration: "{{{{ _redis_registration }}}}"}}
        - {{service_name: gpe-prometheus, user: prometheus, registration: "{{{{ _prometheus_registration }}}}"}}
"""

# docker_stack's registration with what present.yml reads from images.json.
CONTAINER_PLAYBOOK = """\
- hosts: localhost
  gather_facts: false
  vars_files:
    - {roles}/docker_stack/defaults/main.yml
    - {roles}/docker_stack/vars/main.yml
    - {roles}/images/defaults/main.yml
    - {roles}/images/vars/main.yml
  vars:
    __docker_stack_images: {{redis: gpe-redis:1, app: gpe-app:1, sidecar: gpe-sidecar:1, prometheus: gpe-prometheus:1}}
    __docker_stack_packages: "{{{{ _images_packages }}}}"
    __docker_stack_image_facts: "{{{{ _images_facts }}}}"
  tasks:
    - ansible.builtin.include_role:
        name: gunicorn_prometheus.stack.docker_stack
        tasks_from: register
"""


def render(tmp_path, playbook, *extra):
    registry = tmp_path / "stacks.d"
    path = tmp_path / "render.yml"
    path.write_text(textwrap.dedent(playbook.format(roles=ROLES)))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
               ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    bindir = Path(sys.executable).parent
    result = subprocess.run(
        [str(bindir / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}", "-e", f"_service_registry_dir={registry}",
         *extra, str(path)],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return {p.relative_to(registry).as_posix(): json.loads(p.read_text()) for p in sorted(registry.rglob("*.json"))}


@pytest.fixture(scope="module")
def host_manifests(tmp_path_factory):
    return render(tmp_path_factory.mktemp("host"), HOST_PLAYBOOK,
                  "-e", "gunicorn_app_storage=redis", "-e", "gunicorn_app_metrics_bind_address=0.0.0.0",
                  "-e", "redis_password=secret", "-e", "gunicorn_app_redis_password=secret")


@pytest.fixture(scope="module")
def container_manifests(tmp_path_factory):
    return render(tmp_path_factory.mktemp("containers"), CONTAINER_PLAYBOOK,
                  "-e", "docker_stack_port_offset=10000", "-e", "docker_stack_grafana_image=grafana:1")


def test_host_roles_register_valid_manifests(host_manifests):
    assert sorted(host_manifests) == ["gpe/app.json", "gpe/prometheus.json", "gpe/redis.json"]
    parts = [read_component(document, name) for name, document in host_manifests.items()]
    stacks = group_stacks(parts)
    app, redis, prometheus = (stacks["gpe"][name] for name in ("app", "redis", "prometheus"))
    assert isinstance(app, App) and isinstance(redis, Redis) and isinstance(prometheus, Prometheus)
    assert app.kind == "host" and app.node == "localhost" and app.control.manager == "supervisor"
    # Listens on the wildcard, reached at the node's address (loopback for localhost).
    assert (app.metrics.address, app.metrics.port, app.metrics_url) == (
        "0.0.0.0", 9093, "http://127.0.0.1:9093/metrics")
    assert app.url == "http://127.0.0.1:8088" and app.storage == "redis"
    assert app.redis.password == "secret" and redis.password == "secret"
    assert redis.endpoint.url == "redis://127.0.0.1:6379"
    assert prometheus.url == "http://127.0.0.1:9090" and prometheus.jobs == {"gunicorn": []}
    # The packages under test, installed from the index: no direct URL, no file.
    assert app.packages.venv == "/opt/gpe-stack/app/venv"
    assert app.packages.under_test["exporter"] == Package(
        "gunicorn-prometheus-exporter", "gunicorn-prometheus-exporter==0.2.4", "", "")
    assert app.packages.under_test["gunicorn"].spec == "gunicorn==23.0.0"


def test_a_local_package_is_recorded_as_the_wheel_made_of_it_on_the_host(tmp_path):
    wheels = {"/dist/x-1.0.tar.gz": {"path": "/opt/gpe-stack/app/packages/wheels/1/x-1.0-py3-none-any.whl",
                                     "file": "x-1.0-py3-none-any.whl", "sha256": "a" * 64}}
    manifests = render(tmp_path, HOST_PLAYBOOK, "-e", "gunicorn_app_exporter_package=/dist/x-1.0.tar.gz",
                       "-e", json.dumps({"__gunicorn_app_local_wheels": wheels}))
    packages = read_component(manifests["gpe/app.json"], "app.json").packages.under_test
    assert packages["exporter"] == Package("gunicorn-prometheus-exporter", "/dist/x-1.0.tar.gz",
                                           "file:///opt/gpe-stack/app/packages/wheels/1/x-1.0-py3-none-any.whl", "a" * 64)


def test_docker_stack_registers_valid_manifests(container_manifests):
    names = ["app", "grafana", "prometheus", "redis", "sidecar"]
    assert sorted(container_manifests) == [f"gpe-sidecar/{name}.json" for name in names]
    stacks = group_stacks(read_component(document, name) for name, document in container_manifests.items())
    stack = stacks["gpe-sidecar"]
    assert {part.kind for part in stack.values()} == {"containers"}
    app = stack["app"]
    assert app.container.name == "gpe-sidecar-app" and app.control.user == "10001"
    assert app.container.published == ("127.0.0.1:28088:28088", "127.0.0.1:29093:29093")
    assert app.metrics_url == "http://127.0.0.1:29093/metrics"
    # Redis is not published: reached on the stack's network only.
    assert stack["redis"].container.published == () and stack["redis"].endpoint.url == ""
    assert stack["redis"].endpoint.network == "gpe-sidecar"
    assert stack["prometheus"].jobs == {"gunicorn": ["gpe-sidecar-app:29093"],
                                        "gunicorn-sidecar": ["gpe-sidecar-sidecar:29200"]}
    # Both images hold the exporter under test; only the app's holds Gunicorn.
    assert app.packages.venv == "/opt/app/venv" and sorted(app.packages.under_test) == ["exporter", "gunicorn"]
    assert stack["sidecar"].packages.venv == "/opt/sidecar/venv"
    assert sorted(stack["sidecar"].packages.under_test) == ["exporter"]


def test_a_local_package_is_recorded_as_the_wheel_in_the_images(tmp_path):
    wheel = {"path": "/x/wheels/1/x-1.0-py3-none-any.whl", "file": "x-1.0-py3-none-any.whl", "sha256": "b" * 64}
    manifests = render(tmp_path, CONTAINER_PLAYBOOK, "-e", "images_exporter_package=/dist/x-1.0.tar.gz",
                       "-e", json.dumps({"__images_local_wheels": {"/dist/x-1.0.tar.gz": wheel}}))
    for name in ("app", "sidecar"):
        packages = read_component(manifests[f"gpe-sidecar/{name}.json"], name).packages.under_test
        assert packages["exporter"] == Package("gunicorn-prometheus-exporter", "/dist/x-1.0.tar.gz",
                                               "file:///opt/gpe-packages/x-1.0-py3-none-any.whl", "b" * 64)


def test_the_writer_is_idempotent(tmp_path):
    first = render(tmp_path, CONTAINER_PLAYBOOK)
    assert render(tmp_path, CONTAINER_PLAYBOOK) == first


def _app_manifest(host_manifests):
    return copy.deepcopy(host_manifests["gpe/app.json"])


def test_a_missing_field_fails_loading_with_file_and_field(host_manifests):
    document = _app_manifest(host_manifests)
    del document["app"]["workers"]
    with pytest.raises(ManifestError) as error:
        read_component(document, "node1:/etc/gpe-stack/stacks.d/gpe/app.json")
    assert "node1:/etc/gpe-stack/stacks.d/gpe/app.json" in str(error.value)
    assert "field app" in str(error.value) and "'workers' is a required property" in str(error.value)


def test_a_wrong_type_fails_loading_with_file_field_and_value(host_manifests):
    document = _app_manifest(host_manifests)
    document["endpoints"]["metrics"]["port"] = "9093"
    with pytest.raises(ManifestError) as error:
        read_component(document, "app.json")
    assert str(error.value).startswith("app.json: field endpoints/metrics/port:")
    assert '"9093"' in str(error.value)


def test_a_password_is_not_shown_in_the_error(host_manifests):
    document = _app_manifest(host_manifests)
    document["app"]["redis"]["password"] = 12345
    with pytest.raises(ManifestError) as error:
        read_component(document, "app.json")
    assert "12345" not in str(error.value) and "field app/redis/password" in str(error.value)


def test_an_unknown_schema_version_is_refused(host_manifests):
    document = _app_manifest(host_manifests)
    document["schema_version"] = 2
    with pytest.raises(ManifestError, match="field schema_version"):
        read_component(document, "app.json")


def _on_node(document, node):
    return {**copy.deepcopy(document), "node": node}


def test_one_component_registered_twice_is_refused(host_manifests):
    one = read_component(_on_node(host_manifests["gpe/redis.json"], "node1"), "node1:redis.json")
    other = read_component(_on_node(host_manifests["gpe/redis.json"], "node2"), "node2:redis.json")
    with pytest.raises(ManifestError, match="component redis registered twice, in node1:redis.json and node2:redis.json"):
        group_stacks([one, other])
    app = read_component(_app_manifest(host_manifests), "node1:app.json")
    again = read_component(_app_manifest(host_manifests), "node1:again.json")
    with pytest.raises(ManifestError, match="app registered twice on node localhost, in node1:app.json and node1:again.json"):
        group_stacks([app, again])


def test_a_fleet_is_one_stack_per_app_node_with_the_shared_components(host_manifests):
    apps = [read_component(_on_node(_app_manifest(host_manifests), node), f"{node}:app.json") for node in ("app2", "app1")]
    shared = [read_component(host_manifests[f"gpe/{name}.json"], f"infra:{name}.json") for name in ("redis", "prometheus")]
    stacks = group_stacks(apps + shared)
    assert sorted(stacks) == ["gpe@app1", "gpe@app2"]
    for node in ("app1", "app2"):
        parts = stacks[f"gpe@{node}"]
        assert sorted(parts) == ["app", "prometheus", "redis"] and parts["app"].node == node
        assert parts["redis"] is shared[0] and parts["prometheus"] is shared[1]
    assert stack_of("gpe@app1") == "gpe" and stack_of("gpe") == "gpe"
    # Each app node's Stack knows the others: the whole fleet, and every app's key prefix.
    first = Stack(name="gpe@app1", kind="host", components=stacks["gpe@app1"], hosts={},
                  peers=(stacks["gpe@app2"]["app"],))
    fleet = first.fleet()
    assert [node.name for node in fleet] == ["gpe@app1", "gpe@app2"] and fleet[0] is first
    assert fleet[1].app is stacks["gpe@app2"]["app"] and fleet[1].peers == (first.app,)
    assert fleet[1].redis is first.redis and first.in_fleet and fleet[1].app_instance == "127.0.0.1:9093"
