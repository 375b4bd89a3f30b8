"""Worker processes against a real server on SQLite: training, failures, kill -9, SIGTERM,
early stopping. Workers run as `python -m asktell.client._cli worker` from the repo root."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from asktell.client import Client, Study, Trial
from asktell.server.app import create_server
from asktell.server.storage import open_store
from tests import ci
from tests.conftest import REPO, ServerProcess
from tests.services import free_port

pytestmark = pytest.mark.slow
WORKER = [sys.executable, "-m", "asktell.client._cli", "worker"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """An in-process server on a SQLite file; its address."""
    store = open_store(f"sqlite:///{tmp_path / 'asktell.db'}")
    grpc_server, port = create_server(store, "127.0.0.1:0")
    grpc_server.start()
    yield f"127.0.0.1:{port}"
    grpc_server.stop(None)
    store.close()


class Workers:
    """`asktell worker` processes started by a test, killed at the end if still alive."""

    def __init__(self, address: str, tmp_path: Path) -> None:
        ci.require_module("torch", "worker")  # `asktell worker` needs the worker extra
        self.address = address
        self.tmp_path = tmp_path
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, study: str, task: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"worker-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [*WORKER, "--server", self.address, "--study", study, "--task", task, *args],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.processes.append(process)
        return process

    def wait(self, process: subprocess.Popen[bytes], timeout: float = 60) -> int:
        return process.wait(timeout=timeout)

    def log(self, index: int) -> str:
        return (self.tmp_path / f"worker-{index}.log").read_text()

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def workers(server: str, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(server, tmp_path)
    yield pool
    pool.close()


@pytest.fixture
def client(server: str) -> Iterator[Client]:
    with Client(server) as c:
        yield c


def wait_for(condition: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or condition}")


def running(study: Study) -> list[Trial]:
    return study.trials(["RUNNING"])


def test_two_processes_finish_a_digits_mlp_study(client: Client, workers: Workers) -> None:
    study = client.create_study(
        {
            "name": "digits",
            "objective": {"metric": "val_accuracy", "goal": "maximize"},
            "algorithm": {"name": "random", "seed": 3},
            "max_trials": 6,
            "parameters": {
                "lr": {"type": "float", "min": 3e-3, "max": 2e-2, "scale": "log"},
                "width": {"type": "int", "min": 32, "max": 128},
                "depth": {"type": "int", "min": 1, "max": 2},
                "batch_size": {"type": "discrete", "values": [32, 64]},
                "epochs": {"type": "int", "min": 3, "max": 5},
            },
        }
    )
    process = workers.start("digits", "digits-mlp", "--processes", "2", "--device", "cpu")
    assert workers.wait(process, timeout=120) == 0, workers.log(0)
    trials = study.trials()
    assert [t.state for t in trials] == ["COMPLETE"] * 6, workers.log(0)
    assert all(t.value is not None and t.value > 0.8 for t in trials), trials
    # One report per epoch, and both processes took trials.
    assert all(len(t.measurements) == t.params["epochs"] for t in trials)
    assert len({t.worker_id for t in trials}) == 2


def test_a_failing_task_fails_its_trial_and_the_worker_goes_on(
    client: Client, workers: Workers
) -> None:
    study = client.create_study(
        {
            "name": "raises",
            "objective": {"metric": "loss", "goal": "minimize"},
            "algorithm": {"name": "grid"},
            "parameters": {"kind": {"type": "categorical", "values": ["ok", "boom", "fine"]}},
        }
    )
    process = workers.start("raises", "tests.e2e.tasks:raises", "--prefetch")
    assert workers.wait(process) == 0, workers.log(0)
    by_kind = {t.params["kind"]: t for t in study.trials()}
    assert by_kind["ok"].state == by_kind["fine"].state == "COMPLETE"
    assert by_kind["boom"].state == "FAILED"
    assert by_kind["boom"].reason == "ValueError: boom: this configuration cannot train"
    assert running(study) == []


def test_a_task_returns_attrs_in_each_form(client: Client, workers: Workers) -> None:
    study = client.create_study(
        {
            "name": "attrs",
            "objective": {"metric": "loss", "goal": "minimize"},
            "algorithm": {"name": "grid"},
            "parameters": {
                "form": {"type": "categorical", "values": ["metrics", "value", "number", "bad"]}
            },
        }
    )
    process = workers.start("attrs", "tests.e2e.tasks:with_attrs")
    assert workers.wait(process) == 0, workers.log(0)
    by_form = {t.params["form"]: t for t in study.trials()}
    metrics, value, number, bad = (by_form[f] for f in ("metrics", "value", "number", "bad"))
    assert (metrics.state, metrics.value) == ("COMPLETE", 1.0)
    assert metrics.attrs == {"model_uri": f"/models/{metrics.number}"}
    assert (value.state, value.value, value.attrs) == (
        "COMPLETE",
        2.0,
        {"epochs": 3, "converged": True},
    )
    assert (number.state, number.value, number.attrs) == ("COMPLETE", 3.0, {})
    assert bad.state == "FAILED" and "attrs refused" in bad.reason and "bad key" in bad.reason
    assert running(study) == []


def test_kill_9_loses_the_lease_and_the_other_worker_finishes(
    client: Client, workers: Workers
) -> None:
    study = client.create_study(
        {
            "name": "kill",
            "objective": {"metric": "loss", "goal": "minimize"},
            "algorithm": {"name": "random", "seed": 1},
            "max_trials": 5,
            "lease_seconds": 2,
            "max_retries": 1,
            "parameters": {"x": {"type": "float", "min": 0.0, "max": 1.0}},
        }
    )
    victim = workers.start("kill", "tests.e2e.tasks:slow", "--worker-id", "victim")
    survivor = workers.start("kill", "tests.e2e.tasks:slow", "--worker-id", "survivor")
    held = wait_for(
        lambda: [t for t in running(study) if t.worker_id == "victim"], what="victim's trial"
    )[0]
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    assert workers.wait(survivor, timeout=90) == 0, workers.log(1)
    lost = study.trial(held.number)
    assert lost.state == "FAILED" and "lease expired" in lost.reason, lost
    retries = [t for t in study.trials() if t.retry_of == held.number]
    assert [t.state for t in retries] == ["COMPLETE"]
    assert retries[0].worker_id == "survivor" and retries[0].params == held.params
    assert running(study) == []


def test_sigterm_fails_the_trials_in_hand_and_exits_0(client: Client, workers: Workers) -> None:
    study = client.create_study(
        {
            "name": "term",
            "objective": {"metric": "loss", "goal": "minimize"},
            "algorithm": {"name": "random", "seed": 2},
            "max_trials": 10,
            "max_retries": 1,
            "parameters": {
                "x": {"type": "float", "min": 0.0, "max": 1.0},
                "steps": {"type": "int", "min": 200, "max": 200},
            },
        }
    )
    process = workers.start("term", "tests.e2e.tasks:slow", "--processes", "2")
    wait_for(lambda: len(running(study)) == 2, what="two running trials")
    process.send_signal(signal.SIGTERM)
    # Well within a Kubernetes grace period: a trial of 200 steps would take 50 s.
    assert workers.wait(process, timeout=15) == 0, workers.log(0)
    trials = study.trials()
    assert running(study) == []
    assert [t.reason for t in trials] == ["worker stopped (SIGTERM)"] * 2
    assert all(len(t.measurements) < 200 for t in trials)  # stopped, not trained to the end
    assert study.info().counts.queued == 2  # handed out again by max_retries


def plateau_spec(name: str, **extra: Any) -> dict[str, Any]:
    # Listed order is grid order: three good configurations finish first.
    qualities = ["0.9", "0.95", "0.85", "0.3", "0.2", "0.92", "0.1", "0.4"]
    return {
        "name": name,
        "objective": {"metric": "score", "goal": "maximize"},
        "algorithm": {"name": "grid"},
        "parameters": {"quality": {"type": "categorical", "values": qualities}},
        **extra,
    }


def test_median_rule_prunes_bad_trials_and_saves_epochs(client: Client, workers: Workers) -> None:
    rule = {"name": "median", "min_steps": 2, "min_trials": 3}
    with_rule = client.create_study(plateau_spec("median", early_stopping=rule))
    without = client.create_study(plateau_spec("plain"))
    first = workers.start("median", "tests.e2e.tasks:plateau")
    second = workers.start("plain", "tests.e2e.tasks:plateau")
    assert workers.wait(first) == 0 and workers.wait(second) == 0, workers.log(0)

    pruned = {t.params["quality"] for t in with_rule.trials(["PRUNED"])}
    assert pruned == {"0.3", "0.2", "0.1", "0.4"}
    assert all(t.reason == "stopped early at step 2" for t in with_rule.trials(["PRUNED"]))
    assert {t.state for t in without.trials()} == {"COMPLETE"}

    def epochs(study: Study) -> int:
        return sum(len(t.measurements) for t in study.trials())

    assert epochs(with_rule) == 4 * 8 + 4 * 2 < epochs(without) == 8 * 8
    best_with, best_without = with_rule.best_trial, without.best_trial
    assert best_with is not None and best_without is not None
    assert best_with.params == best_without.params == {"quality": "0.95"}


def test_a_server_down_for_a_while_is_waited_for(tmp_path: Path) -> None:
    server = ServerProcess(f"sqlite:///{tmp_path / 'down.db'}", tmp_path / "server.log")
    port = str(free_port())
    address = server.start("--port", port)
    pool = Workers(address, tmp_path)
    try:
        with Client(address) as client:
            study = client.create_study(
                {
                    "name": "down",
                    "objective": {"metric": "loss", "goal": "minimize"},
                    "algorithm": {"name": "random", "seed": 4},
                    "max_trials": 3,
                    "parameters": {
                        "x": {"type": "float", "min": 0.0, "max": 1.0},
                        "steps": {"type": "int", "min": 4, "max": 4},  # 1 s a trial
                    },
                }
            )
            process = pool.start("down", "tests.e2e.tasks:slow", "--server-wait", "30")
            wait_for(lambda: running(study), what="a running trial")
            server.kill()
            time.sleep(1)  # reports fail meanwhile; the worker keeps its trial and retries
            server.start("--port", port)
            assert pool.wait(process) == 0, pool.log(0)
            assert [t.state for t in study.trials()] == ["COMPLETE"] * 3
            assert "UNAVAILABLE" in pool.log(0)  # the worker did see the server gone
    finally:
        pool.close()
        server.kill()


def test_a_task_tells_every_metric_of_a_multi_objective_study(
    client: Client, workers: Workers
) -> None:
    study = client.create_study(
        {
            "name": "several",
            "objectives": [
                {"metric": "acc", "goal": "maximize"},
                {"metric": "lat", "goal": "minimize"},
            ],
            "constraints": [{"metric": "mem", "max": 512}],
            "early_stopping": {"name": "median", "metric": "lat"},
            "algorithm": {"name": "grid"},
            "parameters": {"form": {"type": "categorical", "values": ["all", "missing", "nan"]}},
        }
    )
    process = workers.start("several", "tests.e2e.tasks:several_metrics")
    assert workers.wait(process) == 0, workers.log(0)
    by_form = {t.params["form"]: t for t in study.trials()}
    told = by_form["all"]
    assert told.state == "COMPLETE" and told.value == 0.9
    assert told.values == {"acc": 0.9, "lat": 12.5, "mem": 300.0, "epochs": 3.0}
    assert told.measurements == [(1, 2.0)]  # the early-stopping metric, lat
    assert told.attrs == {"form": "all"}
    assert by_form["missing"].state == "FAILED" and "'mem'" in by_form["missing"].reason
    assert by_form["nan"].state == "FAILED" and "lat = nan" in by_form["nan"].reason
    assert [t.number for t in study.best_trials()] == [told.number]
