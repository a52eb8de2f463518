"""The lifecycle helpers of the check library, on fakes: /proc parsing, HTTP client, control."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gpe_checks import http
from gpe_checks.control import Service
from gpe_checks.facts import _pid_states


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


def test_service_reads_its_control_manifest():
    manifest = {"name": "gpe-app", "manager": "supervisor", "start": "ctl start gpe-app",
                "stop": "ctl stop gpe-app", "logs": "tail --lines 40 /x/gpe-app.log"}
    service = Service.from_manifest("host", manifest)
    assert (service.name, service.manager, service.start_command, service.stop_command,
            service.logs_command) == ("gpe-app", "supervisor", "ctl start gpe-app",
                                      "ctl stop gpe-app", "tail --lines 40 /x/gpe-app.log")
