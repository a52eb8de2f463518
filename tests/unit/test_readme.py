# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""The README's table of contents lists every section, and its links lead to them."""

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _slug(heading):
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _sections(level):
    outside_code = re.sub(r"```.*?```", "", README, flags=re.S)
    return re.findall(rf"^{level} (.+)$", outside_code, flags=re.M)


def test_contents_link_every_section_in_order():
    contents = README.split("## Contents", 1)[1].split("\n## ", 1)[0]
    targets = re.findall(r"\]\(#([^)]+)\)", contents)
    sections = [_slug(heading) for heading in _sections("##") if heading != "Contents"]
    assert targets == sections


def test_every_link_to_a_section_resolves():
    anchors = {_slug(heading) for level in ("##", "###") for heading in _sections(level)}
    links = set(re.findall(r"\]\(#([^)]+)\)", README))
    assert links - anchors == set()
