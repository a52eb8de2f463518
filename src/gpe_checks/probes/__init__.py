# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Small programs a check runs with the app's own Python, to reproduce an upstream defect
deterministically (their source is sent to the interpreter, not imported here)."""

from importlib import resources


def probe_source(name):
    return resources.files(__package__).joinpath(name).read_text()
