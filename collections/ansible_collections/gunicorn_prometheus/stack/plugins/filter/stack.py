# Copyright: gunicorn_prometheus.stack contributors
# Apache License 2.0 (see the collection's galaxy.yml)
"""Filters of the stack contract: where the controller reaches an endpoint, and what
Prometheus scrapes from the apps that registered themselves."""

from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

DOCUMENTATION_REACH = """
name: reach_host
short_description: The host part of a URL at which others reach an endpoint
description:
  - A wildcard listen address (0.0.0.0, ::, *) is reached at the node's own address; a
    specific address at itself. IPv6 comes in brackets, ready for a URL.
"""

WILDCARDS = {"", "0.0.0.0", "*", "::", "::*", "[::]"}
# A controller that is the node itself: loopback, and IPv4 (a wildcard IPv4 bind does
# not answer on ::1, which "localhost" may resolve to first).
LOCAL_NAMES = {"localhost": "127.0.0.1", "localhost.localdomain": "127.0.0.1"}


def url_host(address):
    """An address as it stands in a URL: IPv6 in brackets."""
    address = str(address)
    if ":" in address and not address.startswith("["):
        return f"[{address}]"
    return address


def reach_host(listen_address, node_address):
    """Where a process listening on listen_address is reached from elsewhere, as a URL host.

    node_address is how the node itself is reached (ansible_host, or an override for NAT
    and jump hosts)."""
    listen_address = str(listen_address).strip()
    if listen_address in WILDCARDS:
        node_address = str(node_address).strip()
        if not node_address:
            raise AnsibleFilterError("reach_host: a wildcard listen address needs the node's address")
        return url_host(LOCAL_NAMES.get(node_address, node_address))
    return url_host(listen_address)


def scrape_targets(registrations, extra=()):
    """host:port of the metrics endpoint of every registered app, then the extra targets,
    each once, in order."""
    targets = []
    for manifest in registrations:
        try:
            url = manifest["endpoints"]["metrics"]["url"]
        except (KeyError, TypeError) as error:
            raise AnsibleFilterError(f"scrape_targets: not an app manifest (no endpoints.metrics.url): {error}")
        netloc = urlsplit(url).netloc
        if not netloc:
            raise AnsibleFilterError(f"scrape_targets: metrics URL {url!r} of {manifest.get('node')} names no host")
        targets.append(netloc)
    targets += [str(target) for target in extra]
    return list(dict.fromkeys(targets))


class FilterModule:
    def filters(self):
        return {"reach_host": reach_host, "scrape_targets": scrape_targets, "url_host": url_host}
