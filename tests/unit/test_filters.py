# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The collection's filters of the stack contract (plugins/filter/stack.py)."""

import importlib.util
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

PLUGIN = (Path(__file__).resolve().parents[2]
          / "collections/ansible_collections/gunicorn_prometheus/stack/plugins/filter/stack.py")
SPEC = importlib.util.spec_from_file_location("stack_filters", PLUGIN)
stack_filters = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(stack_filters)


@pytest.mark.parametrize("listen, node, expected", [
    ("127.0.0.1", "10.0.0.5", "127.0.0.1"),  # a specific address is reached at itself
    ("0.0.0.0", "10.0.0.5", "10.0.0.5"),  # a wildcard at the node's address
    ("::", "web1.example.org", "web1.example.org"),
    ("*", "localhost", "127.0.0.1"),  # the controller is the node: IPv4 loopback
    ("0.0.0.0", "fd00::5", "[fd00::5]"),
    ("::1", "10.0.0.5", "[::1]"),
])
def test_reach_host(listen, node, expected):
    assert stack_filters.reach_host(listen, node) == expected


def test_reach_host_needs_the_node_for_a_wildcard():
    with pytest.raises(AnsibleFilterError, match="needs the node's address"):
        stack_filters.reach_host("0.0.0.0", "")


def _app(url, node="web1"):
    return {"node": node, "endpoints": {"metrics": {"url": url}}}


def test_scrape_targets_are_the_registered_metrics_endpoints_then_the_extra_ones():
    apps = [_app("http://10.0.0.5:9093/metrics"), _app("http://[fd00::6]:9093/metrics", "web2"),
            _app("http://10.0.0.5:9093/metrics", "web1-again")]
    assert stack_filters.scrape_targets(apps, ["10.0.0.9:9100"]) == [
        "10.0.0.5:9093", "[fd00::6]:9093", "10.0.0.9:9100"]
    assert stack_filters.scrape_targets([]) == []


@pytest.mark.parametrize("manifest", [{"node": "x"}, _app("not a url")])
def test_scrape_targets_refuse_what_is_no_app_manifest(manifest):
    with pytest.raises(AnsibleFilterError):
        stack_filters.scrape_targets([manifest])


@pytest.mark.parametrize("spec, expected", [
    ("gunicorn-prometheus-exporter==0.2.4", {"kind": "index"}),
    ("gunicorn>=22,<24", {"kind": "index"}),
    ("/dist/gunicorn_prometheus_exporter-0.2.5-py3-none-any.whl",
     {"kind": "file", "path": "/dist/gunicorn_prometheus_exporter-0.2.5-py3-none-any.whl",
      "name": "gunicorn_prometheus_exporter-0.2.5-py3-none-any.whl"}),
    ("/dist/gunicorn_prometheus_exporter-0.2.5.tar.gz", {"kind": "file", "name": "gunicorn_prometheus_exporter-0.2.5.tar.gz"}),
    ("/src/gunicorn-prometheus-exporter/", {"kind": "dir", "path": "/src/gunicorn-prometheus-exporter",
                                            "name": "gunicorn-prometheus-exporter"}),
    ("file:///src/exporter%20copy", {"kind": "dir", "path": "/src/exporter copy"}),
    ("gunicorn-prometheus-exporter @ file:///dist/x-1.0-py3-none-any.whl",
     {"kind": "file", "path": "/dist/x-1.0-py3-none-any.whl"}),
    ("git+https://example.org/org/gunicorn-prometheus-exporter.git@v0.2.5",
     {"kind": "vcs", "url": "https://example.org/org/gunicorn-prometheus-exporter.git", "revision": "v0.2.5",
      "name": "gunicorn-prometheus-exporter"}),
    ("gunicorn @ https://example.org/gunicorn-23.0.0-py3-none-any.whl",
     {"kind": "url", "url": "https://example.org/gunicorn-23.0.0-py3-none-any.whl", "path": ""}),
    ("git+file:///srv/repos/exporter#egg=gunicorn-prometheus-exporter",
     {"kind": "vcs", "url": "file:///srv/repos/exporter", "revision": "", "name": "gunicorn-prometheus-exporter"}),
])
def test_package_source(spec, expected):
    source = stack_filters.package_source(spec)
    assert source["spec"] == spec
    assert {key: source[key] for key in expected} == expected


def test_package_source_resolves_a_relative_path_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert stack_filters.package_source("./dist/x-1.0.tar.gz")["path"] == str(tmp_path / "dist/x-1.0.tar.gz")


@pytest.mark.parametrize("spec", ["", "gunicorn @ ./gunicorn-23.0.0-py3-none-any.whl"])
def test_package_source_refuses(spec):
    with pytest.raises(AnsibleFilterError):
        stack_filters.package_source(spec)


WHEELS = {"/dist/x-1.0.tar.gz": {"path": "/pkgs/wheels/ab/x-1.0-py3-none-any.whl", "file": "x-1.0-py3-none-any.whl",
                                 "sha256": "c" * 64}}


def test_package_install_gives_pip_the_wheel_of_a_local_package():
    assert stack_filters.package_install("/dist/x-1.0.tar.gz", WHEELS) == "/pkgs/wheels/ab/x-1.0-py3-none-any.whl"
    assert stack_filters.package_install("gunicorn==23.0.0", WHEELS) == "gunicorn==23.0.0"


def test_package_origin():
    local = stack_filters.package_source("/dist/x-1.0.tar.gz")
    assert stack_filters.package_origin(local, "x", WHEELS) == {
        "distribution": "x", "spec": "/dist/x-1.0.tar.gz", "url": "file:///pkgs/wheels/ab/x-1.0-py3-none-any.whl",
        "sha256": "c" * 64}
    # Copied into an image: the path there.
    assert stack_filters.package_origin(local, "x", WHEELS, "/opt/p/")["url"] == "file:///opt/p/x-1.0-py3-none-any.whl"
    assert stack_filters.package_origin(stack_filters.package_source("gunicorn==23.0.0"), "gunicorn") == {
        "distribution": "gunicorn", "spec": "gunicorn==23.0.0", "url": "", "sha256": ""}
    with pytest.raises(AnsibleFilterError, match="no wheel was made"):
        stack_filters.package_origin(local, "x", {})
    assert stack_filters.package_origin(local, "x", None)["url"] == ""  # before any wheel was made


DEB822 = """Types: deb
URIs: http://mirror.example.org/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://mirror.example.org/debian-security
Suites: bookworm-security
Components: main
"""


@pytest.mark.parametrize("sources, expected", [
    ([DEB822], "http://mirror.example.org/debian"),
    (["# a comment\ndeb-src http://src.example.org/debian bookworm main\n"
      "deb [arch=amd64 signed-by=/k.gpg] http://one.example.org/debian bookworm main contrib\n"],
     "http://one.example.org/debian"),
    (["deb https://packages.example.com/apt cloud-sdk-bookworm main\n", DEB822], "http://mirror.example.org/debian"),
    (["Types: deb\nURIs: http://off.example.org/debian\nSuites: bookworm\nEnabled: no\n"], ""),
    (["deb http://archive.example.org/ubuntu noble main\n"], ""),
])
def test_apt_mirror(sources, expected):
    assert stack_filters.apt_mirror(sources, "bookworm") == expected


FACTS = {
    "app": {"uid": 10001, "multiproc_dir": "/opt/app/multiproc", "venv": "/opt/app/venv", "health": {"port": "metrics", "path": "/metrics"},
            "writable": ["/tmp"]},
    "sidecar": {"uid": 10002, "health": {"command": ["health"]}, "writable": []},
    "redis": {"uid": 10003, "port": 6379, "health": {"command": ["redis-cli", "ping"]}},
    "prometheus": {"uid": 10004, "port": 9090, "config_file": "/etc/prometheus/prometheus.yml",
                   "writable": ["/var/lib/prometheus/data"]},
}
STACK = {"storage": "redis", "sidecar": True, "grafana": False, "ports": {"app": 8088, "metrics": 9093, "sidecar": 9200},
         "workers": 2, "worker_class": "PrometheusWorker", "threads": 1, "graceful_timeout": 10,
         "redis_host": "redis", "redis_password": "pw", "redis_key_prefix": "gpe", "redis_ttl_seconds": 300,
         "redis_ttl_disabled": False}


PACKAGES = {"app": {"venv": "/opt/app/venv", "under_test": {
    "exporter": {"distribution": "gunicorn-prometheus-exporter", "spec": "gunicorn-prometheus-exporter==0.2.4"},
    "gunicorn": {"distribution": "gunicorn", "spec": "gunicorn==23.0.0"}}}}


def test_stack_containers_with_redis_storage():
    containers = {c["component"]: c for c in stack_filters.stack_containers(STACK, FACTS, PACKAGES)}
    assert list(containers) == ["redis", "app", "sidecar", "prometheus"]
    app, sidecar, redis = containers["app"], containers["sidecar"], containers["redis"]
    assert app["ports"] == {"http": 8088, "metrics": 9093}
    assert app["env"]["REDIS_ENABLED"] == "true" and app["env"]["REDIS_KEY_PREFIX"] == "gpe"
    assert app["env"]["REDIS_TTL_DISABLED"] == "false" and app["env"]["REDIS_TTL_SECONDS"] == "300"
    assert sidecar["env"]["SIDECAR_MODE_SOURCE"] == "redis" and sidecar["env"]["REDIS_PASSWORD"] == "pw"
    assert app["volumes"] == sidecar["volumes"] == []
    # The password reaches Redis through its environment, never its command line.
    assert "pw" not in " ".join(redis["command"]) and redis["env"]["REDIS_PASSWORD"] == "pw"
    assert (app["user"], app["health"], app["writable"]) == (10001, {"port": "metrics", "path": "/metrics"}, ["/tmp"])
    assert containers["prometheus"]["writable"] == ["/var/lib/prometheus/data"]
    # The app's manifest section, as every container target registers it.
    section = app["manifest"]
    assert (section["workers"], section["venv"], section["config_style"]) == (2, "/opt/app/venv", "environment")
    assert section["environment_keys"] == sorted(app["env"])
    assert section["packages"] == {"exporter": "gunicorn-prometheus-exporter==0.2.4", "gunicorn": "gunicorn==23.0.0"}
    assert section["redis"] == {"host": "redis", "port": 6379, "db": 0, "password": "pw", "key_prefix": "gpe",
                                "ttl_seconds": 300, "ttl_disabled": False}


def test_stack_containers_with_file_storage_share_the_multiprocess_directory():
    stack = {**STACK, "storage": "file", "redis_password": "", "grafana": True}
    containers = {c["component"]: c for c in stack_filters.stack_containers(stack, FACTS)}
    assert list(containers) == ["app", "sidecar", "prometheus", "grafana"]
    assert containers["app"]["volumes"] == [{"name": "multiproc", "path": "/opt/app/multiproc", "read_only": False}]
    assert containers["sidecar"]["volumes"] == [{"name": "multiproc", "path": "/opt/app/multiproc", "read_only": True}]
    assert not any(key.startswith("REDIS_") and key != "REDIS_ENABLED" for key in containers["app"]["env"])
    assert containers["sidecar"]["env"]["SIDECAR_MODE_SOURCE"] == "multiproc"


def test_stack_containers_names_what_is_missing():
    with pytest.raises(AnsibleFilterError, match="stack_containers: incomplete.*'workers'"):
        stack_filters.stack_containers({k: v for k, v in STACK.items() if k != "workers"}, FACTS)


def test_registration_file_is_one_per_pod():
    assert stack_filters.registration_file({"component": "redis", "node": "infra", "kind": "host"}) == "redis.json"
    pod = {"component": "app", "kind": "pods", "node": "app-x7k2p"}
    assert stack_filters.registration_file(pod) == "app@app-x7k2p.json"
    with pytest.raises(AnsibleFilterError, match="not a component manifest"):
        stack_filters.registration_file("app")
