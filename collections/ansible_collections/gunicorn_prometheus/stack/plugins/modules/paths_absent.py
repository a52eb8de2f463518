#!/usr/bin/python
# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors

from __future__ import annotations

DOCUMENTATION = r"""
---
module: paths_absent
short_description: Remove files and directories, then the shared directories left without files
version_added: "0.7.0"
author: gunicorn_prometheus.stack contributors (!UNKNOWN)
description:
  - Removes every path of O(paths) (a directory with all it holds), then each directory of
    O(prune), in the order given, when no file is left below it (only empty directories).
    So the directories several components share are removed with the last of them.
  - One call does what a loop of M(ansible.builtin.file) and M(ansible.builtin.find) tasks
    would, at the cost of one task.
options:
  paths:
    description:
      - Files or directories to remove. Missing ones are fine.
    type: list
    elements: path
    default: []
  prune:
    description:
      - Directories to remove once no file (anything but a directory) is left below them,
        checked in this order, after O(paths) are gone; list the deepest first.
    type: list
    elements: path
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - A symbolic link is removed itself; what it points to is left alone.
"""

EXAMPLES = r"""
- name: Remove the app's files, then its shared directories if nothing else is in them
  gunicorn_prometheus.stack.paths_absent:
    paths: [/opt/gpe-stack/app, /etc/gpe-stack/gunicorn.conf.py]
    prune: [/etc/gpe-stack, /opt/gpe-stack]
"""

RETURN = r"""
removed:
  description: The paths removed (or that would be, in check mode), in the order they were.
  returned: always
  type: list
  elements: str
  sample: [/opt/gpe-stack/app, /etc/gpe-stack]
kept:
  description: The directories of O(prune) that stay because a file is left below them.
  returned: always
  type: list
  elements: str
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule


def _exists(path):
    return os.path.lexists(path)


def _under(path, gone):
    path = os.path.normpath(path)
    return any(path == top or path.startswith(top.rstrip(os.sep) + os.sep) for top in gone)


def holds_a_file(directory, gone=()):
    """Whether anything but a directory is below `directory`, besides what is below `gone`."""
    gone = [os.path.normpath(path) for path in gone]
    for top, dirs, files in os.walk(directory):
        # A link to a directory is listed among dirs (and not walked into): a file here.
        names = files + [name for name in dirs if os.path.islink(os.path.join(top, name))]
        if any(not _under(os.path.join(top, name), gone) for name in names):
            return True
    return False


def plan(paths, prune):
    """(removed, kept): what removing `paths`, then pruning `prune` in order, takes away."""
    removed = [path for path in paths if _exists(path)]
    kept = []
    for directory in prune:
        if not os.path.isdir(directory) or os.path.islink(directory) or _under(directory, removed):
            continue
        if holds_a_file(directory, removed):
            kept.append(directory)
        else:
            removed.append(directory)
    return removed, kept


def remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif _exists(path):
        os.unlink(path)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="path", default=[]),
            prune=dict(type="list", elements="path", default=[]),
        ),
        supports_check_mode=True,
    )
    removed, kept = plan(module.params["paths"], module.params["prune"])
    if not module.check_mode:
        for path in removed:
            try:
                remove(path)
            except OSError as error:
                module.fail_json(msg=f"could not remove {path}: {error}", removed=removed, kept=kept)
    module.exit_json(changed=bool(removed), removed=removed, kept=kept)


if __name__ == "__main__":
    main()
