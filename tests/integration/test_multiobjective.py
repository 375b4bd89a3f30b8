"""Several objectives and constraints through a real server, on both stores.

The front a server returns is checked against a brute-force computation over
the trials it stored: every feasible COMPLETE trial that no other feasible one
dominates, and no other.
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from click.testing import CliRunner

from asktell.client import Client, FailedPreconditionError, InvalidArgumentError, Trial
from asktell.client._cli import main
from asktell.v1 import resources_pb2 as rpb
from asktell.v1 import service_pb2 as pb
from tests.conftest import LiveServer
from tests.node_tools import REPO, node_modules, tool

GOALS = {"f1": "minimize", "f2": "maximize", "f3": "minimize"}


def _spec(name: str, n_objectives: int, *, max_trials: int = 40, **extra: Any) -> dict[str, Any]:
    metrics = list(GOALS)[:n_objectives]
    return {
        "name": name,
        "objectives": [{"metric": m, "goal": GOALS[m]} for m in metrics],
        "constraints": [{"metric": "cost", "max": 2.0}, {"metric": "recall", "min": 0.2}],
        "algorithm": {"name": "random", "seed": 11},
        "max_trials": max_trials,
        "parameters": {
            "x1": {"type": "float", "min": 0.0, "max": 1.0},
            "x2": {"type": "float", "min": 0.0, "max": 1.0},
            "x3": {"type": "float", "min": 0.0, "max": 1.0},
        },
        **extra,
    }


def _metrics(params: Mapping[str, Any], n_objectives: int) -> dict[str, float]:
    """DTLZ2-like objectives (f2 negated: it is maximised), a cost and a recall."""
    x1, x2, x3 = (float(params[k]) for k in ("x1", "x2", "x3"))
    g = (x3 - 0.5) ** 2
    a, b = x1 * math.pi / 2, x2 * math.pi / 2
    if n_objectives == 2:
        values = {"f1": (1 + g) * math.cos(a), "f2": -(1 + g) * math.sin(a)}
    else:
        values = {
            "f1": (1 + g) * math.cos(a) * math.cos(b),
            "f2": -(1 + g) * math.cos(a) * math.sin(b),
            "f3": (1 + g) * math.sin(a),
        }
    return values | {"cost": x1 + x2 + x3, "recall": 1 - x3, "extra": x1 * x2}


def _lower_better(spec: Mapping[str, Any], values: Mapping[str, float]) -> list[float]:
    return [
        values[o["metric"]] * (-1.0 if o["goal"] == "maximize" else 1.0) for o in spec["objectives"]
    ]


def _feasible(spec: Mapping[str, Any], values: Mapping[str, float]) -> bool:
    for c in spec.get("constraints", []):
        if "min" in c and values[c["metric"]] < c["min"]:
            return False
        if "max" in c and values[c["metric"]] > c["max"]:
            return False
    return True


def brute_force_front(spec: Mapping[str, Any], trials: Sequence[Trial]) -> set[int]:
    """Numbers of the feasible COMPLETE trials that no feasible COMPLETE trial dominates."""
    feasible = [t for t in trials if t.state == "COMPLETE" and _feasible(spec, t.values)]
    points = {t.number: _lower_better(spec, t.values) for t in feasible}

    def dominates(a: list[float], b: list[float]) -> bool:
        return all(x <= y for x, y in zip(a, b, strict=True)) and any(
            x < y for x, y in zip(a, b, strict=True)
        )

    return {n for n, p in points.items() if not any(dominates(q, p) for q in points.values())}


def _drive(client: Client, spec: dict[str, Any], n_objectives: int) -> list[Trial]:
    study = client.create_study(spec)
    while trials := study.ask_many(5):
        for trial in trials:
            trial.tell(_metrics(trial.params, n_objectives))
    return study.trials()


@pytest.mark.parametrize("n_objectives", [2, 3])
def test_python_client_gets_exactly_the_feasible_pareto_front(
    client: Client, n_objectives: int
) -> None:
    spec = _spec(f"mo-{n_objectives}", n_objectives)
    trials = _drive(client, spec, n_objectives)
    assert len(trials) == 40 and all(t.state == "COMPLETE" for t in trials)
    for trial in trials:
        told = _metrics(trial.params, n_objectives)
        assert trial.values == told  # every metric told is stored, extra ones too
        assert trial.value == told["f1"]  # value is the first objective's
    assert any(not _feasible(spec, t.values) for t in trials), "the set-up needs infeasible ones"

    study = client.get_study(spec["name"])
    front = study.best_trials()  # count 0: the whole front
    expected = brute_force_front(spec, trials)
    assert expected and {t.number for t in front} == expected
    assert len(front) == len(expected)

    # More than the front: the front first, then the next fronts, then the infeasible.
    ranked = study.best_trials(40)
    assert len(ranked) == 40
    assert {t.number for t in ranked[: len(front)]} == expected
    feasible = [_feasible(spec, t.values) for t in ranked]
    assert feasible == sorted(feasible, reverse=True)
    # Fewer than the front: a part of it (the extremes first).
    assert {t.number for t in study.best_trials(2)} <= expected
    best = study.best_trial
    assert best is not None and best.number in expected

    info = study.info()
    assert info.spec["objectives"] == spec["objectives"]
    assert info.spec["constraints"] == spec["constraints"]
    assert "objective" not in info.spec
    again = client.create_study(spec)  # the stored spec is the one given: identical
    assert again.id == spec["name"]


def test_the_front_order_of_the_next_fronts_and_infeasible_trials(client: Client) -> None:
    """Hand-made points: fronts peeled in turn, then infeasible by normalised violation."""
    spec = _spec("order", 2)
    spec["constraints"] = [{"metric": "cost", "max": 1.0}]
    study = client.create_study(spec | {"max_trials": 0})
    points = [  # (f1 minimised, f2 maximised, cost)
        (1.0, 1.0, 0.0),  # 1: front 1
        (2.0, 3.0, 0.0),  # 2: front 1
        (2.0, 0.5, 0.0),  # 3: front 3 (dominated by 1 and 4)
        (1.5, 0.9, 0.0),  # 4: front 2
        (0.0, 9.0, 5.0),  # 5: infeasible by 4
        (0.0, 9.0, 3.0),  # 6: infeasible by 2
    ]
    added = study.add_trials(
        [
            {"params": {"x1": 0.1, "x2": 0.1, "x3": 0.1}, "values": {"f1": a, "f2": b, "cost": c}}
            for a, b, c in points
        ]
    )
    assert [t.values for t in added] == [{"f1": a, "f2": b, "cost": c} for a, b, c in points]
    assert [t.number for t in study.best_trials()] == [1, 2]  # crowding inf; then by f1
    assert [t.number for t in study.best_trials(6)] == [1, 2, 4, 3, 6, 5]


def test_constrained_single_objective_best_is_feasible_when_any_is(client: Client) -> None:
    spec = {
        "name": "constrained",
        "objective": {"metric": "loss", "goal": "minimize"},
        "constraints": [{"metric": "memory_mb", "max": 512}],
        "algorithm": "random",
        "parameters": {"x": {"type": "float", "min": 0, "max": 1}},
    }
    study = client.create_study(spec)
    told = [(0.1, 900.0), (0.5, 500.0), (0.3, 513.0), (0.7, 100.0)]
    for (loss, memory), trial in zip(told, study.ask_many(4), strict=True):
        trial.tell({"loss": loss, "memory_mb": memory})
    best = study.best_trial
    assert best is not None and best.values == {"loss": 0.5, "memory_mb": 500.0}
    assert [t.value for t in study.best_trials()] == [0.5]  # the front of one objective
    assert [t.value for t in study.best_trials(4)] == [0.5, 0.7, 0.3, 0.1]


def test_least_violating_when_no_trial_is_feasible(client: Client) -> None:
    spec = {
        "name": "infeasible",
        "objective": {"metric": "loss", "goal": "minimize"},
        "constraints": [{"metric": "memory_mb", "max": 100}, {"metric": "recall", "min": 0.9}],
        "algorithm": "random",
        "parameters": {"x": {"type": "float", "min": 0, "max": 1}},
    }
    study = client.create_study(spec)
    # Violations: memory by 400, 100, 0, 200 (largest 400); recall by 0, 0.4, 0.8, 0.1 (0.8).
    told = [(0.1, 500.0, 0.9), (0.2, 200.0, 0.5), (0.3, 50.0, 0.1), (0.4, 300.0, 0.8)]
    for (loss, memory, recall), trial in zip(told, study.ask_many(4), strict=True):
        trial.tell({"loss": loss, "memory_mb": memory, "recall": recall})
    # Normalised sums: 1.0, 0.25 + 0.5 = 0.75, 0 + 1.0 = 1.0, 0.5 + 0.125 = 0.625.
    assert [t.value for t in study.best_trials()] == [0.4]
    assert [t.value for t in study.best_trials(4)] == [0.4, 0.2, 0.1, 0.3]


def test_tell_retries_and_contradictions_with_values(client: Client) -> None:
    study = client.create_study(_spec("retries", 2))
    trial = study.ask()
    assert trial is not None
    values = _metrics(trial.params, 2)
    trial.tell(values)
    trial.tell(values)  # a retry: harmless
    with pytest.raises(FailedPreconditionError):
        trial.tell(values | {"f2": values["f2"] + 1})
    with pytest.raises(FailedPreconditionError):
        trial.tell(values | {"extra": 123.0})
    other = study.ask()
    assert other is not None
    with pytest.raises(InvalidArgumentError, match='missing metrics "f2", "cost", "recall"'):
        other.tell(1.0)
    assert study.trial(other.number).state == "RUNNING"


def test_old_single_objective_studies_answer_as_before(client: Client) -> None:
    spec = {
        "name": "old",
        "objective": {"metric": "loss", "goal": "maximize"},
        "algorithm": "random",
        "parameters": {"x": {"type": "float", "min": 0, "max": 1}},
    }
    study = client.create_study(spec)
    for trial in study.ask_many(5):
        trial.tell(float(trial.params["x"]))
    best = study.best_trials()
    assert len(best) == 1 and best[0].values == {"loss": best[0].value}
    assert [t.value for t in study.best_trials(5)] == sorted(
        (t.value for t in study.trials() if t.value is not None), reverse=True
    )
    assert study.info().spec["objective"] == spec["objective"]
    assert "objectives" not in study.info().spec


def test_raw_requests_in_the_contracts_canonical_form(live_server: LiveServer) -> None:
    """`objective` = the first of `objectives`, as a server writes it, is accepted; the
    response carries both."""
    stub = live_server.stub()
    objectives = [
        rpb.Objective(metric="a", goal=rpb.GOAL_MINIMIZE),
        rpb.Objective(metric="b", goal=rpb.GOAL_MAXIMIZE),
    ]
    spec = rpb.StudySpec(
        objective=objectives[0],
        objectives=objectives,
        algorithm=rpb.Algorithm(random=rpb.RandomSettings()),
        parameters=[rpb.ParameterSpec(name="x", float_parameter=rpb.FloatParameter(max=1))],
        early_stopping=rpb.EarlyStopping(median=rpb.MedianStopping(), metric="b"),
    )
    study = stub.CreateStudy(pb.CreateStudyRequest(study_id="raw", spec=spec)).study
    assert study.spec.objective == objectives[0]
    assert list(study.spec.objectives) == objectives
    assert study.spec.early_stopping.metric == "b"
    again = rpb.StudySpec(objectives=objectives, algorithm=spec.algorithm)
    again.parameters.extend(spec.parameters)
    again.early_stopping.CopyFrom(spec.early_stopping)
    response = stub.CreateStudy(pb.CreateStudyRequest(study_id="raw", spec=again))
    assert not response.created  # the same spec, without `objective`
    (trial,) = stub.Ask(pb.AskRequest(study="studies/raw")).trials
    told = stub.Tell(
        pb.TellRequest(trial=trial.name, state=rpb.TRIAL_STATE_COMPLETE, values={"a": 1, "b": 2})
    ).trial
    assert told.value == 1.0 and dict(told.values) == {"a": 1.0, "b": 2.0}
    with pytest.raises(grpc.RpcError) as raised:
        stub.Report(pb.ReportRequest(trial=trial.name, step=0, value=1.0))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # finished already


def test_study_best_writes_the_front_and_the_pick(live_server: LiveServer, tmp_path: Path) -> None:
    with live_server.client() as client:
        spec = _spec("cli-best", 2, max_trials=25)
        trials = _drive(client, spec, 2)
    expected = brute_force_front(spec, trials)
    by_number = {t.number: t for t in trials}
    server = ["--server", live_server.address]
    runner = CliRunner()
    out = tmp_path / "best.json"
    result = runner.invoke(main, ["study", "best", "cli-best", "--out", str(out), *server])
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert {item["trial"] for item in record["front"]} == expected
    assert all(item["feasible"] for item in record["front"])
    # The default pick: the front's best on the first objective (f1, minimised).
    pick = min(expected, key=lambda n: by_number[n].values["f1"])
    assert record["pick"] == {"metric": "f1", "goal": "minimize", "trial": pick}
    assert record["trial"] == pick and record["params"] == by_number[pick].params
    assert record["values"] == by_number[pick].values and record["feasible"] is True

    result = runner.invoke(main, ["study", "best", "cli-best", "--pick", "f2", *server])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    pick = max(expected, key=lambda n: by_number[n].values["f2"])  # f2 is maximised
    assert record["pick"] == {"metric": "f2", "goal": "maximize", "trial": pick}

    result = runner.invoke(main, ["study", "best", "cli-best", "--pick", "cost", *server])
    assert result.exit_code == 2
    assert "'cost' is not an objective of study cli-best" in result.output

    result = runner.invoke(main, ["study", "show", "cli-best", *server])
    assert result.exit_code == 0, result.output
    assert "objectives: minimize f1, maximize f2" in result.output
    assert "constraint: cost <= 2" in result.output and "constraint: recall >= 0.2" in result.output


@pytest.mark.parametrize("n_objectives", [2, 3])
def test_node_client_gets_exactly_the_feasible_pareto_front(
    live_server: LiveServer, tmp_path: Path, n_objectives: int
) -> None:
    node_modules()
    summary_path = tmp_path / "summary.json"
    name = f"node-mo-{n_objectives}"
    result = subprocess.run(
        [
            tool("node"),
            "examples/node/multiobjective.js",
            live_server.address,
            "--study",
            name,
            "--objectives",
            str(n_objectives),
            "--trials",
            "24",
            "--summary",
            str(summary_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(summary_path.read_text())
    assert len(summary["told"]) == 24
    with live_server.client() as client:
        study = client.get_study(name)
        spec = study.info().spec
        trials = study.trials()
    assert [o["metric"] for o in spec["objectives"]] == ["f1", "f2", "f3"][:n_objectives]
    stored = {t.name: t for t in trials}
    for item in summary["told"]:
        assert stored[item["name"]].values == item["values"]  # doubles survive JSON exactly
    expected = brute_force_front(spec, trials)
    assert expected
    assert {int(t["name"].rsplit("/", 1)[1]) for t in summary["front"]} == expected


@pytest.mark.parametrize("n_objectives", [2, 3])
def test_plot_draws_the_pareto_front(
    live_server: LiveServer, tmp_path: Path, n_objectives: int
) -> None:
    from PIL import Image

    with live_server.client() as client:
        _drive(client, _spec("plotted", n_objectives, max_trials=15), n_objectives)
    out = tmp_path / "study.png"
    result = CliRunner().invoke(
        main, ["study", "plot", "plotted", "--out", str(out), "--server", live_server.address]
    )
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        image.verify()
        assert image.size[1] > 900  # a second row: the Pareto front panels
    page = tmp_path / "study.html"
    result = CliRunner().invoke(
        main, ["study", "plot", "plotted", "--out", str(page), "--server", live_server.address]
    )
    assert result.exit_code == 0, result.output
    assert "<svg" in page.read_text() and "cost=" in page.read_text()


def test_metrics_export_the_front_size_and_best_feasible_values(live_server: LiveServer) -> None:
    from asktell.server.metrics import StudyStatsCollector

    spec = _spec("metered", 3, max_trials=30)
    with live_server.client() as client:
        trials = _drive(client, spec, 3)
        client.create_study(
            {
                "name": "single",
                "objective": {"metric": "loss", "goal": "minimize"},
                "algorithm": "random",
                "parameters": {"x": {"type": "float", "min": 0, "max": 1}},
            }
        ).ask()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in StudyStatsCollector(live_server.store, cache_seconds=0).collect()
        for sample in family.samples
    }
    assert samples[("asktell_study_pareto_front_size", (("study", "metered"),))] == len(
        brute_force_front(spec, trials)
    )
    feasible = [t.values for t in trials if _feasible(spec, t.values)]
    for objective in spec["objectives"]:
        metric = objective["metric"]
        pick = max if objective["goal"] == "maximize" else min
        key = ("asktell_study_best_feasible_value", (("metric", metric), ("study", "metered")))
        assert samples[key] == pick(v[metric] for v in feasible)
    best = ("asktell_study_best_value", (("study", "metered"),))
    assert samples[best] == min(v["f1"] for v in feasible)
    assert not any(
        name == "asktell_study_pareto_front_size" and ("study", "single") in labels
        for name, labels in samples
    )


@pytest.mark.parametrize(("metric", "stops"), [(None, False), ("b", True)])
def test_early_stopping_follows_its_metric(client: Client, metric: str | None, stops: bool) -> None:
    """Report values are the first objective's (a, minimised) unless the rule names another
    (b, maximised): a low report is good for a and bad for b."""
    rule: dict[str, Any] = {"name": "median", "min_trials": 1}
    if metric is not None:
        rule["metric"] = metric
    spec = {
        "name": "stopping",
        "objectives": [{"metric": "a", "goal": "minimize"}, {"metric": "b", "goal": "maximize"}],
        "algorithm": "random",
        "early_stopping": rule,
        "parameters": {"x": {"type": "float", "min": 0, "max": 1}},
    }
    study = client.create_study(spec)
    assert study.info().spec["early_stopping"] == rule
    first, second = study.ask_many(2)
    assert not first.report(0, 10.0)
    first.tell({"a": 10.0, "b": 10.0})
    assert second.report(0, 1.0) is stops


def test_export_and_import_keep_every_metric(client: Client) -> None:
    spec = _spec("exported", 2, max_trials=12)
    _drive(client, spec, 2)
    study = client.get_study("exported")
    document = study.export()
    assert all(t["values"] for t in document["trials"])
    copy = client.import_study(document, "imported").study
    original = {json.dumps(t.params, sort_keys=True): t.values for t in study.trials()}
    copied = {json.dumps(t.params, sort_keys=True): t.values for t in copy.trials()}
    assert copied == original
    front = {json.dumps(t.params, sort_keys=True) for t in study.best_trials()}
    assert {json.dumps(t.params, sort_keys=True) for t in copy.best_trials()} == front
    frame = study.to_dataframe()
    assert {"values.f2", "values.cost", "values.recall", "values.extra"} <= set(frame.columns)
    assert "values.f1" not in frame.columns  # the first objective is `value`
