# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""`make matrix`: the host scenario's core checks across exporter versions, Gunicorn
versions, worker classes and storage backends, one stack per cell on this machine.

    python tools/matrix.py [--exporters SPEC ...] [--gunicorns VERSION|latest ...]
                           [--workers sync gthread gevent eventlet] [--storages file redis]
                           [--jobs N] [--reports DIR] [--keep]

1. Every cell becomes a host of a generated inventory; playbooks/matrix.yml installs the
   virtualenvs the cells share (one per set of packages, all at once) and deploys every
   cell with the collection's roles: ports from the cell's number, its own Redis and
   supervisord. A cell that cannot be deployed keeps its error line.
2. The check library runs against each deployed cell (`--stack matrix-NN`, the checks
   that need no Prometheus and no load tool, up to the third failure), --jobs cells at a time.
3. playbooks/matrix_absent.yml removes every cell (unless --keep).
4. DIR/matrix.md: pass / xfail / fail per cell, the first failing check and its error
   line; DIR/junit.xml: one test suite per cell (a failed deployment is a failed case).

A worker class is what its host scenario sets (molecule/<scenario>/molecule.yml: the class
and its requirements). The virtualenvs stay in /var/cache/gpe-matrix/venvs between runs.
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
ROLES = ROOT / "collections/ansible_collections/gunicorn_prometheus/stack/roles"
VENVS = Path("/var/cache/gpe-matrix/venvs")
CELL_DIRS = [Path("/opt/gpe-matrix"), Path("/etc/gpe-matrix"), Path("/var/lib/gpe-matrix")]
# Worker class name -> the host scenario that runs it.
WORKER_SCENARIOS = {"sync": "default", "gthread": "thread", "gevent": "gevent", "eventlet": "eventlet"}
EXPORTERS = ["gunicorn-prometheus-exporter==0.2.4", "gunicorn-prometheus-exporter==0.2.3"]
GUNICORNS = ["21.2.0", "22.0.0", "23.0.0", "latest"]
CORE_CHECKS = "not prometheus and not load"
PORT_BASE = 20000
# A cell stops at its third failed check: a broken combination would otherwise wait out
# every check's timeout, and its first failure is what the table shows.
MAX_FAILURES = 3


def worker_settings(name):
    """(worker class, requirements) as the worker's host scenario sets them."""
    defaults = yaml.safe_load((ROLES / "gunicorn_app/defaults/main.yml").read_text())
    scenario = yaml.safe_load((ROOT / "molecule" / WORKER_SCENARIOS[name] / "molecule.yml").read_text())
    host = scenario["provisioner"]["inventory"]["host_vars"]["localhost"]
    return (host.get("gunicorn_app_worker_class", defaults["gunicorn_app_worker_class"]),
            host.get("gunicorn_app_requirements", defaults["gunicorn_app_requirements"]))


def latest_version(package, pip=(sys.executable, "-m", "pip")):
    """The newest version the package index offers (pip's own configuration, mirror included)."""
    done = subprocess.run([*pip, "index", "versions", package], capture_output=True, text=True, check=False)
    match = re.match(rf"{re.escape(package)} \(([^)]+)\)", done.stdout)
    if not match:
        raise SystemExit(f"the package index named no version of {package}: {done.stdout}{done.stderr}")
    return match.group(1)


def is_local(spec):
    """A path or a version control URL: the role builds its wheel in the cell's own directory."""
    return spec.startswith(("/", ".", "git+", "file:")) or spec.endswith((".whl", ".tar.gz", ".zip"))


def cells(exporters, gunicorns, workers, storages, redis_client):
    """Every combination, numbered from 1, each with the virtualenv it shares."""
    found = []
    for exporter in exporters:
        for gunicorn in gunicorns:
            for worker in workers:
                worker_class, requirements = worker_settings(worker)
                packages = [exporter, gunicorn, redis_client, *requirements]
                key = hashlib.sha256("\n".join(packages).encode()).hexdigest()[:12]
                for storage in storages:
                    number = len(found) + 1
                    found.append({
                        "number": number, "exporter": exporter, "gunicorn": gunicorn, "worker": worker,
                        "worker_class": worker_class, "requirements": requirements, "storage": storage,
                        # A local package gets a virtualenv per cell: the role reinstalls its wheel.
                        "venv": f"/opt/gpe-matrix/matrix-{number:02d}/app/venv" if is_local(exporter) else str(VENVS / key),
                        "packages": packages,
                    })
    return found


def inventory(found):
    return {"all": {"hosts": {"localhost": {"ansible_connection": "local"}},
                    "children": {"matrix_cells": {
                        "vars": {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3",
                                 "gpe_stack_reach_address": "127.0.0.1"},
                        "hosts": {f"cell-{c['number']:02d}": {"matrix_cell": {k: c[k] for k in (
                            "number", "exporter", "gunicorn", "worker_class", "requirements", "storage", "venv")}}
                                  for c in found}}}}}


def error_line(text):
    """The line that says what went wrong: an exception's last line, else pip's error, else the last line."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    for pattern in (r"^[\w.]*(Error|Exception)\b", r"^ERROR:", r"error", r"."):
        chosen = [line for line in lines if re.search(pattern, line)]
        if chosen:
            return chosen[-1][:300]
    return "no output"


def app_exception(log):
    """The last exception line of the app's log, "" when it shows none."""
    return error_line(log) if re.search(r"^[\w.]*(Error|Exception)\b", log, re.MULTILINE) else ""


def junit_result(path):
    """(counts, first failure) of a pytest JUnit file: counts of passed, failed, xfailed and
    not applicable; the first failure as (check, error line) or None."""
    counts = {"passed": 0, "failed": 0, "xfailed": 0, "n/a": 0}
    first = None
    for case in ET.parse(path).iter("testcase"):
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        skipped = case.find("skipped")
        if problem is not None:
            counts["failed"] += 1
            if first is None:
                text = (problem.get("message") or problem.text or "").strip()
                first = (case.get("name"), text.splitlines()[0][:300] if text else "no message")
        elif skipped is not None:
            counts["xfailed" if skipped.get("type") == "pytest.xfail" else "n/a"] += 1
        else:
            counts["passed"] += 1
    return counts, first


def verdict(result):
    if not result["deployed"] or result["counts"]["failed"] or not result["counts"]["passed"]:
        return "fail"
    return "xfail" if result["counts"]["xfailed"] else "pass"


def label(cell):
    return f"{cell['worker']}/{cell['storage']}"


def short(spec):
    return spec.split("==", 1)[1] if "==" in spec else spec


def markdown(found, results, took):
    columns = list(dict.fromkeys(label(c) for c in found))
    rows = list(dict.fromkeys((c["exporter"], c["gunicorn"]) for c in found))
    table = {(c["exporter"], c["gunicorn"], label(c)): c for c in found}
    tally = {v: sum(verdict(results[c["number"]]) == v for c in found) for v in ("pass", "xfail", "fail")}
    lines = [f"# Compatibility matrix\n\n{len(found)} cells in {took:.0f} s: {tally['pass']} pass, {tally['xfail']} xfail, "
             f"{tally['fail']} fail. Checks: `-m \"{CORE_CHECKS}\"`. pass: every check passed; xfail: the rest are known "
             f"upstream defects (strict xfail); fail: a check failed or the cell could not be deployed.\n",
             "| exporter | gunicorn | " + " | ".join(columns) + " |", "| --- | --- | " + " | ".join("---" for _ in columns) + " |"]
    for exporter, gunicorn in rows:
        marks = []
        for column in columns:
            cell = table.get((exporter, gunicorn, column))
            if cell is None:
                marks.append("")
                continue
            result = results[cell["number"]]
            marks.append({"pass": "pass", "xfail": f"xfail {result['counts']['xfailed']}",
                          "fail": f"**fail** ({cell['number']:02d})"}[verdict(result)])
        lines.append(f"| {short(exporter)} | {short(gunicorn)} | " + " | ".join(marks) + " |")
    failing = [c for c in found if verdict(results[c["number"]]) == "fail"]
    if failing:
        lines += ["", "## Failing cells", ""]
        for cell in failing:
            result = results[cell["number"]]
            where = "deployment" if not result["deployed"] else f"`{result['first'][0]}`" if result["first"] else "no check passed"
            line = result["error"] if not result["deployed"] else result["first"][1] if result["first"] else ""
            also = f" (the app's log: {result['app_error']})" if result.get("app_error") else ""
            lines.append(f"- {cell['number']:02d} (exporter {short(cell['exporter'])}, gunicorn {short(cell['gunicorn'])}, "
                         f"{label(cell)}): {where}: {line}{also}")
    return "\n".join(lines) + "\n"


def junit(found, results, cells_dir):
    """One test suite per cell: its checks' cases, or one failed case for its deployment."""
    suites = ET.Element("testsuites", name="compatibility matrix")
    for cell in found:
        result = results[cell["number"]]
        name = f"matrix-{cell['number']:02d} exporter {short(cell['exporter'])} gunicorn {short(cell['gunicorn'])} {label(cell)}"
        suite = ET.SubElement(suites, "testsuite", name=name)
        if not result["deployed"]:
            case = ET.SubElement(suite, "testcase", classname=name, name="deploy")
            ET.SubElement(case, "failure", message=result["error"]).text = result["deploy_message"]
        else:
            for case in ET.parse(cells_dir / f"matrix-{cell['number']:02d}" / "junit.xml").iter("testcase"):
                suite.append(case)
        counts = {"tests": len(suite), "failures": sum(c.find("failure") is not None for c in suite),
                  "errors": sum(c.find("error") is not None for c in suite),
                  "skipped": sum(c.find("skipped") is not None for c in suite)}
        suite.attrib.update({k: str(v) for k, v in counts.items()})
    return ET.ElementTree(suites)


def install_venv(path, packages, python="/usr/bin/python3"):
    """A shared virtualenv with its packages; "" or the error line of what failed."""
    for argv in ([python, "-m", "venv", path], [f"{path}/bin/pip", "install", "-q", "--disable-pip-version-check", *packages]):
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode:
            return error_line(done.stdout + done.stderr)
    return ""


def run_checks(cell, cells_dir, python):
    name = f"matrix-{cell['number']:02d}"
    out = cells_dir / name
    out.mkdir(parents=True, exist_ok=True)
    argv = [python, "-m", "pytest", "--pyargs", "gpe_checks.checks", "-p", "no:cacheprovider", "-q",
            "--connection=ansible", f"--ansible-inventory={ROOT / 'inventories/local/hosts.yml'}", "--stack", name,
            "-m", CORE_CHECKS, f"--maxfail={MAX_FAILURES}", f"--junitxml={out / 'junit.xml'}"]
    start = time.monotonic()
    with open(out / "pytest.log", "w") as log:
        subprocess.run(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=False)
    return time.monotonic() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    extra = os.environ.get("GPE_EXPORTER_PACKAGE", "")
    parser.add_argument("--exporters", nargs="+", default=EXPORTERS + ([extra] if extra and extra not in EXPORTERS else []),
                        help="pip requirements of the exporter (default: 0.2.4, 0.2.3 and GPE_EXPORTER_PACKAGE when set)")
    parser.add_argument("--gunicorns", nargs="+", default=GUNICORNS, help="Gunicorn versions, or latest")
    parser.add_argument("--workers", nargs="+", default=list(WORKER_SCENARIOS), choices=list(WORKER_SCENARIOS))
    parser.add_argument("--storages", nargs="+", default=["file", "redis"], choices=["file", "redis"])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="cells checked at once")
    parser.add_argument("--forks", type=int, default=8, help="cells Ansible deploys at once")
    parser.add_argument("--reports", type=Path, default=ROOT / "reports/matrix")
    parser.add_argument("--keep", action="store_true", help="leave the cells deployed")
    args = parser.parse_args(argv)

    start = time.monotonic()
    gunicorns = [f"gunicorn=={latest_version('gunicorn') if v == 'latest' else v}" for v in args.gunicorns]
    redis_client = yaml.safe_load((ROLES / "gunicorn_app/defaults/main.yml").read_text())["gunicorn_app_redis_client_package"]
    found = cells(args.exporters, list(dict.fromkeys(gunicorns)), args.workers, args.storages, redis_client)
    work = ROOT / "build/matrix"
    shutil.rmtree(work, ignore_errors=True)
    (work / "deployed").mkdir(parents=True)
    shutil.rmtree(args.reports, ignore_errors=True)
    cells_dir = args.reports / "cells"
    cells_dir.mkdir(parents=True)
    venvs = {c["venv"]: c["packages"] for c in found if not is_local(c["exporter"])}
    print(f"== matrix: {len(found)} cells ({len(args.exporters)} exporters x {len(gunicorns)} Gunicorn x "
          f"{len(args.workers)} worker classes x {len(args.storages)} storages); installing {len(venvs)} shared "
          f"virtualenvs in {VENVS}", flush=True)
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        broken = dict(zip(venvs, pool.map(lambda item: install_venv(*item), venvs.items())))
    results = {}
    for cell in found:
        if broken.get(cell["venv"]):
            results[cell["number"]] = {"deployed": False, "error": broken[cell["venv"]], "deploy_message": broken[cell["venv"]],
                                       "counts": {"passed": 0, "failed": 0, "xfailed": 0, "n/a": 0}, "first": None}
    deployable = [cell for cell in found if cell["number"] not in results]
    (work / "inventory.yml").write_text(yaml.safe_dump(inventory(deployable), sort_keys=False))
    (work / "vars.yml").write_text(yaml.safe_dump({"matrix_results_dir": str(work / "deployed"), "matrix_port_base": PORT_BASE}))
    ansible = ["ansible-playbook", "-i", str(work / "inventory.yml"), "-e", f"@{work / 'vars.yml'}", "-f", str(args.forks)]
    try:
        deploy = subprocess.run([*ansible, "playbooks/matrix.yml"], cwd=ROOT, check=False)
        if deploy.returncode:
            print(f"== the deployment play itself failed (exit {deploy.returncode}): no cell is checked")
            return deploy.returncode
        python = sys.executable
        pending, records = {}, {}
        with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
            for cell in deployable:
                record = records[cell["number"]] = json.loads((work / "deployed" / f"cell-{cell['number']:02d}.json").read_text())
                if record["deployed"]:
                    pending[pool.submit(run_checks, cell, cells_dir, python)] = cell
                else:
                    # The app's own last exception says more than a port that never opened.
                    message = f"{record['error']}\n{record.get('log', '')}".strip()
                    exception = app_exception(record.get("log", ""))
                    results[cell["number"]] = {"deployed": False, "error": exception or error_line(record["error"]),
                                               "deploy_message": message,
                                               "counts": {"passed": 0, "failed": 0, "xfailed": 0, "n/a": 0}, "first": None}
            for done, future in enumerate(concurrent.futures.as_completed(pending), 1):
                cell = pending[future]
                seconds = future.result()
                counts, first = junit_result(cells_dir / f"matrix-{cell['number']:02d}" / "junit.xml")
                results[cell["number"]] = {"deployed": True, "counts": counts, "first": first}
                if verdict(results[cell["number"]]) == "fail":
                    log = subprocess.run(records[cell["number"]]["app_log"], capture_output=True, text=True, check=False)
                    results[cell["number"]]["app_error"] = app_exception(log.stdout)
                print(f"== [{done}/{len(pending)}] matrix-{cell['number']:02d} exporter {short(cell['exporter'])} gunicorn "
                      f"{short(cell['gunicorn'])} {label(cell)}: {verdict(results[cell['number']])} "
                      f"({', '.join(f'{v} {k}' for k, v in counts.items())}) in {seconds:.0f} s", flush=True)
    finally:
        if not args.keep:
            subprocess.run([*ansible, "playbooks/matrix_absent.yml"], cwd=ROOT, check=False)
            for directory in CELL_DIRS:
                if directory.is_dir() and not any(directory.iterdir()):
                    directory.rmdir()
    text = markdown(found, results, time.monotonic() - start)
    (args.reports / "matrix.md").write_text(text)
    junit(found, results, cells_dir).write(args.reports / "junit.xml", encoding="unicode")
    print(text)
    tally = {v: sum(verdict(r) == v for r in results.values()) for v in ("pass", "xfail", "fail")}
    print(f"== matrix: {len(found)} cells, {tally['pass']} pass, {tally['xfail']} xfail, {tally['fail']} fail "
          f"in {time.monotonic() - start:.0f} s; {args.reports / 'matrix.md'}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the cells were removed on the way out (unless --keep)
        print("== matrix: interrupted", file=sys.stderr)
        sys.exit(130)
