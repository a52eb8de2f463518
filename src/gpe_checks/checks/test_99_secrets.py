# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The Redis password kept out of unit files, the journal, process arguments and files others
may read, on every node of the stack. Last of all checks: the journal then also shows
whether any check before leaked it (sudo logs the command lines it runs there)."""

import posixpath
import shlex

import pytest

from gpe_checks.model import REGISTRY_DIR

pytestmark = pytest.mark.services

# Where the roles write configuration (the registry's parent) and systemd units.
CONFIG_DIRS = (posixpath.dirname(REGISTRY_DIR.rstrip("/")), "/etc/systemd/system")


def redis_password(stack):
    if stack.in_containers:
        pytest.skip("a container gets the Redis password in its environment, which Docker shows to root")
    password = stack.components["redis"].password if "redis" in stack.components else ""
    if not password:
        pytest.skip("this stack's Redis has no password")
    return password


def nodes(stack):
    """(node, host) of every node the stack's components run on."""
    return sorted({part.node: stack.host_of(part) for part in stack.components.values()}.items())


def test_redis_password_is_kept_out_of_units_journal_and_process_arguments(stack, record):
    """Every node of the stack: no unit file, journal line (on systemd nodes) or process
    command line holds the password (Ansible logs module arguments to the journal unless a
    task sets no_log; sudo logs the commands it runs)."""
    password = redis_password(stack)
    found = []
    for node, host in nodes(stack):
        places = {"process arguments": host.check_output("ps -eo args=")}
        units = [name for name, part in stack.units.items() if part.node == node]
        for name in units:
            places[f"unit {name}"] = host.check_output(f"systemctl cat {shlex.quote(name)}")
        if units:  # systemd, so its journal
            places["journal"] = host.check_output("journalctl --no-pager --output cat")
        found += [f"{node}: {place}" for place, text in places.items() if password in text]
    record(found, [])
    assert found == [], "the Redis password is in: " + ", ".join(found)


def test_files_holding_the_redis_password_are_not_world_readable(stack, record):
    password = redis_password(stack)
    exposed, holding = [], []
    for node, host in nodes(stack):
        folders = [folder for folder in CONFIG_DIRS if host.file(folder).is_directory]
        listed = host.check_output(f"find {' '.join(map(shlex.quote, folders))} -type f")
        for path in listed.split():
            file = host.file(path)
            if password not in file.content_string:
                continue
            holding.append(f"{node}:{path}")
            if file.mode & 0o007:
                exposed.append(f"{node}:{path} ({oct(file.mode)})")
    record({"holding it": holding, "readable by others": exposed}, {"readable by others": []})
    assert holding, f"no file under {CONFIG_DIRS} holds the password, so this check saw none of them"
    assert exposed == []
