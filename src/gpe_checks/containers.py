# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""What Docker says about the stack's containers, asked on the Docker host."""

import json
import shlex


def inspect(host, name):
    """`docker inspect` of one container, network or volume."""
    return json.loads(host.check_output(f"docker inspect {shlex.quote(name)}"))[0]


def published(info):
    """The container's published ports as "host address:host port:container port"."""
    found = []
    for port, bindings in (info["NetworkSettings"]["Ports"] or {}).items():
        for binding in bindings or []:
            found.append(f"{binding['HostIp']}:{binding['HostPort']}:{port.split('/')[0]}")
    return sorted(found)


def health(info):
    """healthy, unhealthy, starting, or what the state is when there is no healthcheck."""
    state = info["State"]
    return state.get("Health", {}).get("Status") or ("running, no healthcheck" if state["Running"] else state["Status"])


def environment(info):
    return dict(item.split("=", 1) for item in info["Config"]["Env"])


def healthcheck(info):
    """The container's healthcheck command, as its image or its run declares it."""
    test = info["Config"]["Healthcheck"]["Test"]
    if test[0] == "CMD-SHELL":
        return test[1]
    assert test[0] == "CMD", f"no healthcheck command: {test}"
    return shlex.join(test[1:])
