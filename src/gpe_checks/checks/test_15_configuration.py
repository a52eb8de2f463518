# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Where the exporter's settings come from: environment or YAML file, the environment winning."""

import shlex

import pytest
import yaml

from gpe_checks import upstream

pytestmark = pytest.mark.configuration

# The variables the exporter reads; with a YAML file only overrides may be in the environment.
EXPORTER_VARIABLES = {
    "PROMETHEUS_METRICS_PORT", "PROMETHEUS_BIND_ADDRESS", "PROMETHEUS_MULTIPROC_DIR",
    "GUNICORN_WORKERS", "GUNICORN_TIMEOUT", "REDIS_ENABLED", "REDIS_HOST", "REDIS_PORT",
    "REDIS_DB", "REDIS_PASSWORD", "REDIS_KEY_PREFIX", "REDIS_TTL_SECONDS", "REDIS_TTL_DISABLED",
}


def _process_environment(place, pid):
    raw = place.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ")
    return dict(line.split("=", 1) for line in raw.splitlines() if "=" in line)


def test_process_gets_exactly_the_configured_environment(stack, record):
    environment = _process_environment(stack.app_place, stack.master_pid())
    given = sorted(EXPORTER_VARIABLES & set(environment))
    expected = sorted(EXPORTER_VARIABLES & set(stack.app.environment_keys))
    record(given, expected)
    assert given == expected
    if stack.app.config_style == "yaml":
        # The required bind address can only have come from the YAML file.
        assert "PROMETHEUS_BIND_ADDRESS" not in environment
    else:
        assert environment["PROMETHEUS_METRICS_PORT"] == str(stack.app.metrics.port)


def test_environment_wins_over_yaml_file(stack, record):
    host = stack.host
    if stack.app.config_style != "yaml":
        pytest.skip("this stack configures the exporter through the environment only")
    document = yaml.safe_load(host.file(stack.app.yaml_file).content_string)
    yaml_port = int(document["exporter"]["prometheus"]["metrics_port"])
    effective = stack.app.metrics.port
    listening = host.socket(f"tcp://{stack.app.metrics.address}:{yaml_port}").is_listening
    record(f"YAML {yaml_port}, serving {effective}, YAML port listening: {listening}",
           f"serving the environment's {stack.app.environment_overrides.get('PROMETHEUS_METRICS_PORT')}")
    if "PROMETHEUS_METRICS_PORT" not in stack.app.environment_overrides:
        pytest.skip("the environment overrides no port here")
    assert effective == int(stack.app.environment_overrides["PROMETHEUS_METRICS_PORT"])
    assert yaml_port != effective and not listening
    assert document["exporter"]["redis"]["ttl_seconds"] == stack.app.redis.ttl_seconds


@upstream.YAML_MULTIPROC_DIR_IGNORED
def test_yaml_multiproc_dir_is_honoured(stack):
    host = stack.host
    if stack.app.config_style != "yaml":
        pytest.skip("this stack configures the exporter through the environment only")
    # The way gunicorn.conf.py loads the file, in a clean environment on the host.
    probe = (
        "import os; from gunicorn_prometheus_exporter.hooks import load_yaml_config; "
        f"load_yaml_config({stack.app.yaml_file!r}); print(os.environ['PROMETHEUS_MULTIPROC_DIR'])"
    )
    seen = host.check_output(f"env -i HOME=/nonexistent {stack.app.venv}/bin/python -c {shlex.quote(probe)}")
    document = yaml.safe_load(host.file(stack.app.yaml_file).content_string)
    assert seen.strip() == document["exporter"]["prometheus"]["multiproc_dir"]
