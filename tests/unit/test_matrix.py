# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The compatibility matrix's bookkeeping (tools/matrix.py): cells, shared virtualenvs,
results read from JUnit, error lines and the table."""

import importlib.util
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
spec = importlib.util.spec_from_file_location("matrix", ROOT / "tools/matrix.py")
matrix = importlib.util.module_from_spec(spec)
spec.loader.exec_module(matrix)

EXPORTERS = ["gunicorn-prometheus-exporter==0.2.4", "gunicorn-prometheus-exporter==0.2.3"]
GUNICORNS = ["gunicorn==21.2.0", "gunicorn==27.0.1"]


def test_worker_classes_are_their_host_scenarios():
    assert matrix.worker_settings("sync") == ("PrometheusWorker", [])
    assert matrix.worker_settings("gthread") == ("PrometheusThreadWorker", [])
    gevent_class, gevent_requirements = matrix.worker_settings("gevent")
    assert gevent_class == "PrometheusGeventWorker" and [r.split("==")[0] for r in gevent_requirements] == ["gevent"]
    assert matrix.worker_settings("eventlet")[0] == "PrometheusEventletWorker"


def test_every_combination_is_a_cell_and_storages_share_a_virtualenv():
    found = matrix.cells(EXPORTERS, GUNICORNS, ["sync", "gevent"], ["file", "redis"], "redis>=4.0.0")
    assert len(found) == 16 and [c["number"] for c in found] == list(range(1, 17))
    assert len({(c["exporter"], c["gunicorn"], c["worker"], c["storage"]) for c in found}) == 16
    by_venv = {}
    for cell in found:
        by_venv.setdefault(cell["venv"], []).append(cell)
    assert len(by_venv) == 8
    for shared in by_venv.values():
        assert [c["storage"] for c in shared] == ["file", "redis"]
        assert shared[0]["packages"] == shared[1]["packages"] and "redis>=4.0.0" in shared[0]["packages"]
    assert all(c["venv"].startswith(str(matrix.VENVS)) for c in found)


def test_a_local_exporter_gets_a_virtualenv_per_cell():
    found = matrix.cells(["/tmp/dist/gunicorn_prometheus_exporter-0.2.5-py3-none-any.whl"], GUNICORNS[:1], ["sync"],
                         ["file", "redis"], "redis>=4.0.0")
    assert [c["venv"] for c in found] == ["/opt/gpe-matrix/matrix-01/app/venv", "/opt/gpe-matrix/matrix-02/app/venv"]
    assert matrix.is_local("git+https://example.invalid/exporter.git") and not matrix.is_local(EXPORTERS[0])


def test_the_inventory_names_one_local_host_per_cell():
    found = matrix.cells(EXPORTERS[:1], GUNICORNS[:1], ["gthread"], ["redis"], "redis>=4.0.0")
    cells = matrix.inventory(found)["all"]["children"]["matrix_cells"]
    assert cells["vars"]["ansible_connection"] == "local"
    assert cells["hosts"]["cell-01"]["matrix_cell"] == {
        "number": 1, "exporter": EXPORTERS[0], "gunicorn": GUNICORNS[0], "worker_class": "PrometheusThreadWorker",
        "requirements": [], "storage": "redis", "venv": found[0]["venv"]}


def test_the_latest_version_is_read_from_the_index():
    fake_pip = [sys.executable, "-c", "print('gunicorn (27.0.1)'); print('Available versions: 27.0.1, 23.0.0')"]
    assert matrix.latest_version("gunicorn", pip=fake_pip) == "27.0.1"


def test_the_error_line_is_the_last_exception():
    log = """[ERROR] Unhandled exception in main loop
Traceback (most recent call last):
AttributeError: 'list' object has no attribute 'get'
During handling of the above exception, another exception occurred:
AttributeError: 'list' object has no attribute 'put_nowait'
[INFO] Worker exiting (pid: 1724)"""
    assert matrix.error_line(log) == "AttributeError: 'list' object has no attribute 'put_nowait'"
    assert matrix.error_line("Collecting x\nERROR: No matching distribution found for x==9\n") == \
        "ERROR: No matching distribution found for x==9"
    assert matrix.error_line("") == "no output"


def _junit(path, cases):
    suite = ET.Element("testsuite")
    for name, outcome in cases:
        case = ET.SubElement(suite, "testcase", classname="checks", name=name)
        if outcome == "failure":
            ET.SubElement(case, "failure", message="AssertionError: requests_total 3 != 4\nmore")
        elif outcome == "xfail":
            ET.SubElement(case, "skipped", type="pytest.xfail", message="upstream defect")
        elif outcome == "skip":
            ET.SubElement(case, "skipped", type="pytest.skip", message="not applicable")
    ET.ElementTree(ET.Element("testsuites")).getroot().append(suite)
    tree = ET.ElementTree(ET.Element("testsuites"))
    tree.getroot().append(suite)
    tree.write(path)


def test_results_and_verdicts_come_from_junit(tmp_path):
    _junit(tmp_path / "a.xml", [("test_ports", "pass"), ("test_counts", "failure"), ("test_later", "failure"),
                                ("test_state", "xfail"), ("test_ttl", "skip")])
    counts, first = matrix.junit_result(tmp_path / "a.xml")
    assert counts == {"passed": 1, "failed": 2, "xfailed": 1, "n/a": 1}
    assert first == ("test_counts", "AssertionError: requests_total 3 != 4")
    assert matrix.verdict({"deployed": True, "counts": counts}) == "fail"
    assert matrix.verdict({"deployed": True, "counts": {**counts, "failed": 0}}) == "xfail"
    assert matrix.verdict({"deployed": True, "counts": {**counts, "failed": 0, "xfailed": 0}}) == "pass"
    assert matrix.verdict({"deployed": True, "counts": {"passed": 0, "failed": 0, "xfailed": 0, "n/a": 5}}) == "fail"
    assert matrix.verdict({"deployed": False, "counts": counts}) == "fail"


def test_the_table_and_junit_show_each_cell(tmp_path):
    found = matrix.cells(EXPORTERS[:1], GUNICORNS, ["sync"], ["file"], "redis>=4.0.0")
    (tmp_path / "matrix-01").mkdir()
    _junit(tmp_path / "matrix-01/junit.xml", [("test_ports", "pass"), ("test_state", "xfail")])
    results = {1: {"deployed": True, "counts": {"passed": 1, "failed": 0, "xfailed": 1, "n/a": 0}, "first": None},
               2: {"deployed": False, "error": "AttributeError: 'list' object has no attribute 'put_nowait'",
                   "deploy_message": "did not start", "counts": {"passed": 0, "failed": 0, "xfailed": 0, "n/a": 0},
                   "first": None}}
    text = matrix.markdown(found, results, 12.0)
    assert "2 cells in 12 s: 0 pass, 1 xfail, 1 fail" in text
    assert "| 0.2.4 | 21.2.0 | xfail 1 |" in text and "| 0.2.4 | 27.0.1 | **fail** (02) |" in text
    assert ("- 02 (exporter 0.2.4, gunicorn 27.0.1, sync/file): deployment: "
            "AttributeError: 'list' object has no attribute 'put_nowait'") in text
    suites = matrix.junit(found, results, tmp_path).getroot()
    assert [s.get("name") for s in suites] == ["matrix-01 exporter 0.2.4 gunicorn 21.2.0 sync/file",
                                               "matrix-02 exporter 0.2.4 gunicorn 27.0.1 sync/file"]
    assert (suites[0].get("tests"), suites[0].get("skipped"), suites[1].get("failures")) == ("2", "1", "1")
    assert suites[1][0].get("name") == "deploy"


def test_a_virtualenv_that_cannot_be_installed_gives_its_error_line(tmp_path):
    line = matrix.install_venv(str(tmp_path / "venv"), ["--no-index", "no-such-package-anywhere==1.0"], python=sys.executable)
    assert "no-such-package-anywhere" in line and line.startswith("ERROR:")
    assert subprocess.run([tmp_path / "venv/bin/python", "-c", "pass"], check=False).returncode == 0


def test_a_failing_cell_shows_its_apps_last_exception():
    log = "[INFO] Booting worker\nTraceback (most recent call last):\nAttributeError: 'list' object has no attribute 'put_nowait'\n"
    assert matrix.app_exception(log) == "AttributeError: 'list' object has no attribute 'put_nowait'"
    assert matrix.app_exception("[INFO] Booting worker with pid: 7\n[INFO] an error page was served\n") == ""
    found = matrix.cells(EXPORTERS[:1], GUNICORNS[1:], ["sync"], ["file"], "redis>=4.0.0")
    result = {"deployed": True, "counts": {"passed": 2, "failed": 3, "xfailed": 0, "n/a": 0},
              "first": ("test_listens[matrix-01-app]", "AssertionError: assert [] == ['tcp://127.0.0.1:20010']"),
              "app_error": "AttributeError: 'list' object has no attribute 'put_nowait'"}
    assert ("`test_listens[matrix-01-app]`: AssertionError: assert [] == ['tcp://127.0.0.1:20010'] (the app's log: "
            "AttributeError: 'list' object has no attribute 'put_nowait')") in matrix.markdown(found, {1: result}, 1.0)
