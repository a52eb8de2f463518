# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The lifecycle helpers of the check library, on fakes: /proc parsing, HTTP client, control."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from gpe_checks import deadlock, http, lifecycle, upstream
from gpe_checks.control import Service
from gpe_checks.facts import Process, _pid_states, read_processes
from gpe_checks.model import Control
from gpe_checks.report import Report
from gpe_checks.waiting import WaitTimeout, wait_until



def test_processes_are_read_from_proc_in_bytes_and_seconds():
    stat = ("4242 (gunicorn: worker [app x]) S 4200 4200 4200 0 -1 4194560 900 0 0 0 "
            "250 50 0 0 20 0 1 0 100000 20000000 3000 18446744073709551615")
    text = f"4096\n100\n1500.25 2900.00\n{stat}\n5000 3000 800 100 0 900 0\n"
    assert read_processes(text) == {4242: Process(pid=4242, state="S", rss=3000 * 4096, cpu_seconds=3.0,
                                                  age=1500.25 - 1000.0)}


def test_pid_states_read_the_letter_after_the_command_name():
    text = "\n".join([
        "101 (gunicorn) S 1 101 101 0 -1",
        "102 (odd) name) Z 101 101 101 0 -1",  # a ")" inside the command name
        "",
        "garbage without a paren",
    ])
    assert list(_pid_states(text)) == [(101, "S"), (102, "Z")]


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen = []

    def do_GET(self):  # noqa: N802 - the name http.server calls
        _Recorder.seen.append((self.path, self.headers.get("Connection")))
        if self.path.startswith("/cut"):
            # Promise ten bytes, send three, hang up: a request cut mid-answer.
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"ab\n")
            self.close_connection = True
            return
        body = b"first\nsecond\n" if self.path.startswith("/stream") else b"missing"
        self.send_response(200 if self.path != "/missing" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_get_keeps_alive_unless_asked_to_close(server):
    assert http.get(f"{server}/stream?x=1") == (200, "first\nsecond\n")
    assert http.get(f"{server}/missing", close=True) == (404, "missing")
    assert _Recorder.seen == [("/stream?x=1", None), ("/missing", "close")]


def test_send_counts_what_the_client_saw(server):
    traffic = http.send(server, [("/stream", 200), ("/missing", 200)], concurrency=2)
    assert traffic.count(lambda path, status: status == 200) == 1
    assert traffic.unexpected == [("/missing", 200, 404)]


def test_stream_reports_the_first_line_and_a_cut_answer(server):
    calls = []
    assert http.stream(f"{server}/stream", lambda: calls.append("first")) == 200
    assert http.stream(f"{server}/cut", lambda: calls.append("cut")) == "IncompleteRead"
    assert calls == ["first", "cut"]


def test_stream_names_a_refused_connection():
    # Port 9 on loopback: nothing listens there in the test environment.
    assert http.stream("http://127.0.0.1:9/", lambda: None, timeout=2) == "ConnectionRefusedError"


class _Commands:
    """A host that records the commands it is asked to run."""

    def __init__(self):
        self.ran = []

    def check_output(self, command):
        self.ran.append(command)
        return ""


def test_service_runs_the_commands_of_its_manifest():
    control = Control("gpe-app", "supervisor", "gpe-app", "ctl start gpe-app", "ctl stop gpe-app",
                      "tail --lines 40 /x/gpe-app.log")
    host = _Commands()
    service = Service(host, control)
    service.stop()
    service.start()
    assert (service.name, service.manager, service.logs_command) == (
        "gpe-app", "supervisor", "tail --lines 40 /x/gpe-app.log")
    assert host.ran == ["ctl stop gpe-app", "ctl start gpe-app"]


DEADLOCKED_MASTER = """Process 14451: /opt/app/venv/bin/python3 /opt/app/venv/bin/gunicorn --config /opt/app/gunicorn.conf.py
Python v3.11.2 (/usr/bin/python3.11)

Thread 1 (idle): "MainThread"
    Condition.__enter__ (threading.py:265)
    Queue.put (queue.py:133)
    Queue.put_nowait (queue.py:191)
    PrometheusMaster._queue_signal_metric (gunicorn_prometheus_exporter/master.py:109)
    PrometheusMaster.handle_chld (gunicorn_prometheus_exporter/master.py:255)
    Queue.put (queue.py:140)
    Queue.put_nowait (queue.py:191)
    PrometheusMaster._queue_signal_metric (gunicorn_prometheus_exporter/master.py:109)
    PrometheusMaster.handle_hup (gunicorn_prometheus_exporter/master.py:218)
    Arbiter.run (gunicorn/arbiter.py:219)
Thread 8 (active): "signal-metrics-processor"
    Condition.wait (threading.py:324)
    Queue.get (queue.py:180)
"""

SLEEPING_MASTER = """Thread 1 (idle): "MainThread"
    Arbiter.sleep (gunicorn/arbiter.py:359)
    Arbiter.run (gunicorn/arbiter.py:208)
Thread 8 (active): "signal-metrics-processor"
    Condition.wait (threading.py:324)
    Queue.put (queue.py:180)
    PrometheusMaster.handle_chld (gunicorn_prometheus_exporter/master.py:255)
    PrometheusMaster._queue_signal_metric (gunicorn_prometheus_exporter/master.py:109)
"""


def test_master_deadlock_is_recognised_in_the_main_thread_only():
    frames = upstream.master_chld_deadlock(DEADLOCKED_MASTER)
    assert frames.startswith("Condition.__enter__") and "handle_hup" in frames
    assert upstream.master_chld_deadlock(SLEEPING_MASTER) == ""
    assert upstream.master_chld_deadlock("") == ""


def test_a_check_the_master_deadlock_stopped_becomes_its_xfail_once(monkeypatch):
    restarts = []
    monkeypatch.setattr(deadlock, "start_app_again", lambda stack: restarts.append("start"))
    monkeypatch.setattr(deadlock, "stop_hung_app", lambda stack: restarts.append("stop"))
    diagnosis = deadlock.FailureDiagnosis(Report())

    class FakeStack:
        app = "the app"
        name = "gpe"
        threads = DEADLOCKED_MASTER

        def master_threads(self):
            return self.threads

    class ExcInfo:
        def __init__(self):
            self.value = AssertionError("waited 30s for new workers")

    stack, struck = FakeStack(), ExcInfo()
    reason = diagnosis._struck_by_master_deadlock(stack, struck, "test_70_signals.py")
    assert "handle_chld" in reason and "struck here" in reason
    assert restarts == ["stop", "start"]
    stack.threads = SLEEPING_MASTER  # restarted: a fixture error raised again is the same one
    assert diagnosis._struck_by_master_deadlock(stack, struck) == reason
    assert diagnosis._struck_by_master_deadlock(stack, ExcInfo()) == ""
    assert restarts == ["stop", "start"]
    # A later failure in that module is the same xfail only when it reads module state.
    def item(nodeid, **fixtures):
        definitions = {name: [SimpleNamespace(scope=scope)] for name, scope in fixtures.items()}
        return SimpleNamespace(nodeid=nodeid, _fixtureinfo=SimpleNamespace(name2fixturedefs=definitions))

    later = item("test_70_signals.py::test_ages[gpe]", stack="module", hup_restart="module")
    assert diagnosis.xfail_reason(later, stack, ExcInfo()).startswith(reason)
    assert diagnosis.xfail_reason(item("test_70_signals.py::test_usr1[gpe]", stack="module"), stack, ExcInfo()) == ""
    assert diagnosis.xfail_reason(item("test_72_worker_death.py::test_x[gpe]", stack="module", killed_worker="module"),
                                  stack, ExcInfo()) == ""


class _HungStack:
    """A stack whose master hangs: what py-spy shows of it, and what was done to it."""

    app = "the app"

    def __init__(self, manager="supervisor"):
        self.looked = 0
        self.ran = []
        self.live = {100, 101, 102}
        self.manager = manager
        self.app_place = self

    def master_threads(self):
        self.looked += 1
        return DEADLOCKED_MASTER

    def master_pid(self):
        return 100

    def worker_pids(self):
        return {101, 102}

    def alive(self, pids):
        return set(pids) & self.live

    def check_output(self, command):
        self.ran.append(command)
        if command.startswith("kill -KILL"):
            self.live -= {int(pid) for pid in command.split()[2:]}
        return ""

    def service(self, component):
        return SimpleNamespace(manager=self.manager, stop=lambda: self.ran.append("manager stop"))


def test_a_wait_on_a_hung_master_ends_at_the_first_look_not_at_its_timeout(monkeypatch):
    monkeypatch.setattr(lifecycle, "HANG_LOOK_AFTER_SECONDS", 0.0)
    stack = _HungStack()
    started = time.monotonic()
    with pytest.raises(WaitTimeout, match="stopped waiting for 3 workers: the master hangs, main thread: Condition"):
        wait_until(lambda: 2, "3 workers", timeout=30, interval=0.01, until=lambda n: n == 3,
                   give_up=lifecycle.master_hangs(stack))
    assert time.monotonic() - started < 1 and stack.looked == 1


def test_the_master_is_looked_at_only_after_a_while_and_then_seldom(monkeypatch):
    stack = _HungStack()
    hangs = lifecycle.master_hangs(stack)
    assert hangs() == "" and stack.looked == 0  # a signal takes a moment to act
    monkeypatch.setattr(lifecycle.time, "monotonic", lambda: time.time() + 1000)
    assert hangs().startswith("the master hangs") and stack.looked == 1
    assert hangs() == "" and stack.looked == 1  # looked at again only after HANG_LOOK_EVERY_SECONDS


def test_a_hung_app_is_killed_by_its_own_pids_then_stopped_by_its_manager():
    stack = _HungStack()
    lifecycle.stop_hung_app(stack)
    assert stack.ran == ["kill -KILL 100 101 102", "manager stop"] and stack.live == set()
    in_container = _HungStack(manager="docker")
    lifecycle.stop_hung_app(in_container)
    assert in_container.ran == ["manager stop"]


def test_only_checks_using_module_state_inherit_a_restart():
    def item(**fixtures):
        definitions = {name: [SimpleNamespace(scope=scope)] for name, scope in fixtures.items()}
        return SimpleNamespace(_fixtureinfo=SimpleNamespace(name2fixturedefs=definitions))

    assert deadlock._uses_module_state(item(stack="module", hup_restart="module", record="function"))
    assert not deadlock._uses_module_state(item(stack="module", record="function"))


def test_a_500_of_metrics_from_an_unsized_worker_file_is_that_defects_xfail():
    failed = SimpleNamespace(value=AssertionError("http://127.0.0.1:9093/metrics answered 500: A server error occurred."))
    log = f"  File \".../mmap_dict.py\", line 90\nstruct.error: {upstream.EMPTY_MULTIPROCESS_FILE_ERROR}\n"
    reason = deadlock.empty_multiprocess_file(failed, {"gpe-app": log, "gpe-redis": "ready"})
    assert reason.startswith(upstream.EMPTY_MULTIPROCESS_FILE.kwargs["reason"]) and "log of gpe-app" in reason
    # Any other 500, or the same log line beside another failure, stays a failure.
    assert deadlock.empty_multiprocess_file(failed, {"gpe-app": "KeyError: 'worker'"}) == ""
    other = SimpleNamespace(value=AssertionError("counted 3, sent 4"))
    assert deadlock.empty_multiprocess_file(other, {"gpe-app": log}) == ""
    assert deadlock.empty_multiprocess_file(None, {"gpe-app": log}) == ""


def test_the_resolver_bound_comes_from_resolv_conf():
    from gpe_checks.checks.test_82_redis_outage import resolver_bound_seconds

    docker_network = "# Generated by Docker Engine.\nnameserver 127.0.0.11\noptions ndots:0\n"
    assert resolver_bound_seconds(docker_network) == 10  # glibc: 2 attempts of 5 s
    assert resolver_bound_seconds("nameserver 10.0.0.1\nnameserver 10.0.0.2\noptions timeout:1 attempts:3\n") == 6
    assert resolver_bound_seconds("") == 10


def test_stack_option_takes_names_repeated_or_joined_by_commas():
    from gpe_checks.plugin import stack_names

    assert stack_names([]) == []
    assert stack_names(["gpe"]) == ["gpe"]
    assert stack_names(["gpe-compose-redis,gpe-compose-file", "gpe-sidecar"]) == [
        "gpe-compose-redis", "gpe-compose-file", "gpe-sidecar"]
    assert stack_names(["a, b,"]) == ["a", "b"]
