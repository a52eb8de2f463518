# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The manifests of the static tier, rendered once by tools/k8s_manifests.yml."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gpe_checks import manifests

ROOT = Path(__file__).resolve().parents[2]
# The Kubernetes version the schemas are taken from: the minor release of the Kind node
# image kind_cluster pins (kubernetes-validate ships one schema set per minor release).
KIND_DEFAULTS = ROOT / "collections/ansible_collections/gunicorn_prometheus/stack/roles/kind_cluster/defaults/main.yml"
KUBERNETES_VERSION = "{}.{}.0".format(*re.search(
    r"kindest/node:v(\d+)\.(\d+)\.", yaml.safe_load(KIND_DEFAULTS.read_text())["kind_cluster_node_image"]).groups())
CASES = ["sidecar-redis-kubernetes", "sidecar-file-kubernetes", "daemonset-redis-kubernetes",
         "daemonset-file-kubernetes", "sidecar-redis-dns", "daemonset-redis-dns"]
SCRAPE_JOBS = {"gunicorn": "metrics", "gunicorn-sidecar": "sidecar-metrics"}
BIN = Path(sys.executable).parent
ENV = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"))


def expected_flows(storage):
    """The connections the stack needs, and no other: clients to the app and Prometheus,
    Prometheus to both metrics ports, the app to Redis (with Redis storage)."""
    flows = {("any", "app", "http"), ("prometheus", "app", "metrics"), ("prometheus", "app", "sidecar-metrics"),
             ("any", "prometheus", "http")}
    return flows | ({("app", "redis", "redis")} if storage == "redis" else set())


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("k8s")
    result = subprocess.run([str(BIN / "ansible-playbook"), str(ROOT / "tools/k8s_manifests.yml"),
                             "-e", f"k8s_manifests_dir={out}"],
                            cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == sorted(CASES)
    return out


def load_case(rendered, name):
    pattern, storage, discovery = name.split("-")
    directory = rendered / name
    return {"pattern": pattern, "storage": storage, "discovery": discovery, "dir": directory,
            "docs": manifests.load(directory), "namespace": f"gpe-{pattern}",
            "prometheus": yaml.safe_load((directory / "prometheus.yml").read_text())}


@pytest.fixture(params=CASES)
def case(request, rendered):
    return load_case(rendered, request.param)


@pytest.fixture(scope="session")
def promtool():
    path = shutil.which("promtool")
    assert path, "promtool is missing: apt-get install prometheus (make k8s-static installs it)"
    return path


def syntax_problems(playbooks):
    """What `ansible-playbook --syntax-check` says of the playbooks ([] when it accepts them)."""
    result = subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", *map(str, playbooks)],
                            cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300, check=False)
    return [] if result.returncode == 0 else [result.stdout[-3000:] + result.stderr[-2000:]]
