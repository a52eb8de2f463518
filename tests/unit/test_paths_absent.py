# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The paths_absent module's decisions on a real scratch tree."""

import importlib.util
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULE_PATH = ROOT / "collections/ansible_collections/gunicorn_prometheus/stack/plugins/modules/paths_absent.py"
_spec = importlib.util.spec_from_file_location("paths_absent", MODULE_PATH)
paths_absent = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(paths_absent)


def _tree(root, *files):
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")


def _apply(paths, prune):
    removed, kept = paths_absent.plan([str(p) for p in paths], [str(p) for p in prune])
    for path in removed:
        paths_absent.remove(path)
    return removed, kept


def test_shared_directories_go_with_their_last_file(tmp_path):
    _tree(tmp_path, "etc/app.conf", "etc/redis.conf", "opt/app/venv/bin/python", "var/multiproc/1.db")
    (tmp_path / "etc/registry/gpe").mkdir(parents=True)  # only empty directories left there
    removed, kept = _apply([tmp_path / "etc/app.conf", tmp_path / "opt/app", tmp_path / "var/multiproc"],
                           [tmp_path / "etc", tmp_path / "opt", tmp_path / "var"])
    assert removed == [str(tmp_path / p) for p in ("etc/app.conf", "opt/app", "var/multiproc", "opt", "var")]
    assert kept == [str(tmp_path / "etc")]  # redis.conf is still there
    assert sorted(os.listdir(tmp_path)) == ["etc"]
    removed, kept = _apply([tmp_path / "etc/redis.conf"], [tmp_path / "etc/registry/gpe", tmp_path / "etc"])
    assert removed == [str(tmp_path / "etc/redis.conf"), str(tmp_path / "etc/registry/gpe"), str(tmp_path / "etc")]
    assert kept == [] and os.listdir(tmp_path) == []


def test_nothing_to_remove_is_no_change_and_a_link_counts_as_a_file(tmp_path):
    assert paths_absent.plan([str(tmp_path / "gone")], [str(tmp_path / "missing")]) == ([], [])
    (tmp_path / "shared").mkdir()
    (tmp_path / "target").mkdir()
    (tmp_path / "shared/link").symlink_to(tmp_path / "target")
    assert paths_absent.plan([], [str(tmp_path / "shared")]) == ([], [str(tmp_path / "shared")])
    # Removing the link removes the link only.
    removed, _ = _apply([tmp_path / "shared/link"], [tmp_path / "shared"])
    assert removed == [str(tmp_path / "shared/link"), str(tmp_path / "shared")]
    assert (tmp_path / "target").is_dir()
