# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The closing total `make test` prints from the scenarios' JUnit reports."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("junit_total", ROOT / "tools/junit_total.py")
junit_total = importlib.util.module_from_spec(spec)
spec.loader.exec_module(junit_total)


def _report(tmp_path, scenario, tests, failures, errors, skipped, xfailed=0):
    folder = tmp_path / scenario
    folder.mkdir()
    path = folder / "junit.xml"
    cases = ('<testcase name="x"><skipped type="pytest.xfail" message="upstream defect"/></testcase>' * xfailed
             + '<testcase name="n"><skipped type="pytest.skip" message="file storage"/></testcase>' * (skipped - xfailed))
    path.write_text(
        f'<testsuites><testsuite name="pytest" tests="{tests}" failures="{failures}" '
        f'errors="{errors}" skipped="{skipped}">{cases}</testsuite></testsuites>'
    )
    return str(path)


def test_totals_over_scenarios(tmp_path, capsys):
    paths = [_report(tmp_path, "default", 29, 0, 0, 9, xfailed=4), _report(tmp_path, "redis", 29, 1, 1, 5, xfailed=5)]
    assert junit_total.main(paths) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "default: 20 passed, 0 failed, 4 xfailed, 5 not applicable",
        "redis: 22 passed, 2 failed, 5 xfailed, 0 not applicable",
        "e2e: 42 passed, 2 failed, 9 xfailed, 5 not applicable",
    ]


def test_no_report_is_a_failure(capsys):
    assert junit_total.main([]) == 1
    assert capsys.readouterr().out.strip() == "e2e: 0 passed, 0 failed, 0 xfailed, 0 not applicable"


def test_failed_checks_listed_before_the_total(tmp_path, capsys):
    folder = tmp_path / "redis"
    folder.mkdir()
    path = folder / "junit.xml"
    path.write_text(
        '<testsuites><testsuite name="pytest" tests="3" failures="1" errors="1" skipped="0">'
        '<testcase classname="tests.e2e.test_20_counts" name="test_counts[ansible://localhost-app]">'
        '<failure message="AssertionError: counted 3, sent 4&#10;assert 3 == 4">trace</failure>'
        "</testcase>"
        '<testcase classname="tests.e2e.test_90_expiry" name="test_expiry">'
        '<error message="">WaitTimeout: waited 5s</error></testcase>'
        '<testcase classname="tests.e2e.test_10_ports" name="test_ok"/>'
        "</testsuite></testsuites>"
    )
    assert junit_total.main([str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "redis: 1 passed, 2 failed, 0 xfailed, 0 not applicable",
        "failed checks:",
        "  redis test_20_counts::test_counts[app]: AssertionError: counted 3, sent 4",
        "  redis test_90_expiry::test_expiry: WaitTimeout: waited 5s",
        "e2e: 1 passed, 2 failed, 0 xfailed, 0 not applicable",
    ]
