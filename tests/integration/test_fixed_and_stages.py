"""Fixed parameters and staged tuning against a live server, on both stores: what every
RPC shows, the real CLI (`study create --fix-from`, `study show`, `study best`, `study
export`), and a two-stage study tuned by real `asktell worker` processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from asktell.client import Client
from asktell.client._cli import main
from asktell.client._errors import AlreadyExistsError, FailedPreconditionError, NotFoundError
from tests import ci
from tests.conftest import SQLITE_ONLY, LiveServer

REPO = Path(__file__).resolve().parents[2]
ALGORITHMS = ["grid", "random", "gp", "genetic"]


def _spec(name: str, parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "objective": {"metric": "loss", "goal": "minimize"},
        "algorithm": {"name": "random", "seed": 3},
        "parameters": parameters,
        **extra,
    }


FIXED = {
    "schedule": {"type": "fixed", "value": "cosine"},
    "layers": {"type": "fixed", "value": 3},
    "scale": {"type": "fixed", "value": 0.5},
    "augment": {"type": "fixed", "value": True},
}
FIXED_VALUES = {"schedule": "cosine", "layers": 3, "scale": 0.5, "augment": True}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_trial_carries_the_fixed_values_with_their_types(
    client: Client, algorithm: str
) -> None:
    spec = _spec(
        f"fixed-{algorithm}",
        {
            "x": {"type": "float", "min": 0.0, "max": 1.0, "grid_points": 5},
            "optimizer": {"type": "categorical", "values": ["adam", "sgd"]},
            **FIXED,
        },
        algorithm={"name": algorithm, "seed": 3},
        max_trials=8,
    )
    if algorithm == "gp":
        spec["algorithm"]["n_initial_trials"] = 3
    study = client.create_study(spec)
    for _ in range(8):
        trial = study.ask()
        assert trial is not None
        for name, value in FIXED_VALUES.items():
            assert trial.params[name] == value and type(trial.params[name]) is type(value)
        trial.tell(float(trial.params["x"]) + (trial.params["optimizer"] == "sgd"))
    trials = study.trials()
    assert len(trials) == 8
    assert all({k: t.params[k] for k in FIXED_VALUES} == FIXED_VALUES for t in trials)
    # The tuned part varies: the algorithm searched x and the optimizer, not the fixed ones.
    assert len({(t.params["x"], t.params["optimizer"]) for t in trials}) == 8
    assert study.trial(1).params == trials[0].params
    best = study.best_trial
    assert best is not None and {k: best.params[k] for k in FIXED_VALUES} == FIXED_VALUES
    shown = study.info().spec["parameters"]
    assert shown["schedule"] == {"type": "fixed", "value": "cosine"}
    assert shown["augment"] == {"type": "fixed", "value": True}


def test_a_conditional_parameter_of_a_fixed_parent_is_always_or_never_active(
    client: Client,
) -> None:
    study = client.create_study(
        _spec(
            "fixed-parent",
            {
                "optimizer": {"type": "fixed", "value": "sgd"},
                "momentum": {
                    "type": "discrete",
                    "values": [0.8, 0.9],
                    "when": {"optimizer": "sgd"},
                },
                "beta1": {"type": "discrete", "values": [0.9, 0.99], "when": {"optimizer": "adam"}},
                "lr": {"type": "discrete", "values": [0.01, 0.1]},
                # A fixed parameter may be conditional too: only with lr 0.1.
                "warmup": {"type": "fixed", "value": 5, "when": {"lr": [0.1]}},
            },
            algorithm="grid",
        )
    )
    trials = study.ask_many(10)
    assert [t.params for t in trials] == [
        {"optimizer": "sgd", "momentum": 0.8, "lr": 0.01},
        {"optimizer": "sgd", "momentum": 0.8, "lr": 0.1, "warmup": 5},
        {"optimizer": "sgd", "momentum": 0.9, "lr": 0.01},
        {"optimizer": "sgd", "momentum": 0.9, "lr": 0.1, "warmup": 5},
    ]
    assert study.ask() is None  # a grid of 4 points: beta1 is never active


def test_a_space_of_fixed_parameters_only_is_one_configuration(client: Client) -> None:
    grid = client.create_study(_spec("only-fixed", dict(FIXED), algorithm="grid"))
    first = grid.ask()
    assert first is not None and first.params == FIXED_VALUES
    assert grid.ask() is None
    first.tell(1.0)
    assert grid.info().state == "ACTIVE"  # no budget: exhausted, not COMPLETED
    randomly = client.create_study(_spec("only-fixed-random", dict(FIXED), max_trials=2))
    assert [t.params for t in randomly.ask_many(5)] == [FIXED_VALUES, FIXED_VALUES]


def test_added_and_enqueued_trials_may_leave_a_fixed_parameter_out(client: Client) -> None:
    study = client.create_study(
        _spec("fixed-added", {"x": {"type": "float", "min": 0.0, "max": 1.0}, **FIXED})
    )
    added = study.add_trials(
        [
            {"params": {"x": 0.1}, "value": 1.0},
            {"params": {"x": 0.2, **FIXED_VALUES}, "value": 2.0},
            {"params": {"x": 0.3, "layers": 3.0, "scale": 0.5}, "value": 3.0},
        ]
    )
    assert [t.params for t in added] == [{"x": x, **FIXED_VALUES} for x in (0.1, 0.2, 0.3)]
    assert type(added[2].params["layers"]) is int
    assert study.enqueue([{"x": 0.4}, {"x": 0.5, "schedule": "cosine"}]) == 2
    handed = study.ask_many(2)
    assert [t.params for t in handed] == [{"x": x, **FIXED_VALUES} for x in (0.4, 0.5)]
    assert all(t.suggested_by == "enqueued" for t in handed)
    exported = study.export()
    assert exported["study"]["parameters"]["layers"] == {"type": "fixed", "value": 3}
    assert all(t["params"]["schedule"] == "cosine" for t in exported["trials"])


def _stage1(client: Client, name: str = "arch", **extra: Any) -> Any:
    """A finished "architecture" stage: trial 2 (depth 2, width 48, act relu) is the best."""
    study = client.create_study(
        {
            "name": name,
            "objective": {"metric": "acc", "goal": "maximize"},
            "algorithm": {"name": "random", "seed": 1},
            "parameters": {
                "depth": {"type": "int", "min": 1, "max": 3},
                "width": {"type": "int", "min": 8, "max": 64},
                "act": {"type": "categorical", "values": ["relu", "tanh"]},
                "epochs": {"type": "fixed", "value": 2},
            },
            **extra,
        }
    )
    study.add_trials(
        [
            {"params": {"depth": 1, "width": 8, "act": "tanh"}, "value": 0.80},
            {"params": {"depth": 2, "width": 48, "act": "relu"}, "value": 0.95},
            {"params": {"depth": 3, "width": 64, "act": "relu"}, "value": 0.90},
        ]
    )
    return study


def _stage2_spec(name: str = "opt", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "objective": {"metric": "acc", "goal": "maximize"},
        "algorithm": {"name": "gp", "seed": 1, "n_initial_trials": 2},
        "parameters": {
            "lr": {"type": "float", "min": 1e-4, "max": 1e-1, "scale": "log"},
            "optimizer": {"type": "categorical", "values": ["adam", "sgd"]},
            "momentum": {"type": "float", "min": 0.5, "max": 0.99, "when": {"optimizer": ["sgd"]}},
        },
        **extra,
    }


ARCH = {"depth": 2, "width": 48, "act": "relu", "epochs": 2}


def test_a_stage_fixes_the_earlier_best_and_says_where_it_came_from(client: Client) -> None:
    arch = _stage1(client)
    study = client.create_study(_stage2_spec(stages=[{"study": "arch"}]))
    spec = study.info().spec
    assert spec["stages"] == [{"study": "arch", "trial": 2}]
    assert list(spec["parameters"]) == ["lr", "optimizer", "momentum", *ARCH]
    for name, value in ARCH.items():
        assert spec["parameters"][name] == {
            "type": "fixed",
            "value": value,
            "stage": {"study": "arch", "trial": 2},
        }
    for _ in range(4):
        trial = study.ask()
        assert trial is not None
        assert {k: trial.params[k] for k in ARCH} == ARCH
        assert set(trial.params) - set(ARCH) <= {"lr", "optimizer", "momentum"}
        trial.tell(0.9)

    # Idempotent on what was asked: the same spec again is the same study, as resolved at
    # its creation, even once the earlier stage has a better trial; so is the spec read back.
    arch.add_trials([{"params": {"depth": 1, "width": 16, "act": "relu"}, "value": 0.99}])
    again = client.create_study(_stage2_spec(stages=[{"study": "arch"}]))
    assert again.info().spec == spec
    assert client.create_study(spec).info().spec == spec
    with pytest.raises(AlreadyExistsError, match="different spec"):
        client.create_study(_stage2_spec(stages=[{"study": "arch", "parameters": ["depth"]}]))
    with pytest.raises(AlreadyExistsError, match="differs only in max_trials"):
        client.create_study(_stage2_spec(stages=[{"study": "arch"}], max_trials=9))
    # A rerun pipeline's create_or_extend: the same study (its budget unlimited already).
    extended = client.create_or_extend(_stage2_spec(stages=[{"study": "arch"}]), 3).info()
    assert extended.spec == spec

    # A new study takes the new best; `parameters:` picks what it fixes.
    picked = client.create_study(
        _stage2_spec("opt-2", stages=[{"study": "arch", "parameters": ["depth", "width"]}])
    ).info()
    assert picked.spec["stages"] == [
        {"study": "arch", "parameters": ["depth", "width"], "trial": 4}
    ]
    assert {n: p.get("value") for n, p in picked.spec["parameters"].items()} == {
        "lr": None,
        "optimizer": None,
        "momentum": None,
        "depth": 1,
        "width": 16,
    }


def test_a_spec_that_defines_a_parameter_keeps_it_and_stages_chain(client: Client) -> None:
    _stage1(client)
    # The spec tunes width itself: the stage fixes the rest of the best trial.
    spec = _stage2_spec(stages=[{"study": "arch"}])
    spec["parameters"]["width"] = {"type": "int", "min": 16, "max": 128}
    two = client.create_study(spec)
    assert {n for n, p in two.info().spec["parameters"].items() if p["type"] == "fixed"} == {
        "depth",
        "act",
        "epochs",
    }
    trial = two.ask()
    assert trial is not None
    trial.tell(0.97)
    # A third stage carries the architecture through stage 2's best trial.
    three = client.create_study(
        {
            "name": "batch",
            "objective": {"metric": "acc", "goal": "maximize"},
            "parameters": {"batch_size": {"type": "discrete", "values": [32, 64]}},
            "stages": ["opt"],
        }
    )
    params = three.info().spec["parameters"]
    assert params["depth"] == {"type": "fixed", "value": 2, "stage": {"study": "opt", "trial": 1}}
    assert params["lr"]["value"] == trial.params["lr"]
    assert params["width"]["value"] == trial.params["width"]


def test_a_multi_objective_stage_gives_the_first_of_its_ranked_front(client: Client) -> None:
    earlier = client.create_study(
        {
            "name": "mo-arch",
            "objectives": [
                {"metric": "acc", "goal": "maximize"},
                {"metric": "latency", "goal": "minimize"},
            ],
            "parameters": {"depth": {"type": "int", "min": 1, "max": 4}},
        }
    )
    earlier.add_trials(
        [
            {"params": {"depth": d}, "values": {"acc": a, "latency": lat}}
            for d, a, lat in [(1, 0.7, 1.0), (2, 0.8, 2.0), (3, 0.9, 3.0), (4, 0.6, 4.0)]
        ]
    )
    first = earlier.best_trials(0)[0]
    later = client.create_study(_stage2_spec("mo-opt", stages=[{"study": "mo-arch"}])).info()
    assert later.spec["parameters"]["depth"]["value"] == first.params["depth"]
    assert later.spec["stages"] == [{"study": "mo-arch", "trial": first.number}]


def test_stage_errors_are_named_and_create_nothing(client: Client) -> None:
    with pytest.raises(NotFoundError, match=r'stages\[0\]\.study: study "nope" does not exist'):
        client.create_study(_stage2_spec(stages=[{"study": "nope"}]))
    client.create_study(_spec("unfinished", {"depth": {"type": "int", "min": 1, "max": 3}})).ask()
    with pytest.raises(FailedPreconditionError, match='"unfinished" has no COMPLETE trial'):
        client.create_study(_stage2_spec(stages=[{"study": "unfinished"}]))
    assert [s.id for s in client.list_studies()] == ["unfinished"]


def test_export_and_import_keep_a_staged_study_as_resolved(client: Client) -> None:
    _stage1(client)
    study = client.create_study(_stage2_spec(stages=[{"study": "arch"}]))
    trial = study.ask()
    assert trial is not None
    trial.tell(0.9)
    document = study.export()
    client.delete_study("arch")  # the import does not read the earlier stage again
    imported = client.import_study(document, "opt-copy").study
    assert imported.info().spec["parameters"] == study.info().spec["parameters"]
    assert imported.info().spec["stages"] == [{"study": "arch", "trial": 2}]
    assert imported.trials()[0].params == trial.params


# ------------------------------------------------------------------ the CLI and workers
def _cli(live_server: LiveServer, *args: str) -> Any:
    result = CliRunner().invoke(main, [*args, "--server", live_server.address])
    return result


def test_cli_fix_from_show_best_and_export(live_server: LiveServer, tmp_path: Path) -> None:
    with live_server.client() as client:
        _stage1(client)
    spec_file = tmp_path / "stage2.yaml"
    spec_file.write_text(yaml.safe_dump(_stage2_spec(), sort_keys=False))
    result = _cli(live_server, "study", "create", "-f", str(spec_file), "--fix-from", "arch")
    assert result.exit_code == 0, result.output
    with live_server.client() as client:
        for i, trial in enumerate(client.get_study("opt").ask_many(5)):
            trial.tell(0.5 + i / 10)
    result = _cli(live_server, "study", "show", "opt")
    assert result.exit_code == 0, result.output
    assert "stage: arch, trial 2" in result.output
    assert "fixed: depth = 2 (from arch trial 2)" in result.output
    assert "fixed: act = relu (from arch trial 2)" in result.output
    header = next(line for line in result.output.splitlines() if line.startswith("#"))
    assert header.split()[3:6] == ["lr", "optimizer", "momentum"]  # the tuned ones
    best = tmp_path / "best.json"
    assert _cli(live_server, "study", "best", "opt", "--out", str(best)).exit_code == 0
    assert {k: json.loads(best.read_text())["params"][k] for k in ARCH} == ARCH
    # The plot's importance leaves the fixed parameters (act is a string) out.
    plot = tmp_path / "plot.png"
    result = _cli(live_server, "study", "plot", "opt", "--out", str(plot))
    assert result.exit_code == 0 and plot.stat().st_size > 0, result.output
    result = _cli(live_server, "study", "export", "opt", "--format", "csv")
    assert result.exit_code == 0 and "params.depth" in result.output.splitlines()[0]
    result = _cli(
        live_server,
        "study",
        "create",
        "-f",
        str(spec_file),
        "--name",
        "opt-x",
        "--fix-from",
        "gone",
    )
    assert result.exit_code == 1
    assert 'NOT_FOUND: stages[0].study: study "gone" does not exist' in result.output


def _worker(
    live_server: LiveServer,
    study: str,
    log: Path,
    task: str = "tests.integration.stage_tasks:score",
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "asktell.client._cli",
            "worker",
            "--server",
            live_server.address,
            "--study",
            study,
            "--task",
            task,
            "--device",
            "cpu",
        ],
        cwd=REPO,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.slow
def test_two_stages_tuned_by_workers(live_server: LiveServer, tmp_path: Path) -> None:
    """The must-show: stage 2's trials all carry stage 1's best architecture, fixed, and
    stage 2 tunes only the optimiser parameters."""
    ci.require_module("torch", "worker")  # `asktell worker` needs the worker extra
    stage1 = tmp_path / "stage1.yaml"
    stage1.write_text(
        yaml.safe_dump(
            {
                "name": "digits-arch",
                "objective": {"metric": "val_accuracy", "goal": "maximize"},
                "algorithm": {"name": "random", "seed": 5},
                "max_trials": 4,
                "parameters": {
                    "depth": {"type": "int", "min": 1, "max": 3},
                    "width": {"type": "int", "min": 16, "max": 64},
                    "dropout": {"type": "float", "min": 0.0, "max": 0.3},
                    "lr": {"type": "fixed", "value": 0.01},
                    "epochs": {"type": "fixed", "value": 2},
                },
            }
        )
    )
    stage2 = tmp_path / "stage2.yaml"
    stage2.write_text(
        yaml.safe_dump(
            {
                "name": "digits-opt",
                "objective": {"metric": "val_accuracy", "goal": "maximize"},
                "algorithm": {"name": "random", "seed": 6},
                "max_trials": 3,
                "parameters": {
                    "lr": {"type": "float", "min": 3e-3, "max": 3e-2, "scale": "log"},
                    "optimizer": {"type": "categorical", "values": ["adam", "sgd"]},
                    "momentum": {
                        "type": "float",
                        "min": 0.5,
                        "max": 0.95,
                        "when": {"optimizer": ["sgd"]},
                    },
                },
            }
        )
    )
    assert _cli(live_server, "study", "create", "-f", str(stage1)).exit_code == 0
    worker = _worker(live_server, "digits-arch", tmp_path / "w1.log")
    assert worker.wait(timeout=120) == 0, (tmp_path / "w1.log").read_text()
    result = _cli(live_server, "study", "create", "-f", str(stage2), "--fix-from", "digits-arch")
    assert result.exit_code == 0, result.output
    worker = _worker(live_server, "digits-opt", tmp_path / "w2.log")
    assert worker.wait(timeout=120) == 0, (tmp_path / "w2.log").read_text()

    with live_server.client() as client:
        best1 = client.get_study("digits-arch").best_trial
        assert best1 is not None
        architecture = {k: best1.params[k] for k in ("depth", "width", "dropout", "epochs")}
        spec2 = client.get_study_info("digits-opt").spec
        trials2 = client.get_study("digits-opt").trials()
    fixed = {n: p for n, p in spec2["parameters"].items() if p["type"] == "fixed"}
    assert {n: p["value"] for n, p in fixed.items()} == architecture  # lr is tuned here
    assert all(
        p["stage"] == {"study": "digits-arch", "trial": best1.number} for p in fixed.values()
    )
    assert [t.state for t in trials2] == ["COMPLETE"] * 3
    for trial in trials2:
        assert {k: trial.params[k] for k in architecture} == architecture
        assert set(trial.params) - set(architecture) <= {"lr", "optimizer", "momentum"}
    assert len({t.params["lr"] for t in trials2}) == 3  # stage 2 tunes the optimiser
    result = _cli(live_server, "study", "show", "digits-opt")
    assert f"fixed: depth = {architecture['depth']} (from digits-arch trial" in result.output


@pytest.mark.slow
@SQLITE_ONLY  # what it checks is the example files, not the store
def test_the_stage_examples_run_end_to_end(live_server: LiveServer, tmp_path: Path) -> None:
    """examples/stage1-architecture.yaml then examples/stage2-optimizer.yaml --fix-from, each
    tuned by an `asktell worker --task digits-cnn`, on the smallest budgets (a trial each, 1
    epoch): choosing the best of several is `test_cli_fix_from_show_best_and_export`'s part."""
    ci.require_module("torch", "worker")
    names = []
    for example in ("stage1-architecture", "stage2-optimizer"):
        spec = yaml.safe_load((REPO / "examples" / f"{example}.yaml").read_text())
        spec["max_trials"] = 1
        if "epochs" in spec["parameters"]:
            spec["parameters"]["epochs"]["value"] = 1
        small = tmp_path / f"{example}.yaml"
        small.write_text(yaml.safe_dump(spec, sort_keys=False))
        extra = ["--fix-from", names[0]] if names else []
        result = _cli(live_server, "study", "create", "-f", str(small), *extra)
        assert result.exit_code == 0, result.output
        names.append(spec["name"])
        log = tmp_path / f"{example}.log"
        worker = _worker(live_server, spec["name"], log, task="digits-cnn")
        assert worker.wait(timeout=120) == 0, log.read_text()
    with live_server.client() as client:
        best = client.get_study(names[0]).best_trial
        assert best is not None
        spec2 = client.get_study_info(names[1]).spec
        trials = client.get_study(names[1]).trials()
    architecture = {k: best.params[k] for k in ("width", "depth", "dropout", "weight_decay")}
    assert [t.state for t in trials] == ["COMPLETE"]
    for trial in trials:
        assert {k: trial.params[k] for k in architecture} == architecture
        assert trial.params["batch_size"] == 64 and trial.params["epochs"] == 1
    tuned = [n for n, p in spec2["parameters"].items() if p["type"] != "fixed"]
    assert tuned == ["optimizer", "lr", "momentum"]
