# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Run with the app's Python: does the exporter's SIGCHLD handler return when the signal
arrives while the master's main thread is inside its own signal-metric queue?

PrometheusMaster.handle_hup (and ttin, ttou, usr1) ends with `_signal_queue.put_nowait`,
which holds the queue's lock for a moment; the old workers a HUP stops exit just then and
SIGCHLD runs handle_chld on top of the main thread, which puts to the same queue. Holding
the lock here and calling handle_chld is that interleaving, made to happen every time.
Prints {"returned": true|false, "seconds": ...}; a watchdog ends the process after
WAIT_SECONDS when the handler never returns.
"""

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
import time

WAIT_SECONDS = 1.0  # a handler that returns does so in milliseconds

# The exporter checks its settings on import; this probe serves nothing.
scratch = tempfile.mkdtemp(prefix="gpe-chld-")
os.environ.update({"PROMETHEUS_BIND_ADDRESS": "127.0.0.1", "PROMETHEUS_METRICS_PORT": "9",
                   "GUNICORN_WORKERS": "1", "REDIS_ENABLED": "false", "PROMETHEUS_MULTIPROC_DIR": scratch})

from gunicorn.app.base import BaseApplication  # noqa: E402
from gunicorn_prometheus_exporter.master import PrometheusMaster  # noqa: E402


class _App(BaseApplication):
    """The smallest Gunicorn application: a master is built from it, never started."""

    def load_config(self):
        self.cfg.set("bind", "127.0.0.1:9")

    def load(self):
        return lambda environ, start_response: []


master = PrometheusMaster(_App())
master.init_signals()  # the wake-up pipe and handlers a started master has
started = time.monotonic()


def finish(returned):
    print(json.dumps({"returned": returned, "seconds": round(time.monotonic() - started, 2)}), flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    os._exit(0)  # the blocked main thread cannot end the process the usual way


threading.Thread(target=lambda: (time.sleep(WAIT_SECONDS), finish(False)), daemon=True).start()
# A queue without a lock of its own (SimpleQueue, made for signal handlers) has nothing to hold.
lock = getattr(master._signal_queue, "mutex", None)  # noqa: SLF001 - what put_nowait holds
with lock if lock is not None else contextlib.nullcontext():
    master.handle_chld(signal.SIGCHLD, None)
finish(True)
