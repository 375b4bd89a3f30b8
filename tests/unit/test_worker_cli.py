"""`asktell worker` start-up failures: one line and an exit status, no traceback."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_a_task_that_cannot_be_imported_is_one_line_and_exit_2() -> None:
    # Port 1 on loopback: nothing listens, and the worker must fail before it asks.
    result = subprocess.run(
        [
            *(sys.executable, "-m", "asktell.client._cli", "worker", "--server", "127.0.0.1:1"),
            *("--study", "s", "--task", "no_such_module_xyz:train", "--device", "cpu"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "cannot start" in line]
    assert "task 'no_such_module_xyz:train': cannot import no_such_module_xyz" in line
