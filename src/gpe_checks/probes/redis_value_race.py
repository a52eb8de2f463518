# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Run on the stack's host with the app's Python: two threads increment one exporter
RedisValue, the first is held between adding in memory and writing to Redis.

Threads of a PrometheusThreadWorker can be scheduled exactly so; holding the first thread
makes that interleaving happen every time. Prints {"memory": ..., "stored": ...}. Uses its
own key prefix and removes its keys. Usage: python redis_value_race.py < MANIFEST, the
app's component manifest as registered (its "app" "redis" object: host, port, db, password
as the app sees them): read from its file by the shell, so the password is on no command
line (sudo logs the command lines it runs to the journal).
"""

import json
import os
import shutil
import sys
import tempfile
import threading

conf = json.load(sys.stdin)["app"]["redis"]
# The exporter validates its settings (and connects to Redis) on first use; this probe
# serves nothing, so the metrics settings are placeholders.
os.environ.update({
    "PROMETHEUS_BIND_ADDRESS": "127.0.0.1", "PROMETHEUS_METRICS_PORT": "9", "GUNICORN_WORKERS": "1",
    "REDIS_ENABLED": "true", "REDIS_HOST": conf["host"], "REDIS_PORT": str(conf["port"]),
    "REDIS_DB": str(conf["db"]), "REDIS_PASSWORD": conf["password"],
})
scratch = tempfile.mkdtemp(prefix="gpe-race-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = scratch

import redis  # noqa: E402
from gunicorn_prometheus_exporter.backend.core.values import RedisValue  # noqa: E402

PREFIX = "gpe-check-race"
client = redis.Redis(host=conf["host"], port=int(conf["port"]), db=int(conf["db"]),
                     password=conf["password"] or None, socket_timeout=5)
value = RedisValue(typ="counter", metric_name="race_probe", name="race_probe_total", labelnames=[],
                   labelvalues=[], help_text="race probe", redis_client=client, redis_key_prefix=PREFIX)
storage = value._redis_dict  # noqa: SLF001 - the write the exporter does after adding
write = storage.write_value
first_added = threading.Event()
second_done = threading.Event()


def held_write(*args, **kwargs):
    if threading.current_thread().name == "first":
        first_added.set()
        second_done.wait(5)  # bounded: a serialized inc never lets the second thread in
    return write(*args, **kwargs)


storage.write_value = held_write
first = threading.Thread(target=value.inc, name="first")
second = threading.Thread(target=lambda: (value.inc(), second_done.set()), name="second")
first.start()
first_added.wait(5)
second.start()
first.join(10)
second.join(10)
stored = storage.read_value(value._key, "counter")[0]  # noqa: SLF001
for key in client.scan_iter(match=f"{PREFIX}:*", count=1000):
    client.delete(key)
shutil.rmtree(scratch, ignore_errors=True)
print(json.dumps({"memory": value.get(), "stored": stored}))
