# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""What a virtualenv holds of a package under test, against what was asked for (the
`packages` record of a component's manifest, or of images.json for an image)."""

import json
import re
import shlex

from .model import Package

# Run by the virtualenv's own Python on the component's node (or in its container): the
# distribution's version and direct URL record and, given the wheel it should come from,
# that wheel's sha256 and every file of the wheel compared with the file installed (pip
# does not always record the wheel's hash, and keeps an installed version it already has).
PROBE = r"""
import base64, csv, hashlib, io, json, sys, zipfile
from importlib import metadata
name, wheel = sys.argv[1], sys.argv[2]
try:
    found = metadata.distribution(name)
except metadata.PackageNotFoundError:
    print("{}")
    sys.exit()
out = {"version": found.version, "direct_url": json.loads(found.read_text("direct_url.json") or "null")}
if wheel:
    data = open(wheel, "rb").read()
    out["wheel_sha256"] = hashlib.sha256(data).hexdigest()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        record = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        rows = list(csv.reader(io.TextIOWrapper(archive.open(record), "utf-8")))
    # pip writes its own dist-info files and rewrites scripts: compare the rest.
    rows = [(path, digest) for path, digest, *_ in rows if digest and ".dist-info/" not in path and ".data/" not in path]
    differ = []
    for path, digest in rows:
        algorithm, value = digest.split("=", 1)
        try:
            content = found.locate_file(path).read_bytes()
        except OSError:
            differ.append(path + " (missing)")
            continue
        if base64.urlsafe_b64encode(hashlib.new(algorithm, content).digest()).rstrip(b"=").decode() != value:
            differ.append(path)
    out["files"], out["differ"] = len(rows), differ
print(json.dumps(out))
"""


def probe(venv, package):
    """The shell command that prints what the virtualenv holds of the package (see PROBE)."""
    wheel = package.url.removeprefix("file://") if package.sha256 else ""
    return f"{venv}/bin/python -c {shlex.quote(PROBE)} {shlex.quote(package.distribution)} {shlex.quote(wheel)}"


def installed(check_output, venv, package):
    """What the virtualenv holds of a package under test; {} when nothing. check_output runs
    a shell command where the virtualenv is (a host, a running container, an image)."""
    return json.loads(check_output(probe(venv, package)))


def source_problems(package, found):
    """How the installed distribution differs from the package asked for ([] when it does not)."""
    if not found:
        return [f"{package.distribution} is not installed"]
    problems = []
    pinned = re.fullmatch(r"[A-Za-z0-9_.-]+\s*==\s*([^\s;]+)", package.spec)
    if pinned and found["version"] != pinned.group(1):
        problems.append(f"version {found['version']}, asked for {pinned.group(1)}")
    direct = found["direct_url"] or {}
    if direct.get("url", "") != package.url:
        problems.append(f"installed from {direct.get('url') or 'an index'}, asked for {package.url or 'an index'}")
    if package.sha256:
        if found["wheel_sha256"] != package.sha256:
            problems.append(f"{package.url} has sha256 {found['wheel_sha256']}, the one asked for {package.sha256}")
        if found["differ"] or not found["files"]:
            problems.append(f"installed files differ from the wheel's: {found['differ'][:5] or 'the wheel lists none'}")
    return problems




def summary(found):
    """One line of what was found, for the report."""
    if not found:
        return "nothing"
    line = f"{found['version']} from {(found['direct_url'] or {}).get('url') or 'an index'}"
    if "files" in found:
        line += f", {found['files'] - len(found['differ'])}/{found['files']} files as in the wheel"
    return line


def assert_image_packages(check_output, packages, record):
    """The packages under test of one image (its images.json `packages` entry) are what its
    virtualenv holds, where check_output runs commands (a container of that image)."""
    wanted = {key: Package(**item) for key, item in packages["under_test"].items()}
    found = {key: installed(check_output, packages["venv"], package) for key, package in wanted.items()}
    record("; ".join(f"{key}: {summary(item)}" for key, item in found.items()),
           "; ".join(f"{key}: {package.spec}" for key, package in wanted.items()))
    problems = {key: source_problems(wanted[key], item) for key, item in found.items()}
    assert not any(problems.values()), problems
