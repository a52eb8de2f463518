# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Checks of rendered Kubernetes manifests that need no cluster (`make k8s-static`): what the
workloads, Services and NetworkPolicies say, and what Prometheus's relabel rules keep.

Each check returns a list of problems, empty when the manifests are right, so that one
broken manifest names everything wrong with it."""

import re
from pathlib import Path

import yaml

WORKLOAD_KINDS = {"Deployment", "DaemonSet", "StatefulSet"}
ANY = "any"


def load(directory):
    """Every document of every *.yml file in directory except prometheus.yml, in file order."""
    documents = []
    for path in sorted(Path(directory).glob("*.yml")):
        if path.name != "prometheus.yml":
            documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return documents


def of_kind(documents, *kinds):
    return [doc for doc in documents if doc.get("kind") in kinds]


def _name(doc):
    return f"{doc['kind']}/{doc['metadata']['name']}"


def pod_templates(documents):
    """(workload name, pod labels, pod spec) of every workload."""
    return [(_name(doc), doc["spec"]["template"]["metadata"].get("labels", {}), doc["spec"]["template"]["spec"])
            for doc in of_kind(documents, *WORKLOAD_KINDS)]


def selects(selector, labels):
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def container_ports(spec):
    return [port for container in spec["containers"] for port in container.get("ports", [])]


def port_matches(wanted, port):
    """Whether a Service target port or a NetworkPolicy port (a name or a number) is this container port."""
    return wanted in (port.get("name"), port["containerPort"])


def selector_problems(documents):
    """Every workload selects its own pod template; every Service selects pods, and each of its
    target ports is a port of every pod it selects."""
    problems = []
    for doc in of_kind(documents, *WORKLOAD_KINDS):
        selector = doc["spec"].get("selector", {}).get("matchLabels", {})
        if not selects(selector, doc["spec"]["template"]["metadata"].get("labels", {})):
            problems.append(f"{_name(doc)}: selector {selector} does not match its pod labels")
    templates = pod_templates(documents)
    for service in of_kind(documents, "Service"):
        chosen = [(name, spec) for name, labels, spec in templates if selects(service["spec"].get("selector"), labels)]
        if not chosen:
            problems.append(f"{_name(service)}: selector {service['spec'].get('selector')} selects no pod")
        for port in service["spec"].get("ports", []):
            target = port.get("targetPort", port["port"])
            for name, spec in chosen:
                if not any(port_matches(target, p) for p in container_ports(spec)):
                    problems.append(f"{_name(service)}: target port {target!r} is no port of {name}")
    return problems


def container_problems(documents):
    """Every pod without service links in its environment; every container: a tagged image
    (not :latest), pulled only if not present, both probes, requests and limits, non-root
    without privilege escalation or capabilities, a read-only root filesystem, the Redis
    password from a Secret."""
    problems = []
    for workload, _, spec in pod_templates(documents):
        if spec.get("enableServiceLinks") is not False:
            # A Service named redis would set REDIS_PORT=tcp://<address>:6379 in every
            # container, where the exporter reads a port number.
            problems.append(f"{workload}: service links are on (enableServiceLinks)")
        pod_security = spec.get("securityContext", {})
        for container in spec["containers"] + spec.get("initContainers", []):
            where = f"{workload} container {container['name']}"
            image = container.get("image", "")
            tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
            if "@sha256:" not in image and tag in ("", "latest"):
                problems.append(f"{where}: image {image!r} has no tag or :latest")
            if container.get("imagePullPolicy") != "IfNotPresent":
                problems.append(f"{where}: imagePullPolicy {container.get('imagePullPolicy')!r}, not IfNotPresent")
            for probe in ("readinessProbe", "livenessProbe"):
                if not container.get(probe):
                    problems.append(f"{where}: no {probe}")
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(resources.get(part, {})):
                    problems.append(f"{where}: {part} lack cpu or memory")
            security = {**pod_security, **container.get("securityContext", {})}
            if security.get("runAsNonRoot") is not True or int(security.get("runAsUser", 0)) == 0:
                problems.append(f"{where}: may run as root (runAsNonRoot {security.get('runAsNonRoot')}, "
                                f"runAsUser {security.get('runAsUser')})")
            if security.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: privilege escalation not turned off")
            if security.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{where}: capabilities not all dropped")
            if security.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: root filesystem not read-only")
            for env in container.get("env", []):
                if env["name"] in ("REDIS_PASSWORD", "REDISCLI_AUTH") and "secretKeyRef" not in env.get("valueFrom", {}):
                    problems.append(f"{where}: {env['name']} is not taken from a Secret")
    return problems


def env_of(container):
    return {env["name"]: env for env in container.get("env", [])}


def storage_problems(documents, storage):
    """Every multiprocess directory is on an emptyDir (the root filesystem is read-only).
    Redis storage: every container that writes or reads Redis keys has a key prefix of its
    own pod (it names $(POD_NAME), the pod's name from the downward API, defined before it).
    File storage: the app and the sidecar share the multiprocess directory on one emptyDir."""
    problems = []
    for workload, _, spec in pod_templates(documents):
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        shared = []
        for container in spec["containers"]:
            where = f"{workload} container {container['name']}"
            env = env_of(container)
            names = [e["name"] for e in container.get("env", [])]
            if storage == "redis" and "REDIS_HOST" in env:
                prefix = env.get("REDIS_KEY_PREFIX", {}).get("value", "")
                pod_name = env.get("POD_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
                if "$(POD_NAME)" not in prefix or pod_name != "metadata.name" \
                        or names.index("POD_NAME") > names.index("REDIS_KEY_PREFIX"):
                    problems.append(f"{where}: key prefix {prefix!r} is not the pod's own "
                                    f"(POD_NAME from {pod_name!r})")
            directory = env.get("PROMETHEUS_MULTIPROC_DIR", {}).get("value")
            if directory:
                mount = [m for m in container.get("volumeMounts", []) if m["mountPath"] == directory]
                if not mount or "emptyDir" not in volumes.get(mount[0]["name"], {}):
                    problems.append(f"{where}: multiprocess directory {directory} is not on an emptyDir")
                else:
                    shared.append(mount[0]["name"])
        if storage == "file" and len(spec["containers"]) > 1 and len(set(shared)) != 1:
            problems.append(f"{workload}: the containers do not share one multiprocess directory ({shared})")
    return problems


def allowed_flows(documents):
    """(from, to, port name) of every connection the NetworkPolicies let in, by the pods'
    component label: from is a component or "any". A pod no policy selects takes any
    connection on any port."""
    templates = pod_templates(documents)
    component = "app.kubernetes.io/component"
    policies = of_kind(documents, "NetworkPolicy")
    flows = set()
    for _, labels, spec in templates:
        to = labels.get(component)
        chosen = [p for p in policies if "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
                  and (p["spec"]["podSelector"] == {} or selects(p["spec"]["podSelector"].get("matchLabels"), labels))]
        for port in container_ports(spec):
            if not chosen:
                flows.add((ANY, to, port.get("name")))
            for policy in chosen:
                for rule in policy["spec"].get("ingress", []):
                    if rule.get("ports") and not any(port_matches(p.get("port"), port) for p in rule["ports"]):
                        continue
                    sources = rule.get("from")
                    if not sources:
                        flows.add((ANY, to, port.get("name")))
                        continue
                    for source in sources:
                        # An empty podSelector is every pod of the namespace.
                        selector = source.get("podSelector", {}).get("matchLabels", {})
                        flows |= {(other.get(component), to, port.get("name")) for _, other, _ in templates
                                  if selector == {} or selects(selector, other)}
    return flows


def prometheus_config(documents):
    """The Prometheus configuration the ConfigMap carries."""
    for doc in of_kind(documents, "ConfigMap"):
        for key, text in doc.get("data", {}).items():
            if key.endswith(".yml"):
                return yaml.safe_load(text)
    return None


def _expand(replacement, match):
    # Prometheus writes $1, ${1} and ${name}; Python's expand wants \g<1>.
    return match.expand(re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", replacement.replace("\\", "\\\\")))


def relabel(labels, rules):
    """The labels after Prometheus's relabel rules (actions replace, keep, drop, labelmap,
    labeldrop, labelkeep), or None when the target is dropped."""
    labels = dict(labels)
    for rule in rules:
        action = rule.get("action", "replace")
        regex = re.compile(f"^(?:{rule.get('regex', '(.*)')})$")
        value = rule.get("separator", ";").join(labels.get(name, "") for name in rule.get("source_labels", []))
        match = regex.match(value)
        if action == "keep" and not match or action == "drop" and match:
            return None
        if action == "replace" and match:
            result = _expand(rule.get("replacement", "$1"), match)
            if result:
                labels[rule["target_label"]] = result
            else:
                labels.pop(rule["target_label"], None)
        elif action == "labelmap":
            labels.update({_expand(rule.get("replacement", "$1"), m): labels[name]
                           for name in list(labels) if (m := regex.match(name))})
        elif action in ("labeldrop", "labelkeep"):
            labels = {k: v for k, v in labels.items() if bool(regex.match(k)) == (action == "labelkeep")}
    return {k: v for k, v in labels.items() if not k.startswith("__") or k == "__address__"}


def _label_name(name):
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def pod_discovery(documents, namespace, node="node-1"):
    """What Kubernetes pod discovery offers for every container port of every pod template:
    one target each, with the pod's labels and names as __meta_kubernetes_* labels."""
    targets = []
    for workload, labels, spec in pod_templates(documents):
        pod = workload.split("/")[1] + "-pod"
        for container in spec["containers"]:
            for port in container.get("ports", []):
                targets.append({
                    "__address__": f"10.0.0.1:{port['containerPort']}",
                    "__meta_kubernetes_namespace": namespace,
                    "__meta_kubernetes_pod_name": pod,
                    "__meta_kubernetes_pod_node_name": node,
                    "__meta_kubernetes_pod_container_name": container["name"],
                    "__meta_kubernetes_pod_container_port_name": port.get("name", ""),
                    "__meta_kubernetes_pod_container_port_number": str(port["containerPort"]),
                    **{f"__meta_kubernetes_pod_label_{_label_name(k)}": v for k, v in labels.items()},
                })
    return targets


def scraped(config, targets, job):
    """The targets a job of config keeps, after its relabel rules."""
    rules = next(c for c in config["scrape_configs"] if c["job_name"] == job).get("relabel_configs", [])
    return [kept for target in targets if (kept := relabel(target, rules)) is not None]


def schema_problems(documents, version):
    """Every document against the Kubernetes JSON schemas of version, strictly (no field the
    schema does not know)."""
    import kubernetes_validate  # only the static tier needs it

    problems = []
    for doc in documents:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{_name(doc)}: {error.message} at {list(error.path)}")
    return problems


def promtool_problems(config, workdir, promtool):
    """What `promtool check config` says of config ([] when it accepts it). Debian's promtool
    (2.42) is built without the Kubernetes discovery and rejects its block: everything else
    (relabel rules, regexes, label names) is checked with that block read from a file."""
    import subprocess

    config = yaml.safe_load(yaml.safe_dump(config))
    for job in config["scrape_configs"]:
        sd = job.pop("kubernetes_sd_configs", None)
        if sd is not None:
            if [sorted(block) for block in sd] != [["namespaces", "role"]] or sd[0]["role"] != "pod":
                return [f"job {job['job_name']}: kubernetes_sd_configs {sd} is not one pod discovery of namespaces"]
            job["file_sd_configs"] = [{"files": [str(Path(workdir) / "targets.yml")]}]
    path = Path(workdir) / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True, check=False)
    return [] if result.returncode == 0 else [(result.stdout + result.stderr).strip()]


def discovery_problems(config, documents, namespace, stack, jobs):
    """Prometheus's discovery keeps exactly the app pods' port of each job (jobs: job name ->
    port name). Kubernetes discovery: every port of every pod the manifests make, plus the
    same app pod of another stack, go through the job's relabel rules, and the one kept is
    labelled with its node, pod, stack and (with Redis) the key prefix the pod writes under.
    DNS discovery: the job asks the headless Service that selects the app pods, on the port."""
    problems = []
    app = next(((labels, spec) for _, labels, spec in pod_templates(documents)
                if labels.get("app.kubernetes.io/component") == "app"), None)
    if app is None:
        return ["no app workload"]
    ports = {p.get("name"): p["containerPort"] for p in container_ports(app[1])}
    configured = sorted(job["job_name"] for job in config["scrape_configs"])
    if configured != sorted(jobs):
        problems.append(f"jobs {configured}, not {sorted(jobs)}")
    for job in config["scrape_configs"]:
        port = ports.get(jobs.get(job["job_name"]))
        if "dns_sd_configs" in job:
            service = next((s for s in of_kind(documents, "Service") if s["metadata"]["name"] == "app-metrics"), {})
            sd = job["dns_sd_configs"][0]
            if service.get("spec", {}).get("clusterIP") != "None" or not selects(service["spec"].get("selector"), app[0]):
                problems.append("app-metrics is no headless Service of the app pods")
            if sd.get("names") != [f"app-metrics.{namespace}.svc"] or sd.get("port") != port:
                problems.append(f"job {job['job_name']} asks {sd.get('names')} port {sd.get('port')}, not the app's {port}")
            continue
        targets = pod_discovery(documents, namespace)
        stranger = [{**t, "__meta_kubernetes_pod_label_app_kubernetes_io_instance": "another-stack"}
                    for t in targets if t["__meta_kubernetes_pod_container_port_name"] == jobs.get(job["job_name"])]
        kept = [r for t in targets + stranger if (r := relabel(t, job.get("relabel_configs", []))) is not None]
        if [t["__address__"] for t in kept] != [f"10.0.0.1:{port}"]:
            problems.append(f"job {job['job_name']} keeps {[t['__address__'] for t in kept]}, not the app pod's port {port}")
            continue
        want = {"__address__": f"10.0.0.1:{port}", "node": "node-1", "pod": "app-pod", "stack": stack}
        prefix = env_of(app[1]["containers"][0]).get("REDIS_KEY_PREFIX", {}).get("value")
        if prefix:
            want["redis_key_prefix"] = prefix.replace("$(POD_NAME)", "app-pod")
        if kept[0] != want:
            problems.append(f"job {job['job_name']} labels {kept[0]}, not {want}")
    return problems
