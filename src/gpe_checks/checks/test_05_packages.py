# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The packages under test are exactly the ones asked for (GPE_EXPORTER_PACKAGE,
GPE_GUNICORN_PACKAGE), in every virtualenv of the stack that runs them (the app's, the
sidecar's): by name, by version, and by source (an index, or the wheel of the very file,
directory or repository given, file by file)."""

import pytest

from gpe_checks.packages import installed, source_problems, summary

pytestmark = pytest.mark.packages


@pytest.mark.parametrize("package", ["exporter", "gunicorn"])
def test_package_under_test_is_installed(stack, package, record):
    holders = [part for part in stack.components.values() if part.packages and package in part.packages.under_test]
    assert stack.app in holders, f"{stack.app.source} names no {package} under test (packages.under_test)"
    found = {part.name: installed(stack.place(part).check_output, part.packages.venv, part.packages.under_test[package])
             for part in holders}
    record("; ".join(f"{name}: {summary(item)}" for name, item in found.items()),
           stack.app.packages.under_test[package].spec)
    problems = {part.name: source_problems(part.packages.under_test[package], found[part.name]) for part in holders}
    assert not any(problems.values()), problems
