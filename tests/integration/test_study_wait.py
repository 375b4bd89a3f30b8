"""`asktell study wait` against a real server: its exit codes are what a pipeline branches on."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from click.testing import CliRunner

from asktell.client import Client
from asktell.client._cli import main
from tests.conftest import REPO, LiveServer, simple_spec


def wait(live_server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "asktell.client._cli",
            "study",
            "wait",
            *args,
            "--server",
            live_server.address,
            "--interval",
            "0.2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )


def run_trials(client: Client, name: str, n: int, *, fail: bool = False) -> None:
    study = client.get_study(name)
    for _ in range(n):
        trial = study.ask()
        assert trial is not None
        time.sleep(0.1)
        if fail:
            trial.fail("diverged")
        else:
            trial.tell(float(trial.params["x"]) ** 2)


def test_wait_returns_0_once_the_budget_is_used_and_every_trial_finished(
    live_server: LiveServer,
) -> None:
    with live_server.client() as client:
        client.create_study(simple_spec("waited", max_trials=4))
        worker = threading.Thread(target=run_trials, args=(client, "waited", 4))
        worker.start()
        result = wait(live_server, "waited")
        worker.join()
        assert client.get_study_info("waited").state == "COMPLETED"
    assert result.returncode == 0, result.stderr
    assert "study waited finished" in result.stderr
    assert "4 complete" in result.stderr


def test_wait_gives_up_with_3_after_max_wait(live_server: LiveServer) -> None:
    with live_server.client() as client:
        client.create_study(simple_spec("slow", max_trials=4))
        run_trials(client, "slow", 1)
    started = time.monotonic()
    result = wait(live_server, "slow", "--max-wait", "1")
    assert result.returncode == 3, result.stderr
    assert time.monotonic() - started < 15
    assert "not finished after 1 s" in result.stderr


def test_wait_exits_4_for_a_stopped_and_5_for_an_all_failed_study(
    live_server: LiveServer,
) -> None:
    with live_server.client() as client:
        client.create_study(simple_spec("halted", max_trials=4))
        client.stop_study("halted")
        client.create_study(simple_spec("broken", max_trials=2))
        run_trials(client, "broken", 2, fail=True)
    stopped = wait(live_server, "halted")
    assert stopped.returncode == 4 and "is stopped" in stopped.stderr
    failed = wait(live_server, "broken")
    assert failed.returncode == 5 and "without a COMPLETE trial" in failed.stderr


def test_wait_for_an_unknown_study_is_one_line_and_exit_1(live_server: LiveServer) -> None:
    result = CliRunner().invoke(
        main, ["study", "wait", "nope", "--server", live_server.address, "--interval", "0.2"]
    )
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: NOT_FOUND") and '"nope"' in line
