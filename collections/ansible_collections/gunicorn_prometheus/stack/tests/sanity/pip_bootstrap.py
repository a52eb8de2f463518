# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""A stand-in for the get-pip.py with which ansible-test puts pip into each sanity virtualenv.

ansible-test downloads that script from its CI file host, which is unreachable where only
package indexes are; when the download fails it says to save a copy in its cache
(~/.ansible/test/cache/get_pip_<version>.py). `make sanity` puts this file there instead
(when nothing is there, or an older copy of this file).
ansible-test runs it with the virtualenv's Python and get-pip's arguments (pip options,
requirements such as pip==24.2, --no-setuptools, --no-wheel); it does what get-pip does:
pip from the Python's own ensurepip (offline), then the requested packages from the
index pip is configured for, and no setuptools or wheel unless asked for.
"""

import subprocess
import sys

NO_PACKAGES = {"--no-setuptools": "setuptools", "--no-wheel": "wheel"}


def main():
    python = [sys.executable, "-m"]
    args = [arg for arg in sys.argv[1:] if arg not in NO_PACKAGES]
    subprocess.run(python + ["ensurepip", "--upgrade"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(python + ["pip", "install", "--quiet"] + args, check=True)
    # ensurepip may bring setuptools (Python < 3.12): removed, as get-pip would not install it.
    unwanted = [package for option, package in NO_PACKAGES.items() if option in sys.argv]
    if unwanted:
        subprocess.run(python + ["pip", "uninstall", "--quiet", "--yes"] + unwanted, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
