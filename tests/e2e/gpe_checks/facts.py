"""What the stack on a host has, read from the manifests its roles wrote there.

Each role writes <manifest dir>/<role>.json: endpoints, storage backend, worker count,
TTL. A check reads these facts; it never knows the scenario it runs in.
"""

import json
from dataclasses import dataclass

from . import http
from .control import Service
from .metrics import Scrape

DEFAULT_MANIFEST_DIR = "/etc/gpe-stack/manifest"


@dataclass
class Stack:
    host: object  # the testinfra host the stack runs on
    app: dict
    redis: dict
    prometheus: dict
    services: dict  # service name -> Service
    manifest_dir: str = DEFAULT_MANIFEST_DIR

    def service(self, component):
        """The Service running a component (self.app, self.redis or self.prometheus)."""
        name = component["service"]
        assert name in self.services, f"no control manifest for {name}: redeploy the stack"
        return self.services[name]

    # -- exporter --------------------------------------------------------------
    def scrape(self):
        status, body = http.get(self.app["metrics_url"])
        assert status == 200, f"{self.app['metrics_url']} answered {status}: {body[:300]}"
        return Scrape(body)

    @property
    def app_url(self):
        return self.app["app_url"]

    # -- processes ---------------------------------------------------------------
    def master_pid(self):
        pidfile = self.host.file(self.app["pidfile"])
        assert pidfile.exists, f"no Gunicorn pidfile at {self.app['pidfile']}"
        return int(pidfile.content_string.strip())

    def worker_pids(self):
        """Pids of the live children of the Gunicorn master."""
        master = self.master_pid()
        # The arbiter forks from its main thread; the exporter's threads come and go, so
        # a glob over all tasks races with them.
        out = self.host.check_output(f"cat /proc/{master}/task/{master}/children")
        return {int(pid) for pid in out.split()}

    def alive(self, pids):
        """The pids among `pids` that are still running (a zombie has exited)."""
        if not pids:
            return set()
        paths = " ".join(f"/proc/{int(pid)}/stat" for pid in pids)
        # A missing /proc entry is a process already reaped: cat's error is expected.
        out = self.host.run(f"cat {paths} 2>/dev/null").stdout
        return {pid for pid, state in _pid_states(out) if state != "Z"}

    def processes_of(self, user):
        """Running pids of a user: what a stopped stack must not leave behind."""
        # /proc/<pid>/stat belongs to the process's user; the test only reads it.
        out = self.host.run(
            f"find /proc -mindepth 2 -maxdepth 2 -name stat -user {int(self.host.user(user).uid)} "
            "-exec cat {} + 2>/dev/null"
        ).stdout
        return {pid for pid, state in _pid_states(out) if state != "Z"}

    def listening(self, address, port):
        return self.host.socket(f"tcp://{address}:{int(port)}").is_listening

    # -- redis -------------------------------------------------------------------
    @property
    def uses_redis(self):
        return self.app["storage"] == "redis"

    def redis_client(self):
        import redis  # only the Redis checks need the client

        conf = self.redis or self.app["redis"]
        return redis.Redis(
            host=conf["host"],
            port=int(conf["port"]),
            password=conf.get("password") or None,
            db=int(self.app["redis"]["db"]),
            socket_timeout=5,
            decode_responses=True,
        )

    def redis_keys(self, client=None):
        client = client or self.redis_client()
        prefix = self.app["redis"]["key_prefix"]
        return sorted(client.scan_iter(match=f"{prefix}:*", count=1000))


def _pid_states(stat_text):
    """(pid, state letter) from concatenated /proc/<pid>/stat lines."""
    for line in stat_text.splitlines():
        if ")" in line:
            pid = int(line.split(" ", 1)[0])
            yield pid, line.rsplit(")", 1)[1].split()[0]


def read_manifests(host, directory=DEFAULT_MANIFEST_DIR):
    folder = host.file(directory)
    if not folder.is_directory:
        return {}
    manifests = {}
    for name in folder.listdir():
        if name.endswith(".json"):
            manifests[name[: -len(".json")]] = json.loads(
                host.file(f"{directory}/{name}").content_string
            )
    return manifests


def load_stack(host, directory=DEFAULT_MANIFEST_DIR):
    manifests = read_manifests(host, directory)
    assert "gunicorn_app" in manifests, (
        f"no gunicorn_app manifest in {directory} on {host.backend.get_hostname()}: "
        "is the stack deployed (converge) on this host?"
    )
    return Stack(
        host=host,
        app=manifests["gunicorn_app"],
        redis=manifests.get("redis"),
        prometheus=manifests.get("prometheus"),
        manifest_dir=directory,
        services={
            manifest["name"]: Service.from_manifest(host, manifest)
            for key, manifest in manifests.items()
            if key.startswith("control-")
        },
    )
