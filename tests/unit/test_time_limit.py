# SPDX-License-Identifier: Apache-2.0
# Copyright: gunicorn_prometheus.stack contributors
"""Every check has a time limit (the check library's plugin, with pytest-timeout): a check
that hangs fails at the limit with its stack shown, and the run goes on."""

import subprocess
import sys
import textwrap


def test_a_hung_check_fails_at_its_time_limit_with_its_stack(tmp_path):
    checks = tmp_path / "test_hangs.py"
    checks.write_text(textwrap.dedent("""
        import time

        def wait_for_something_that_never_comes():
            time.sleep(60)

        def test_hangs():
            wait_for_something_that_never_comes()

        def test_after_the_hang():
            assert True
    """))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--check-time-limit=1", str(checks)],
        capture_output=True, text=True, timeout=50, check=False, cwd=tmp_path)
    out = result.stdout
    assert result.returncode == 1, out
    assert "1 failed, 1 passed" in out, out
    assert "Timeout (>1.0s" in out and "wait_for_something_that_never_comes" in out, out
