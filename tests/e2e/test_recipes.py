"""The example specs run end to end with `asktell worker`, as their comments say; the
recipes' conditional parameters reach the tasks; `--tensorboard` writes one run per trial,
read back with tensorboard's EventAccumulator. A real server on SQLite, real workers."""

from __future__ import annotations

import copy
import math
import os
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from asktell.client import Client, Trial
from tests import ci
from tests.conftest import REPO, LiveServer
from tests.e2e import test_workers
from tests.e2e.test_workers import Workers

pytestmark = pytest.mark.slow
EXAMPLES = REPO / "examples"
# The fixtures of the worker tests: an in-process server on SQLite, its client, workers.
server = test_workers.server
client = test_workers.client
workers = test_workers.workers


@pytest.fixture(autouse=True)
def one_core(worker_id: str) -> Iterator[None]:
    """Pins the test process, so the worker processes it starts, to one core: one torch
    thread per worker. Two threads spinning on a shared, loaded 2-core machine train an
    order of magnitude slower than one."""
    cores = sorted(os.sched_getaffinity(0))
    index = int(worker_id[2:]) if worker_id.startswith("gw") else 0
    os.sched_setaffinity(0, {cores[index % len(cores)]})
    yield
    os.sched_setaffinity(0, cores)


def example(name: str, trials: int, epochs: int) -> dict[str, Any]:
    """examples/NAME.yaml with a small budget: `trials` trials of `epochs` epochs."""
    spec = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    spec = copy.deepcopy(spec)
    spec["max_trials"] = trials
    spec["parameters"]["epochs"] = {"type": "int", "min": epochs, "max": epochs}
    return spec


def worker_command(name: str) -> tuple[str, str, list[str]]:
    """(study, task, other arguments) of the first `asktell worker` line of the example's
    comments: the command it tells a reader to run."""
    for line in (EXAMPLES / f"{name}.yaml").read_text().splitlines():
        text = line.lstrip("#").strip()
        if line.startswith("#") and text.startswith("asktell worker "):
            args = shlex.split(text)[2:]
            study = args[args.index("--study") + 1]
            task = args[args.index("--task") + 1]
            rest = [a for a in args if a not in ("--study", study, "--task", task)]
            return study, task, rest
    raise AssertionError(f"examples/{name}.yaml says nowhere how to run a worker")


def active(spec: dict[str, Any], params: dict[str, Any]) -> set[str]:
    """The parameters of `spec` active for a trial whose values are `params`."""
    names: set[str] = set()
    for name, definition in spec["parameters"].items():
        when = definition.get("when")
        if when is None:
            names.add(name)
        else:
            ((parent, values),) = when.items()
            if parent in params and params[parent] in values:
                names.add(name)
    return names


@pytest.mark.parametrize(
    "name", ["digits-mlp", "digits-cnn", "sequence-lstm", "cnn-recipe", "lstm-recipe"]
)
def test_each_example_spec_runs_end_to_end(client: Client, workers: Workers, name: str) -> None:
    spec = example(name, trials=3, epochs=2)
    study_id, task, args = worker_command(name)
    assert study_id == spec["name"]
    study = client.create_study(spec)
    process = workers.start(study_id, task, *args, "--device", "cpu")
    assert workers.wait(process, timeout=180) == 0, workers.log(0)
    trials = study.trials()
    assert len(trials) == 3, workers.log(0)
    assert {t.state for t in trials} <= {"COMPLETE", "PRUNED"}, [
        (t.state, t.reason) for t in trials
    ]
    complete = [t for t in trials if t.state == "COMPLETE"]
    assert complete and all(t.value is not None and math.isfinite(t.value) for t in complete)
    for trial in trials:
        assert set(trial.params) == active(spec, trial.params), trial.params
        assert [step for step, _ in trial.measurements] == list(
            range(1, len(trial.measurements) + 1)
        )
        assert 1 <= len(trial.measurements) <= 2
    assert study.info().state == "COMPLETED"


def check_seen(spec: dict[str, Any], trials: list[Trial]) -> None:
    for trial in trials:
        assert trial.state == "COMPLETE", (trial.state, trial.reason)
        assert set(str(trial.attrs["seen"]).split(",")) == active(spec, trial.params)
        assert set(trial.params) == active(spec, trial.params)


def test_the_cnn_recipes_conditional_parameters_reach_the_task(
    client: Client, workers: Workers
) -> None:
    spec = example("cnn-recipe", trials=8, epochs=1)
    study = client.create_study(spec)
    process = workers.start("cnn-recipe", "tests.e2e.recipe_tasks:cnn_seen", "--device", "cpu")
    assert workers.wait(process, timeout=180) == 0, workers.log(0)
    trials = study.trials()
    assert len(trials) == 8
    check_seen(spec, trials)
    for trial in trials:
        seen = set(str(trial.attrs["seen"]).split(","))
        sgd = trial.params["optimizer"] == "sgd"
        assert ("momentum" in seen, "beta1" in seen) == (sgd, not sgd), seen
        depth = trial.params["depth"]
        assert {n for n in seen if n.startswith("width_")} == {
            f"width_{k}" for k in range(1, depth + 1)
        }
    # The seed's trials cover both branches of each condition.
    assert {t.params["optimizer"] == "sgd" for t in trials} == {True, False}
    assert len({t.params["depth"] for t in trials}) >= 3


def test_the_lstm_recipes_schedule_parameters_come_with_the_plateau_schedule(
    client: Client, workers: Workers
) -> None:
    spec = example("lstm-recipe", trials=6, epochs=1)
    study = client.create_study(spec)
    process = workers.start("lstm-recipe", "tests.e2e.recipe_tasks:lstm_seen", "--device", "cpu")
    assert workers.wait(process, timeout=180) == 0, workers.log(0)
    trials = study.trials()
    assert len(trials) == 6
    check_seen(spec, trials)
    for trial in trials:
        plateau = trial.params["lr_schedule"] == "plateau"
        assert {"plateau_factor", "plateau_patience"} <= set(trial.params) or not plateau
        assert not {"plateau_factor", "plateau_patience"} & set(trial.params) or plateau
    assert {t.params["lr_schedule"] for t in trials} == {"none", "plateau"}


# ------------------------------------------------------------------ TensorBoard
def read_run(path: Path) -> tuple[dict[str, list[tuple[int, float]]], dict[str, Any], int]:
    """(scalars tag -> [(step, value)], hparams name -> value, session end status) of a run."""
    ci.require_module("tensorboard", "tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    events = EventAccumulator(str(path))
    events.Reload()
    scalars = {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }
    content = events.PluginTagToContent(metadata.PLUGIN_NAME)
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
    hparams: dict[str, Any] = {}
    for name, value in start.hparams.items():
        kind = value.WhichOneof("kind")
        hparams[name] = getattr(value, kind)
    return scalars, hparams, end.status


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)  # event files hold float32


def as_hparams(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, bool | str) else float(v) for k, v in params.items()}


def test_tensorboard_writes_a_run_per_trial_with_curves_told_metrics_and_hparams(
    client: Client, workers: Workers, tmp_path: Path
) -> None:
    ci.require_module("tensorboard", "tensorboard")
    from tensorboard.plugins.hparams import api_pb2

    spec = example("lstm-recipe", trials=3, epochs=2)
    study = client.create_study(spec)
    board = tmp_path / "tb"
    process = workers.start(
        "lstm-recipe", "sequence-lstm", "--device", "cpu", "--tensorboard", str(board)
    )
    assert workers.wait(process, timeout=180) == 0, workers.log(0)
    trials = study.trials()
    assert sorted(p.name for p in (board / "lstm-recipe").iterdir()) == sorted(
        f"trial-{t.number}" for t in trials
    )
    for trial in trials:
        assert trial.state == "COMPLETE"
        scalars, hparams, status = read_run(board / "lstm-recipe" / f"trial-{trial.number}")
        # Every reported metric at its step; val_loss is what the server received.
        steps = [step for step, _ in trial.measurements]
        assert steps == [1, 2]
        assert [s for s, _ in scalars["val_loss"]] == steps
        assert all(
            close(v, m)
            for (_, v), (_, m) in zip(scalars["val_loss"], trial.measurements, strict=True)
        )
        for tag in ("val_mae", "lr", "samples"):
            assert [s for s, _ in scalars[tag]] == steps, tag
        assert close(scalars["lr"][0][1], trial.params["lr"])
        # The told metrics at the last step.
        ((told_step, told),) = scalars["told/val_loss"]
        assert told_step == 2 and close(told, trial.value or 0.0)
        assert {tag for tag in scalars if tag.startswith("told/")} == {
            f"told/{metric}" for metric in trial.values or {"val_loss": trial.value}
        }
        # The hyperparameters, the conditional ones only where active, and the state.
        assert hparams == {**as_hparams(trial.params), "trial/state": "COMPLETE"}
        assert status == api_pb2.STATUS_SUCCESS


@pytest.fixture
def on_each_store(live_server: LiveServer, tmp_path: Path) -> Iterator[tuple[Client, Workers]]:
    """A client and workers of a server on each store (SQLite and PostgreSQL)."""
    pool = Workers(live_server.address, tmp_path)
    with live_server.client() as store_client:
        yield store_client, pool
    pool.close()


def test_tensorboard_runs_of_failed_and_retried_trials_are_closed_and_complete(
    on_each_store: tuple[Client, Workers], tmp_path: Path
) -> None:
    ci.require_module("tensorboard", "tensorboard")
    from tensorboard.plugins.hparams import api_pb2

    client, workers = on_each_store
    study = client.create_study(
        {
            "name": "raises",
            "objective": {"metric": "loss", "goal": "minimize"},
            "algorithm": {"name": "grid"},
            "max_retries": 1,
            "parameters": {"kind": {"type": "categorical", "values": ["ok", "boom", "fine"]}},
        }
    )
    board = tmp_path / "tb"
    process = workers.start("raises", "tests.e2e.tasks:raises", "--tensorboard", str(board))
    assert workers.wait(process, timeout=120) == 0, workers.log(0)
    trials = study.trials()
    failed = [t for t in trials if t.state == "FAILED"]
    assert len(trials) == 4 and len(failed) == 2  # boom, and its retry
    assert [t.retry_of for t in failed] == [None, failed[0].number]
    for trial in trials:
        scalars, hparams, status = read_run(board / "raises" / f"trial-{trial.number}")
        assert hparams == {"kind": trial.params["kind"], "trial/state": trial.state}
        if trial.state == "FAILED":
            assert status == api_pb2.STATUS_FAILURE
            assert scalars == {}
        else:
            assert status == api_pb2.STATUS_SUCCESS
            assert scalars == {"loss": [(1, 1.0)], "told/loss": [(1, 1.0)]}
