# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Processes run as on a VM: each systemd unit active, enabled and restarted on failure, its
processes owned by a dedicated non-root user inside a sandbox the kernel enforces, and SSH
to the node by key only (the password's checks are test_99's: they run last)."""

import re
import shlex

import pytest

pytestmark = pytest.mark.services

# systemd-analyze security rates a unit from 0 (locked down) to 10; the units of the roles
# measure 1.4 with their sandbox and 9.2 ("UNSAFE") without it.
MAX_EXPOSURE = 2.0
EXPOSURE_LINE = re.compile(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)")


def units(stack):
    found = stack.units
    if not found:
        pytest.skip("no process of this stack runs under systemd (supervisord or Docker runs them)")
    return found


def unit_properties(stack, component, names):
    output = stack.host_of(component).check_output(
        f"systemctl show {shlex.quote(component.control.name)} --property {','.join(names)}")
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def main_pid(stack, component):
    pid = int(unit_properties(stack, component, ["MainPID"])["MainPID"])
    assert pid > 0, f"unit {component.control.name} on {component.node} has no main process"
    return pid


def test_every_unit_is_active_enabled_and_restarted_on_failure(stack, record):
    wanted = {"ActiveState": "active", "SubState": "running", "UnitFileState": "enabled",
              "Restart": "on-failure"}
    measured = {name: unit_properties(stack, part, list(wanted)) for name, part in units(stack).items()}
    record(measured, {name: wanted for name in measured})
    assert measured == {name: wanted for name in measured}


def test_every_process_runs_as_its_own_non_root_user(stack, record):
    """The unit's main process and its children (the workers) run as the manifest's user,
    a user no other unit of the stack runs as, and never root."""
    owners = {}
    for name, part in units(stack).items():
        pid = main_pid(stack, part)
        output = stack.host_of(part).check_output(f"ps -o user= --pid {pid} --ppid {pid}")
        owners[name] = sorted(set(output.split()))
    expected = {name: [part.control.user] for name, part in units(stack).items()}
    record(owners, expected)
    assert owners == expected
    users = [part.control.user for part in units(stack).values()]
    assert "root" not in users and "0" not in users, f"a unit runs as root: {expected}"
    assert len(set(users)) == len(users), f"units share a user: {expected}"


def test_every_unit_is_sandboxed(stack, record):
    """systemd's own rating of each unit is at most MAX_EXPOSURE, and the kernel holds the
    sandbox on the running process: no new privileges, a seccomp filter, no capabilities."""
    exposure, kernel = {}, {}
    for name, part in units(stack).items():
        host = stack.host_of(part)
        rating = host.check_output(f"systemd-analyze security --no-pager {shlex.quote(name)}")
        found = EXPOSURE_LINE.search(rating)
        assert found, f"no exposure level in systemd-analyze's output for {name}: {rating[-300:]}"
        exposure[name] = float(found.group(1))
        status = host.file(f"/proc/{main_pid(stack, part)}/status").content_string
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        kernel[name] = {key: fields[key].strip() for key in ("NoNewPrivs", "Seccomp", "CapBnd", "CapEff")}
    expected_kernel = {name: {"NoNewPrivs": "1", "Seccomp": "2", "CapBnd": "0" * 16, "CapEff": "0" * 16}
                       for name in kernel}
    record({"exposure": exposure, **kernel}, {"exposure": f"<= {MAX_EXPOSURE} each", **expected_kernel})
    assert {name: level for name, level in exposure.items() if level > MAX_EXPOSURE} == {}
    assert kernel == expected_kernel


def test_ssh_to_every_node_takes_keys_only(stack, record):
    """On every node that runs a unit of the stack (a VM), sshd's effective settings refuse
    passwords, keyboard-interactive logins and root logins by password."""
    allowed = {"passwordauthentication": ("no",), "kbdinteractiveauthentication": ("no",),
               "permitrootlogin": ("no", "prohibit-password")}
    found = {}
    for node in sorted({part.node for part in units(stack).values()}):
        host = stack.hosts[node]
        if not host.file("/usr/sbin/sshd").exists:
            continue
        settings = dict(line.split(" ", 1) for line in host.check_output("/usr/sbin/sshd -T").splitlines()
                        if " " in line)
        found[node] = {key: settings.get(key, "(unset)") for key in allowed}
    if not found:
        pytest.skip("no node of this stack runs sshd: it is not reached over SSH")
    record(found, {key: " or ".join(values) for key, values in allowed.items()})
    refused = {node: [key for key, value in seen.items() if value not in allowed[key]] for node, seen in found.items()}
    assert refused == {node: [] for node in found}
