# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""What k8s_stack registers for the checks, from pods as the API server describes them: valid
manifests of the contract (kind pods), grouped into one checked stack per app pod, each
reached through port-forwards the checks open (a stand-in kubectl prints what kubectl does)."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import BIN, ENV, ROOT, load_case
from gpe_checks import model
from gpe_checks.facts import Place
from gpe_checks.forwards import Forwards

NODES = ["gpe-worker", "gpe-worker2"]


def pods_of(docs):
    """Running pods as k8s_info returns them: a DaemonSet's on every node, one of each Deployment."""
    pods, address = [], 10
    for doc in docs:
        if doc["kind"] not in ("Deployment", "DaemonSet"):
            continue
        nodes = NODES if doc["kind"] == "DaemonSet" else NODES[:1]
        for index, node in enumerate(nodes):
            address += 1
            template = doc["spec"]["template"]
            pods.append({"metadata": {"name": f"{doc['metadata']['name']}-{index}x7k2p", "labels": template["metadata"]["labels"]},
                         "spec": {**template["spec"], "nodeName": node},
                         "status": {"phase": "Running", "podIP": f"10.244.0.{address}"}})
    return pods


@pytest.fixture(scope="module")
def registrations(rendered, tmp_path_factory):
    work = tmp_path_factory.mktemp("registrations")
    docs = load_case(rendered, "daemonset-redis-kubernetes")["docs"]
    (work / "pods.json").write_text(json.dumps({"__k8s_stack_pods": {"resources": pods_of(docs)}}))
    (work / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), str(ROOT / "tests/k8s_static/fixtures/registrations.yml"),
         "-e", f"@{work / 'pods.json'}", "-e", f"registrations_out={work / 'out.json'}",
         "-e", f"registrations_kubeconfig={work / 'kubeconfig'}"],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    written = json.loads((work / "out.json").read_text())
    # What the one writer adds to each (roles/service/tasks/register.yml).
    return [{"schema_version": 1, "stack": "gpe-daemonset", **item} for item in written]


def test_every_registration_is_a_valid_manifest_of_a_pod(registrations):
    components = [model.read_component(doc, f"{doc['component']}@{doc['node']}") for doc in registrations]
    assert sorted((c.name, c.node) for c in components) == [
        ("app", "app-0x7k2p"), ("app", "app-1x7k2p"), ("prometheus", "prometheus-0x7k2p"), ("redis", "redis-0x7k2p"),
        ("sidecar", "app-0x7k2p"), ("sidecar", "app-1x7k2p")]
    app = next(c for c in components if c.name == "app" and c.node == "app-1x7k2p")
    assert app.pod.node == "gpe-worker2" and app.pod.container == "app" and app.kind == "pods"
    # Each pod writes under its own prefix, its name put in.
    assert app.redis.key_prefix == "gpe-app-1x7k2p"
    assert (app.exporter_package, app.gunicorn_package) == ("gunicorn-prometheus-exporter==0.2.4", "gunicorn==23.0.0")
    assert app.endpoints["metrics"].forward_url == "http://127.0.0.1:{port}/metrics"
    prometheus = next(c for c in components if c.name == "prometheus")
    assert prometheus.jobs == {"gunicorn": ["10.244.0.12:9093", "10.244.0.13:9093"],
                               "gunicorn-sidecar": ["10.244.0.12:9200", "10.244.0.13:9200"]}


def test_each_app_pod_is_a_stack_with_its_own_sidecar(registrations):
    stacks = model.group_stacks(model.read_component(doc, doc["node"]) for doc in registrations)
    assert sorted(stacks) == ["gpe-daemonset@app-0x7k2p", "gpe-daemonset@app-1x7k2p"]
    for name, parts in stacks.items():
        pod = name.split("@")[1]
        assert sorted(parts) == ["app", "prometheus", "redis", "sidecar"]
        assert parts["app"].node == parts["sidecar"].node == pod


def test_commands_run_in_the_pod_through_kubectl_exec(registrations):
    app = model.read_component(next(doc for doc in registrations if doc["component"] == "app"), "app")
    command = Place(host=None, pod=app.pod).command("cat /proc/1/stat")
    assert command.startswith("kubectl --kubeconfig /") and "--namespace gpe-daemonset exec -i app-0x7k2p" in command
    assert command.endswith("--container app -- sh -c 'cat /proc/1/stat'")


FAKE_KUBECTL = """#!{python}
import sys, time
port = sys.argv[sys.argv.index("port-forward") + 2].lstrip(":")
if port == "6379":
    print("error: unable to forward port because pod is not running", flush=True)
    sys.exit(1)
print(f"Forwarding from 127.0.0.1:4{{port}} -> {{port}}", flush=True)
time.sleep(60)  # forwards like kubectl until the checks stop it; gone within a minute whatever happens
"""


def test_the_checks_reach_a_pod_through_their_own_port_forwards(registrations, tmp_path):
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(FAKE_KUBECTL.format(python=sys.executable))
    kubectl.chmod(0o755)
    forwards = Forwards(kubectl=str(kubectl))
    app = model.read_component(next(doc for doc in registrations if doc["component"] == "app"), "app")
    reached = forwards.reach(app)
    assert (reached.endpoints["http"].url, reached.metrics_url) == ("http://127.0.0.1:48088", "http://127.0.0.1:49093/metrics")
    running = [p for p in forwards.processes if p.poll() is None]
    assert len(running) == 2
    redis = model.read_component(next(doc for doc in registrations if doc["component"] == "redis"), "redis")
    with pytest.raises(RuntimeError, match="no port-forward to pod gpe-daemonset/redis-0x7k2p port 6379.*not running"):
        forwards.reach(redis)
    forwards.close()
    assert all(p.poll() is not None for p in running) and forwards.processes == []


class _Item:
    """What _skip_in_pods reads of a collected check."""

    def __init__(self, module, name, kind):
        self.module = SimpleNamespace(__name__=f"gpe_checks.checks.{module}")
        self.originalname = name
        self.callspec = SimpleNamespace(params={"stack": SimpleNamespace(kind=kind)})
        self.markers = []

    def add_marker(self, marker):
        self.markers.append(marker)


def test_what_cannot_apply_in_pods_is_skipped_saying_why():
    from gpe_checks import plugin

    items = [_Item("test_95_shutdown", "test_in_flight_request_completes", "pods"),
             _Item("test_88_fleet", "test_workers_of_one_pid_on_two_nodes_sum_up_under_one_shared_prefix", "pods"),
             _Item("test_88_fleet", "test_each_node_counts_exactly_the_requests_it_served", "pods"),
             _Item("test_95_shutdown", "test_in_flight_request_completes", "containers")]
    plugin._skip_in_pods(items)
    reasons = [[m.kwargs["reason"] for m in item.markers] for item in items]
    assert reasons == [["the kubelet restarts an exited container at once: nothing can be seen stopped"],
                       ["twins need root on the node: a pod's processes are on the cluster's nodes"], [], []]
