#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors

from __future__ import annotations

DOCUMENTATION = r"""
---
module: port_holders
short_description: Report which processes hold listening TCP sockets on given ports
version_added: "0.1.0"
author: gunicorn_prometheus.stack contributors (!UNKNOWN)
description:
  - Reads C(/proc/net/tcp), C(/proc/net/tcp6) and C(/proc/<pid>/fd) to find the
    processes holding LISTEN sockets on the requested ports of a Linux host.
  - Needs no external tools (no C(ss), no psutil), so it works on slim hosts.
  - Each holder is flagged as owned when it, or one of its ancestors, is listed in
    O(owner_pids), so the stack's own processes can be told apart from foreign ones.
  - This module never changes anything.
options:
  ports:
    description:
      - TCP ports to inspect, each between 1 and 65535.
    type: list
    elements: int
    required: true
  owner_pids:
    description:
      - PIDs whose processes and descendants count as owned, typically the main PID
        of the stack's services.
      - Entries of 0 (a stopped systemd service) are ignored.
    type: list
    elements: int
    default: []
  proc_root:
    description:
      - Mount point of procfs. Only useful for testing.
    type: path
    default: /proc
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: linux
notes:
  - Only sockets of the module's network namespace are visible.
  - Without root, file descriptors of other users' processes cannot be read. A
    listening socket whose holder cannot be identified is still reported, as a
    holder with C(pid) set to null that is never owned, so it shows up in RV(foreign).
  - Processes that exit or deny access during the scan are skipped.
"""

EXAMPLES = r"""
- name: Find out who listens on the ports the stack needs
  gunicorn_prometheus.stack.port_holders:
    ports: [8000, 9090, 9091]
    owner_pids: ["{{ gunicorn_service.status.MainPID | int }}"]
  register: port_check

- name: Fail when a foreign process holds one of them
  ansible.builtin.assert:
    that: port_check.foreign | length == 0
    fail_msg: >-
      Ports already in use:
      {% for h in port_check.foreign %}{{ h.port }}/{{ h.address }} by pid {{ h.pid }} ({{ h.cmdline }}); {% endfor %}
"""

RETURN = r"""
holders:
  description:
    - Holders per requested port, one entry per (pid, listen address) pair, sorted by
      pid. Ports without a listener map to an empty list.
    - Keys are the port numbers; after the JSON round trip they are strings, for
      example C(port_check.holders['8000']).
  returned: always
  type: dict
  sample:
    "8000":
      - pid: 1234
        ppid: 1
        name: gunicorn
        cmdline: /srv/app/venv/bin/gunicorn app:app -b 127.0.0.1:8000
        address: 127.0.0.1
        owned: true
      - pid: 1240
        ppid: 1234
        name: gunicorn
        cmdline: /srv/app/venv/bin/gunicorn app:app -b 127.0.0.1:8000
        address: 127.0.0.1
        owned: true
    "9090": []
foreign:
  description:
    - The holders (same fields as in RV(holders), plus C(port)) that are not owned.
  returned: always
  type: list
  elements: dict
  sample:
    - port: 9091
      pid: 987
      ppid: 1
      name: python3
      cmdline: python3 -m http.server 9091
      address: 0.0.0.0
      owned: false
free:
  description: Requested ports without any listening socket.
  returned: always
  type: list
  elements: int
  sample: [9090]
"""

import os
import socket
import sys

from ansible.module_utils.basic import AnsibleModule

TCP_LISTEN = "0A"


def decode_address(hex_addr, byteorder=sys.byteorder):
    """Decode a /proc/net/tcp{,6} address ("0100007F") into text ("127.0.0.1")."""
    raw = bytes.fromhex(hex_addr)
    if byteorder == "little":
        # The kernel prints each 32-bit word in host byte order.
        raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, raw)


def parse_tcp_table(text, byteorder=sys.byteorder):
    """Return (address, port, inode) for every LISTEN row of a /proc/net/tcp{,6} text."""
    rows = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != TCP_LISTEN:
            continue
        hex_addr, hex_port = fields[1].split(":")
        rows.append((decode_address(hex_addr, byteorder), int(hex_port, 16), int(fields[9])))
    return rows


def ancestors(pid, parents):
    """Return pid followed by its ancestors, stopping at pid 1, unknown pids and cycles."""
    chain = []
    while pid and pid not in chain:
        chain.append(pid)
        if pid == 1:
            break
        pid = parents.get(pid)
    return chain


def parse_stat(text):
    """Return (comm, ppid) from a /proc/<pid>/stat text; comm may contain spaces and ')'."""
    head, tail = text.rpartition(")")[::2]
    return head.partition("(")[2], int(tail.split()[1])


def build_result(ports, listeners, procs, parents, owner_pids):
    """Assemble the module result.

    listeners: (address, port, inode) tuples; procs: pid -> dict with ppid, name,
    cmdline and inodes (the socket inodes it holds); parents: pid -> ppid of all
    known processes, used for the ownership walk.
    """
    owners = {pid for pid in owner_pids if pid > 0}
    holders = {port: [] for port in ports}
    for address, port, inode in listeners:
        if port not in holders:
            continue
        found = False
        for pid, proc in procs.items():
            if inode not in proc["inodes"]:
                continue
            found = True
            holders[port].append({
                "pid": pid,
                "ppid": proc["ppid"],
                "name": proc["name"],
                "cmdline": proc["cmdline"],
                "address": address,
                "owned": bool(owners.intersection(ancestors(pid, parents))),
            })
        if not found:
            # Listening, but the holder is invisible (no permission, kernel socket or
            # gone mid-scan): report it so the port never looks usable.
            holders[port].append({"pid": None, "ppid": None, "name": None, "cmdline": None,
                                  "address": address, "owned": False})

    for port, entries in holders.items():
        unique = {(e["pid"], e["address"]): e for e in entries}
        holders[port] = sorted(unique.values(),
                               key=lambda e: (e["pid"] is None, e["pid"] or 0, e["address"]))

    foreign = [dict(entry, port=port) for port, entries in holders.items()
               for entry in entries if not entry["owned"]]
    free = [port for port, entries in holders.items() if not entries]
    return {"changed": False, "holders": holders, "foreign": foreign, "free": free}


def _read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def read_listeners(proc_root):
    """LISTEN sockets of /proc/net/tcp and tcp6 (the latter is absent without IPv6)."""
    listeners = parse_tcp_table(_read(os.path.join(proc_root, "net", "tcp")))
    try:
        listeners += parse_tcp_table(_read(os.path.join(proc_root, "net", "tcp6")))
    except FileNotFoundError:
        pass
    return listeners


def scan_processes(proc_root, inodes):
    """Return (procs, parents): holders of any of the given socket inodes, and pid -> ppid."""
    wanted = {"socket:[%d]" % inode for inode in inodes}
    procs, parents = {}, {}
    for entry in os.listdir(proc_root):
        if not entry.isdigit():
            continue
        pid = int(entry)
        base = os.path.join(proc_root, entry)
        try:
            name, ppid = parse_stat(_read(os.path.join(base, "stat")))
            parents[pid] = ppid
            held = set()
            fd_dir = os.path.join(base, "fd")
            for fd in os.listdir(fd_dir):
                try:
                    target = os.readlink(os.path.join(fd_dir, fd))
                except OSError:
                    continue  # fd closed meanwhile
                if target in wanted:
                    held.add(int(target[8:-1]))
            if not held:
                continue
            argv = _read(os.path.join(base, "cmdline"), "rb").split(b"\0")
            cmdline = " ".join(a.decode("utf-8", "replace") for a in argv if a)
        except (OSError, ValueError, IndexError):
            continue  # exited, access denied, or a zombie
        procs[pid] = {"ppid": ppid, "name": name, "cmdline": cmdline, "inodes": held}
    return procs, parents


def find_port_holders(ports, owner_pids=(), proc_root="/proc"):
    """Scan proc_root and return the module result for the given ports."""
    listeners = [row for row in read_listeners(proc_root) if row[1] in ports]
    procs, parents = scan_processes(proc_root, {inode for _address, _port, inode in listeners})
    return build_result(ports, listeners, procs, parents, owner_pids)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            ports=dict(type="list", elements="int", required=True),
            owner_pids=dict(type="list", elements="int", default=[]),
            proc_root=dict(type="path", default="/proc"),
        ),
        supports_check_mode=True,
    )
    ports = list(dict.fromkeys(module.params["ports"]))
    for port in ports:
        if not 1 <= port <= 65535:
            module.fail_json(msg="Invalid port %d: ports must be between 1 and 65535" % port)
    try:
        result = find_port_holders(ports, module.params["owner_pids"], module.params["proc_root"])
    except OSError as e:
        module.fail_json(msg="Cannot read TCP sockets from %s: %s" % (module.params["proc_root"], e))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
