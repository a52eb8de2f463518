# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The pytest plugin of the check library (entry point `pytest11: gpe_checks`).

It finds every stack registered on every host of the inventory pytest-testinfra is given
(`--connection`, `--ansible-inventory`, `--hosts`), reads each stack's component manifests
into typed objects (validated against the schema) and runs every check once per stack.
Fixtures: `stack` (facts.Stack) and `record(measured, expected)` for the summary table.

    pytest --pyargs gpe_checks.checks --connection=ansible --ansible-inventory=INVENTORY
"""

import shlex

import pytest
import testinfra

from .areas import AREAS, DISRUPTIVE, DISRUPTIVE_HELP
from .deadlock import FailureDiagnosis
from .facts import Stack
from .forwards import Forwards
from .model import REGISTRY_DIR, ManifestError, group_stacks, load_json, read_component, stack_of
from .report import Report


# The longest check takes about 10 s here, and the waits inside a check end within 30 s:
# a check still running after this many seconds hangs.
CHECK_TIME_LIMIT = 120


def pytest_addoption(parser):
    group = parser.getgroup("gpe_checks", "checks of registered Gunicorn/Prometheus stacks")
    group.addoption("--check-time-limit", type=float, default=CHECK_TIME_LIMIT, metavar="SECONDS",
                    help=f"fail a check (with its stack) that runs longer than this (default {CHECK_TIME_LIMIT}); "
                         "pytest-timeout's own --timeout wins")
    group.addoption("--stack", action="append", default=[], metavar="NAME[,NAME]",
                    help="verify only these registered stacks (repeatable; a fleet's app nodes are "
                         "<stack>@<node>, or all of them by <stack>; default: every stack found)")
    group.addoption("--power-command", default="", metavar="COMMAND",
                    help="how the controller stops and starts a node of a fleet, for the node-loss check: "
                         "{action} is stop or start, {node} the node's name (e.g. 'docker {action} gpe-vm-{node}'); "
                         "without it that check does not apply")
    group.addoption("--registry-dir", default=REGISTRY_DIR, metavar="DIR",
                    help=f"where the roles register stacks on each host (default {REGISTRY_DIR})")


def pytest_configure(config):
    for name, help_text in {**AREAS, DISRUPTIVE: DISRUPTIVE_HELP}.items():
        config.addinivalue_line("markers", f"{name}: {help_text}")
    report = Report()
    config.pluginmanager.register(report, "gpe_checks_report")
    config.pluginmanager.register(FailureDiagnosis(report), "gpe_checks_diagnosis")


def pytest_unconfigure(config):
    forwards = getattr(config, "_gpe_forwards", None)
    if forwards is not None:
        forwards.close()


def _inventory_hosts(config):
    """The hosts pytest-testinfra would test, built the way it builds them."""
    option = config.option
    specs = option.hosts.split(",") if option.hosts else [None]
    return testinfra.get_hosts(
        specs, connection=option.connection, ssh_config=option.ssh_config,
        ssh_identity_file=option.ssh_identity_file, sudo=option.sudo, sudo_user=option.sudo_user,
        ansible_inventory=option.ansible_inventory, force_ansible=option.force_ansible,
    )


def read_registry(host, directory):
    """Every component manifest registered on one host, typed and validated."""
    registry = host.file(directory)
    if not registry.is_directory:
        return []
    node = host.backend.get_hostname()
    components = []
    for stack in sorted(registry.listdir()):
        folder = f"{directory}/{stack}"
        for name in sorted(host.file(folder).listdir()):
            if not name.endswith(".json"):
                continue
            path = f"{folder}/{name}"
            text = host.check_output(f"cat {shlex.quote(path)}")
            components.append(read_component(load_json(text, f"{node}:{path}"), f"{node}:{path}"))
    return components


def stack_names(options):
    """The names of every --stack option, each one name or names joined by commas."""
    return [name.strip() for option in options for name in option.split(",") if name.strip()]


def discover(config):
    """{stack name: Stack} of every stack registered on the inventory's hosts (once per run)."""
    if not hasattr(config, "_gpe_stacks"):
        directory = config.getoption("registry_dir")
        hosts, components = {}, []
        inventory = _inventory_hosts(config)
        if not inventory:
            raise pytest.UsageError("no host to look for stacks on: give --hosts or --ansible-inventory")
        forwards = config._gpe_forwards = Forwards()
        for host in inventory:
            # A component in a pod is reached through port-forwards this run opens.
            found = [forwards.reach(component) for component in read_registry(host, directory)]
            for component in found:
                hosts[component.node] = host
            components += found
        grouped = group_stacks(components)
        wanted = stack_names(config.getoption("stack"))
        missing = sorted(set(wanted) - set(grouped) - {stack_of(name) for name in grouped})
        if missing:
            raise pytest.UsageError(f"--stack {', '.join(missing)}: not registered (found: {sorted(grouped)})")
        stacks = {}
        for name, parts in sorted(grouped.items()):
            if wanted and name not in wanted and stack_of(name) not in wanted:
                continue
            if "app" not in parts:
                raise pytest.UsageError(f"stack {name} has no app registered (only {sorted(parts)}): "
                                        "deploy its gunicorn_app first")
            kind = next(iter(parts.values())).kind
            peers = tuple(other["app"] for other_name, other in sorted(grouped.items())
                          if "@" in name and other_name != name and stack_of(other_name) == stack_of(name))
            stacks[name] = Stack(name=name, kind=kind, components=parts, hosts=hosts, peers=peers)
        if not stacks:
            names = ", ".join(host.backend.get_hostname() for host in inventory)
            raise pytest.UsageError(f"no stack is registered in {directory} on {names}: deploy one first (converge)")
        config._gpe_stacks = stacks
    return config._gpe_stacks


def pytest_generate_tests(metafunc):
    if "stack" not in metafunc.fixturenames:
        return
    if hasattr(metafunc.config, "_gpe_discovery_error"):
        stacks = {}
    else:
        try:
            stacks = discover(metafunc.config)
        except (ManifestError, pytest.UsageError) as error:
            # Said once, when collection ends (pytest_collection_modifyitems).
            metafunc.config._gpe_discovery_error = error
            stacks = {}
    metafunc.parametrize("stack", list(stacks.values()), ids=list(stacks), indirect=True, scope="module")


# What a stack in Kubernetes pods cannot be checked for, by check module or check, and why.
NOT_IN_PODS = {
    "test_10_ports": "a pod's ports are reached through port-forwards; which address the process binds "
                     "is the pod's own network (make k8s-static checks the ports of the manifests)",
    "test_17_services": "no systemd unit or sshd: the kubelet runs the containers",
    "test_68_prometheus_restart": "the kubelet restarts an exited container at once: Prometheus cannot be kept stopped",
    "test_82_redis_outage": "the kubelet restarts an exited container at once: Redis cannot be kept stopped",
    "test_85_containers": "Docker's containers, networks and compose file: the pods are Kubernetes's",
    "test_95_shutdown": "the kubelet restarts an exited container at once: nothing can be seen stopped",
    "test_99_secrets": "the password is a Secret the kubelet puts in the containers' environment "
                       "(make k8s-static checks no manifest holds it in clear)",
    "test_workers_of_one_pid_on_two_nodes_count_apart_under_a_prefix_per_node":
        "twins need root on the node: a pod's processes are on the cluster's nodes",
    "test_workers_of_one_pid_on_two_nodes_sum_up_under_one_shared_prefix":
        "twins need root on the node: a pod's processes are on the cluster's nodes",
}


def _skip_in_pods(items):
    for item in items:
        stack = getattr(item, "callspec", None) and item.callspec.params.get("stack")
        if getattr(stack, "kind", "") != "pods":
            continue
        reason = NOT_IN_PODS.get(item.module.__name__.rsplit(".", 1)[-1]) or NOT_IN_PODS.get(item.originalname)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_collection_modifyitems(config, items):
    """Stop the run with one clear message when the stacks could not be read; leave out
    what a stack in pods cannot be checked for, saying why; give every check a time limit
    (pytest-timeout's signal method: the hung check fails with its stack and the run goes on)."""
    error = getattr(config, "_gpe_discovery_error", None)
    if error is not None:
        raise pytest.UsageError(f"gpe_checks: {error}")
    _skip_in_pods(items)
    if config.getoption("timeout", None) is None and not config.getini("timeout"):
        limit = pytest.mark.timeout(config.getoption("check_time_limit"), method="signal")
        for item in items:
            if item.get_closest_marker("timeout") is None:
                item.add_marker(limit)


@pytest.fixture(scope="module")
def stack(request):
    """The registered stack this check runs against (one run of the module per stack)."""
    return request.param


@pytest.fixture
def record(request):
    """record(measured, expected): shown in the summary table next to the result."""
    report = request.config.pluginmanager.get_plugin("gpe_checks_report")

    def _record(measured, expected):
        report.record(request.node.nodeid, measured, expected)

    return _record
