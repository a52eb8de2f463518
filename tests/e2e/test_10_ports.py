"""Every endpoint of the stack listens on its configured address, and only there."""

import pytest


def _endpoints(stack):
    found = {
        "app": (stack.app["app_bind_address"], stack.app["app_port"]),
        "metrics": (stack.app["metrics_bind_address"], stack.app["metrics_port"]),
    }
    if stack.redis and not stack.redis.get("container"):
        found["redis"] = (stack.redis["host"], stack.redis["port"])
    if stack.prometheus:
        address, port = stack.prometheus["url"].split("//", 1)[1].rsplit(":", 1)
        found["prometheus"] = (address.strip("[]"), int(port))
    return found


def _listening_on_port(host, port):
    return sorted(
        spec for spec in host.socket.get_listening_sockets()
        if spec.startswith("tcp://") and spec.rsplit(":", 1)[1] == str(port)
    )


@pytest.mark.parametrize("component", ["app", "metrics", "redis", "prometheus"])
def test_listens_only_on_configured_address(host, stack, component, record):
    endpoints = _endpoints(stack)
    if component == "redis" and stack.redis and stack.redis.get("container"):
        pytest.skip("Redis runs in a container: test_85 checks what it publishes")
    if component not in endpoints:
        pytest.skip(f"this stack has no {component} on {host.backend.get_hostname()}")
    address, port = endpoints[component]
    expected = [f"tcp://{address}:{port}"]
    seen = _listening_on_port(host, port)
    record(seen, expected)
    assert seen == expected


@pytest.mark.parametrize("component", ["metrics", "app"])
def test_loopback_bound_endpoint_is_unreachable_on_other_address(host, stack, component, record):
    address, port = _endpoints(stack)[component]
    if not address.startswith("127."):
        pytest.skip(f"{component} binds {address}, not a single loopback address")
    other = "127.0.0.2" if address != "127.0.0.2" else "127.0.0.3"
    # bash's /dev/tcp connects from the host itself, so this holds for remote hosts too.
    bound = host.run(f"bash -c 'exec 3<>/dev/tcp/{address}/{port}'")
    other_try = host.run(f"bash -c 'exec 3<>/dev/tcp/{other}/{port}'")
    record(f"{address}: rc {bound.rc}, {other}: rc {other_try.rc}", f"{address}: rc 0, {other}: refused")
    assert bound.rc == 0, bound.stderr
    assert other_try.rc != 0 and "refused" in other_try.stderr.lower(), other_try.stderr
