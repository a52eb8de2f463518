# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""`make vms`: the second deployment must change nothing, read from Ansible's recap."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
spec = importlib.util.spec_from_file_location("vms", ROOT / "tools/vms.py")
vms = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vms)

RECAP = """
PLAY RECAP *********************************************************************
app1                       : ok=63   changed=0    unreachable=0    failed=0    skipped=14
\x1b[0;33mapp2\x1b[0m                       : \x1b[0;32mok=63  \x1b[0m \x1b[0;33mchanged=2   \x1b[0m unreachable=0
infra                      : ok=100  changed=0    unreachable=0    failed=0    skipped=14
"""


def test_changed_hosts_are_read_from_the_recap_coloured_or_not():
    assert vms.changed_hosts(RECAP) == {"app2": 2}
    assert vms.changed_hosts(RECAP.replace("changed=2", "changed=0")) == {}


def test_the_checks_run_as_the_readme_says_against_the_inventory(tmp_path):
    command = vms.checks_command("pytest", "tests/vms/hosts.yml", tmp_path)
    assert command[:3] == ["pytest", "--pyargs", "gpe_checks.checks"]
    assert "--connection=ansible" in command and "--ansible-inventory=tests/vms/hosts.yml" in command
    assert f"--junitxml={tmp_path / 'junit.xml'}" in command


def test_a_missing_inventory_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        vms.main(["--inventory", str(tmp_path / "none.yml")])
    assert stop.value.code == 2
    assert "no inventory at" in capsys.readouterr().err


def test_secret_values_are_the_plain_passwords_anywhere_in_the_variables():
    variables = [{"_meta": {"hostvars": {"infra": {"vault_redis_password": "s3cret", "redis_password":
                                                   "{{ vault_redis_password }}", "redis_port": 6379}}}},
                 {"ansible_become_password": "other", "nested": [{"PASSWORD_x": ""}]}]
    assert vms.secret_values(variables) == {"s3cret", "other"}


def test_mask_replaces_and_counts_every_secret():
    assert vms.mask("requirepass s3cret s3cret other\n", {"s3cret", "other"}) == (
        "requirepass ******** ******** ********\n", 3)
    assert vms.mask("nothing here\n", {"s3cret"}) == ("nothing here\n", 0)
