# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Every check of the static tier goes red on a manifest broken on purpose: each test breaks
one thing in a copy of the rendered manifests and expects the check to name it."""

import copy

import pytest

from conftest import KUBERNETES_VERSION, SCRAPE_JOBS, expected_flows, load_case, syntax_problems
from gpe_checks import manifests


@pytest.fixture
def sidecar_redis(rendered):
    return load_case(rendered, "sidecar-redis-kubernetes")


def find(docs, kind, name):
    return next(doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name)


def app_pod(docs):
    return find(docs, "Deployment", "app")["spec"]["template"]["spec"]


def broken(sidecar_redis, change):
    docs = copy.deepcopy(sidecar_redis["docs"])
    change(docs)
    return docs


def test_schema_names_an_unknown_field_and_a_wrong_type(sidecar_redis):
    def change(docs):
        app_pod(docs)["containers"][0]["imagePullPolicyy"] = "IfNotPresent"
        find(docs, "Deployment", "redis")["spec"]["replicas"] = "one"
    problems = manifests.schema_problems(broken(sidecar_redis, change), KUBERNETES_VERSION)
    assert len(problems) == 2
    assert ("Deployment/app: Additional properties are not allowed ('imagePullPolicyy' was unexpected) at "
            "['spec', 'template', 'spec', 'containers', 0]") in problems
    assert "Deployment/redis: 'one' is not of type 'integer', 'null' at ['spec', 'replicas']" in problems


@pytest.mark.parametrize("change, problem", [
    (lambda docs: find(docs, "Deployment", "app")["spec"]["selector"]["matchLabels"].update(
        {"app.kubernetes.io/component": "web"}), "selector"),
    (lambda docs: find(docs, "Service", "redis")["spec"]["ports"][0].update(targetPort="db"),
     "target port 'db' is no port"),
    (lambda docs: find(docs, "Service", "prometheus")["spec"]["selector"].update(
        {"app.kubernetes.io/component": "grafana"}), "selects no pod"),
])
def test_selectors_and_ports_that_do_not_match(sidecar_redis, change, problem):
    problems = manifests.selector_problems(broken(sidecar_redis, change))
    assert len(problems) == 1 and problem in problems[0]


def _set(container, **security):
    container["securityContext"].update(security)


@pytest.mark.parametrize("change, problem", [
    (lambda c: c.update(image="gpe-app:latest"), "has no tag or :latest"),
    (lambda c: c.update(image="gpe-app"), "has no tag or :latest"),
    (lambda c: c.update(imagePullPolicy="Always"), "not IfNotPresent"),
    (lambda c: c.pop("readinessProbe"), "no readinessProbe"),
    (lambda c: c.pop("livenessProbe"), "no livenessProbe"),
    (lambda c: c["resources"].pop("limits"), "limits lack"),
    (lambda c: _set(c, runAsUser=0), "may run as root"),
    (lambda c: _set(c, runAsNonRoot=False), "may run as root"),
    (lambda c: _set(c, allowPrivilegeEscalation=True), "privilege escalation"),
    (lambda c: _set(c, capabilities={"add": ["NET_ADMIN"]}), "capabilities"),
    (lambda c: _set(c, readOnlyRootFilesystem=False), "not read-only"),
    (lambda c: next(e for e in c["env"] if e["name"] == "REDIS_PASSWORD").update(value="x", valueFrom={}),
     "REDIS_PASSWORD is not taken from a Secret"),
])
def test_container_rules(sidecar_redis, change, problem):
    problems = manifests.container_problems(broken(sidecar_redis, lambda docs: change(app_pod(docs)["containers"][0])))
    assert len(problems) == 1 and problem in problems[0], problems


def test_service_links_in_the_environment(sidecar_redis):
    problems = manifests.container_problems(broken(sidecar_redis, lambda docs: app_pod(docs).pop("enableServiceLinks")))
    assert problems == ["Deployment/app: service links are on (enableServiceLinks)"]


def test_a_key_prefix_shared_by_every_pod(sidecar_redis):
    def change(docs):
        next(e for e in app_pod(docs)["containers"][1]["env"] if e["name"] == "REDIS_KEY_PREFIX")["value"] = "gpe"
    problems = manifests.storage_problems(broken(sidecar_redis, change), "redis")
    assert len(problems) == 1 and "container sidecar: key prefix 'gpe' is not the pod's own" in problems[0]


def test_a_multiprocess_directory_on_the_read_only_root(sidecar_redis):
    def change(docs):
        app = app_pod(docs)["containers"][0]
        app["volumeMounts"] = [m for m in app["volumeMounts"] if m["mountPath"] != "/opt/app/multiproc"]
    problems = manifests.storage_problems(broken(sidecar_redis, change), "redis")
    assert problems == ["Deployment/app container app: multiprocess directory /opt/app/multiproc is not on an emptyDir"]


def test_a_multiprocess_directory_the_sidecar_does_not_share(rendered):
    file_storage = load_case(rendered, "sidecar-file-kubernetes")

    def change(docs):
        pod = app_pod(docs)
        pod["volumes"].append({"name": "elsewhere", "emptyDir": {}})
        pod["containers"][1]["volumeMounts"][0]["name"] = "elsewhere"
    problems = manifests.storage_problems(broken(file_storage, change), "file")
    assert len(problems) == 1 and "do not share one multiprocess directory" in problems[0]


@pytest.mark.parametrize("change, extra", [
    # Anyone reaches the exporter's port.
    (lambda docs: find(docs, "NetworkPolicy", "allow-prometheus-to-app-metrics")["spec"]["ingress"][0].pop("from"),
     {("any", "app", "metrics")}),
    # Redis takes every pod of the namespace.
    (lambda docs: find(docs, "NetworkPolicy", "allow-app-to-redis-redis")["spec"]["ingress"][0]["from"][0].update(
        podSelector={}), {("prometheus", "redis", "redis"), ("redis", "redis", "redis")}),
    # Without the default deny and Redis's own policy, Redis takes anyone.
    (lambda docs: [docs.remove(find(docs, "NetworkPolicy", name)) for name in ("deny-ingress", "allow-app-to-redis-redis")],
     {("any", "redis", "redis")}),
])
def test_network_policies_that_let_in_more(sidecar_redis, change, extra):
    assert manifests.allowed_flows(broken(sidecar_redis, change)) - expected_flows("redis") == extra


def test_a_configmap_that_is_not_the_configuration(sidecar_redis):
    docs = broken(sidecar_redis, lambda docs: find(docs, "ConfigMap", "prometheus-config")["data"].update(
        {"prometheus.yml": "global: {scrape_interval: 1m}\n"}))
    assert manifests.prometheus_config(docs) != sidecar_redis["prometheus"]


@pytest.mark.parametrize("change, problem", [
    (lambda config: config["scrape_configs"][0]["relabel_configs"][0].update(regex="gpe-sidecar;app;(metrics"),
     "error parsing regexp"),
    (lambda config: config["global"].update(scrape_interval="fast"), "not a valid duration"),
    (lambda config: config["scrape_configs"][0]["kubernetes_sd_configs"][0].update(role="node"),
     "is not one pod discovery"),
])
def test_promtool_refuses(sidecar_redis, promtool, tmp_path, change, problem):
    config = copy.deepcopy(sidecar_redis["prometheus"])
    change(config)
    problems = manifests.promtool_problems(config, tmp_path, promtool)
    assert len(problems) == 1 and problem in problems[0], problems


def _rules(config, job="gunicorn"):
    return next(j for j in config["scrape_configs"] if j["job_name"] == job)["relabel_configs"]


@pytest.mark.parametrize("change, problem", [
    # Not filtered by stack: another stack's app pod is scraped too.
    (lambda config: _rules(config)[0].update(
        source_labels=_rules(config)[0]["source_labels"][1:], regex="app;metrics"), "keeps ['10.0.0.1:9093', '10.0.0.1:9093']"),
    # Not filtered by port: the app's HTTP port is scraped too.
    (lambda config: _rules(config)[0].update(regex="gpe-sidecar;app;.*"), "keeps ['10.0.0.1:8088', '10.0.0.1:9093', '10.0.0.1:9200']"),
    # The node label is lost.
    (lambda config: _rules(config).pop(1), "labels"),
    # A prefix that is not the pod's.
    (lambda config: _rules(config)[3].update(replacement="gunicorn-${1}"), "'redis_key_prefix': 'gunicorn-app-pod'"),
])
def test_discovery_that_keeps_or_labels_the_wrong_targets(sidecar_redis, change, problem):
    config = copy.deepcopy(sidecar_redis["prometheus"])
    change(config)
    problems = manifests.discovery_problems(config, sidecar_redis["docs"], sidecar_redis["namespace"], "gpe-sidecar", SCRAPE_JOBS)
    assert len(problems) == 1 and problem in problems[0], problems


def test_dns_discovery_on_the_wrong_port(rendered):
    dns = load_case(rendered, "sidecar-redis-dns")
    config = copy.deepcopy(dns["prometheus"])
    config["scrape_configs"][1]["dns_sd_configs"][0]["port"] = 9093
    problems = manifests.discovery_problems(config, dns["docs"], dns["namespace"], "gpe-sidecar", SCRAPE_JOBS)
    assert problems == ["job gunicorn-sidecar asks ['app-metrics.gpe-sidecar.svc'] port 9093, not the app's 9200"]


def test_syntax_check_refuses_a_task_with_two_actions(tmp_path):
    playbook = tmp_path / "broken.yml"
    playbook.write_text("- hosts: all\n  tasks:\n    - ansible.builtin.debug: {msg: x}\n"
                        "      ansible.builtin.command: ls\n")
    problems = syntax_problems([playbook])
    assert len(problems) == 1 and "conflicting action statements" in problems[0]
