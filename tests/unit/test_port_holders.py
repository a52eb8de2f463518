# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
from __future__ import annotations

import importlib.util
import os
import shutil
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE_PATH = (ROOT / "collections/ansible_collections/gunicorn_prometheus/stack"
               / "plugins/modules/port_holders.py")

_spec = importlib.util.spec_from_file_location("port_holders", MODULE_PATH)
ph = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ph)

HEADER = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
          "   uid  timeout inode\n")


def row(n, local, state, inode, remote="00000000:0000"):
    return ("%4d: %s %s %s 00000000:00000000 00:00000000 00000000  1000        0 %d 1 "
            "0000000000000000 100 0 0 10 0\n" % (n, local, remote, state, inode))


@pytest.mark.parametrize("hex_addr, expected", [
    ("0100007F", "127.0.0.1"),
    ("00000000", "0.0.0.0"),
    ("0101A8C0", "192.168.1.1"),
    ("00000000000000000000000001000000", "::1"),
    ("00000000000000000000000000000000", "::"),
    ("0000000000000000FFFF00000100007F", "::ffff:127.0.0.1"),
    ("B80D0120000000000000000001000000", "2001:db8::1"),
])
def test_decode_address(hex_addr, expected):
    assert ph.decode_address(hex_addr, "little") == expected


def test_decode_address_big_endian_host():
    assert ph.decode_address("7F000001", "big") == "127.0.0.1"


def test_parse_tcp_table_keeps_only_listen_rows():
    text = HEADER + "".join([
        row(0, "0100007F:1F40", "0A", 111),
        row(1, "0100007F:1F40", "01", 222, remote="0100007F:D431"),  # ESTABLISHED
        row(2, "00000000:0016", "0A", 333),
        row(3, "0100007F:0050", "06", 0),  # TIME_WAIT
    ])
    assert ph.parse_tcp_table(text, "little") == [
        ("127.0.0.1", 8000, 111),
        ("0.0.0.0", 22, 333),
    ]


def test_parse_tcp6_table():
    text = HEADER + row(0, "00000000000000000000000001000000:2382", "0A", 444)
    assert ph.parse_tcp_table(text, "little") == [("::1", 9090, 444)]


def test_parse_stat_handles_odd_comm():
    assert ph.parse_stat("42 (we ird) x) S 7 42 42 0 -1") == ("we ird) x", 7)


@pytest.mark.parametrize("pid, parents, expected", [
    (30, {30: 20, 20: 10, 10: 1, 1: 0}, [30, 20, 10, 1]),
    (30, {30: 20}, [30, 20]),                     # 20 unknown: stop there
    (30, {30: 20, 20: 30}, [30, 20]),             # cycle
    (5, {5: 5}, [5]),                             # self-parent
    (1, {1: 0}, [1]),
    (0, {}, []),
])
def test_ancestors(pid, parents, expected):
    assert ph.ancestors(pid, parents) == expected


def make_proc(root, pid, ppid, comm, argv, inodes=()):
    d = root / str(pid)
    (d / "fd").mkdir(parents=True)
    (d / "stat").write_text("%d (%s) S %d %d %d 0 -1 4194560" % (pid, comm, ppid, pid, pid))
    (d / "comm").write_text(comm + "\n")
    (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    os.symlink("/dev/null", d / "fd" / "0")
    for n, inode in enumerate(inodes, start=3):
        os.symlink("socket:[%d]" % inode, d / "fd" / str(n))


@pytest.fixture
def fake_proc(tmp_path):
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "tcp").write_text(HEADER + "".join([
        row(0, "0100007F:1F40", "0A", 1001),                          # 127.0.0.1:8000
        row(1, "0100007F:1F40", "01", 1002, remote="0100007F:C000"),  # a client conn
        row(2, "00000000:2383", "0A", 2001),                          # 0.0.0.0:9091
    ]))
    (tmp_path / "net" / "tcp6").write_text(HEADER + "".join([
        row(0, "00000000000000000000000000000000:2383", "0A", 2002),  # [::]:9091
    ]))
    gunicorn = ["/srv/venv/bin/python", "/srv/venv/bin/gunicorn", "app:app"]
    make_proc(tmp_path, 1, 0, "systemd", ["/sbin/init"])
    make_proc(tmp_path, 100, 1, "gunicorn", gunicorn, [1001])
    make_proc(tmp_path, 101, 100, "gunicorn", gunicorn, [1001, 1002])
    make_proc(tmp_path, 102, 100, "gunicorn", gunicorn, [1001])
    make_proc(tmp_path, 500, 1, "python3", ["python3", "-m", "http.server", "9091"],
              [2001, 2002])
    (tmp_path / "self").mkdir()  # non-numeric entries are ignored
    return tmp_path


def test_fake_proc_tree(fake_proc):
    result = ph.find_port_holders([8000, 9091, 9100], owner_pids=[0, 100],
                                  proc_root=str(fake_proc))

    assert result["changed"] is False
    assert result["free"] == [9100]
    assert result["holders"][9100] == []

    web = result["holders"][8000]
    assert [h["pid"] for h in web] == [100, 101, 102]
    assert all(h["owned"] and h["address"] == "127.0.0.1" for h in web)
    assert web[1] == {
        "pid": 101, "ppid": 100, "name": "gunicorn",
        "cmdline": "/srv/venv/bin/python /srv/venv/bin/gunicorn app:app",
        "address": "127.0.0.1", "owned": True,
    }

    other = result["holders"][9091]
    assert [(h["pid"], h["address"]) for h in other] == [(500, "0.0.0.0"), (500, "::")]
    assert result["foreign"] == [dict(h, port=9091) for h in other]
    assert result["foreign"][0]["cmdline"] == "python3 -m http.server 9091"


def test_no_owner_pids_makes_everything_foreign(fake_proc):
    result = ph.find_port_holders([8000], proc_root=str(fake_proc))
    assert [h["pid"] for h in result["foreign"]] == [100, 101, 102]


def test_worker_pid_owns_only_itself(fake_proc):
    result = ph.find_port_holders([8000], owner_pids=[101], proc_root=str(fake_proc))
    assert {h["pid"]: h["owned"] for h in result["holders"][8000]} == {
        100: False, 101: True, 102: False}


def test_vanished_process_is_skipped_and_listener_still_reported(fake_proc):
    # pid 500 "exits": its dir goes away, but the socket is still in net/tcp.
    shutil.rmtree(fake_proc / "500")
    result = ph.find_port_holders([9091], proc_root=str(fake_proc))
    assert result["free"] == []
    assert [(h["pid"], h["address"]) for h in result["foreign"]] == [(None, "0.0.0.0"), (None, "::")]


def test_missing_tcp6_is_fine(fake_proc):
    (fake_proc / "net" / "tcp6").unlink()
    result = ph.find_port_holders([9091], proc_root=str(fake_proc))
    assert [h["address"] for h in result["holders"][9091]] == ["0.0.0.0"]


def test_real_listening_socket():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]

        result = ph.find_port_holders([port], owner_pids=[os.getpid()])

    mine = [h for h in result["holders"][port] if h["pid"] == os.getpid()]
    assert mine and mine[0]["address"] == "127.0.0.1"
    assert mine[0]["owned"] is True
    assert port not in result["free"]
    assert result["foreign"] == []
