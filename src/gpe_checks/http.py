# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""HTTP to the stack's endpoints, from the test runner, with bounded timeouts."""

import http.client
import json
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field


def _connect(url, timeout):
    parts = urllib.parse.urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout), target


def get(url, timeout=10.0, close=False):
    """Return (status, body text) of a GET; HTTP error statuses are returned, not raised.

    Like most clients the request is HTTP/1.1 without `Connection: close` (the client
    hangs up once it has the answer); close=True asks the server to close instead.
    """
    connection, target = _connect(url, timeout)
    try:
        connection.request("GET", target, headers={"Connection": "close"} if close else {})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def attempt(url, timeout=10.0):
    """The status of a GET, or the name of the error that kept it from an answer
    (ConnectionRefusedError, ConnectionResetError, RemoteDisconnected, TimeoutError...)."""
    try:
        return get(url, timeout)[0]
    except (OSError, http.client.HTTPException) as error:
        return type(error).__name__


def get_json(url, timeout=10.0):
    status, body = get(url, timeout)
    if status != 200:
        raise AssertionError(f"GET {url} answered {status}: {body[:300]}")
    return json.loads(body)


def stream(url, on_first_line, timeout=30.0):
    """GET a streamed answer: call on_first_line() when its first line arrived.

    Returns 200 when the whole body came, else the status or the name of the error
    that ended it (a connection cut mid-answer is IncompleteRead or a reset).
    """
    connection, target = _connect(url, timeout)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        response.readline()
        on_first_line()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException) as error:
        return type(error).__name__
    finally:
        connection.close()


@dataclass
class Traffic:
    """What the client saw: statuses by path, in order."""

    results: list = field(default_factory=list)  # (path, expected, status)

    def count(self, predicate):
        return sum(1 for path, _, status in self.results if predicate(path, status))

    @property
    def unexpected(self):
        return [(p, e, s) for p, e, s in self.results if e != s]


def send(base_url, plan, concurrency=1, timeout=30.0, close=False):
    """Send every (path, expected status) of plan; return the Traffic seen.

    The plan is finite, so the load is bounded in requests; each request in time.
    """

    def one(item):
        path, expected = item
        status, _ = get(base_url + path, timeout, close)
        return path, expected, status

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return Traffic(list(pool.map(one, plan)))


def quote(text):
    return urllib.parse.quote(text, safe="")
