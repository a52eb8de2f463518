# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""One license: LICENSE holds Apache-2.0, and every source file says so in its header."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEADER = "SPDX-License-Identifier: Apache-2.0"
# Rendered from the roles' templates (a unit test compares them), JSON (no comments), the
# changelog (antsibull's format) and Markdown: the LICENSE file covers them.
NOT_HEADED = (".md", ".json", ".j2", "fixtures/compose/", "changelogs/")


def test_license_is_apache_2():
    assert (ROOT / "LICENSE").read_text().split()[:4] == ["Apache", "License", "Version", "2.0,"]


def test_every_source_file_names_the_license():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    missing = [name for name in files
               if name != "LICENSE" and not (ROOT / name).is_symlink() and not any(part in name for part in NOT_HEADED)
               and HEADER not in "".join((ROOT / name).read_text().splitlines(keepends=True)[:3])]
    assert missing == []
