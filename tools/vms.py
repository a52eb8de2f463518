# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""`make vms`: deploys the stack to the hosts of your inventory and verifies it, creating and
destroying nothing.

    python tools/vms.py --inventory INVENTORY [--extra-vars FILE] [--reports DIR] [-- PYTEST ARGS]

1. playbooks/site.yml against the inventory; 2. the same again, where every host must
report changed=0 (idempotence, as Molecule checks it); 3. the check library as the README
runs it (`pytest --pyargs gpe_checks.checks`) against the same inventory, its report in DIR.
"""

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

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


def deploy(inventory, extra_vars):
    """Runs site.yml, its output shown as it comes; returns (exit code, output)."""
    command = ["ansible-playbook", "-i", inventory, str(ROOT / "playbooks/site.yml")]
    command += ["-e", f"@{extra_vars}"] if extra_vars else []
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in process.stdout:
        print(line, end="", flush=True)
        lines.append(line)
    return process.wait(), "".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--extra-vars")
    parser.add_argument("--reports", type=Path, default=ROOT / "reports" / "vms")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args(argv)
    if not Path(args.inventory).exists():
        parser.error(f"no inventory at {args.inventory}: name yours with INVENTORY=path")
    for stale in ("junit.xml", "summary.md"):
        (args.reports / stale).unlink(missing_ok=True)
    print(f"== vms: deploy to {args.inventory}", flush=True)
    code, _ = deploy(args.inventory, args.extra_vars)
    if code:
        return code
    print("== vms: deploy again: nothing may change", flush=True)
    code, output = deploy(args.inventory, args.extra_vars)
    changed = changed_hosts(output)
    if code or changed:
        print(f"== vms: the second run {'failed' if code else 'changed ' + str(changed)}", flush=True)
        return code or 1
    print(f"== vms: verify with the check library against {args.inventory}", flush=True)
    args.reports.mkdir(parents=True, exist_ok=True)
    pytest = Path(sys.executable).parent / "pytest"
    return subprocess.run(checks_command(pytest, args.inventory, args.reports) + args.pytest_args, cwd=ROOT,
                          env={**os.environ, "GPE_REPORT_DIR": str(args.reports)}, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
