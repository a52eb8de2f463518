"""HTTP to the stack's endpoints, from the test runner, with bounded timeouts."""

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field


def get(url, timeout=10.0):
    """Return (status, body text) of a GET; HTTP error statuses are returned, not raised."""
    request = urllib.request.Request(url, headers={"Connection": "close"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


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
    request = urllib.request.Request(url, headers={"Connection": "close"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            response.readline()
            on_first_line()
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, http.client.HTTPException) as error:
        return type(getattr(error, "reason", error)).__name__


@dataclass
class Traffic:
    """What the client saw: statuses by path, in order."""

    results: list = field(default_factory=list)  # (path, expected, status)

    def count(self, predicate):
        return sum(1 for path, _, status in self.results if predicate(path, status))

    @property
    def unexpected(self):
        return [(p, e, s) for p, e, s in self.results if e != s]


def send(base_url, plan, concurrency=1, timeout=30.0):
    """Send every (path, expected status) of plan; return the Traffic seen.

    The plan is finite, so the load is bounded in requests; each request in time.
    """

    def one(item):
        path, expected = item
        status, _ = get(base_url + path, timeout)
        return path, expected, status

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return Traffic(list(pool.map(one, plan)))


def quote(text):
    return urllib.parse.quote(text, safe="")
