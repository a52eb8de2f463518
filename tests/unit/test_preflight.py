# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Bad input fails in preflight, naming the variable and what is allowed, before any change.

These run ansible-playbook on this machine against the roles' `preflight` entry points,
which only read; the port tests start their own listener and stop it by its pid.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "fixtures/apps"
GOOD_APP = {"gunicorn_app_source_dir": str(APP_DIR), "gunicorn_app_module": "testapp:app"}


def run_preflight(tmp_path, role, variables):
    playbook = tmp_path / "preflight.yml"
    playbook.write_text(textwrap.dedent(f"""\
        - hosts: localhost
          gather_facts: false
          tasks:
            - ansible.builtin.include_role:
                name: gunicorn_prometheus.stack.{role}
                tasks_from: preflight
        """))
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
               ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    bindir = Path(sys.executable).parent
    return subprocess.run(
        [str(bindir / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}",
         "-e", f"@{tmp_path / 'vars.json'}", str(playbook)],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )


@pytest.mark.parametrize(
    "variables, message",
    [
        ({"gunicorn_app_port": 70000}, "gunicorn_app_port must be an integer in 1-65535, got 70000"),
        ({"gunicorn_app_metrics_port": 0}, "gunicorn_app_metrics_port must be an integer in 1-65535, got 0"),
        ({"gunicorn_app_storage": "memcached"}, "gunicorn_app_storage must be one of: file, redis"),
        ({"gunicorn_app_redis_ttl_seconds": -5}, "gunicorn_app_redis_ttl_seconds must be an integer >= 1"),
        ({"gunicorn_app_worker_class": "SyncWorker"}, "gunicorn_app_worker_class must be one of: PrometheusWorker"),
        ({"gunicorn_app_module": "missing:app"}, "gunicorn_app_module 'missing:app' names a module that is missing"),
        ({"gunicorn_app_source_dir": "/nonexistent"}, "gunicorn_app_source_dir must name a directory"),
        ({"gunicorn_app_port": 9093}, "gunicorn_app_metrics_port and gunicorn_app_port must differ"),
    ],
    ids=["port", "metrics-port", "backend", "ttl", "worker-class", "module", "source-dir", "same-port"],
)
def test_gunicorn_app_rejects_bad_input(tmp_path, variables, message):
    result = run_preflight(tmp_path, "gunicorn_app", {**GOOD_APP, **variables})
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert message in " ".join(output.split()), output


@pytest.mark.parametrize(
    "role, variables, message",
    [
        ("redis", {"redis_port": 70000}, "redis_port must be an integer in 1-65535, got 70000"),
        ("prometheus", {"prometheus_port": -1}, "prometheus_port must be an integer in 1-65535, got -1"),
        ("prometheus", {"prometheus_scrape_interval": "fast"}, "prometheus_scrape_interval"),
        ("prometheus", {"prometheus_install_method": "snap"}, "prometheus_install_method must be one of"),
    ],
    ids=["redis-port", "prometheus-port", "interval", "install-method"],
)
def test_other_roles_reject_bad_input(tmp_path, role, variables, message):
    result = run_preflight(tmp_path, role, variables)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert message in " ".join(output.split()), output


@pytest.fixture
def foreign_listener():
    """A process that is not the stack, holding a free port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The listener lives until its stdin is closed (or it is stopped by pid), no timer.
    process = subprocess.Popen(
        [sys.executable, "-c",
         "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',int(sys.argv[1])))\n"
         "s.listen()\nprint('ready',flush=True)\nsys.stdin.read()", str(port)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout.readline().strip() == "ready"
    yield port, process
    process.stdin.close()
    process.wait(timeout=10)


def test_port_held_by_another_process_is_named_with_its_pid(tmp_path, foreign_listener):
    port, process = foreign_listener
    result = run_preflight(tmp_path, "gunicorn_app", {**GOOD_APP, "gunicorn_app_port": port})
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output
    assert f"port {port} is already held by pid {process.pid}" in output, output
    assert process.poll() is None, "preflight without free_ports must not stop anything"


def test_free_ports_stops_exactly_the_holder(tmp_path, foreign_listener):
    port, process = foreign_listener
    result = run_preflight(tmp_path, "gunicorn_app",
                           {**GOOD_APP, "gunicorn_app_port": port, "gunicorn_app_free_ports": True})
    assert result.returncode == 0, result.stdout + result.stderr
    assert process.wait(timeout=30) is not None


def test_the_internal_service_role_refuses_direct_use(tmp_path):
    result = run_preflight(tmp_path, "service", {"service_name": "gpe-x", "service_command": ["/bin/true"]})
    assert result.returncode != 0
    assert "gunicorn_prometheus.stack.service is internal to the collection" in result.stdout
