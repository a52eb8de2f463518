# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Every endpoint of the stack listens on its configured address, and only there."""

import pytest

pytestmark = pytest.mark.ports

COMPONENT_ENDPOINTS = {"app": ("app", "http"), "metrics": ("app", "metrics"), "redis": ("redis", "redis"),
                       "prometheus": ("prometheus", "http")}


def _endpoint(stack, name):
    """(component, endpoint) of a name of COMPONENT_ENDPOINTS, skipping where the stack has none."""
    component_name, endpoint_name = COMPONENT_ENDPOINTS[name]
    component = stack.component(component_name)
    if component is None:
        pytest.skip(f"stack {stack} has no {component_name}")
    return component, component.endpoints[endpoint_name]


def _listening_on_port(host, port):
    return sorted(
        spec for spec in host.socket.get_listening_sockets()
        if spec.startswith("tcp://") and spec.rsplit(":", 1)[1] == str(port)
    )


@pytest.mark.parametrize("name", sorted(COMPONENT_ENDPOINTS))
def test_listens_only_on_configured_address(stack, name, record):
    component, endpoint = _endpoint(stack, name)
    if component.in_container and not endpoint.url:
        pytest.skip(f"{component.name} is not published: only its container network reaches it (test_85)")
    expected = [f"tcp://{endpoint.address}:{endpoint.port}"]
    if component.name == "prometheus" and endpoint.address == "0.0.0.0" and not component.in_container:
        # Prometheus is a Go server: given 0.0.0.0 it listens with one socket for both
        # address families (ss shows *:port), IPv6 included.
        expected = sorted(expected + [f"tcp://:::{endpoint.port}"])
    seen = _listening_on_port(stack.host_of(component), endpoint.port)
    record(seen, expected)
    assert seen == expected


@pytest.mark.parametrize("name", ["metrics", "app"])
def test_loopback_bound_endpoint_is_unreachable_on_other_address(stack, name, record):
    component, endpoint = _endpoint(stack, name)
    address, port = endpoint.address, endpoint.port
    if not address.startswith("127."):
        pytest.skip(f"{name} binds {address}, not a single loopback address")
    other = "127.0.0.2" if address != "127.0.0.2" else "127.0.0.3"
    host = stack.host_of(component)
    # bash's /dev/tcp connects from the node itself, so this holds for remote nodes too.
    bound = host.run(f"bash -c 'exec 3<>/dev/tcp/{address}/{port}'")
    other_try = host.run(f"bash -c 'exec 3<>/dev/tcp/{other}/{port}'")
    record(f"{address}: rc {bound.rc}, {other}: rc {other_try.rc}", f"{address}: rc 0, {other}: refused")
    assert bound.rc == 0, bound.stderr
    assert other_try.rc != 0 and "refused" in other_try.stderr.lower(), other_try.stderr
