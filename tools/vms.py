# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""`make vms`: deploys the stack to the hosts of your inventory and verifies it, creating and
destroying nothing.

    python tools/vms.py --inventory INVENTORY [--extra-vars FILE] [--reports DIR] [--roll SPEC]
                        [-- PYTEST ARGS]

1. playbooks/site.yml against the inventory; 2. the same again, where every host must
report changed=0 (idempotence, as Molecule checks it); 3. the check library as the README
runs it (`pytest --pyargs gpe_checks.checks`) against the same inventory, its report in DIR.
Both deployments fail when a password of the inventory shows in Ansible's output (it is
masked there): every task that handles one must set no_log. With --roll SPEC (the inventory
has a load_balancer), 4. playbooks/rolling.yml changes the exporter package to SPEC on one
app node after the other while a bounded client sends requests through the balancer: none
may fail; 5. the packages checks show every node runs SPEC (their report in DIR/rolled).
"""

import argparse
import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from gpe_checks.balancer import ClientLoop
from gpe_checks.model import REGISTRY_DIR

ROOT = Path(__file__).resolve().parents[1]
RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", re.MULTILINE)
COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def changed_hosts(output):
    """{host: changed tasks} of the hosts whose PLAY RECAP line reports changes."""
    return {host: int(count) for host, count in RECAP.findall(COLOUR.sub("", output)) if int(count)}


def checks_command(pytest, inventory, report_dir):
    """The README's command for the check library against an inventory, with its reports."""
    return [str(pytest), "--pyargs", "gpe_checks.checks", "-p", "no:cacheprovider", "--connection=ansible",
            f"--ansible-inventory={inventory}", f"--junitxml={report_dir / 'junit.xml'}",
            f"--html={report_dir / 'report.html'}", "--self-contained-html"]


def secret_values(variables):
    """The plain values of every variable whose name holds "password", anywhere in nested
    variables (templates are left out: they name another variable, found by itself)."""
    found = set()
    stack = [variables]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if "password" in str(key).lower() and isinstance(value, str) and value and "{{" not in value:
                    found.add(value)
            stack += node.values()
        elif isinstance(node, list):
            stack += node
    return found


def inventory_secrets(inventory, extra_vars):
    """The passwords set in the inventory (as Ansible reads it) and the extra-vars file."""
    listed = subprocess.run(["ansible-inventory", "-i", inventory, "--list"], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    extra = yaml.safe_load(Path(extra_vars).read_text(encoding="utf-8")) if extra_vars else {}
    return secret_values([json.loads(listed.stdout), extra])


def mask(line, secrets):
    """The line with every secret replaced, and how many it held."""
    count = 0
    for secret in secrets:
        count += line.count(secret)
        line = line.replace(secret, "********")
    return line, count


def deploy(inventory, extra_vars, secrets, playbook="site.yml", more=()):
    """Runs a playbook (site.yml), its output shown as it comes with secrets masked; returns
    (exit code, output, how many times a secret showed)."""
    command = ["ansible-playbook", "-i", inventory, str(ROOT / "playbooks" / playbook)]
    command += ["-e", f"@{extra_vars}"] if extra_vars else []
    command += list(more)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, leaks = [], 0
    for line in process.stdout:
        line, count = mask(line, secrets)
        leaks += count
        print(line, end="", flush=True)
        lines.append(line)
    return process.wait(), "".join(lines), leaks


def deploy_step(title, inventory, extra_vars, secrets, must_not_change=False, playbook="site.yml", more=()):
    """One deployment: 0, or the exit code of a failure, a leaked password or any change
    where none may happen."""
    print(f"== vms: {title}", flush=True)
    code, output, leaks = deploy(inventory, extra_vars, secrets, playbook, more)
    if code:
        return code
    if leaks:
        print(f"== vms: a password of the inventory showed {leaks} time(s) in Ansible's output (masked "
              "above as ********): a task handling it lacks no_log", flush=True)
        return 1
    changed = changed_hosts(output) if must_not_change else {}
    if changed:
        print(f"== vms: the second run changed {changed}", flush=True)
        return 1
    return 0


def balancer_url(inventory):
    """Where clients reach the app through the inventory's first load_balancer host, as that
    host registered it (the registry the checks read)."""
    manifest = f"{REGISTRY_DIR}/gpe/balancer.json"
    done = subprocess.run(["ansible", "-i", inventory, "load_balancer[0]", "--become", "-o", "-m",
                           "ansible.builtin.slurp", "-a", f"src={manifest}"], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0 or "=>" not in done.stdout:
        raise SystemExit(f"== vms: no balancer registered at {manifest} on load_balancer[0] of {inventory}: "
                         f"{(done.stdout + done.stderr).strip()[-300:]}")
    content = json.loads(done.stdout.split("=>", 1)[1])["content"]
    return json.loads(base64.b64decode(content))["endpoints"]["http"]["url"]


def roll(args, secrets, pytest):
    """The rolling upgrade to args.roll under a bounded client of the balancer, then the
    packages checks against the inventory."""
    url = balancer_url(args.inventory)
    with ClientLoop(f"{url}/", max_seconds=600) as client:
        code = deploy_step(f"roll {args.roll} over the app nodes while a client sends requests to {url}",
                           args.inventory, args.extra_vars, secrets, playbook="rolling.yml",
                           more=["-e", f"gunicorn_app_exporter_package={args.roll}"])
    print(f"== vms: the client of the balancer during the roll: {client.summary()}", flush=True)
    if code or client.failed:
        return code or 1
    print(f"== vms: every app node runs {args.roll}: the packages checks", flush=True)
    rolled = args.reports / "rolled"
    rolled.mkdir(parents=True, exist_ok=True)
    return subprocess.run(checks_command(pytest, args.inventory, rolled) + ["-m", "packages"], cwd=ROOT,
                          env={**os.environ, "GPE_REPORT_DIR": str(rolled)}, check=False).returncode


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--extra-vars")
    parser.add_argument("--reports", type=Path, default=ROOT / "reports" / "vms")
    parser.add_argument("--roll", metavar="SPEC", help="then roll this exporter package over the app nodes")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args(argv)
    if not Path(args.inventory).exists():
        parser.error(f"no inventory at {args.inventory}: name yours with INVENTORY=path")
    for stale in ("junit.xml", "summary.md", "rolled/junit.xml", "rolled/summary.md"):
        (args.reports / stale).unlink(missing_ok=True)
    secrets = inventory_secrets(args.inventory, args.extra_vars)
    code = (deploy_step(f"deploy to {args.inventory} ({len(secrets)} password(s) of the inventory masked)",
                        args.inventory, args.extra_vars, secrets)
            or deploy_step("deploy again: nothing may change", args.inventory, args.extra_vars, secrets,
                           must_not_change=True))
    if code:
        return code
    print(f"== vms: verify with the check library against {args.inventory}", flush=True)
    args.reports.mkdir(parents=True, exist_ok=True)
    pytest = Path(sys.executable).parent / "pytest"
    code = subprocess.run(checks_command(pytest, args.inventory, args.reports) + args.pytest_args, cwd=ROOT,
                          env={**os.environ, "GPE_REPORT_DIR": str(args.reports)}, check=False).returncode
    return code or (roll(args, secrets, pytest) if args.roll else 0)


if __name__ == "__main__":
    sys.exit(main())
