# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""How `make test` runs scenarios: which Molecule steps each scenario of a group runs."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
spec = importlib.util.spec_from_file_location("scenarios", ROOT / "tools/scenarios.py")
scenarios = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scenarios)


def _scenario(root, name, sequence=None, playbooks=()):
    directory = root / "molecule" / name
    directory.mkdir(parents=True)
    text = f"scenario:\n  test_sequence: {sequence}\n" if sequence else "---\n"
    (directory / "molecule.yml").write_text(text)
    for playbook in playbooks:
        (directory / playbook).write_text("---\n")


def test_a_single_scenario_runs_what_molecule_test_runs_that_has_something_to_run(tmp_path):
    _scenario(tmp_path, "default")
    _scenario(tmp_path, "prepared", playbooks=["prepare.yml"])
    assert scenarios.plan("default", tmp_path) == [
        ("default", ["destroy", "syntax", "converge", "idempotence", "verify", "destroy"])]
    assert scenarios.plan("prepared", tmp_path)[0][1][:4] == ["destroy", "syntax", "prepare", "converge"]
    # A playbook named by the shared configuration counts as well.
    (tmp_path / ".config/molecule").mkdir(parents=True)
    (tmp_path / ".config/molecule/config.yml").write_text("provisioner:\n  playbooks:\n    create: x.yml\n")
    assert scenarios.plan("default", tmp_path)[0][1][:3] == ["destroy", "syntax", "create"]


def test_a_group_destroys_before_its_first_scenario_and_after_its_last_only(tmp_path):
    for name in ("thread", "gevent", "eventlet"):
        _scenario(tmp_path, name, "[destroy, converge, verify, destroy]")
    assert scenarios.plan("thread+gevent+eventlet", tmp_path) == [
        ("thread", ["destroy", "converge", "verify"]),
        ("gevent", ["converge", "verify"]),
        ("eventlet", ["converge", "verify", "destroy"]),
    ]


def test_an_entry_point_runs_on_the_group_deployment_and_its_first_scenario_destroys_it(tmp_path):
    _scenario(tmp_path, "multinode", "[destroy, create, converge, verify, destroy]", playbooks=["create.yml"])
    assert scenarios.plan("multinode+vms", tmp_path) == [
        ("multinode", ["destroy", "create", "converge", "verify"]),
        ("vms", ["run", "destroy multinode"]),
    ]


def test_every_scenario_of_make_test_exists_once():
    groups = next(line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith("SCENARIOS ?="))
    names = [name for group in groups.split("=", 1)[1].split() for name in group.split("+")]
    assert len(names) == len(set(names)) >= 11
    for name in names:
        if name in scenarios.ENTRY_POINTS:
            continue
        assert (ROOT / "molecule" / name / "molecule.yml").exists(), name
        assert scenarios.plan(name)  # its steps are readable
