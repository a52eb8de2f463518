"""Stop, start and read the log of a process of the stack, the way its manager does.

The service role writes control-<service>.json next to the manifests: the commands for
systemd or supervisord on that host. Checks never find processes by name.
"""

from dataclasses import dataclass


@dataclass
class Service:
    host: object
    name: str
    manager: str
    start_command: str
    stop_command: str
    logs_command: str

    @classmethod
    def from_manifest(cls, host, manifest):
        return cls(host, manifest["name"], manifest["manager"], manifest["start"],
                   manifest["stop"], manifest["logs"])

    def start(self):
        self.host.check_output(self.start_command)

    def stop(self):
        """Stop and wait: the manager returns once the process has exited."""
        self.host.check_output(self.stop_command)

    def logs(self):
        """The last lines of the process's log, or why they could not be read."""
        result = self.host.run(self.logs_command)
        if result.rc != 0:
            return f"`{self.logs_command}` failed ({result.rc}): {result.stderr.strip()}"
        return result.stdout
