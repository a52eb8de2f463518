# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The end-to-end check library: pure helpers the test modules in tests/e2e share.

Nothing here knows which scenario it runs in. Facts come from the manifests the roles
write on each host (see facts.py); endpoints are reached over HTTP from the test runner.
"""
