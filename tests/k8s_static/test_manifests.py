# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The static tier of the Kubernetes target (`make k8s-static`): every manifest the k8s_stack
role renders, for both patterns and both storage backends, checked without a cluster.
test_broken_on_purpose.py shows each check red on a manifest broken on purpose."""

import yaml

from conftest import KUBERNETES_VERSION, ROOT, SCRAPE_JOBS, expected_flows, syntax_problems
from gpe_checks import manifests


def test_every_manifest_is_valid_against_the_kubernetes_schemas(case):
    assert manifests.schema_problems(case["docs"], KUBERNETES_VERSION) == []
    kinds = {doc["kind"] for doc in case["docs"]}
    workload = "DaemonSet" if case["pattern"] == "daemonset" else "Deployment"
    assert {workload, "NetworkPolicy", "Namespace", "Service", "ConfigMap"} <= kinds
    assert ("Secret" in kinds) == (case["storage"] == "redis")
    assert ({"ClusterRole", "ClusterRoleBinding", "ServiceAccount"} <= kinds) == (case["discovery"] == "kubernetes")


def test_selectors_and_service_ports_match_the_pods(case):
    assert manifests.selector_problems(case["docs"]) == []


def test_every_container_is_probed_limited_non_root_and_read_only(case):
    assert manifests.container_problems(case["docs"]) == []


def test_pods_keep_their_metrics_apart(case):
    assert manifests.storage_problems(case["docs"], case["storage"]) == []


def test_network_policies_let_in_exactly_the_named_flows(case):
    assert manifests.allowed_flows(case["docs"]) == expected_flows(case["storage"])


def test_the_configmap_carries_the_prometheus_configuration(case):
    assert manifests.prometheus_config(case["docs"]) == case["prometheus"]


def test_promtool_accepts_the_prometheus_configuration(case, promtool, tmp_path):
    assert manifests.promtool_problems(case["prometheus"], tmp_path, promtool) == []


def test_prometheus_finds_exactly_the_app_pods_metrics_ports(case):
    assert manifests.discovery_problems(case["prometheus"], case["docs"], case["namespace"],
                                        f"gpe-{case['pattern']}", SCRAPE_JOBS) == []


def test_every_playbook_passes_the_syntax_check():
    playbooks = sorted((ROOT / "playbooks").glob("*.yml")) + sorted((ROOT / "tools").glob("*.yml"))
    assert {"daemonset.yml", "k8s_sidecar.yml", "kind.yml"} <= {p.name for p in playbooks}
    assert syntax_problems(playbooks) == []
