# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Stop, start and read the log of a process of the stack, the way its manager does.

The commands come from the component's manifest (its `service`): systemd, supervisord or
Docker on the node that runs it. Checks never find processes by name.
"""

from dataclasses import dataclass


@dataclass
class Service:
    host: object  # the node the commands run on
    control: object  # model.Control

    @property
    def name(self):
        return self.control.name

    @property
    def manager(self):
        return self.control.manager

    @property
    def stop_command(self):
        return self.control.stop

    @property
    def logs_command(self):
        return self.control.logs

    def start(self):
        self.host.check_output(self.control.start)

    def stop(self):
        """Stop and wait: the manager returns once the process has exited."""
        self.host.check_output(self.control.stop)

    def logs(self):
        """The last lines of the process's log, or why they could not be read."""
        result = self.host.run(self.control.logs)
        if result.rc != 0:
            return f"`{self.control.logs}` failed ({result.rc}): {result.stderr.strip()}"
        return result.stdout
