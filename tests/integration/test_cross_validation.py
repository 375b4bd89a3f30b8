"""Cross-validated objectives (`aggregate`) and the racing rule, through gRPC on both stores.

A trial reports one value per fold; its told value is the aggregate the server computes;
the racing rule stops a clearly bad configuration after two folds. Bad spec keys and
contradicting Tells are rejected with a message naming the field, and write nothing.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from asktell.client import Client, InvalidArgumentError
from asktell.v1 import resources_pb2 as rpb
from asktell.v1 import service_pb2 as pb
from tests.conftest import LiveServer
from tests.services import snapshot, sql_all

INVALID = grpc.StatusCode.INVALID_ARGUMENT
GOOD_FOLDS = [0.95, 0.97, 0.96, 0.94, 0.98]


def _spec(**extra: Any) -> dict[str, Any]:
    return {
        "name": "cv",
        "objective": {"metric": "cv_accuracy", "goal": "maximize", "aggregate": "mean"},
        "algorithm": {"name": "random", "seed": 1},
        "parameters": {"x": {"type": "float", "min": 0, "max": 1}},
        **extra,
    }


def _run_folds(client: Client, study_id: str, folds: list[float]) -> tuple[Any, int]:
    """Asks a trial and reports `folds` until the server says stop; (trial, folds reported)."""
    trial = client.get_study(study_id).ask()
    assert trial is not None
    for step, value in enumerate(folds):
        if trial.report(step, value):
            return trial, step + 1
    return trial, len(folds)


def test_told_value_is_the_mean_of_the_folds(client: Client) -> None:
    client.create_study(_spec())
    trial, n = _run_folds(client, "cv", GOOD_FOLDS)
    assert n == 5
    trial.tell(None)  # nothing told: the server takes the mean
    stored = client.get_study("cv").trial(trial.number)
    assert stored.state == "COMPLETE"
    assert stored.value == pytest.approx(statistics.fmean(GOOD_FOLDS), abs=0)
    assert [v for _, v in stored.measurements] == GOOD_FOLDS
    # A Tell that gives the mean (as a worker computes it) is the same trial.
    second, _ = _run_folds(client, "cv", [0.5, 0.6])
    second.tell(sum([0.5, 0.6]) / 2)
    assert client.get_study("cv").trial(second.number).value == pytest.approx(0.55)


def test_median_aggregate_and_a_trial_without_folds(client: Client) -> None:
    spec = _spec()
    spec["objective"]["aggregate"] = "median"
    client.create_study(spec)
    assert client.get_study("cv").info().spec["objective"]["aggregate"] == "median"
    trial, _ = _run_folds(client, "cv", [0.1, 0.9, 0.2])
    trial.tell(None)
    assert client.get_study("cv").trial(trial.number).value == 0.2
    # No folds reported: told as usual; nothing told at all is the usual error.
    plain = client.get_study("cv").ask()
    assert plain is not None
    with pytest.raises(InvalidArgumentError, match="value is required"):
        plain.tell(None)
    plain.tell(0.7)
    assert client.get_study("cv").trial(plain.number).value == 0.7


def test_a_tell_that_contradicts_the_folds_is_rejected(live_server: LiveServer) -> None:
    with live_server.client() as client:
        client.create_study(_spec())
        trial, _ = _run_folds(client, "cv", [0.8, 0.9])
    before = snapshot(live_server.db_url)
    stub = live_server.stub()
    for request in (
        pb.TellRequest(trial=trial.name, state=rpb.TRIAL_STATE_COMPLETE, value=0.9),
        pb.TellRequest(
            trial=trial.name, state=rpb.TRIAL_STATE_COMPLETE, values={"cv_accuracy": 0.8}
        ),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            stub.Tell(request)
        assert raised.value.code() == INVALID
        assert "is not the mean of the 2 values trial 1 reported (0.85)" in raised.value.details()
        assert '"cv_accuracy" is cross-validated' in raised.value.details()
        assert snapshot(live_server.db_url) == before


def test_racing_stops_a_clearly_bad_configuration_and_keeps_good_ones(client: Client) -> None:
    client.create_study(_spec(early_stopping={"name": "racing", "min_folds": 2}))
    best, n = _run_folds(client, "cv", GOOD_FOLDS)
    assert n == 5
    best.tell(None)
    # A clearly bad configuration: stopped at its second fold.
    bad, n = _run_folds(client, "cv", [0.63, 0.62, 0.63, 0.64, 0.63])
    assert n == 2
    bad.prune("racing")
    # One within the folds' noise of the best runs every fold.
    close, n = _run_folds(client, "cv", [0.96, 0.94, 0.95, 0.97, 0.95])
    assert n == 5
    close.tell(None)
    # Worse than the best but not clearly so after two folds: a third settles it.
    _, n = _run_folds(client, "cv", [0.93, 0.95, 0.86, 0.90, 0.90])
    assert n == 3
    assert client.get_study("cv").info().spec["early_stopping"] == {
        "name": "racing",
        "min_folds": 2,
        "top_k": 1,
        "min_trials": 1,
        "spread_factor": 2.0,
    }


def test_racing_waits_for_min_trials(client: Client) -> None:
    client.create_study(_spec(early_stopping={"name": "racing", "top_k": 2}))
    first, _ = _run_folds(client, "cv", GOOD_FOLDS)
    first.tell(None)
    # One COMPLETE trial, two needed (min_trials defaults to top_k): nothing is stopped.
    bad, n = _run_folds(client, "cv", [0.5, 0.5, 0.5, 0.5, 0.5])
    assert n == 5
    bad.tell(None)
    # Now the reference is the 2nd best (the bad one): only worse than it is stopped.
    _, n = _run_folds(client, "cv", [0.2, 0.21, 0.2])
    assert n == 2


# ------------------------------------------------------------------ bad input, raw gRPC
def _objective(**fields: Any) -> rpb.Objective:
    return rpb.Objective(metric="acc", goal=rpb.GOAL_MAXIMIZE, **fields)


def _raw_spec(**fields: Any) -> rpb.StudySpec:
    spec = rpb.StudySpec(
        algorithm=rpb.Algorithm(random=rpb.RandomSettings()),
        parameters=[rpb.ParameterSpec(name="x", float_parameter=rpb.FloatParameter(max=1))],
    )
    if "objectives" not in fields:
        spec.objective.CopyFrom(_objective())
    for key, value in fields.items():
        if isinstance(value, list):
            getattr(spec, key).extend(value)
        else:
            getattr(spec, key).CopyFrom(value)
    return spec


def _create(spec: rpb.StudySpec) -> Callable[[Any], Any]:
    return lambda stub: stub.CreateStudy(pb.CreateStudyRequest(study_id="new", spec=spec))


def _racing(**fields: Any) -> rpb.EarlyStopping:
    return rpb.EarlyStopping(racing=rpb.Racing(**fields))


BAD_SPECS: list[tuple[str, rpb.StudySpec, str]] = [
    (
        "unknown aggregate",
        _raw_spec(objective=_objective(aggregate=7)),  # type: ignore[arg-type]
        "objective.aggregate: unknown aggregate 7",
    ),
    (
        "aggregate on an objective that Report values are not",
        _raw_spec(
            objectives=[
                _objective(),
                rpb.Objective(metric="lat", goal=rpb.GOAL_MINIMIZE, aggregate=rpb.AGGREGATE_MEAN),
            ]
        ),
        'objectives[1].aggregate: Report values are those of "acc"',
    ),
    (
        "racing min_folds 1",
        _raw_spec(early_stopping=_racing(min_folds=1)),
        "min_folds must be >= 2",
    ),
    (
        "racing negative spread_factor",
        _raw_spec(early_stopping=_racing(spread_factor=-1.0)),
        "early_stopping.racing.spread_factor must be a finite number > 0, got -1.0",
    ),
    (
        "racing infinite spread_factor",
        _raw_spec(early_stopping=_racing(spread_factor=float("inf"))),
        "early_stopping.racing.spread_factor must be a finite number > 0, got inf",
    ),
]


@pytest.mark.parametrize(("case", "spec", "message"), BAD_SPECS, ids=[c[0] for c in BAD_SPECS])
def test_bad_cross_validation_specs(
    module_server: LiveServer, case: str, spec: rpb.StudySpec, message: str
) -> None:
    sql_all(module_server.db_url, [])
    before = snapshot(module_server.db_url)
    with pytest.raises(grpc.RpcError) as raised:
        _create(spec)(module_server.stub())
    assert raised.value.code() == INVALID, raised.value.details()
    assert message in raised.value.details()
    assert "Traceback" not in raised.value.details()
    assert snapshot(module_server.db_url) == before, "a rejected request changed the store"


def test_spec_file_keys_are_checked() -> None:
    from asktell.v1.spec import SpecError, spec_to_proto

    bad = _spec()
    bad["objective"]["aggregate"] = "max"
    with pytest.raises(SpecError, match=r"objective\.aggregate must be one of mean, median"):
        spec_to_proto(bad)
    with pytest.raises(SpecError, match="unknown setting 'folds' for racing"):
        spec_to_proto(_spec(early_stopping={"name": "racing", "folds": 5}))
