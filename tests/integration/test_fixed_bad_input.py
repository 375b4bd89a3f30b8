"""Bad fixed parameters and stages, sent as raw gRPC: each gets its status and a message
naming the field, and changes nothing in the store (the style of test_bad_input.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest

from asktell.v1 import resources_pb2 as rpb
from asktell.v1 import service_pb2 as pb
from tests.conftest import LiveServer
from tests.services import snapshot

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
EXISTS = grpc.StatusCode.ALREADY_EXISTS


def _v(value: object) -> rpb.ParameterValue:
    if value is None:
        return rpb.ParameterValue()
    if isinstance(value, bool):
        return rpb.ParameterValue(bool_value=value)
    if isinstance(value, int):
        return rpb.ParameterValue(int_value=value)
    if isinstance(value, float):
        return rpb.ParameterValue(number_value=value)
    return rpb.ParameterValue(string_value=str(value))


def _int(name: str, low: int, high: int) -> rpb.ParameterSpec:
    return rpb.ParameterSpec(name=name, int_parameter=rpb.IntParameter(min=low, max=high))


def _float(name: str) -> rpb.ParameterSpec:
    return rpb.ParameterSpec(name=name, float_parameter=rpb.FloatParameter(min=0.0, max=1.0))


def _fixed(name: str, value: object, **fields: Any) -> rpb.ParameterSpec:
    return rpb.ParameterSpec(
        name=name, fixed_parameter=rpb.FixedParameter(value=_v(value), **fields)
    )


def _spec(*params: rpb.ParameterSpec, stages: tuple[rpb.Stage, ...] = ()) -> rpb.StudySpec:
    return rpb.StudySpec(
        objective=rpb.Objective(metric="acc", goal=rpb.GOAL_MAXIMIZE),
        algorithm=rpb.Algorithm(random=rpb.RandomSettings()),
        parameters=list(params) or [_float("lr")],
        stages=list(stages),
    )


def _create(spec: rpb.StudySpec, study_id: str = "new") -> Callable[[Any], Any]:
    return lambda stub: stub.CreateStudy(pb.CreateStudyRequest(study_id=study_id, spec=spec))


def _staged(*stages: rpb.Stage, params: tuple[rpb.ParameterSpec, ...] = ()) -> Callable[..., Any]:
    return _create(_spec(*params, stages=stages))


def _add(params: dict[str, object], study: str = "fx", value: float = 1.0) -> Callable[..., Any]:
    return lambda s: s.AddTrials(
        pb.AddTrialsRequest(
            study=f"studies/{study}",
            trials=[pb.EvaluatedTrial(params={k: _v(v) for k, v in params.items()}, value=value)],
        )
    )


def _enqueue(params: dict[str, object]) -> Callable[[Any], Any]:
    return lambda s: s.EnqueueTrials(
        pb.EnqueueTrialsRequest(
            study="studies/fx",
            trials=[pb.TrialParams(params={k: _v(v) for k, v in params.items()})],
        )
    )


FX_PARAMS = (_float("x"), _fixed("schedule", "cosine"), _fixed("layers", 3))
CASES: list[tuple[str, Callable[[Any], Any], grpc.StatusCode, str]] = [
    # ---------------------------------------------------------- fixed parameters
    (
        "fixed without a value",
        _create(_spec(rpb.ParameterSpec(name="f", fixed_parameter=rpb.FixedParameter()))),
        INVALID,
        'parameter "f": fixed_parameter.value is required',
    ),
    (
        "fixed value of no kind",
        _create(_spec(_fixed("f", None))),
        INVALID,
        'parameter "f": fixed_parameter.value has no value',
    ),
    (
        "fixed NaN",
        _create(_spec(_fixed("f", float("nan")))),
        INVALID,
        'parameter "f": fixed_parameter.value must be finite',
    ),
    ("fixed empty string", _create(_spec(_fixed("f", ""))), INVALID, "1 to 256 characters"),
    ("fixed long string", _create(_spec(_fixed("f", "s" * 257))), INVALID, "1 to 256 characters"),
    (
        "fixed stage trial without its study",
        _create(_spec(_fixed("f", 1, stage_trial=2))),
        INVALID,
        'parameter "f": stage_trial is set only with stage_study',
    ),
    (
        "fixed name taken",
        _create(_spec(_float("f"), _fixed("f", 1))),
        INVALID,
        'parameters: duplicate name "f"',
    ),
    (
        "condition on an unknown parent",
        _create(
            _spec(
                _fixed("f", 1),
                rpb.ParameterSpec(
                    name="g",
                    float_parameter=rpb.FloatParameter(min=0, max=1),
                    when=rpb.ParentCondition(parent="h", values=[_v(1)]),
                ),
            )
        ),
        INVALID,
        'parameter "g": when: parent "h" is not a parameter of the spec',
    ),
    (
        "condition on a fixed parent listing no value",
        _create(
            _spec(
                _fixed("f", 1),
                rpb.ParameterSpec(
                    name="g",
                    float_parameter=rpb.FloatParameter(min=0, max=1),
                    when=rpb.ParentCondition(parent="f"),
                ),
            )
        ),
        INVALID,
        "parameter \"g\": when: list at least one value of 'f'",
    ),
    (
        "the same study with another fixed value",
        _create(_spec(_float("x"), _fixed("schedule", "step"), _fixed("layers", 3)), "fx"),
        EXISTS,
        'study "fx" already exists with a different spec',
    ),
    (
        "add a trial with another fixed value",
        _add({"x": 0.5, "schedule": "step"}),
        INVALID,
        "trials[0].params: \"schedule\" is fixed at 'cosine', got 'step'",
    ),
    (
        "add a trial with another fixed number",
        _add({"x": 0.5, "layers": 4}),
        INVALID,
        'trials[0].params: "layers" is fixed at 3, got 4',
    ),
    (
        "add a trial with a fixed number as a string",
        _add({"x": 0.5, "layers": "3"}),
        INVALID,
        "trials[0].params: \"layers\" is fixed at 3, got '3'",
    ),
    (
        "add a trial with a fixed number as a boolean",
        _add({"x": 0.5, "layers": True}),
        INVALID,
        'trials[0].params: "layers" is fixed at 3, got True',
    ),
    (
        "enqueue another fixed value",
        _enqueue({"x": 0.5, "schedule": "linear"}),
        INVALID,
        "trials[0].params: \"schedule\" is fixed at 'cosine', got 'linear'",
    ),
    # ---------------------------------------------------------- stages
    (
        "stage of an unknown study",
        _staged(rpb.Stage(study="nope")),
        NOT_FOUND,
        'stages[0].study: study "nope" does not exist',
    ),
    (
        "stage of a study without a complete trial",
        _staged(rpb.Stage(study="unfinished")),
        PRECONDITION,
        'stages[0].study: study "unfinished" has no COMPLETE trial yet',
    ),
    (
        "stage naming what the best trial lacks",
        _staged(rpb.Stage(study="arch", parameters=["depth", "dropout"])),
        INVALID,
        'stages[0].parameters: "dropout" is not a parameter of study "arch"\'s best trial '
        "(number 2, which has depth, width)",
    ),
    (
        "stage naming a parameter tuned here",
        _staged(rpb.Stage(study="arch", parameters=["width"]), params=(_int("width", 8, 64),)),
        INVALID,
        'stages[0].parameters: "width" is tuned by this spec; a parameter is tuned here or '
        "fixed from a stage, not both",
    ),
    (
        "stage naming a parameter fixed here",
        _staged(rpb.Stage(study="arch", parameters=["width"]), params=(_fixed("width", 8),)),
        INVALID,
        'stages[0].parameters: "width" is fixed by this spec',
    ),
    (
        "stage naming what an earlier stage fixed",
        _staged(rpb.Stage(study="arch"), rpb.Stage(study="arch-2", parameters=["depth"])),
        INVALID,
        'stages[1].parameters: "depth" is fixed by stages[0]',
    ),
    (
        "stage study id invalid",
        _staged(rpb.Stage(study="Not An Id")),
        INVALID,
        "stages[0].study: 'Not An Id' is not a study id",
    ),
    (
        "stage listed twice",
        _staged(rpb.Stage(study="arch"), rpb.Stage(study="arch")),
        INVALID,
        'stages[1].study: "arch" is listed twice',
    ),
    (
        "stage parameters repeated",
        _staged(rpb.Stage(study="arch", parameters=["depth", "depth"])),
        INVALID,
        "stages[0].parameters: names must be unique",
    ),
    (
        "stage parameter name invalid",
        _staged(rpb.Stage(study="arch", parameters=["no such"])),
        INVALID,
        "stages[0].parameters: 'no such' is not a parameter name",
    ),
    (
        "too many stages",
        _staged(*(rpb.Stage(study=f"s{i}") for i in range(9))),
        INVALID,
        "stages: at most 8, got 9",
    ),
    (
        "too many parameters once a stage is resolved",
        _staged(rpb.Stage(study="arch"), params=tuple(_float(f"p{i}") for i in range(63))),
        INVALID,
        "parameters: at most 64 parameters, got 65",
    ),
]


@pytest.fixture(scope="module")
def studies(module_server: LiveServer) -> LiveServer:
    """Study "fx" (x tuned, schedule and layers fixed) with trial 1 RUNNING; "arch" and
    "arch-2" (depth, width) whose best trial is number 2 (depth 2, width 48); "unfinished"
    with a RUNNING trial and no COMPLETE one."""
    stub = module_server.stub()
    stub.CreateStudy(pb.CreateStudyRequest(study_id="fx", spec=_spec(*FX_PARAMS)))
    stub.Ask(pb.AskRequest(study="studies/fx", worker_id="w"))
    arch = _spec(_int("depth", 1, 3), _int("width", 8, 64))
    for study in ("arch", "arch-2"):
        stub.CreateStudy(pb.CreateStudyRequest(study_id=study, spec=arch))
        for depth, width, value in [(1, 8, 0.5), (2, 48, 0.9), (3, 64, 0.7)]:
            _add({"depth": depth, "width": width}, study, value)(stub)
    stub.CreateStudy(pb.CreateStudyRequest(study_id="unfinished", spec=arch))
    stub.Ask(pb.AskRequest(study="studies/unfinished", worker_id="w"))
    return module_server


@pytest.mark.parametrize(("case", "call", "code", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_fixed_and_stage_input(
    studies: LiveServer,
    case: str,
    call: Callable[[Any], Any],
    code: grpc.StatusCode,
    message: str,
) -> None:
    before = snapshot(studies.db_url)
    with pytest.raises(grpc.RpcError) as raised:
        call(studies.stub())
    assert raised.value.code() == code, raised.value.details()
    assert message in raised.value.details()
    assert "Traceback" not in raised.value.details()
    assert snapshot(studies.db_url) == before, "a rejected request changed the store"
