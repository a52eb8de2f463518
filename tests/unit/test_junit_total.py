"""The closing total `make test` prints from the scenarios' JUnit reports."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("junit_total", ROOT / "tools/junit_total.py")
junit_total = importlib.util.module_from_spec(spec)
spec.loader.exec_module(junit_total)


def _report(tmp_path, scenario, tests, failures, errors, skipped):
    folder = tmp_path / scenario
    folder.mkdir()
    path = folder / "junit.xml"
    path.write_text(
        f'<testsuites><testsuite name="pytest" tests="{tests}" failures="{failures}" '
        f'errors="{errors}" skipped="{skipped}"/></testsuites>'
    )
    return str(path)


def test_totals_over_scenarios(tmp_path, capsys):
    paths = [_report(tmp_path, "default", 29, 0, 0, 9), _report(tmp_path, "redis", 29, 1, 1, 5)]
    assert junit_total.main(paths) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "default: 20 passed, 0 failed, 9 skipped",
        "redis: 22 passed, 2 failed, 5 skipped",
        "e2e: 42 passed, 2 failed, 14 skipped",
    ]


def test_no_report_is_a_failure(capsys):
    assert junit_total.main([]) == 1
    assert capsys.readouterr().out.strip() == "e2e: 0 passed, 0 failed, 0 skipped"
