# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Runs Molecule scenarios one after another for `make test`, with progress and a total.

    python tools/scenarios.py [--reports DIR] [--installed-venv VENV] GROUP...

A GROUP is a scenario (`redis`: `molecule test -s redis`) or scenarios joined by `+`
(`thread+gevent+eventlet`): those run on one deployment, destroyed before the first and
after the last only, each converged over the one before it and verified in turn; for
scenarios that differ only in what the app runs (its worker class), that saves a teardown
and a fresh install per scenario and proves the same. A member may also be a `make` entry
point (ENTRY_POINTS: `multinode+vms` runs `make vms` on the multinode scenario's nodes).

With --installed-venv, the `default` scenario is verified by the check library installed in
that virtualenv, run as the README says (`pytest --pyargs gpe_checks.checks` against
inventories/local/hosts.yml, from outside the repository), instead of Molecule's verifier:
one deployment proves both the scenario and the installed library.

Before each scenario a line gives [k/N], the time so far and an estimate of the time left
(progress.py); the run ends with the totals of every scenario's JUnit report
(junit_total.py) and exits non-zero when a scenario failed.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

import junit_total
import progress
import vms

ROOT = Path(__file__).resolve().parents[1]
# Molecule's own sequence for `molecule test`.
MOLECULE_SEQUENCE = ["dependency", "cleanup", "destroy", "syntax", "create", "prepare", "converge",
                     "idempotence", "side_effect", "verify", "cleanup", "destroy"]
# Steps that run a playbook only when there is one (in the scenario's directory or named by
# the shared configuration); dependency has no requirements file here.
OPTIONAL_STEPS = {"dependency", "cleanup", "create", "prepare", "side_effect"}
SHARED_CONFIG = ".config/molecule/config.yml"
INSTALLED_SCENARIO = "default"
# Group members that are not Molecule scenarios: `make` entry points run on the deployment
# of the group's scenario, as a user runs them. vms: `make vms` with a plain inventory file
# naming the multinode scenario's nodes, the way an inventory of real VMs names them; it
# then rolls the app nodes to ROLL_TO (the release before the one deployed) behind HAProxy.
ROLL_TO = "gunicorn-prometheus-exporter==0.2.3"
ENTRY_POINTS = {"vms": ["make", "--no-print-directory", "vms", "INVENTORY=tests/vms/hosts.yml",
                        "VMS_VARS=tests/vms/verify-vars.yml", f"ROLL={ROLL_TO}"]}


def _config(path):
    return (yaml.safe_load(path.read_text()) if path.exists() else None) or {}


def test_sequence(scenario, root=ROOT):
    config = _config(root / "molecule" / scenario / "molecule.yml")
    return (config.get("scenario") or {}).get("test_sequence") or MOLECULE_SEQUENCE


def has_playbook(scenario, step, root=ROOT):
    playbooks = {}
    for path in (root / SHARED_CONFIG, root / "molecule" / scenario / "molecule.yml"):
        playbooks.update((_config(path).get("provisioner") or {}).get("playbooks") or {})
    return step in playbooks or (root / "molecule" / scenario / f"{step}.yml").exists()


def acting_steps(scenario, root=ROOT):
    """The scenario's sequence without the steps that have nothing to run."""
    return [step for step in test_sequence(scenario, root)
            if step not in OPTIONAL_STEPS or has_playbook(scenario, step, root)]


def plan(group, root=ROOT):
    """[(scenario, [steps])] of one group: destroy only before the first and after the last.

    An entry point (ENTRY_POINTS) runs as the one step `run`; when it ends the group, the
    group's first scenario is destroyed after it (step `destroy <scenario>`)."""
    names = group.split("+")
    owner = names[0]
    steps = []
    for index, name in enumerate(names):
        last = index == len(names) - 1
        if name in ENTRY_POINTS:
            steps.append((name, ["run"] + ([f"destroy {owner}"] if last else [])))
            continue
        own = acting_steps(name, root)
        first_act = next(i for i, step in enumerate(own) if step != "destroy")
        last_act = max(i for i, step in enumerate(own) if step != "destroy")
        keep = [step for i, step in enumerate(own)
                if step != "destroy" or (index == 0 and i < first_act) or (last and i > last_act)]
        steps.append((name, keep))
    return steps


def installed_verify(venv, report_dir):
    """The README's command with the installed library, from a directory outside the repository."""
    return vms.checks_command(Path(venv).resolve() / "bin" / "pytest", ROOT / "inventories/local/hosts.yml", report_dir)


def run_scenario(name, steps, reports, installed_venv):
    """True when every step of the scenario passed. A failed step stops the scenario, but a
    deployment left behind is still destroyed when the plan destroys after it."""
    report_dir = reports / name
    env = {**os.environ, "GPE_REPORT_DIR": str(report_dir)}
    installed = installed_venv and name == INSTALLED_SCENARIO
    if name not in ENTRY_POINTS and not installed and steps == acting_steps(name):
        return subprocess.run(["molecule", "test", "-s", name], cwd=ROOT, env=env, check=False).returncode == 0
    ok = True
    for index, step in enumerate(steps):
        if not ok and not (step.split()[0] == "destroy" and index > 0):
            continue
        if step == "verify" and installed:
            report_dir.mkdir(parents=True, exist_ok=True)
            print(f"== {name}: verify with the check library installed in {installed_venv}", flush=True)
            command = installed_verify(installed_venv, report_dir)
            cwd = "/tmp"
        elif step == "run":
            command, cwd = ENTRY_POINTS[name] + [f"REPORTS={reports}"], ROOT
        elif step.startswith("destroy "):
            command, cwd = ["molecule", "destroy", "-s", step.split()[1]], ROOT
        else:
            command, cwd = ["molecule", step, "-s", name], ROOT
        ok = subprocess.run(command, cwd=cwd, env=env, check=False).returncode == 0 and ok
    return ok


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=ROOT / "reports")
    parser.add_argument("--installed-venv")
    parser.add_argument("groups", nargs="+")
    args = parser.parse_args(argv)
    reports = args.reports.resolve()
    durations = reports / "durations"
    order = [step for group in args.groups for step in plan(group)]
    names = [name for name, _ in order]
    for name in names:
        (reports / name / "junit.xml").unlink(missing_ok=True)
    failed = []
    begun = time.monotonic()
    for k, (name, steps) in enumerate(order, 1):
        start = time.monotonic()
        left = progress.estimate(durations, names[k - 1:])
        print(f"== [{k}/{len(order)}] scenario {name} ({start - begun:.0f}s so far, about {left}s to go)", flush=True)
        ok = run_scenario(name, steps, reports, args.installed_venv)
        seconds = time.monotonic() - start
        progress.record(durations, name, seconds)
        print(f"== [{k}/{len(order)}] scenario {name} {'passed' if ok else 'FAILED'} in {seconds:.0f}s", flush=True)
        if not ok:
            failed.append(name)
    reports_found = [str(reports / name / "junit.xml") for name in dict.fromkeys(names)
                     if (reports / name / "junit.xml").exists()]
    rc = junit_total.main(reports_found)
    if failed:
        print(f"failed scenarios: {' '.join(failed)}")
    return 1 if failed or rc else 0


if __name__ == "__main__":
    sys.exit(main())
