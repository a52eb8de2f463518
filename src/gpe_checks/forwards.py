# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Port-forwards to the endpoints of components that run in Kubernetes pods: the checks
open one per endpoint (`kubectl port-forward` to a free loopback port) when they read the
stack, and stop exactly the processes they started when the run ends."""

import dataclasses
import re
import selectors
import subprocess
import time

FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)")
OPEN_SECONDS = 20


class Forwards:
    def __init__(self, kubectl="kubectl"):
        self.kubectl = kubectl
        self.processes = []

    def open(self, pod, port, timeout=OPEN_SECONDS):
        """The loopback port that reaches `port` of the pod, once kubectl says it forwards."""
        command = pod.kubectl("port-forward", f"pod/{pod.name}", f":{port}", "--address", "127.0.0.1")
        command[0] = self.kubectl
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.processes.append(process)
        said = []
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                    break
                line = process.stdout.readline()
                if not line:  # kubectl exited
                    break
                said.append(line.strip())
                match = FORWARDING.search(line)
                if match and int(match.group(2)) == int(port):
                    return int(match.group(1))
        self._stop(process)
        raise RuntimeError(f"no port-forward to pod {pod.namespace}/{pod.name} port {port} within {timeout}s: "
                           f"{' | '.join(said)[-400:] or 'kubectl said nothing'}")

    def reach(self, component):
        """The component with every endpoint that has a forward_url reached through a port-forward."""
        if component.pod is None:
            return component
        endpoints = {
            name: dataclasses.replace(endpoint, url=endpoint.forward_url.format(port=self.open(component.pod, endpoint.port)))
            if endpoint.forward_url else endpoint
            for name, endpoint in component.endpoints.items()}
        return dataclasses.replace(component, endpoints=endpoints)

    @staticmethod
    def _stop(process):
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdout.close()

    def close(self):
        """Stops every port-forward this run started."""
        for process in self.processes:
            self._stop(process)
        self.processes = []
