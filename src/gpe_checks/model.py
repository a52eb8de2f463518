# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The stack contract, typed: component manifests validated against the schema and read
into dataclasses, and the stacks they make up.

A role registers each component it deploys as <registry>/<stack>/<component>.json on the
node that runs it (schema/component-manifest.v1.json). The checks find every registered
stack on every host they are given and read nothing else.
"""

import json
from dataclasses import dataclass, field
from importlib import resources

import jsonschema

REGISTRY_DIR = "/etc/gpe-stack/stacks.d"
SCHEMA_VERSION = 1


class ManifestError(ValueError):
    """A manifest that does not match the schema: names the file, the field and the value."""


def schema():
    text = resources.files(__package__).joinpath(f"schema/component-manifest.v{SCHEMA_VERSION}.json").read_text()
    return json.loads(text)


_VALIDATOR = None


def validate(document, source):
    """Raise ManifestError naming `source`, the field and the value of the first mismatch."""
    global _VALIDATOR
    if _VALIDATOR is None:
        _VALIDATOR = jsonschema.Draft202012Validator(schema())
    errors = sorted(_VALIDATOR.iter_errors(document), key=lambda e: (len(e.absolute_path), list(e.absolute_path)))
    if errors:
        error = errors[0]
        where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        value = "(hidden)" if "password" in where else json.dumps(error.instance)[:200]
        raise ManifestError(f"{source}: field {where}: {error.message if 'password' not in where else 'invalid'} "
                            f"(value {value}); {len(errors)} error(s) in all")


@dataclass(frozen=True)
class Endpoint:
    address: str  # where it listens on its node (or the published host address)
    port: int
    url: str  # where the controller reaches it ("" when only its network reaches it)
    network: str = ""  # the Docker network whose container address reaches it
    forward_url: str = ""  # in a pod: the url through a port-forward to loopback port {port}

    @classmethod
    def read(cls, data):
        return cls(data["address"], int(data["port"]), data["url"], data.get("network", ""),
                   data.get("forward_url", ""))


@dataclass(frozen=True)
class Control:
    """How the checks stop, start and read the log of a component's process."""

    name: str
    manager: str  # systemd, supervisor or docker
    user: str  # name or uid its processes run as
    start: str
    stop: str
    logs: str


@dataclass(frozen=True)
class Container:
    name: str
    image: str
    network: str
    aliases: tuple
    published: tuple  # "host address:host port:container port"
    labels: dict
    volumes: tuple = ()
    compose_file: str = ""

    @classmethod
    def read(cls, data):
        return cls(data["name"], data["image"], data["network"], tuple(data["aliases"]), tuple(data["published"]),
                   dict(data["labels"]), tuple(data.get("volumes", ())), data.get("compose_file", ""))


@dataclass(frozen=True)
class Pod:
    """The Kubernetes pod and container a component runs in, and how kubectl reaches it."""

    name: str
    namespace: str
    container: str
    node: str  # the Kubernetes node
    kubeconfig: str
    context: str = ""

    @classmethod
    def read(cls, data):
        return cls(data["name"], data["namespace"], data["container"], data["node"], data["kubeconfig"],
                   data.get("context", ""))

    def kubectl(self, *words):
        """A kubectl command line against this pod's cluster and namespace."""
        context = ["--context", self.context] if self.context else []
        return ["kubectl", "--kubeconfig", self.kubeconfig, *context, "--namespace", self.namespace, *words]


@dataclass(frozen=True)
class RedisSettings:
    """The Redis the exporter writes to, as the app is configured."""

    host: str
    port: int
    db: int
    password: str = field(repr=False)  # kept out of reports (tracebacks print the stack)
    key_prefix: str
    ttl_seconds: int
    ttl_disabled: bool


@dataclass(frozen=True)
class Package:
    """A package under test as installed: what was asked for and what pip installed it from."""

    distribution: str
    spec: str
    url: str  # the direct URL pip records; "" for an index
    sha256: str  # of the file installed from; "" when not a file


@dataclass(frozen=True)
class Packages:
    venv: str
    under_test: dict  # name (exporter, gunicorn) -> Package

    @classmethod
    def read(cls, data):
        return cls(data["venv"], {name: Package(**package) for name, package in data["under_test"].items()})


@dataclass(frozen=True)
class Component:
    """What every component has: its stack, node, process control and endpoints."""

    stack: str
    kind: str
    name: str  # app, redis, prometheus, sidecar, grafana, balancer
    node: str
    control: Control
    endpoints: dict  # endpoint name -> Endpoint
    container: Container = None
    packages: Packages = None
    source: str = ""  # host:path of the manifest, for messages
    pod: Pod = None

    @property
    def in_container(self):
        return self.container is not None


@dataclass(frozen=True)
class App(Component):
    workers: int = 0
    worker_class: str = ""
    threads: int = 1
    graceful_timeout: int = 0
    pidfile: str = ""
    venv: str = ""
    storage: str = "file"
    multiproc_dir: str = ""
    config_style: str = "environment"
    yaml_file: str = ""
    environment_keys: tuple = ()
    environment_overrides: dict = field(default_factory=dict)
    exporter_package: str = ""
    gunicorn_package: str = ""
    redis: RedisSettings = None

    @property
    def url(self):
        return self.endpoints["http"].url

    @property
    def metrics(self):
        return self.endpoints["metrics"]

    @property
    def metrics_url(self):
        return self.endpoints["metrics"].url


@dataclass(frozen=True)
class Redis(Component):
    password: str = field(default="", repr=False)  # kept out of reports
    persistence: bool = False

    @property
    def endpoint(self):
        return self.endpoints["redis"]


@dataclass(frozen=True)
class Prometheus(Component):
    job: str = ""
    scrape_interval: str = ""
    jobs: dict = field(default_factory=dict)  # job -> targets

    @property
    def url(self):
        return self.endpoints["http"].url

    @property
    def targets(self):
        return self.jobs[self.job]

    @property
    def scrape_seconds(self):
        """scrape_interval in seconds (Prometheus durations as the roles write them: 1s, 500ms, 1m)."""
        units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
        for unit in ("ms", "s", "m", "h"):
            if self.scrape_interval.endswith(unit):
                return float(self.scrape_interval[: -len(unit)]) * units[unit]
        raise ValueError(f"unexpected scrape interval {self.scrape_interval!r}")


@dataclass(frozen=True)
class Balancer(Component):
    backend: str = ""
    servers: tuple = ()  # the app nodes, by node name
    check_interval_ms: int = 0
    check_fall: int = 0
    check_rise: int = 0

    @property
    def url(self):
        return self.endpoints["http"].url

    @property
    def stats_url(self):
        return self.endpoints["stats"].url

    @property
    def down_within_seconds(self):
        """The longest the balancer takes to mark a lost node down: `fall` failed checks, each
        waiting one interval for an answer that never comes (a VM that is gone does not refuse
        the connection) and starting one interval after the one before, plus one interval for
        where the checks' rhythm stands when the VM goes (measured here: 1.6 to 3.6 s of 5)."""
        return (2 * self.check_fall + 1) * self.check_interval_ms / 1000


def read_component(document, source):
    """A validated manifest document as its typed Component."""
    validate(document, source)
    service = document["service"]
    common = dict(
        stack=document["stack"],
        kind=document["kind"],
        name=document["component"],
        node=document["node"],
        control=Control(service["name"], service["manager"], str(service["user"]), service["start"],
                        service["stop"], service["logs"]),
        endpoints={name: Endpoint.read(data) for name, data in document["endpoints"].items()},
        container=Container.read(document["container"]) if "container" in document else None,
        pod=Pod.read(document["pod"]) if "pod" in document else None,
        packages=Packages.read(document["packages"]) if "packages" in document else None,
        source=source,
    )
    if document["component"] == "app":
        app = document["app"]
        return App(
            **common,
            workers=app["workers"], worker_class=app["worker_class"], threads=app["threads"],
            graceful_timeout=app["graceful_timeout"], pidfile=app["pidfile"], venv=app["venv"],
            storage=app["storage"], multiproc_dir=app["multiproc_dir"], config_style=app["config_style"],
            yaml_file=app["yaml_file"], environment_keys=tuple(app["environment_keys"]),
            environment_overrides=dict(app["environment_overrides"]),
            exporter_package=app["packages"]["exporter"], gunicorn_package=app["packages"]["gunicorn"],
            redis=RedisSettings(**app["redis"]),
        )
    if document["component"] == "redis":
        return Redis(**common, **document["redis"])
    if document["component"] == "prometheus":
        prometheus = document["prometheus"]
        return Prometheus(**common, job=prometheus["job"], scrape_interval=prometheus["scrape_interval"],
                          jobs={job: list(targets) for job, targets in prometheus["jobs"].items()})
    if document["component"] == "balancer":
        balancer = dict(document["balancer"], servers=tuple(document["balancer"]["servers"]))
        return Balancer(**common, **balancer)
    return Component(**common)


def load_json(text, source):
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ManifestError(f"{source}: not JSON: {error}") from error


# Components that may run once per node of a stack: the app, and a sidecar beside it (a pod
# of the app and its exporter sidecar on every Kubernetes node).
PER_NODE = ("app", "sidecar")


def group_stacks(components):
    """{stack name: {component name: Component}} from components read on any hosts.

    A stack may run its app on several nodes (a fleet sharing one Redis and Prometheus):
    each app node is then a stack of its own for the checks, named `<stack>@<node>`, with
    the shared components and what runs beside its app (a sidecar). Fails when two
    manifests claim any other component of one stack, or an app or sidecar of one stack
    twice on one node, or the parts of one stack disagree on its kind."""
    shared, per_node = {}, {}
    for component in components:
        parts = shared.setdefault(component.stack, {})
        if component.name in PER_NODE:
            on_node = per_node.setdefault(component.stack, {}).setdefault(component.node, {})
            if component.name in on_node:
                raise ManifestError(f"stack {component.stack}: {component.name} registered twice on node "
                                    f"{component.node}, in {on_node[component.name].source} and {component.source}")
            on_node[component.name] = component
            continue
        if component.name in parts:
            raise ManifestError(f"stack {component.stack}: component {component.name} registered twice, "
                                f"in {parts[component.name].source} and {component.source}")
        parts[component.name] = component
    stacks = {}
    for name, parts in shared.items():
        nodes = per_node.get(name, {})
        app_nodes = {node: beside for node, beside in nodes.items() if "app" in beside}
        if len(app_nodes) > 1:
            for node, beside in sorted(app_nodes.items()):
                stacks[f"{name}@{node}"] = {**parts, **beside}
        else:
            stacks[name] = dict(parts)
            for beside in nodes.values():  # the one app node, and a sidecar wherever it runs
                stacks[name].update(beside)
        every = list(parts.values()) + [part for beside in nodes.values() for part in beside.values()]
        kinds = {part.kind for part in every}
        if len(kinds) > 1:
            raise ManifestError(f"stack {name}: its components disagree on its kind: "
                                f"{ {part.source: part.kind for part in every} }")
    return stacks


def stack_of(name):
    """The registered stack a checked stack belongs to (`gpe` for an app node `gpe@app1`)."""
    return name.split("@", 1)[0]
