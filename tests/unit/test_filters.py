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
