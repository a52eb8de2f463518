# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""gpe_sidecar.py (the sidecar image's program), on fakes: modes, source status, health."""

import importlib.util
from pathlib import Path

import pytest
from prometheus_client.core import CounterMetricFamily

PROGRAM = (Path(__file__).parents[2] / "collections/ansible_collections/gunicorn_prometheus/stack"
           / "roles/images/files/sidecar/gpe_sidecar.py")
spec = importlib.util.spec_from_file_location("gpe_sidecar", PROGRAM)
sidecar = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sidecar)


class FakeSource:
    def __init__(self, fail=False):
        self.fail = fail

    def collect(self):
        family = CounterMetricFamily("gunicorn_worker_requests", "requests", labels=["worker_id"])
        family.add_metric(["worker_1"], 7)
        yield family

    def reachable(self):
        if self.fail:
            raise ConnectionError("redis is down")


def _samples(collector):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in collector.collect() for s in f.samples}


def test_a_reachable_source_is_served_and_up():
    source = FakeSource()
    samples = _samples(sidecar.Sidecar("sidecar", (source, source.reachable), "redis"))
    assert samples[("gunicorn_worker_requests_total", (("worker_id", "worker_1"),))] == 7
    assert samples[("gpe_sidecar_source_up", (("mode", "sidecar"), ("source", "redis")))] == 1


def test_an_unreachable_source_is_down_and_serves_nothing(capsys):
    source = FakeSource(fail=True)
    samples = _samples(sidecar.Sidecar("sidecar", (source, source.reachable), "redis"))
    assert samples == {("gpe_sidecar_source_up", (("mode", "sidecar"), ("source", "redis"))): 0}
    assert "redis is down" in capsys.readouterr().err


def test_settings_defaults_and_environment():
    conf = sidecar.settings({"SIDECAR_PORT": "9300", "REDIS_PASSWORD": "", "SIDECAR_MODE_SOURCE": "multiproc"})
    assert (conf["port"], conf["bind"], conf["source"]) == (9300, "0.0.0.0", "multiproc")
    assert conf["redis"]["password"] is None and conf["redis"]["prefix"] == "gunicorn"


def test_help_and_unknown_mode(capsys):
    assert sidecar.main(["help"]) == 0
    assert "standalone" in capsys.readouterr().out
    assert sidecar.main(["serve"]) == 2
    assert "unknown mode 'serve'" in capsys.readouterr().err


def test_an_unknown_source_is_refused():
    with pytest.raises(ValueError, match="redis or multiproc"):
        sidecar.source_collector(sidecar.settings({"SIDECAR_MODE_SOURCE": "files"}))


@pytest.mark.parametrize(("text", "rc"), [
    ('gpe_sidecar_source_up{mode="sidecar",source="redis"} 1.0\n', 0),
    ('gpe_sidecar_source_up{mode="sidecar",source="redis"} 0.0\n', 1),
    ('gpe_sidecar_source_up{mode="standalone",source="none"} 0.0\n', 0),
    ("some_other_metric 1.0\n", 1),
])
def test_health_reads_the_source_status(metrics_page, text, rc):
    page, conf = metrics_page
    page["text"] = text
    assert sidecar.health(conf, timeout=2) == rc


def test_health_of_a_dead_sidecar():
    assert sidecar.health({"bind": "127.0.0.1", "port": 9}, timeout=2) == 1
