# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The Kubernetes playbooks stop in their first seconds, naming what is missing and how to
provide it, where no cluster can be had (these machines: no kind, no API server)."""

import shutil
import subprocess
import time

import pytest

from conftest import BIN, ENV, ROOT

LIMIT_SECONDS = 30
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: ctx, context: {cluster: c, user: u}}]
current-context: ctx
users: [{name: u, user: {token: not-a-token}}]
"""


def run(playbook, *extra):
    began = time.monotonic()
    result = subprocess.run([str(BIN / "ansible-playbook"), f"playbooks/{playbook}", *extra], cwd=ROOT, env=ENV,
                            capture_output=True, text=True, timeout=LIMIT_SECONDS * 2, check=False)
    return result, time.monotonic() - began


def test_daemonset_without_kind_stops_at_once():
    if shutil.which("kind"):
        pytest.skip("kind is on PATH: the playbook would create a cluster, which the static tier must not")
    result, seconds = run("daemonset.yml")
    assert result.returncode != 0
    assert "No kind binary: none on PATH, and https://kind.sigs.k8s.io/dl/v0.32.0/kind-linux-" in result.stdout
    assert "Put kind on PATH" in result.stdout and "k8s_cluster=kubeconfig" in result.stdout
    assert "Build the images" not in result.stdout, "it went on past the prerequisites"
    assert seconds < LIMIT_SECONDS


@pytest.mark.parametrize("playbook", ["daemonset.yml", "k8s_sidecar.yml"])
def test_an_existing_cluster_without_a_kubeconfig(playbook, tmp_path):
    result, seconds = run(playbook, "-e", "k8s_cluster=kubeconfig", "-e", f"k8s_stack_kubeconfig={tmp_path}/none")
    assert result.returncode != 0 and f"No kubeconfig at {tmp_path}/none." in result.stdout
    assert seconds < LIMIT_SECONDS


def test_an_existing_cluster_whose_api_server_does_not_answer(tmp_path):
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    result, seconds = run("daemonset.yml", "-e", "k8s_cluster=kubeconfig", "-e", f"k8s_stack_kubeconfig={tmp_path}/kubeconfig")
    assert result.returncode != 0
    assert f"no API server answers through {tmp_path}/kubeconfig (context current)" in " ".join(result.stdout.split())
    assert "Connection refused" in result.stdout
    assert seconds < LIMIT_SECONDS


def test_an_unknown_kind_of_cluster():
    result, seconds = run("k8s_sidecar.yml", "-e", "k8s_cluster=minikube")
    assert result.returncode != 0 and "k8s_cluster must be kind (a Kind cluster here) or kubeconfig" in result.stdout
    assert seconds < LIMIT_SECONDS
