# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Writes roles/<role>/README.md of the collection from each role's meta/argument_specs.yml:
what each entry point does and its variables with type, default and description.

    python tools/role_readmes.py          write them
    python tools/role_readmes.py --check  exit 1 and name the stale ones (a unit test runs this)
"""

import re
import sys
from pathlib import Path

import yaml

ROLES = Path(__file__).resolve().parents[1] / "collections/ansible_collections/gunicorn_prometheus/stack/roles"


def _text(value):
    """Ansible's doc markup (C(x), I(x)) as Markdown, a list of paragraphs as one."""
    text = " ".join(value) if isinstance(value, list) else str(value or "")
    return re.sub(r"[CI]\(([^)]*)\)", r"`\1`", " ".join(text.split()))


def _cell(text):
    return text.replace("|", "\\|")


def render(role):
    specs = yaml.safe_load((ROLES / role / "meta/argument_specs.yml").read_text())["argument_specs"]
    lines = [f"# gunicorn_prometheus.stack.{role}", "",
             "<!-- Written by tools/role_readmes.py from meta/argument_specs.yml: edit those, then run it. -->", ""]
    for entry, spec in specs.items():
        call = f"`include_role: name=gunicorn_prometheus.stack.{role}`" if entry == "main" else (
            f"`include_role: name=gunicorn_prometheus.stack.{role} tasks_from={entry}`")
        lines += [f"## {entry}: {_text(spec.get('short_description'))}", "", call, ""]
        if spec.get("description"):
            lines += [_text(spec["description"]), ""]
        options = spec.get("options") or {}
        if entry != "main" and options == (specs.get("main", {}).get("options") or {}):
            lines += ["Variables: as `main`.", ""]
            continue
        if not options:
            lines += ["No variables.", ""]
            continue
        lines += ["| variable | type | default | description |", "| --- | --- | --- | --- |"]
        for name, option in options.items():
            kind = option.get("type", "str") + (f" of {option['elements']}" if option.get("elements") else "")
            default = "required" if option.get("required") else f"`{yaml.safe_dump(option.get('default'), default_flow_style=True, width=float('inf')).strip().removesuffix('...').strip()}`"
            choices = f" One of {', '.join(map(str, option['choices']))}." if option.get("choices") else ""
            lines.append(f"| `{name}` | {kind} | {_cell(default)} | {_cell(_text(option.get('description')) + choices)} |")
        lines.append("")
    return "\n".join(lines)


def main(argv):
    stale = []
    for role in sorted(p.name for p in ROLES.iterdir() if (p / "meta/argument_specs.yml").exists()):
        path, text = ROLES / role / "README.md", render(role)
        if not path.exists() or path.read_text() != text:
            stale.append(role)
            if "--check" not in argv:
                path.write_text(text)
    if "--check" in argv and stale:
        print(f"stale role READMEs: {', '.join(stale)} (run python tools/role_readmes.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
