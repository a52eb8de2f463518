"""The packages under test are the ones asked for (GPE_EXPORTER_PACKAGE, GPE_GUNICORN_PACKAGE)."""

import re

import pytest

DISTRIBUTIONS = {"exporter_package": "gunicorn-prometheus-exporter", "gunicorn_package": "gunicorn"}


def _normal(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed(place, venv):
    """Normalised distribution name -> its `pip freeze` line, from the app's virtualenv."""
    lines = place.check_output(f"{venv}/bin/python -m pip freeze --disable-pip-version-check").splitlines()
    return {_normal(re.split(r"\s*(?:==|@)\s*", line, maxsplit=1)[0]): line for line in lines}


@pytest.mark.parametrize("package", sorted(DISTRIBUTIONS))
def test_package_under_test_is_installed(stack, package, record):
    spec = getattr(stack.app, package).strip()
    line = _installed(stack.app_place, stack.app.venv).get(DISTRIBUTIONS[package], "")
    record(line, spec)
    pinned = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)", spec)
    if pinned:
        assert line == f"{pinned.group(1)}=={pinned.group(2)}" or _normal(line) == _normal(spec), line
    elif "/" in spec:
        # A wheel, a directory or a VCS URL is recorded as a direct reference to it.
        source = spec.rstrip("/").rsplit("/", 1)[-1].split("#")[0].split("@")[0]
        assert " @ " in line and source in line, f"asked for {spec}, the virtualenv has {line or 'nothing'}"
    else:
        assert line, f"{DISTRIBUTIONS[package]} is not installed"
