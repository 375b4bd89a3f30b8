"""Ranges and values at the limits of a double, through a real server and both stores.

What a spec cannot represent is refused at CreateStudy with a message naming the
parameter; what it can represent gives studies that keep answering Asks with
values inside the domain, whatever finite values they are told.
"""

from __future__ import annotations

import sys

import grpc
import pytest

from asktell.v1 import resources_pb2 as rpb
from asktell.v1 import service_pb2 as pb
from asktell.v1 import service_pb2_grpc
from tests.conftest import LiveServer

DOUBLE_MAX = sys.float_info.max


def _float(lo: float, hi: float, grid_points: int = 0) -> rpb.ParameterSpec:
    domain = rpb.FloatParameter(min=lo, max=hi, grid_points=grid_points)
    return rpb.ParameterSpec(name="x", float_parameter=domain)


def _int(lo: int, hi: int) -> rpb.ParameterSpec:
    return rpb.ParameterSpec(name="x", int_parameter=rpb.IntParameter(min=lo, max=hi))


def _discrete(*values: float, name: str = "x") -> rpb.ParameterSpec:
    return rpb.ParameterSpec(name=name, discrete_parameter=rpb.DiscreteParameter(values=values))


def _spec(algorithm: rpb.Algorithm, *params: rpb.ParameterSpec) -> rpb.StudySpec:
    return rpb.StudySpec(
        objective=rpb.Objective(metric="loss", goal=rpb.GOAL_MINIMIZE),
        algorithm=algorithm,
        parameters=list(params),
    )


RANDOM = rpb.Algorithm(random=rpb.RandomSettings(), seed=1)
GP = rpb.Algorithm(gp=rpb.GpSettings(n_initial_trials=2), seed=1)
GENETIC = rpb.Algorithm(genetic=rpb.GeneticSettings(population_size=2), seed=1)
GRID = rpb.Algorithm(grid=rpb.GridSettings(), seed=1)


@pytest.mark.parametrize(
    ("param", "message"),
    [
        (_float(-1e308, 1e308), 'parameter "x": the range max - min overflows a double'),
        (_float(-DOUBLE_MAX, DOUBLE_MAX), 'parameter "x": the range max - min overflows'),
        (_discrete(-1e308, 0.0, 1e308), 'parameter "x": the values\' span max - min overflows'),
        (_int(0, 2**63 - 1), 'parameter "x": max 9223372036854775807 is out of range'),
        (_int(-(2**63), 0), 'parameter "x": min -9223372036854775808 is out of range'),
        (_int(0, 2**53), "within +-9007199254740991 (2^53 - 1)"),
    ],
    ids=["float", "float-limits", "discrete", "int-max", "int-min", "int-2^53"],
)
def test_unrepresentable_ranges_are_refused_at_create(
    live_server: LiveServer, param: rpb.ParameterSpec, message: str
) -> None:
    # Random used to suggest max every time, GP to answer INTERNAL, genetic to suggest NaN.
    stub = live_server.stub()
    with pytest.raises(grpc.RpcError) as error:
        stub.CreateStudy(pb.CreateStudyRequest(study_id="wide", spec=_spec(RANDOM, param)))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in (error.value.details() or "")
    assert not stub.ListStudies(pb.ListStudiesRequest()).studies


def _ask(stub: service_pb2_grpc.AsktellServiceStub, study: str, count: int) -> pb.AskResponse:
    return stub.Ask(pb.AskRequest(study=f"studies/{study}", count=count, worker_id="w"))


def _number(trial: rpb.Trial, name: str = "x") -> float:
    value = trial.params[name]
    return value.number_value if value.HasField("number_value") else float(value.int_value)


def test_a_grid_that_overshot_its_max_hands_out_both_ends_then_is_exhausted(
    live_server: LiveServer,
) -> None:
    # low + 1.0 * (high - low) is 0.0010000000000047748 here: every Ask used to fail.
    stub = live_server.stub()
    stub.CreateStudy(
        pb.CreateStudyRequest(study_id="ends", spec=_spec(GRID, _float(-64, 0.001, grid_points=2)))
    )
    response = _ask(stub, "ends", 5)
    assert response.status == pb.ASK_STATUS_OK
    assert [_number(t) for t in response.trials] == [-64.0, 0.001]
    assert _ask(stub, "ends", 1).status == pb.ASK_STATUS_EXHAUSTED


def test_the_widest_float_range_is_searched_across_not_at_its_max(
    live_server: LiveServer,
) -> None:
    low, high = -DOUBLE_MAX / 2, DOUBLE_MAX / 2  # width exactly the largest double
    stub = live_server.stub()
    stub.CreateStudy(pb.CreateStudyRequest(study_id="wide", spec=_spec(RANDOM, _float(low, high))))
    values = [_number(t) for t in _ask(stub, "wide", 20).trials]
    assert all(low <= v <= high for v in values)
    assert min(values) < 0.0 < max(values) < high


EXTREME_VALUES = [1e308, -1e308, DOUBLE_MAX, -DOUBLE_MAX, 1e-300, 2e-300, 0.0, 1e308]


@pytest.mark.parametrize("algorithm", [GP, GENETIC], ids=["gp", "genetic"])
def test_a_study_told_values_at_the_limits_keeps_answering(
    live_server: LiveServer, algorithm: rpb.Algorithm
) -> None:
    # A GP study told 1e308 used to answer INTERNAL to every later Ask.
    stub = live_server.stub()
    spec = _spec(algorithm, _float(-1.0, 1.0), _discrete(1.0, 2.0, 3.0, name="batch"))
    stub.CreateStudy(pb.CreateStudyRequest(study_id="limits", spec=spec))
    trials: list[rpb.Trial] = []
    for value in EXTREME_VALUES:
        [trial] = _ask(stub, "limits", 1).trials
        trials.append(trial)
        stub.Tell(pb.TellRequest(trial=trial.name, state=rpb.TRIAL_STATE_COMPLETE, value=value))
    response = _ask(stub, "limits", 3)
    assert response.status == pb.ASK_STATUS_OK and len(response.trials) == 3
    for trial in trials + list(response.trials):
        assert -1.0 <= _number(trial) <= 1.0
        assert _number(trial, "batch") in (1.0, 2.0, 3.0)
        assert "(" not in trial.suggested_by  # a regular suggestion, not a fallback
