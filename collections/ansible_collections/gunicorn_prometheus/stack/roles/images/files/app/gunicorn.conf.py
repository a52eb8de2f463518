# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Gunicorn configuration of the app image: everything comes from the environment, so one
image serves both storage backends and every worker class."""

import os

from gunicorn_prometheus_exporter.hooks import (
    default_on_exit,
    default_on_starting,
    default_post_fork,
    default_when_ready,
    default_worker_int,
    redis_when_ready,
)

wsgi_app = os.environ["APP_MODULE"]
bind = f"0.0.0.0:{os.environ.get('APP_PORT', '8088')}"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "gunicorn_prometheus_exporter." + os.environ.get("APP_WORKER_CLASS", "PrometheusWorker")
threads = int(os.environ.get("APP_THREADS", "1"))
graceful_timeout = int(os.environ.get("APP_GRACEFUL_TIMEOUT", "10"))
errorlog = "-"
loglevel = "info"

on_starting = default_on_starting
post_fork = default_post_fork
worker_int = default_worker_int
on_exit = default_on_exit
# redis_when_ready also connects the Redis storage; without it no key is written.
when_ready = redis_when_ready if os.environ.get("REDIS_ENABLED", "false") == "true" else default_when_ready
