# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Every role's defaults/main.yml and meta/argument_specs.yml mirror each other."""

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[2] / "collections/ansible_collections/gunicorn_prometheus/stack/roles"
ROLE_NAMES = sorted(p.name for p in ROLES.iterdir() if (p / "defaults/main.yml").exists())


def _load(role, relative):
    return yaml.safe_load((ROLES / role / relative).read_text()) or {}


def test_every_role_is_found():
    assert {"gunicorn_app", "prometheus", "redis", "service"} <= set(ROLE_NAMES)


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_argument_specs_mirror_defaults(role):
    defaults = _load(role, "defaults/main.yml")
    specs = _load(role, "meta/argument_specs.yml")["argument_specs"]
    for entry, spec in specs.items():
        # A required option has no default, so it is the one key defaults may lack.
        # Other entry points may take a subset of the options.
        options = {k: v for k, v in spec["options"].items() if not v.get("required")}
        if entry != "main":
            assert set(options) <= set(defaults), f"{role}:{entry} has options without defaults"
            defaults_here = {k: defaults[k] for k in options}
        else:
            defaults_here = defaults
        assert set(options) == set(defaults_here), (
            f"{role}:{entry} spec and defaults differ: "
            f"only in spec {sorted(set(options) - set(defaults))}, "
            f"only in defaults {sorted(set(defaults_here) - set(options))}"
        )
        for name, option in options.items():
            assert "type" in option and option.get("description"), f"{role}: {name} needs a type and a description"
            assert option.get("default") == defaults[name], (
                f"{role}: default of {name} is {defaults[name]!r} in defaults but {option.get('default')!r} in the spec"
            )


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_public_variables_carry_the_role_prefix(role):
    for name in _load(role, "defaults/main.yml"):
        assert name.startswith(f"{role}_"), f"{role}: {name} must start with {role}_"
