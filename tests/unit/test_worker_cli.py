"""`asktell worker` start-up failures: one line and an exit status, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def run_worker(*args: str, hide_tensorboard: bool = False) -> subprocess.CompletedProcess[str]:
    """`asktell worker` against port 1 (nothing listens); optionally as if the tensorboard
    package were not installed."""
    hide = "import sys; sys.modules['tensorboard'] = None; " if hide_tensorboard else ""
    code = (
        f"{hide}import runpy, sys; sys.argv = ['asktell', *sys.argv[1:]]; "
        "runpy.run_module('asktell.client._cli', run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-c", code, "worker", "--server", "127.0.0.1:1", "--study", "s", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def test_tensorboard_without_the_package_is_one_line_naming_the_extra(tmp_path: Path) -> None:
    result = run_worker(
        *("--task", "tests.e2e.tasks:slow", "--tensorboard", str(tmp_path / "tb")),
        hide_tensorboard=True,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "asktell worker: cannot start: --tensorboard needs the tensorboard package: "
        "pip install 'asktell[worker,tensorboard]'"
    ]
    assert not (tmp_path / "tb").exists()


def test_tensorboard_dir_that_cannot_be_created_is_one_line_and_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "asktell.client._cli", "worker", "--server", "127.0.0.1:1"),
            *("--study", "s", "--task", "tests.e2e.tasks:slow"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "ASKTELL_TENSORBOARD": str(blocker / "tb")},
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"asktell worker: cannot start: --tensorboard {blocker / 'tb'}: Not a directory"
    )


def test_the_worker_imports_tensorboard_only_with_the_option() -> None:
    code = (
        "import sys; import asktell.worker.cli, asktell.worker.loop; "
        "assert 'tensorboard' not in sys.modules and 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
