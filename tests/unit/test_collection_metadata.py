# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The collection's metadata agrees with itself and with what the roles use."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "collections/ansible_collections/gunicorn_prometheus/stack"


def _used_collections():
    """Collections named by the FQCN modules of the roles, playbooks and scenarios."""
    texts = [p.read_text() for folder in (COLLECTION / "roles", ROOT / "playbooks", ROOT / "molecule")
             for p in folder.rglob("*.yml")]
    found = {m.group(1) for text in texts for m in re.finditer(r"\b([a-z_]+\.[a-z_]+)\.[a-z0-9_]+:", text)}
    return {name for name in found if name.split(".")[0] in ("community", "ansible", "kubernetes")
            and name not in ("ansible.builtin",)}


def test_requirements_and_galaxy_dependencies_name_exactly_the_collections_used():
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    requirements = yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]
    assert {entry["name"]: entry["version"] for entry in requirements} == galaxy["dependencies"]
    assert set(galaxy["dependencies"]) == _used_collections()
    for version in galaxy["dependencies"].values():
        assert re.fullmatch(r">=[0-9.]+,<[0-9.]+", version), f"{version}: give a lower and an upper bound"


def test_one_version_in_galaxy_and_pyproject():
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^version = "([^"]+)"', pyproject, re.MULTILINE).group(1) == galaxy["version"]


def test_role_readmes_are_current():
    result = subprocess.run([sys.executable, str(ROOT / "tools/role_readmes.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_built_collection_runs_its_playbooks_by_name(tmp_path):
    """`ansible-galaxy collection build` and `install`, then every playbook by its FQCN."""
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path), "ANSIBLE_COLLECTIONS_PATH": str(tmp_path)}
    bindir = Path(sys.executable).parent
    subprocess.run([bindir / "ansible-galaxy", "collection", "build", COLLECTION, "--output-path", tmp_path],
                   check=True, capture_output=True, env=env)
    archive = next(tmp_path.glob("gunicorn_prometheus-stack-*.tar.gz"))
    subprocess.run([bindir / "ansible-galaxy", "collection", "install", "--no-deps", "-p", tmp_path, archive],
                   check=True, capture_output=True, env=env)
    installed = tmp_path / "ansible_collections/gunicorn_prometheus/stack/playbooks"
    names = sorted(path.stem for path in (COLLECTION / "playbooks").glob("*.yml"))
    assert sorted(path.stem for path in installed.glob("*.yml")) == names
    result = subprocess.run(
        [bindir / "ansible-playbook", "--syntax-check", "-i", ROOT / "inventories/local/hosts.yml",
         *[f"gunicorn_prometheus.stack.{name}" for name in names]],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(f"{installed}/") == len(names)
