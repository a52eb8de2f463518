# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The summary groups checks by area, counts the checks that do not apply apart with their
reasons, and names each strict xfail's upstream reference; every check has one area."""

import importlib
import pkgutil
from types import SimpleNamespace

import pytest

import gpe_checks.checks
from gpe_checks.areas import AREAS, DISRUPTIVE
from gpe_checks.report import Report


def _item(nodeid, *markers):
    return SimpleNamespace(nodeid=nodeid, fixturenames=("stack",),
                           iter_markers=lambda: [SimpleNamespace(name=name) for name in markers])


def _report(nodeid, when, outcome, longrepr=None, **extra):
    return SimpleNamespace(nodeid=nodeid, when=when, outcome=outcome, skipped=outcome == "skipped",
                           duration=0.5, longrepr=longrepr, **extra)


def test_summary_groups_by_area_and_counts_not_applicable_apart():
    report = Report()
    report.pytest_collection_modifyitems([
        _item("m.py::test_port[s]", "ports"), _item("m.py::test_ttl[s]", "redis"),
        _item("m.py::test_gauge[s]", "metrics"), _item("m.py::test_keys[s]", "redis"),
        _item("m.py::test_custom[s]"),
    ])
    report.record("m.py::test_port[s]", "8088", "8088")
    for event in [
        _report("m.py::test_port[s]", "setup", "passed"),
        _report("m.py::test_port[s]", "call", "passed"),
        _report("m.py::test_ttl[s]", "setup", "skipped", ("f", 1, "Skipped: files, not Redis")),
        _report("m.py::test_keys[s]", "setup", "skipped", ("f", 1, "Skipped: files, not Redis")),
        _report("m.py::test_gauge[s]", "call", "skipped", wasxfail="upstream defect (repo 0.2.4): gauge"),
        _report("m.py::test_custom[s]", "call", "failed"),
    ]:
        report.pytest_runtest_logreport(event)
    text = report.markdown()
    assert text.splitlines()[0] == "1 passed, 1 failed, 1 xfailed, 2 not applicable"
    assert "## ports: 1 passed, 0 failed, 0 xfailed, 0 not applicable" in text
    assert "| test_port[s] | passed | 8088 | 8088 | 0.50s |" in text
    assert "## redis: 0 passed, 0 failed, 0 xfailed, 2 not applicable\n\n(none applies to this stack)" in text
    assert "| test_gauge[s] | xfail [D1] |" in text
    assert "- files, not Redis (2): test_ttl[s], test_keys[s]" in text
    assert "- D1: upstream defect (repo 0.2.4): gauge. Checks: test_gauge[s]" in text
    assert "## other: 0 passed, 1 failed" in text
    assert "test_ttl" not in text.split("## Not applicable")[0]  # no rows of skipped checks


def _check_modules():
    return [importlib.import_module(f"gpe_checks.checks.{info.name}")
            for info in pkgutil.iter_modules(gpe_checks.checks.__path__) if info.name.startswith("test_")]


@pytest.mark.parametrize("module", _check_modules(), ids=lambda module: module.__name__.rsplit(".", 1)[-1])
def test_every_check_module_names_one_area(module):
    marks = module.pytestmark if isinstance(module.pytestmark, list) else [module.pytestmark]
    names = [mark.name for mark in marks]
    assert len([name for name in names if name in AREAS]) == 1
    assert set(names) <= {*AREAS, DISRUPTIVE}
