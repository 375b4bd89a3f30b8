"""`asktell demo`'s pieces against a real server: every algorithm it offers works, a first run
asks nothing that fails, progress without a terminal says how far it is, and the end says
what to run next."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from asktell.worker.demo import (
    ALGORITHMS,
    DEMO_STUDY,
    _follow_lines,
    _fresh_study,
    demo_spec,
    next_steps,
)
from tests.conftest import REPO, LiveServer, ServerProcess


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_the_demo_offers_runs(live_server: LiveServer, algorithm: str) -> None:
    with live_server.client() as client:
        study = client.create_study(demo_spec(algorithm, 4))
        trials = study.ask_many(4)
    assert len(trials) == 4
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 4


def test_a_first_run_asks_nothing_that_fails(server_process: ServerProcess) -> None:
    from asktell.client import Client

    address = server_process.start()
    with Client(address) as client:
        _fresh_study(client, demo_spec("random", 3))  # none yet
        study = _fresh_study(client, demo_spec("random", 3))  # again: deleted, created
        assert study.id == DEMO_STUDY and client.list_trials(DEMO_STUDY) == []
    server_process.terminate()
    log = server_process.log_path.read_text()
    assert "NOT_FOUND" not in log and "answered" not in log


def test_without_a_terminal_progress_lines_count_the_trials(live_server: LiveServer) -> None:
    client = live_server.client()
    study = client.create_study(demo_spec("random", 3))
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import time
                from asktell.client import Client
                with Client("{live_server.address}") as client:
                    study = client.get_study("{DEMO_STUDY}")
                    while (trial := study.ask()) is not None:
                        time.sleep(0.6)
                        trial.tell(0.5 + trial.number / 10)
                """
            ),
        ],
        cwd=REPO,
        text=True,
    )
    lines: list[str] = []
    _follow_lines(study, worker, 3, lines.append)
    client.close()
    assert worker.returncode == 0
    assert lines[-1] == (
        "trials 3/3 finished (3 complete, 0 pruned, 0 failed), 0 running, best val_accuracy 0.8000"
    )
    finished = [int(line.split()[1].split("/")[0]) for line in lines]
    assert finished == sorted(set(finished))  # one line per count, in order


def test_the_end_says_what_to_run_next() -> None:
    text = next_steps("sqlite:///asktell-demo.db", DEMO_STUDY, ".venv/bin/asktell")
    commands = [line.split("#")[0].split() for line in text.splitlines() if ".venv" in line]
    assert [c[1] for c in commands] == ["serve", "study", "worker", "study", "dashboard"]
    assert ".venv/bin/asktell serve --db sqlite:///asktell-demo.db" in text
    assert f"study update {DEMO_STUDY} --more-trials 20" in text
    assert f"study show {DEMO_STUDY}" in text
    assert "dashboard --server 127.0.0.1:50051" in text
    assert Path(REPO / "README.md").read_text().count("asktell dashboard") >= 1
