"""`asktell worker --task sklearn:ESTIMATOR` processes against a real server on
SQLite (`SQLITE_ONLY` in tests/conftest.py says why): 5-fold cross-validation with racing,
and the example specs end to end."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from asktell.v1.spec import load_yaml
from tests.conftest import REPO, SQLITE_ONLY, LiveServer

pytestmark = [pytest.mark.slow, SQLITE_ONLY]
WORKER = [sys.executable, "-m", "asktell.client._cli", "worker"]
HGB = "sklearn:sklearn.ensemble.HistGradientBoostingClassifier"


def _worker(address: str, study: str, task: str, *args: str, timeout: float = 120) -> str:
    """Runs one `asktell worker` process to its end; its output (it must exit 0)."""
    done = subprocess.run(
        [*WORKER, "--server", address, "--study", study, "--task", task, "--device", "cpu", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_racing_stops_a_bad_configuration_and_tells_the_mean(live_server: LiveServer) -> None:
    spec: dict[str, Any] = {
        "name": "cv5",
        "objective": {"metric": "cv_accuracy", "goal": "maximize", "aggregate": "mean"},
        "algorithm": {"name": "random", "seed": 3},
        "max_trials": 1,
        "early_stopping": {"name": "racing", "min_folds": 2},
        "parameters": {
            "learning_rate": {"type": "float", "min": 1e-3, "max": 1.0, "scale": "log"},
            "max_iter": {"type": "int", "min": 10, "max": 100},
        },
    }
    with live_server.client() as client:
        study = client.create_study(spec)
        # A good configuration first, then one that only ever predicts the majority class.
        study.enqueue(
            [{"learning_rate": 0.1, "max_iter": 50}, {"learning_rate": 1e-3, "max_iter": 10}]
        )
        _worker(
            live_server.address,
            "cv5",
            HGB,
            "--task-option",
            "data=breast_cancer",
            "--task-option",
            "cv=5",
            "--max-trials",
            "2",
        )
        good, bad = study.trials()
    assert good.state == "COMPLETE"
    folds = [value for _, value in good.measurements]
    assert [step for step, _ in good.measurements] == [0, 1, 2, 3, 4]
    assert good.value == math.fsum(folds) / 5
    assert good.value > 0.9
    assert bad.state == "PRUNED"
    assert 2 <= len(bad.measurements) <= 3, bad.measurements
    assert max(v for _, v in bad.measurements) < 0.7


@pytest.mark.parametrize(
    ("example", "task", "data"),
    [
        ("sklearn-hgb.yaml", HGB, "breast_cancer"),
        ("sklearn-svm.yaml", "sklearn:sklearn.svm.SVC", "digits"),
    ],
)
def test_example_specs_run_end_to_end(
    live_server: LiveServer, example: str, task: str, data: str
) -> None:
    text = (REPO / "examples" / example).read_text()
    assert f"--task {task}" in text and f"data={data}" in text  # what its comment says to run
    spec = load_yaml(text)
    spec["max_trials"] = 4
    with live_server.client() as client:
        study = client.create_study(spec)
        _worker(
            live_server.address,
            spec["name"],
            task,
            "--task-option",
            f"data={data}",
            "--task-option",
            "cv=5",
        )
        trials = study.trials()
        best = study.best_trial
    assert len(trials) == 4
    assert {t.state for t in trials} <= {"COMPLETE", "PRUNED"}
    assert best is not None and best.value is not None and best.value > 0.8
    for trial in trials:
        if trial.state == "COMPLETE":
            assert len(trial.measurements) == 5
            assert trial.value == pytest.approx(
                math.fsum(v for _, v in trial.measurements) / 5, rel=1e-12
            )
        if "gamma" in trial.params:
            assert trial.params["kernel"] != "linear"


def test_a_bad_estimator_exits_2_with_one_line(live_server: LiveServer, tmp_path: Path) -> None:
    with live_server.client() as client:
        client.create_study({**_minimal(), "name": "cvbad"})
    done = subprocess.run(
        [
            *WORKER,
            "--server",
            live_server.address,
            "--study",
            "cvbad",
            "--task",
            "sklearn:sklearn.ensemble.NoSuchForest",
            "--task-option",
            "data=iris",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "has no scikit-learn estimator 'NoSuchForest'" in lines[0]
    assert "Traceback" not in done.stderr


def _minimal() -> dict[str, Any]:
    return {
        "objective": {"metric": "cv_accuracy", "goal": "maximize", "aggregate": "mean"},
        "parameters": {"C": {"type": "float", "min": 0.1, "max": 1}},
    }


def test_unknown_parameters_fail_the_trial(live_server: LiveServer) -> None:
    with live_server.client() as client:
        study = client.create_study({**_minimal(), "name": "cvunknown", "max_trials": 1})
        _worker(live_server.address, "cvunknown", HGB, "--task-option", "data=iris")
        (trial,) = study.trials()
    assert trial.state == "FAILED"
    assert "HistGradientBoostingClassifier has no parameter 'C'" in trial.reason
