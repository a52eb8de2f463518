# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""A registered stack as the checks use it: its typed components (model.py), the host of
each, and what can be asked of them (pids, scrapes, Redis keys, process control).

A check reads these facts; it never knows the scenario it runs in. A component whose
manifest names a container runs in that container on its node (a Docker host): its files
and processes are reached with `docker exec`, its endpoints at their URLs. A component
whose manifest names a pod runs in that pod's container: reached with `kubectl exec` from
the node that registered it (the controller), its endpoints through port-forwards.
"""

import json
import shlex
from dataclasses import dataclass
from urllib.parse import urlsplit

from . import http
from .control import Service
from .metrics import Scrape
from .model import stack_of
from .prometheus import of_job


@dataclass
class Place:
    """Where a component's files and processes are: the host itself, a Docker container on
    it, or a container of a Kubernetes pod that the host reaches with kubectl."""

    host: object
    container: str = ""
    user: str = "0"  # in the container: the user its processes run as may read and signal them
    pod: object = None  # model.Pod

    def __str__(self):
        if self.pod is not None:
            return f"pod {self.pod.namespace}/{self.pod.name} container {self.pod.container}"
        return f"container {self.container}" if self.container else "the host"

    @property
    def isolated(self):
        """Whether it has a pid namespace of its own (its first process is Gunicorn's master)."""
        return bool(self.container or self.pod)

    def command(self, command):
        if self.pod is not None:
            return shlex.join(self.pod.kubectl("exec", "-i", self.pod.name, "--container", self.pod.container,
                                               "--", "sh", "-c", command))
        if not self.container:
            return command
        return (f"docker exec -i --user {shlex.quote(str(self.user))} {shlex.quote(self.container)} "
                f"sh -c {shlex.quote(command)}")

    def run(self, command):
        return self.host.run(self.command(command))

    def check_output(self, command):
        return self.host.check_output(self.command(command))

    def inspect(self, template):
        """One field of `docker inspect` of the container (a Go template), as a command result."""
        return self.host.run(f"docker inspect --format {shlex.quote(template)} {shlex.quote(self.container)}")

    def running(self):
        """Whether the container runs (always true for the host itself)."""
        if self.pod is not None:
            jsonpath = f'{{.status.containerStatuses[?(@.name=="{self.pod.container}")].ready}}'
            state = self.host.run(shlex.join(self.pod.kubectl("get", "pod", self.pod.name, "--output",
                                                              f"jsonpath={jsonpath}")))
            return state.rc == 0 and state.stdout.strip() == "true"
        if not self.container:
            return True
        state = self.inspect("{{.State.Running}}")
        return state.rc == 0 and state.stdout.strip() == "true"

    def address(self, network):
        """The container's address on a Docker network (the host reaches it there)."""
        address = self.inspect(f"{{{{(index .NetworkSettings.Networks {json.dumps(network)}).IPAddress}}}}").stdout.strip()
        assert address, f"{self.container} has no address on network {network}: is it running?"
        return address


@dataclass
class Stack:
    """One registered stack: its components, each on the node (testinfra host) that runs it."""

    name: str
    kind: str
    components: dict  # component name -> model.Component
    hosts: dict  # node -> the testinfra host that reaches it
    peers: tuple = ()  # in a fleet, the app (model.App) of every other app node

    def __str__(self):
        return self.name

    def component(self, name):
        return self.components.get(name)

    @property
    def app(self):
        return self.components["app"]

    @property
    def redis(self):
        return self.components.get("redis")

    @property
    def prometheus(self):
        return self.components.get("prometheus")

    @property
    def sidecar(self):
        return self.components.get("sidecar")

    @property
    def grafana(self):
        return self.components.get("grafana")

    @property
    def balancer(self):
        return self.components.get("balancer")

    @property
    def in_containers(self):
        return self.kind == "containers"

    @property
    def in_fleet(self):
        """One app node of a stack that runs its app on several nodes (model.group_stacks)."""
        return "@" in self.name

    def fleet(self):
        """Every app node of this stack's fleet as a Stack (this one among them), by node;
        outside a fleet, this stack alone."""
        if not self.in_fleet:
            return [self]
        apps = (self.app, *self.peers)
        shared = {name: part for name, part in self.components.items() if name != "app"}
        nodes = [self if app is self.app else Stack(
            name=f"{stack_of(self.name)}@{app.node}", kind=self.kind, components={**shared, "app": app},
            hosts=self.hosts, peers=tuple(other for other in apps if other is not app)) for app in apps]
        return sorted(nodes, key=lambda node: node.app.node)

    @property
    def key_prefixes(self):
        """The Redis key prefix of every app writing to this stack's Redis (a fleet shares it)."""
        return sorted({app.redis.key_prefix for app in (self.app, *self.peers)})

    @property
    def app_instance(self):
        """The app's target as Prometheus labels it (instance): its metrics endpoint's host:port
        (in a pod, the pod's address: the checks' own port-forward is not what Prometheus scrapes)."""
        if self.app.pod is not None:
            endpoint = self.app.endpoints["metrics"]
            return f"{endpoint.address}:{endpoint.port}"
        return urlsplit(self.app.metrics_url).netloc

    def series(self, metric):
        """The selector of this app's series of `metric` in the stack's Prometheus: its job's (a
        sidecar's job holds the app's series); in a fleet, only this app node's target."""
        return of_job(metric, self.prometheus.job, self.app_instance if self.in_fleet else None)

    def host_of(self, component):
        return self.hosts[component.node]

    @property
    def host(self):
        """The node of the app (the host its processes and files are on)."""
        return self.host_of(self.app)

    def service(self, component):
        """The Service that stops, starts and reads the log of a component."""
        return Service(self.host_of(component), component.control)

    @property
    def units(self):
        """The components systemd runs, by unit name."""
        return {part.control.name: part for part in self.components.values() if part.control.manager == "systemd"}

    @property
    def services(self):
        return {component.control.name: self.service(component) for component in self.components.values()}

    # -- exporter --------------------------------------------------------------
    def scrape(self):
        status, body = http.get(self.app.metrics_url)
        assert status == 200, f"{self.app.metrics_url} answered {status}: {body[:300]}"
        return Scrape(body)

    @property
    def app_url(self):
        return self.app.url

    # -- processes ---------------------------------------------------------------
    # Pids are those of the app's place: the exporter labels series with the pid its
    # process sees, which in a container is the pid in the container.
    @property
    def app_place(self):
        return self.place(self.app)

    def place(self, component):
        """Where the files and processes of a component are (root in a container may not
        read the environment of another user's process: commands run as its user)."""
        if component.pod is not None:
            return Place(self.host_of(component), pod=component.pod)
        if component.container is None:
            return Place(self.host_of(component))
        return Place(self.host_of(component), component.container.name, component.control.user)

    def master_pid(self):
        if self.app_place.isolated:
            assert self.app_place.running(), f"the app's {self.app_place} is not running"
            return 1  # the image starts Gunicorn as the container's first process
        pidfile = self.host.file(self.app.pidfile)
        assert pidfile.exists, f"no Gunicorn pidfile at {self.app.pidfile}"
        return int(pidfile.content_string.strip())

    def master_host_pid(self):
        """The master's pid as the host sees it (a container's first process has another)."""
        if self.app_place.container:
            return int(self.app_place.inspect("{{.State.Pid}}").stdout)
        return self.master_pid()

    def master_threads(self):
        """py-spy's dump of the master's threads, or "" where the host has no py-spy (on its
        PATH, or in the app's virtualenv on a node of its own)."""
        in_venv = f"{self.app.venv}/bin/py-spy"
        if self.app_place.pod is not None:
            return ""  # the pod's processes are on a node of the cluster, not on this host
        if self.host.exists("py-spy"):
            py_spy = "py-spy"
        elif not self.app_place.isolated and self.app.venv and self.host.file(in_venv).exists:
            py_spy = in_venv
        else:
            return ""
        result = self.host.run(f"{shlex.quote(py_spy)} dump --pid {self.master_host_pid()}")
        return result.stdout if result.rc == 0 else ""

    def app_running(self):
        """Whether the Gunicorn master runs (its container, or the pid in its pidfile)."""
        if self.app_place.isolated:
            return self.app_place.running()
        pidfile = self.host.file(self.app.pidfile)
        return pidfile.exists and bool(self.alive({int(pidfile.content_string.strip() or 0)}))

    def worker_pids(self):
        """Pids of the live children of the Gunicorn master."""
        master = self.master_pid()
        # The arbiter forks from its main thread; the exporter's threads come and go, so
        # a glob over all tasks races with them.
        out = self.app_place.check_output(f"cat /proc/{master}/task/{master}/children")
        return {int(pid) for pid in out.split()}

    def processes(self, pids):
        """What the kernel says of each pid at one moment (read in one command where the app
        runs): {pid: Process}. A pid that has gone is missing."""
        paths = " ".join(f"/proc/{int(pid)}/stat /proc/{int(pid)}/statm" for pid in pids)
        # A missing /proc entry is a process already reaped: cat's error is expected.
        out = self.app_place.run(f"getconf PAGESIZE; getconf CLK_TCK; cat /proc/uptime; cat {paths} 2>/dev/null").stdout
        return read_processes(out)

    def alive(self, pids):
        """The pids among `pids` that are still running (a zombie has exited).

        In a container that has stopped, none is."""
        if not pids:
            return set()
        paths = " ".join(f"/proc/{int(pid)}/stat" for pid in pids)
        # A missing /proc entry is a process already reaped: cat's error is expected.
        out = self.app_place.run(f"cat {paths} 2>/dev/null").stdout
        return _live(out)

    def processes_of(self, user):
        """Running pids (on the app's node) of a user name or uid: what a stopped stack
        must not leave behind. A container's user is given by uid, which the host shares."""
        uid = int(user) if str(user).isdigit() else int(self.host.user(user).uid)
        # /proc/<pid>/stat belongs to the process's user; the test only reads it.
        out = self.host.run(
            f"find /proc -mindepth 2 -maxdepth 2 -name stat -user {uid} -exec cat {{}} + 2>/dev/null"
        ).stdout
        return _live(out)

    def app_leftovers(self):
        """Running pids (on the node) of the stopped app: its user's processes on a host; in
        a container, every process still in the container's cgroup (other containers may
        run as the same uid)."""
        if not self.app_place.container:
            return self.processes_of(self.app.control.user)
        cid = self.app_place.inspect("{{.Id}}").stdout.strip()
        assert cid, f"no container {self.app_place.container}"
        # grep reads every cgroup file; a process gone meanwhile is no leftover.
        found = self.host.run(f"grep -l -F {shlex.quote(cid)} /proc/[0-9]*/cgroup 2>/dev/null").stdout.split()
        if not found:
            return set()
        stats = " ".join(path.replace("/cgroup", "/stat") for path in found)
        out = self.host.run(f"cat {stats} 2>/dev/null").stdout
        return _live(out)

    def listening(self, address, port):
        return self.host.socket(f"tcp://{address}:{int(port)}").is_listening

    # -- redis -------------------------------------------------------------------
    @property
    def uses_redis(self):
        return self.app.storage == "redis"

    def redis_client(self):
        import redis  # only the Redis checks need the client

        settings = self.app.redis
        host, port, password = settings.host, settings.port, settings.password
        if self.redis:
            endpoint = self.redis.endpoint
            password = self.redis.password
            if endpoint.url:
                host, port = url_host_port(endpoint.url)
            else:
                # Asked each time: a restarted container may get another address.
                host, port = self.place(self.redis).address(endpoint.network), endpoint.port
        return redis.Redis(
            host=host,
            port=int(port),
            password=password or None,
            db=settings.db,
            socket_timeout=5,
            decode_responses=True,
        )

    def redis_keys(self, client=None):
        client = client or self.redis_client()
        return sorted(client.scan_iter(match=f"{self.app.redis.key_prefix}:*", count=1000))


def require_expiring_redis_keys(stack):
    """Skip, with the reason, a check of key expiry on a stack whose keys cannot expire."""
    import pytest

    if not stack.uses_redis:
        pytest.skip("this stack stores metrics in files, not in Redis")
    if stack.app.redis.ttl_disabled:
        pytest.skip("this stack writes its Redis keys without TTL (REDIS_TTL_DISABLED)")


def url_host_port(url):
    """(host, port) of a URL: IPv6 without its brackets."""
    parts = urlsplit(url)
    return parts.hostname, parts.port


@dataclass(frozen=True)
class Process:
    """One process as /proc shows it."""

    pid: int
    state: str  # R, S, D, Z, ...
    rss: int  # resident memory in bytes (statm's resident pages, as psutil reads it)
    cpu_seconds: float  # user + system CPU time
    age: float  # seconds since it started


def read_processes(text):
    """Processes from `getconf PAGESIZE; getconf CLK_TCK; cat /proc/uptime` followed by the
    /proc/<pid>/stat and /proc/<pid>/statm lines of each pid."""
    lines = text.splitlines()
    page, ticks, uptime = int(lines[0]), int(lines[1]), float(lines[2].split()[0])
    found = {}
    for stat, statm in zip(lines[3::2], lines[4::2]):
        pid = int(stat.split(" ", 1)[0])
        # Fields after the command name, which is in parentheses and may hold spaces.
        fields = stat.rsplit(")", 1)[1].split()
        found[pid] = Process(pid=pid, state=fields[0], rss=int(statm.split()[1]) * page,
                             cpu_seconds=(int(fields[11]) + int(fields[12])) / ticks,
                             age=uptime - int(fields[19]) / ticks)
    return found


def _live(stat_text):
    """Pids of concatenated /proc/<pid>/stat lines, without zombies (they have exited)."""
    return {pid for pid, state in _pid_states(stat_text) if state != "Z"}


def _pid_states(stat_text):
    """(pid, state letter) from concatenated /proc/<pid>/stat lines."""
    for line in stat_text.splitlines():
        if ")" in line:
            pid = int(line.split(" ", 1)[0])
            yield pid, line.rsplit(")", 1)[1].split()[0]
