# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Filters of the stack contract: where the controller reaches an endpoint, and what
Prometheus scrapes from the apps that registered themselves.

Each filter is documented in the file of its name beside this one (reach_host.yml, ...),
which ansible-doc -t filter shows."""

import os.path
import re
from urllib.parse import unquote, urlsplit

from ansible.errors import AnsibleFilterError

WILDCARDS = {"", "0.0.0.0", "*", "::", "::*", "[::]"}
# A controller that is the node itself: loopback, and IPv4 (a wildcard IPv4 bind does
# not answer on ::1, which "localhost" may resolve to first).
LOCAL_NAMES = {"localhost": "127.0.0.1", "localhost.localdomain": "127.0.0.1"}


def url_host(address):
    """An address as it stands in a URL: IPv6 in brackets."""
    address = str(address)
    if ":" in address and not address.startswith("["):
        return f"[{address}]"
    return address


def reach_host(listen_address, node_address):
    """Where a process listening on listen_address is reached from elsewhere, as a URL host.

    node_address is how the node itself is reached (ansible_host, or an override for NAT
    and jump hosts)."""
    listen_address = str(listen_address).strip()
    if listen_address in WILDCARDS:
        node_address = str(node_address).strip()
        if not node_address:
            raise AnsibleFilterError("reach_host: a wildcard listen address needs the node's address")
        return url_host(LOCAL_NAMES.get(node_address, node_address))
    return url_host(listen_address)


def scrape_targets(registrations, extra=()):
    """host:port of the metrics endpoint of every registered app, then the extra targets,
    each once, in order."""
    targets = []
    for manifest in registrations:
        try:
            url = manifest["endpoints"]["metrics"]["url"]
        except (KeyError, TypeError) as error:
            raise AnsibleFilterError(f"scrape_targets: not an app manifest (no endpoints.metrics.url): {error}")
        netloc = urlsplit(url).netloc
        if not netloc:
            raise AnsibleFilterError(f"scrape_targets: metrics URL {url!r} of {manifest.get('node')} names no host")
        targets.append(netloc)
    targets += [str(target) for target in extra]
    return list(dict.fromkeys(targets))


ARCHIVES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz")
VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")


def package_source(spec):
    """What a pip requirement installs from: an index (a name and version specifier) or a URL pip downloads, a file
    (wheel or sdist) or a directory on the controller, or a version control URL.

    Returns kind (index | url | file | dir | vcs), the spec, path (absolute, for a file or a
    directory), url (for vcs: the repository, without the vcs+ prefix and the revision),
    revision (for vcs) and name (the file or directory name a copy of it takes)."""
    spec = str(spec).strip()
    if not spec:
        raise AnsibleFilterError("package_source: an empty package spec")
    # PEP 508 "name @ url": what matters is the url.
    direct = re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?\s*@\s*(\S+)", spec)
    location = direct.group(2) if direct else spec
    source = {"kind": "index", "spec": spec, "path": "", "url": "", "revision": "", "name": ""}
    if location.startswith(VCS_PREFIXES):
        parts = urlsplit(location.split("+", 1)[1])
        path, revision = parts.path.partition("@")[::2]
        repository = parts._replace(path=path, fragment="", query="").geturl()
        egg = re.search(r"egg=([A-Za-z0-9._-]+)", parts.fragment)
        name = egg.group(1) if egg else os.path.basename(path.rstrip("/")).removesuffix(".git")
        return {**source, "kind": "vcs", "url": repository, "revision": revision, "name": name}
    if location.startswith("file:"):
        location = unquote(urlsplit(location).path)
    elif re.match(r"[a-z][a-z0-9+.-]*://", location):
        # Downloaded by pip wherever it installs, as from an index.
        return {**source, "kind": "url", "url": location}
    elif direct:
        raise AnsibleFilterError(f"package_source: {spec!r}: 'name @' must be followed by a URL")
    elif not (location.startswith((".", "/", "~")) or location.endswith(ARCHIVES)):
        return source
    path = os.path.abspath(os.path.expanduser(location))
    kind = "file" if path.endswith(ARCHIVES) else "dir"
    return {**source, "kind": kind, "path": path, "name": os.path.basename(path.rstrip("/"))}


def package_install(spec, wheels):
    """What pip is given for a requirement: a local package as the wheel made of it
    (wheels: spec -> {path, file, sha256}), anything else as it is."""
    wheel = (wheels or {}).get(spec)
    return wheel["path"] if wheel else spec


def package_origin(source, distribution, wheels=None, location=""):
    """The record of a package under test in a component's manifest: the spec asked for,
    the direct URL pip records for what it installed ("" for an index) and the sha256 of
    the wheel installed ("" when it came from an index or a URL).

    A local package is installed from its wheel, at its path, or in location when the
    wheel was copied there (an image). wheels is None before any wheel was made (a
    preflight's view of the manifest)."""
    record = {"distribution": distribution, "spec": source["spec"], "url": "", "sha256": ""}
    wheel = (wheels or {}).get(source["spec"])
    if wheel:
        path = f"{location.rstrip('/')}/{wheel['file']}" if location else wheel["path"]
        return {**record, "url": f"file://{path}", "sha256": wheel["sha256"]}
    if source["kind"] in ("file", "dir", "vcs") and wheels is not None:
        raise AnsibleFilterError(f"package_origin: no wheel was made of {source['spec']!r}")
    return {**record, "url": source["url"]}


def apt_mirror(sources, suite):
    """The first archive URI that apt sources (the texts of sources.list files, one-line or
    deb822 .sources) name for binary packages of suite; "" when none does."""
    for text in sources:
        # deb822: stanzas of "Field: value" lines, separated by blank lines.
        for stanza in re.split(r"\n\s*\n", str(text)):
            fields = dict(re.findall(r"^([A-Za-z-]+):[ \t]*(.*)$", stanza, re.MULTILINE))
            if (fields.get("Enabled", "yes").lower() != "no" and "deb" in fields.get("Types", "").split()
                    and suite in fields.get("Suites", "").split() and fields.get("URIs", "").split()):
                return fields["URIs"].split()[0]
        for line in str(text).splitlines():
            # deb [options] uri suite component...
            match = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if match and match.group(2) == suite:
                return match.group(1)
    return ""


def _text(value):
    return str(value).lower() if isinstance(value, bool) else str(value)


def stack_containers(stack, facts, packages=None):
    """The containers of one stack of the container targets (Docker, Kubernetes), whatever
    runs them: each component's image key, command, environment, ports by name (as the
    container listens), volumes by name (mounted at a path, maybe read-only), user, health
    probe and writable paths, in start order; disabled components are left out.

    stack: storage (redis | file), sidecar, grafana, ports (app, metrics, sidecar: where the
    app and the sidecar listen in their containers), workers, worker_class, threads,
    graceful_timeout, and for Redis storage redis_host, redis_password, redis_key_prefix,
    redis_ttl_seconds, redis_ttl_disabled. facts: what the images are, packages: what they
    hold (images.json; the app's manifest section names its packages under test from it)."""
    try:
        redis = stack["storage"] == "redis"
        ports = {name: int(stack["ports"][name]) for name in ("app", "metrics", "sidecar")}
        password = str(stack.get("redis_password", ""))
        redis_client = {
            "REDIS_HOST": str(stack["redis_host"]), "REDIS_PORT": str(facts["redis"]["port"]), "REDIS_DB": "0",
            "REDIS_PASSWORD": password, "REDIS_KEY_PREFIX": str(stack["redis_key_prefix"]),
        } if redis else {}
        app_env = {
            "APP_PORT": str(ports["app"]), "GUNICORN_WORKERS": str(stack["workers"]),
            "APP_WORKER_CLASS": str(stack["worker_class"]), "APP_THREADS": str(stack["threads"]),
            "APP_GRACEFUL_TIMEOUT": str(stack["graceful_timeout"]), "PROMETHEUS_METRICS_PORT": str(ports["metrics"]),
            "PROMETHEUS_BIND_ADDRESS": "0.0.0.0", "PROMETHEUS_MULTIPROC_DIR": facts["app"]["multiproc_dir"],
            "REDIS_ENABLED": _text(redis),
        }
        if redis:
            app_env.update(redis_client, REDIS_TTL_SECONDS=str(stack["redis_ttl_seconds"]),
                           REDIS_TTL_DISABLED=_text(bool(stack["redis_ttl_disabled"])))
        sidecar_env = {"SIDECAR_MODE_SOURCE": "redis" if redis else "multiproc", "SIDECAR_PORT": str(ports["sidecar"])}
        sidecar_env.update(redis_client if redis else {"PROMETHEUS_MULTIPROC_DIR": facts["app"]["multiproc_dir"]})
        multiproc = {"name": "multiproc", "path": facts["app"]["multiproc_dir"]}
        # With a password Redis starts through sh, so that the password comes from the
        # environment and not from the command line; redis-cli (its probe) reads REDISCLI_AUTH.
        redis_command = ["sh", "-c", "exec redis-server --bind 0.0.0.0 --protected-mode no --save \"\" --appendonly no"
                         " --requirepass \"$REDIS_PASSWORD\""] if password else []
        containers = [
            {"component": "redis", "enabled": redis, "command": redis_command,
             "env": {"REDIS_PASSWORD": password, "REDISCLI_AUTH": password} if password else {},
             "ports": {"redis": facts["redis"]["port"]}, "volumes": []},
            {"component": "app", "enabled": True, "command": [], "env": app_env,
             "ports": {"http": ports["app"], "metrics": ports["metrics"]},
             "volumes": [] if redis else [{**multiproc, "read_only": False}]},
            {"component": "sidecar", "enabled": bool(stack["sidecar"]), "command": ["sidecar"], "env": sidecar_env,
             "ports": {"metrics": ports["sidecar"]},
             "volumes": [] if redis else [{**multiproc, "read_only": True}]},
            {"component": "prometheus", "enabled": True, "command": [], "env": {},
             "ports": {"http": facts["prometheus"]["port"]},
             "volumes": [{"name": "prometheus-config", "path": facts["prometheus"]["config_file"], "read_only": True}]},
            {"component": "grafana", "enabled": bool(stack.get("grafana")), "command": [], "env": {},
             "ports": {"http": 3000},
             "volumes": [{"name": "grafana-provisioning", "path": "/etc/grafana/provisioning", "read_only": True},
                         {"name": "grafana-dashboards", "path": "/var/lib/grafana/dashboards", "read_only": True}]},
        ]
        # The app's section of its component manifest (schema v1: app).
        app_section = {
            "workers": int(stack["workers"]), "worker_class": str(stack["worker_class"]),
            "threads": int(stack["threads"]), "graceful_timeout": int(stack["graceful_timeout"]), "pidfile": "",
            "venv": facts["app"]["venv"], "storage": stack["storage"], "multiproc_dir": facts["app"]["multiproc_dir"],
            "config_style": "environment", "yaml_file": "", "environment_keys": sorted(app_env),
            "environment_overrides": {},
            "redis": {"host": str(stack.get("redis_host", "")), "port": int(facts["redis"]["port"]), "db": 0,
                      "password": password, "key_prefix": str(stack.get("redis_key_prefix", "")),
                      "ttl_seconds": int(stack.get("redis_ttl_seconds", 0)),
                      "ttl_disabled": bool(stack.get("redis_ttl_disabled", False))},
        }
        if packages:
            app_section["packages"] = {name: record["spec"] for name, record in packages["app"]["under_test"].items()}
        containers[1]["manifest"] = app_section
        described = {name: facts[name] for name in ("redis", "app", "sidecar", "prometheus")}
    except (KeyError, TypeError, ValueError) as error:
        raise AnsibleFilterError(f"stack_containers: incomplete stack or image facts: {error!r}")
    for container in containers:
        image = described.get(container["component"], {})
        container.update(user=image.get("uid", image.get("user", "")), health=image.get("health", {}),
                         writable=list(image.get("writable", [])))
    return [container for container in containers if container.pop("enabled")]


def registration_file(registration):
    """The file name of a component manifest in its stack's registry: <component>.json, or
    for a component of a pod (kind pods: one manifest per pod) <component>@<node>.json."""
    try:
        component = registration["component"]
        node = registration["node"] if registration.get("kind") == "pods" else ""
    except (KeyError, TypeError):
        raise AnsibleFilterError(f"registration_file: not a component manifest: {registration!r:.200}")
    return f"{component}@{node}.json" if node else f"{component}.json"


class FilterModule:
    def filters(self):
        return {"apt_mirror": apt_mirror, "package_install": package_install, "package_origin": package_origin,
                "package_source": package_source, "reach_host": reach_host, "registration_file": registration_file,
                "scrape_targets": scrape_targets,
                "stack_containers": stack_containers,
                "url_host": url_host}
