"""Every malformed request gets its status code and a message naming the problem,
and changes nothing in the store."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from asktell.v1 import resources_pb2 as rpb
from asktell.v1 import service_pb2 as pb
from tests.conftest import LiveServer
from tests.services import snapshot, sql_all

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


def _float(name: str, lo: float, hi: float, scale: int = rpb.SCALE_LINEAR) -> rpb.ParameterSpec:
    return rpb.ParameterSpec(
        name=name, float_parameter=rpb.FloatParameter(min=lo, max=hi, scale=scale)
    )


def _duration(seconds: float) -> Any:
    from google.protobuf.duration_pb2 import Duration

    d = Duration()
    d.FromNanoseconds(int(seconds * 1e9))
    return d


def _spec(*params: rpb.ParameterSpec, **fields: Any) -> rpb.StudySpec:
    spec = rpb.StudySpec(
        objective=rpb.Objective(metric="loss", goal=rpb.GOAL_MINIMIZE),
        algorithm=rpb.Algorithm(random=rpb.RandomSettings()),
        parameters=list(params) or [_float("x", 0, 1)],
    )
    for key, value in fields.items():
        if isinstance(value, grpc.StatusCode | int | str):
            setattr(spec, key, value)
        else:
            getattr(spec, key).CopyFrom(value)
    return spec


def _create(study_id: str, spec: rpb.StudySpec) -> Callable[[Any], Any]:
    return lambda stub: stub.CreateStudy(pb.CreateStudyRequest(study_id=study_id, spec=spec))


def _tell(trial: str, state: int, value: float | None = None, **kw: Any) -> Callable[[Any], Any]:
    def call(stub: Any) -> Any:
        request = pb.TellRequest(trial=trial, state=state, **kw)
        if value is not None:
            request.value = value
        return stub.Tell(request)

    return call


def _update(*paths: str, name: str = "studies/base", **fields: Any) -> Callable[[Any], Any]:
    """UpdateStudy of `name` with `paths` in the mask and `fields` set in its spec."""
    spec = rpb.StudySpec()
    for key, value in fields.items():
        if isinstance(value, int):
            setattr(spec, key, value)
        else:
            getattr(spec, key).CopyFrom(value)
    request = pb.UpdateStudyRequest(name=name, spec=spec)
    request.update_mask.paths.extend(paths)
    return lambda s: s.UpdateStudy(request)


def _token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def _list_trials(token: str) -> Callable[[Any], Any]:
    return lambda s: s.ListTrials(pb.ListTrialsRequest(study="studies/base", page_token=token))


def _list_studies(token: str) -> Callable[[Any], Any]:
    return lambda s: s.ListStudies(pb.ListStudiesRequest(page_token=token))


def _add_ended(*end_times: Timestamp) -> Callable[[Any], Any]:
    """AddTrials of valid trials that ended at `end_times`."""
    return lambda s: s.AddTrials(
        pb.AddTrialsRequest(
            study="studies/base",
            trials=[
                pb.EvaluatedTrial(
                    params={"x": rpb.ParameterValue(number_value=0.5)}, value=1.0, end_time=end
                )
                for end in end_times
            ],
        )
    )


# Trial names int() would read as trial 1 (or another trial), and numbers beyond int64.
NOT_CANONICAL_NUMBERS = [
    "\uff11",  # full-width digit one
    "\u0661",  # Arabic-Indic digit one
    "\u0967",  # Devanagari digit one
    "000000000000000001",
    "01",
    "+1",
    " 1",
    "1 ",
    "1\n",
    "1_0",
    "0",
    "-1",
    "0x1",
    "9223372036854775808",
    "99999999999999999999",
]
NAME_CALLS: list[tuple[str, Callable[[str], Callable[[Any], Any]]]] = [
    ("GetTrial", lambda name: lambda s: s.GetTrial(pb.GetTrialRequest(name=name))),
    (
        "Tell",
        lambda name: (
            lambda s: s.Tell(pb.TellRequest(trial=name, state=rpb.TRIAL_STATE_COMPLETE, value=1.0))
        ),
    ),
    ("Report", lambda name: lambda s: s.Report(pb.ReportRequest(trial=name, value=1.0))),
    ("Heartbeat", lambda name: lambda s: s.Heartbeat(pb.HeartbeatRequest(trial=name))),
    (
        "SetTrialAttributes",
        lambda name: lambda s: s.SetTrialAttributes(pb.SetTrialAttributesRequest(trial=name)),
    ),
]


def _v(value: object) -> rpb.ParameterValue:
    """A ParameterValue holding `value` in the field of its type (None: no field set)."""
    if value is None:
        return rpb.ParameterValue()
    if isinstance(value, bool):
        return rpb.ParameterValue(bool_value=value)
    if isinstance(value, int):
        return rpb.ParameterValue(int_value=value)
    if isinstance(value, float):
        return rpb.ParameterValue(number_value=value)
    return rpb.ParameterValue(string_value=str(value))


def _set_attrs(
    attrs: dict[str, object], trial: str = "studies/base/trials/1", worker_id: str = "owner"
) -> Callable[[Any], Any]:
    return lambda s: s.SetTrialAttributes(
        pb.SetTrialAttributesRequest(
            trial=trial, attrs={k: _v(v) for k, v in attrs.items()}, worker_id=worker_id
        )
    )


def _add_with(**fields: Any) -> Callable[[Any], Any]:
    """AddTrials of one valid trial with `fields` (attrs as plain values) added."""
    attrs = {k: _v(v) for k, v in fields.pop("attrs", {}).items()}
    return lambda s: s.AddTrials(
        pb.AddTrialsRequest(
            study="studies/base",
            trials=[
                pb.EvaluatedTrial(
                    params={"x": rpb.ParameterValue(number_value=0.5)},
                    value=1.0,
                    attrs=attrs,
                    **fields,
                )
            ],
        )
    )


# Attribute maps every writer (SetTrialAttributes, Tell, AddTrials) refuses, and why.
BAD_ATTRS: list[tuple[str, dict[str, object], str]] = [
    ("space in key", {"bad key": 1}, "attrs: invalid key 'bad key'"),
    ("empty key", {"": 1}, "attrs: invalid key ''"),
    ("key starts with a digit", {"1st": 1}, "attrs: invalid key '1st'"),
    ("key too long", {"k" * 65: 1}, "attrs: invalid key 'kkkk"),
    ("unset value", {"a": None}, 'attrs: "a" has no value'),
    ("nan", {"a": float("nan")}, 'attrs: "a" must be a finite number, got nan'),
    ("infinity", {"a": float("-inf")}, 'attrs: "a" must be a finite number, got -inf'),
    ("string too long", {"a": "x" * 4097}, 'attrs: "a" must be at most 4096 characters'),
    ("NUL in string", {"a": "x\x00y"}, 'attrs: "a" must not contain NUL characters'),
    ("too many", {f"k{i}": i for i in range(65)}, "attrs: at most 64 attributes per trial"),
    ("too large", {f"k{i}": "x" * 4096 for i in range(17)}, "attrs: the trial's attributes take"),
]
ATTR_CASES: list[tuple[str, Callable[[Any], Any], grpc.StatusCode, str]] = [
    *((f"set attrs: {why}", _set_attrs(attrs), INVALID, text) for why, attrs, text in BAD_ATTRS),
    *(
        (
            f"tell attrs: {why}",
            _tell(
                "studies/base/trials/1",
                rpb.TRIAL_STATE_COMPLETE,
                1.0,
                attrs={k: _v(v) for k, v in attrs.items()},
            ),
            INVALID,
            text,
        )
        for why, attrs, text in BAD_ATTRS
    ),
    *(
        (f"add trial attrs: {why}", _add_with(attrs=attrs), INVALID, f"trials[0].{text}")
        for why, attrs, text in BAD_ATTRS
    ),
    (
        "set attrs on a finished trial",
        _set_attrs({"a": 2}, "studies/base/trials/3", worker_id=""),
        PRECONDITION,
        "trial 3 is COMPLETE, not RUNNING",
    ),
    (
        "set attrs on an expired trial",
        _set_attrs({"a": 2}, "studies/base/trials/2", worker_id=""),
        PRECONDITION,
        "not RUNNING: lease expired",
    ),
    (
        "set attrs as another worker",
        _set_attrs({"a": 2}, worker_id="intruder"),
        PRECONDITION,
        "leased to worker 'owner', not 'intruder'",
    ),
    (
        "set attrs with a long worker id",
        _set_attrs({"a": 2}, worker_id="w" * 500),
        INVALID,
        "worker_id must be at most 128",
    ),
    (
        "set attrs of an unknown trial",
        _set_attrs({"a": 2}, "studies/base/trials/99"),
        NOT_FOUND,
        "",
    ),
    ("set attrs of an unknown study", _set_attrs({"a": 2}, "studies/nope/trials/1"), NOT_FOUND, ""),
    (
        "repeated tell changes an attribute",
        _tell("studies/base/trials/3", rpb.TRIAL_STATE_COMPLETE, 0.5, attrs={"a": _v(2)}),
        PRECONDITION,
        'refusing to change its attribute "a"',
    ),
    (
        "repeated tell adds an attribute",
        _tell("studies/base/trials/3", rpb.TRIAL_STATE_COMPLETE, 0.5, attrs={"b": _v(True)}),
        PRECONDITION,
        'refusing to change its attribute "b"',
    ),
    (
        "tell merges past the limit",
        _tell(
            "studies/base/trials/1",
            rpb.TRIAL_STATE_COMPLETE,
            1.0,
            attrs={f"new{i}": _v(i) for i in range(60)},
        ),
        INVALID,
        "at most 64 attributes per trial, got 65 with the 5 it has",
    ),
    (
        "add trial reason too long",
        _add_with(reason="r" * 4097),
        INVALID,
        "trials[0].reason must be at most 4096 characters",
    ),
]


CASES: list[tuple[str, Callable[[Any], Any], grpc.StatusCode, str]] = [
    (
        "empty space",
        _create(
            "a",
            rpb.StudySpec(
                objective=rpb.Objective(metric="loss", goal=rpb.GOAL_MINIMIZE),
                algorithm=rpb.Algorithm(random=rpb.RandomSettings()),
            ),
        ),
        INVALID,
        "search space is empty",
    ),
    (
        "min > max",
        _create("a", _spec(_float("lr", 0.1, 0.01))),
        INVALID,
        'parameter "lr": min 0.1 > max 0.01',
    ),
    (
        "log min <= 0",
        _create("a", _spec(_float("lr", 0.0, 1.0, rpb.SCALE_LOG))),
        INVALID,
        'parameter "lr": log scale needs min > 0',
    ),
    (
        "unknown type",
        _create("a", _spec(rpb.ParameterSpec(name="p"))),
        INVALID,
        'parameter "p": no type given',
    ),
    (
        "duplicate names",
        _create("a", _spec(_float("x", 0, 1), _float("x", 0, 2))),
        INVALID,
        'duplicate name "x"',
    ),
    (
        "nan bound",
        _create("a", _spec(_float("x", float("nan"), 1))),
        INVALID,
        "min must be a finite number",
    ),
    (
        "no goal",
        _create(
            "a",
            rpb.StudySpec(
                objective=rpb.Objective(metric="m"),
                parameters=[_float("x", 0, 1)],
                algorithm=rpb.Algorithm(random=rpb.RandomSettings()),
            ),
        ),
        INVALID,
        "objective.goal",
    ),
    (
        "no algorithm",
        _create(
            "a",
            rpb.StudySpec(
                objective=rpb.Objective(metric="m", goal=rpb.GOAL_MAXIMIZE),
                parameters=[_float("x", 0, 1)],
            ),
        ),
        INVALID,
        "no algorithm given",
    ),
    (
        "grid without points",
        _create(
            "a",
            rpb.StudySpec(
                objective=rpb.Objective(metric="m", goal=rpb.GOAL_MAXIMIZE),
                algorithm=rpb.Algorithm(grid=rpb.GridSettings()),
                parameters=[_float("x", 0, 1)],
            ),
        ),
        INVALID,
        "grid algorithm needs grid_points",
    ),
    ("oversized study id", _create("a" * 300, _spec()), INVALID, "is invalid"),
    ("bad study id chars", _create("Bad Name!", _spec()), INVALID, "is invalid"),
    ("oversized param name", _create("a", _spec(_float("p" * 65, 0, 1))), INVALID, "invalid name"),
    (
        "lease too short",
        _create("a", _spec(lease_duration=_duration(0.01))),
        INVALID,
        "lease_duration must be 1 s to 7 days",
    ),
    (
        "int step mismatch",
        _create(
            "a",
            _spec(
                rpb.ParameterSpec(name="n", int_parameter=rpb.IntParameter(min=0, max=10, step=3))
            ),
        ),
        INVALID,
        "not a multiple of step 3",
    ),
    (
        "empty categorical",
        _create(
            "a",
            _spec(rpb.ParameterSpec(name="c", categorical_parameter=rpb.CategoricalParameter())),
        ),
        INVALID,
        'parameter "c": values must not be empty',
    ),
    (
        "unknown study",
        lambda s: s.GetStudy(pb.GetStudyRequest(name="studies/nope")),
        NOT_FOUND,
        'study "nope" does not exist',
    ),
    (
        "ask unknown study",
        lambda s: s.Ask(pb.AskRequest(study="studies/nope")),
        NOT_FOUND,
        'study "nope" does not exist',
    ),
    (
        "malformed study name",
        lambda s: s.Ask(pb.AskRequest(study="nope")),
        INVALID,
        'expected "studies/{study}"',
    ),
    (
        "count 0",
        lambda s: s.Ask(pb.AskRequest(study="studies/base", count=0)),
        INVALID,
        "count must be 1 to 100, got 0",
    ),
    (
        "count negative",
        lambda s: s.Ask(pb.AskRequest(study="studies/base", count=-3)),
        INVALID,
        "count must be 1 to 100, got -3",
    ),
    (
        "count absurd",
        lambda s: s.Ask(pb.AskRequest(study="studies/base", count=10**9)),
        INVALID,
        "count must be 1 to 100",
    ),
    (
        "oversized worker id",
        lambda s: s.Ask(pb.AskRequest(study="studies/base", worker_id="w" * 500)),
        INVALID,
        "worker_id must be at most 128",
    ),
    (
        "nan objective",
        _tell("studies/base/trials/1", rpb.TRIAL_STATE_COMPLETE, float("nan")),
        INVALID,
        "value must be a finite number, got nan",
    ),
    (
        "inf objective",
        _tell("studies/base/trials/1", rpb.TRIAL_STATE_COMPLETE, float("inf")),
        INVALID,
        "value must be a finite number, got inf",
    ),
    (
        "complete without value",
        _tell("studies/base/trials/1", rpb.TRIAL_STATE_COMPLETE),
        INVALID,
        "value is required",
    ),
    (
        "tell running",
        _tell("studies/base/trials/1", rpb.TRIAL_STATE_RUNNING),
        INVALID,
        "state must be COMPLETE, FAILED or PRUNED",
    ),
    (
        "unknown trial",
        _tell("studies/base/trials/99", rpb.TRIAL_STATE_FAILED),
        NOT_FOUND,
        "trial 99 of study",
    ),
    (
        "someone else's trial",
        _tell("studies/base/trials/1", rpb.TRIAL_STATE_COMPLETE, 1.0, worker_id="intruder"),
        PRECONDITION,
        "leased to worker 'owner', not 'intruder'",
    ),
    (
        "someone else's expired trial",
        _tell("studies/base/trials/2", rpb.TRIAL_STATE_COMPLETE, 1.0, worker_id="late"),
        PRECONDITION,
        "lease expired",
    ),
    (
        "report nan",
        lambda s: s.Report(pb.ReportRequest(trial="studies/base/trials/1", value=float("nan"))),
        INVALID,
        "finite",
    ),
    (
        "report negative step",
        lambda s: s.Report(pb.ReportRequest(trial="studies/base/trials/1", step=-1, value=1.0)),
        INVALID,
        "step must be >= 0",
    ),
    (
        "malformed trial name",
        lambda s: s.GetTrial(pb.GetTrialRequest(name="studies/base/1")),
        INVALID,
        "studies/{study}/trials/{number}",
    ),
    (
        "bad page token",
        lambda s: s.ListTrials(pb.ListTrialsRequest(study="studies/base", page_token="garbage")),
        INVALID,
        "page_token",
    ),
    (
        "huge page",
        lambda s: s.ListStudies(pb.ListStudiesRequest(page_size=5000)),
        INVALID,
        "page_size must be 0 to 1000",
    ),
    (
        "enqueue unknown param",
        lambda s: s.EnqueueTrials(
            pb.EnqueueTrialsRequest(
                study="studies/base",
                trials=[pb.TrialParams(params={"y": rpb.ParameterValue(number_value=1.0)})],
            )
        ),
        INVALID,
        "unknown parameter 'y'",
    ),
    (
        "add trial out of domain",
        lambda s: s.AddTrials(
            pb.AddTrialsRequest(
                study="studies/base",
                trials=[
                    pb.EvaluatedTrial(params={"x": rpb.ParameterValue(number_value=7.0)}, value=1.0)
                ],
            )
        ),
        INVALID,
        'trials[0].params: "x" = 7.0 is outside its domain',
    ),
    (
        "add trial nan value",
        lambda s: s.AddTrials(
            pb.AddTrialsRequest(
                study="studies/base",
                trials=[
                    pb.EvaluatedTrial(
                        params={"x": rpb.ParameterValue(number_value=0.5)}, value=float("nan")
                    )
                ],
            )
        ),
        INVALID,
        "trials[0].value must be a finite number",
    ),
    (
        "add no trials",
        lambda s: s.AddTrials(pb.AddTrialsRequest(study="studies/base")),
        INVALID,
        "give 1 to 10000",
    ),
    (
        "bad gp setting",
        _create(
            "a",
            rpb.StudySpec(
                objective=rpb.Objective(metric="m", goal=rpb.GOAL_MAXIMIZE),
                algorithm=rpb.Algorithm(genetic=rpb.GeneticSettings(mutation_rate=1.5)),
                parameters=[_float("x", 0, 1)],
            ),
        ),
        INVALID,
        "mutation_rate",
    ),
    (
        "end_time far beyond year 9999",
        _add_ended(Timestamp(seconds=2**62)),
        INVALID,
        "trials[0].end_time: seconds must be",
    ),
    (
        "end_time after year 9999",
        _add_ended(Timestamp(seconds=253_402_300_800)),
        INVALID,
        "trials[0].end_time: seconds must be",
    ),
    (
        "end_time before year 1",
        _add_ended(Timestamp(seconds=-62_135_596_801)),
        INVALID,
        "trials[0].end_time: seconds must be",
    ),
    (
        "end_time negative nanos",
        _add_ended(Timestamp(seconds=10), Timestamp(seconds=10, nanos=-1)),
        INVALID,
        "trials[1].end_time: nanos must be 0 to 999999999, got -1",
    ),
    (
        "end_time nanos of a whole second",
        _add_ended(Timestamp(seconds=10, nanos=10**9)),
        INVALID,
        "trials[0].end_time: nanos must be 0 to 999999999",
    ),
    (
        "a measurement at a negative step",
        _add_with(measurements=[rpb.Measurement(step=0, value=1.0), rpb.Measurement(step=-1)]),
        INVALID,
        "trials[0].measurements[1].step must be >= 0, got -1",
    ),
    (
        "a measurement step given twice",
        _add_with(measurements=[rpb.Measurement(step=2, value=1.0), rpb.Measurement(step=2)]),
        INVALID,
        "trials[0].measurements[1].step: step 2 is given twice",
    ),
    (
        "a NaN measurement",
        _add_with(measurements=[rpb.Measurement(step=0, value=float("nan"))]),
        INVALID,
        "trials[0].measurements[0].value",
    ),
    (
        "create_time after end_time",
        _add_with(create_time=Timestamp(seconds=20), end_time=Timestamp(seconds=10)),
        INVALID,
        "trials[0].create_time: must not be after end_time",
    ),
    (
        "lease_duration beyond protobuf's range",
        _create("a", _spec(lease_duration=Duration(seconds=2**62))),
        INVALID,
        "lease_duration: seconds must be",
    ),
    (
        "lease_duration nanos against the sign",
        _create("a", _spec(lease_duration=Duration(seconds=60, nanos=-1))),
        INVALID,
        "lease_duration: nanos must be",
    ),
    (
        "suggestion_deadline beyond protobuf's range",
        _create(
            "a",
            rpb.StudySpec(
                objective=rpb.Objective(metric="m", goal=rpb.GOAL_MAXIMIZE),
                algorithm=rpb.Algorithm(
                    random=rpb.RandomSettings(), suggestion_deadline=Duration(seconds=2**62)
                ),
                parameters=[_float("x", 0, 1)],
            ),
        ),
        INVALID,
        "algorithm.suggestion_deadline: seconds must be",
    ),
    (
        "suggestion_deadline nanos out of range",
        _create(
            "a",
            rpb.StudySpec(
                objective=rpb.Objective(metric="m", goal=rpb.GOAL_MAXIMIZE),
                algorithm=rpb.Algorithm(
                    random=rpb.RandomSettings(),
                    suggestion_deadline=Duration(seconds=1, nanos=2 * 10**9),
                ),
                parameters=[_float("x", 0, 1)],
            ),
        ),
        INVALID,
        "algorithm.suggestion_deadline: nanos must be",
    ),
    (
        "page token beyond int64",
        _list_trials(_token("int:99999999999999999999999")),
        INVALID,
        "page_token: the trial number is not 1 to 9223372036854775807",
    ),
    (
        "page token just beyond int64",
        _list_trials(_token("int:9223372036854775808")),
        INVALID,
        "page_token: the trial number is not",
    ),
    ("page token negative", _list_trials(_token("int:-5")), INVALID, "page_token: the trial"),
    ("page token zero", _list_trials(_token("int:0")), INVALID, "page_token: the trial"),
    ("page token leading zero", _list_trials(_token("int:01")), INVALID, "page_token: the trial"),
    ("page token full-width", _list_trials(_token("int:\uff11")), INVALID, "page_token: the"),
    ("page token empty number", _list_trials(_token("int:")), INVALID, "page_token: the trial"),
    (
        "page token of ListStudies given to ListTrials",
        _list_trials(_token("str:base")),
        INVALID,
        "page_token: it belongs to another list",
    ),
    (
        "page token of ListTrials given to ListStudies",
        _list_studies(_token("int:5")),
        INVALID,
        "page_token: it belongs to another list",
    ),
    ("page token unknown kind", _list_studies(_token("float:1")), INVALID, "page_token: it is"),
    (
        "page token with an invalid study id",
        _list_studies(_token("str:Bad Name")),
        INVALID,
        "page_token: the study id in it is invalid",
    ),
    (
        "page token with a NUL",
        _list_studies(_token("str:a\x00")),
        INVALID,
        "page_token: the study id in it is invalid",
    ),
    ("page token not base64", _list_studies("***"), INVALID, "page_token: it is not base64url"),
    (
        "page token without its padding",
        _list_trials(_token("int:1").rstrip("=")),
        INVALID,
        "page_token: it is not base64url",
    ),
    ("page token not UTF-8", _list_trials(_token("int:1")[:-4] + "_w=="), INVALID, "page_token"),
    (
        "page token in standard base64",
        _list_studies(base64.b64encode(b"str:base?").decode()),
        INVALID,
        "page_token",
    ),
    *[
        (
            f"{rpc} trial number {number!r}",
            call(f"studies/base/trials/{number}"),
            INVALID,
            'trial: expected "studies/{study}/trials/{number}"'.replace(
                "trial:", "name:" if rpc == "GetTrial" else "trial:"
            ),
        )
        for rpc, call in NAME_CALLS
        for number in NOT_CANONICAL_NUMBERS
    ],
    ("update with an empty mask", _update(), INVALID, "update_mask: name at least one field"),
    *[
        (
            f"update of {path}",
            _update("max_trials", path, max_trials=9),
            INVALID,
            f"update_mask: {path!r} cannot change; the fields that may change are max_trials, "
            "lease_duration, max_retries, algorithm.suggestion_deadline",
        )
        for path in ("parameters", "objective", "algorithm", "algorithm.seed", "early_stopping")
    ],
    (
        "update of an unknown field",
        _update("max_trial", max_trials=9),
        INVALID,
        "update_mask: 'max_trial' is not a field of StudySpec; the fields that may change are",
    ),
    (
        "update of a field inside a scalar",
        _update("max_trials.value", max_trials=9),
        INVALID,
        "update_mask: 'max_trials.value' is not a field of StudySpec",
    ),
    (
        "update with a lease too short",
        _update("max_trials", "lease_duration", max_trials=9, lease_duration=_duration(0.5)),
        INVALID,
        "lease_duration must be 1 s to 7 days, got 0.5 s",
    ),
    (
        "update with a lease beyond protobuf's range",
        _update("lease_duration", lease_duration=Duration(seconds=2**62)),
        INVALID,
        "spec.lease_duration: seconds must be",
    ),
    (
        "update with too many retries",
        _update("max_retries", max_retries=101),
        INVALID,
        "max_retries must be 0 to 100, got 101",
    ),
    (
        "update with a negative suggestion deadline",
        _update(
            "algorithm.suggestion_deadline",
            algorithm=rpb.Algorithm(suggestion_deadline=Duration(seconds=-1)),
        ),
        INVALID,
        "algorithm.suggestion_deadline must be >= 0",
    ),
    (
        "update of an unknown study",
        _update("max_trials", name="studies/nope", max_trials=9),
        NOT_FOUND,
        'study "nope" does not exist',
    ),
    (
        "update of a malformed study name",
        _update("max_trials", name="base", max_trials=9),
        INVALID,
        'name: expected "studies/{study}"',
    ),
    (
        "create again with only a mutable field changed",
        _create("base", _spec(_float("x", 0, 1), lease_duration=_duration(1.0), max_trials=5)),
        grpc.StatusCode.ALREADY_EXISTS,
        'study "base" already exists; its spec differs only in max_trials (the study has 0, '
        "the spec 5): change those with UpdateStudy (asktell study update base",
    ),
    (
        "create again with the lease and retries changed",
        _create("base", _spec(_float("x", 0, 1), lease_duration=_duration(60), max_retries=2)),
        grpc.StatusCode.ALREADY_EXISTS,
        "differs only in lease_duration (the study has 1 s, the spec 60 s), "
        "max_retries (the study has 0, the spec 2)",
    ),
    (
        "create again with another space",
        _create("base", _spec(_float("x", 0, 2), lease_duration=_duration(1.0), max_trials=5)),
        grpc.StatusCode.ALREADY_EXISTS,
        'study "base" already exists with a different spec',
    ),
    (
        "study name with a trailing newline",
        lambda s: s.Ask(pb.AskRequest(study="studies/base\n")),
        NOT_FOUND,
        "does not exist",
    ),
]


def _objective(metric: str, goal: int = rpb.GOAL_MINIMIZE) -> rpb.Objective:
    return rpb.Objective(metric=metric, goal=goal)


def _mo_spec(
    objectives: list[rpb.Objective] | None = None,
    constraints: list[rpb.Constraint] | None = None,
    **fields: Any,
) -> rpb.StudySpec:
    """A spec with `objectives` (default acc max, lat min) and `constraints` (mem <= 512)."""
    spec = _spec()
    spec.ClearField("objective")
    spec.objectives.extend(
        objectives
        if objectives is not None
        else [_objective("acc", rpb.GOAL_MAXIMIZE), _objective("lat")]
    )
    spec.constraints.extend(
        constraints if constraints is not None else [rpb.Constraint(metric="mem", max=512)]
    )
    for key, value in fields.items():
        getattr(spec, key).CopyFrom(value)
    return spec


def _mo_tell(
    values: dict[str, float] | None = None, value: float | None = None, **kw: Any
) -> Callable[[Any], Any]:
    """Tell of study "mo"'s RUNNING trial 1."""
    return _tell(
        "studies/mo/trials/1",
        kw.pop("state", rpb.TRIAL_STATE_COMPLETE),
        value,
        values=values or {},
        **kw,
    )


def _mo_add(**fields: Any) -> Callable[[Any], Any]:
    trial = pb.EvaluatedTrial(params={"x": rpb.ParameterValue(number_value=0.5)}, **fields)
    return lambda s: s.AddTrials(pb.AddTrialsRequest(study="studies/mo", trials=[trial]))


MO_CASES: list[tuple[str, Callable[[Any], Any], grpc.StatusCode, str]] = [
    (
        "objective and one objective in objectives",
        _create("mo-both1", _mo_spec([_objective("lat")], objective=_objective("lat"))),
        INVALID,
        "objectives: set objective (one) or objectives (several), not both",
    ),
    (
        "objective and objectives both (objective other than the first)",
        _create("mo-other", _mo_spec(objective=_objective("lat"))),
        INVALID,
        "objectives: set objective (one) or objectives (several), not both",
    ),
    (
        "duplicate objective metric",
        _create("mo-dup", _mo_spec([_objective("acc"), _objective("acc", rpb.GOAL_MAXIMIZE)])),
        INVALID,
        'objectives[1].metric: duplicate metric "acc"',
    ),
    (
        "constraint on an objective's metric",
        _create("mo-dup2", _mo_spec(constraints=[rpb.Constraint(metric="lat", max=1)])),
        INVALID,
        'constraints[0].metric: duplicate metric "lat"',
    ),
    (
        "duplicate constraint metric",
        _create(
            "mo-dup3",
            _mo_spec(
                constraints=[rpb.Constraint(metric="m", max=1), rpb.Constraint(metric="m", min=0)]
            ),
        ),
        INVALID,
        'constraints[1].metric: duplicate metric "m"',
    ),
    (
        "constraint without a bound",
        _create("mo-nobound", _mo_spec(constraints=[rpb.Constraint(metric="mem")])),
        INVALID,
        'constraints[0] ("mem"): give min, max or both',
    ),
    (
        "constraint min > max",
        _create("mo-minmax", _mo_spec(constraints=[rpb.Constraint(metric="mem", min=5, max=1)])),
        INVALID,
        'constraints[0] ("mem"): min 5.0 > max 1.0',
    ),
    (
        "constraint bound not finite",
        _create("mo-inf", _mo_spec(constraints=[rpb.Constraint(metric="mem", max=float("inf"))])),
        INVALID,
        'constraints[0].max ("mem"): must be a finite number, got inf',
    ),
    (
        "constraint without a metric",
        _create("mo-nometric", _mo_spec(constraints=[rpb.Constraint(max=1)])),
        INVALID,
        "constraints[0].metric: give a metric name of 1 to 128 characters",
    ),
    (
        "objective without a goal",
        _create("mo-nogoal", _mo_spec([_objective("a"), rpb.Objective(metric="b")])),
        INVALID,
        "objectives[1].goal: set MINIMIZE or MAXIMIZE",
    ),
    (
        "objective metric too long",
        _create("mo-long", _mo_spec([_objective("a"), _objective("b" * 129)])),
        INVALID,
        "objectives[1].metric: give a metric name of 1 to 128 characters",
    ),
    (
        "too many objectives",
        _create("mo-many", _mo_spec([_objective(f"m{i}") for i in range(9)])),
        INVALID,
        "objectives: give 1 to 8 objectives, got 9",
    ),
    (
        "too many constraints",
        _create(
            "mo-manyc",
            _mo_spec(constraints=[rpb.Constraint(metric=f"c{i}", max=1) for i in range(17)]),
        ),
        INVALID,
        "constraints: at most 16 constraints, got 17",
    ),
    (
        "early stopping metric that is no objective",
        _create(
            "mo-es",
            _mo_spec(early_stopping=rpb.EarlyStopping(median=rpb.MedianStopping(), metric="mem")),
        ),
        INVALID,
        'early_stopping.metric: "mem" is not an objective of the study',
    ),
    (
        "early stopping metric without a rule",
        _create("mo-es2", _mo_spec(early_stopping=rpb.EarlyStopping(metric="acc"))),
        INVALID,
        "early_stopping.metric: set only with an early-stopping rule",
    ),
    (
        "tell a multi-objective trial a value alone",
        _mo_tell(value=0.9),
        INVALID,
        'values: value alone is not enough: missing metrics "lat", "mem"',
    ),
    (
        "tell a multi-objective trial without a constraint metric",
        _mo_tell({"acc": 0.9, "lat": 3.0}),
        INVALID,
        'values: missing metric "mem"; a COMPLETE trial of this study reports "acc", "lat", "mem"',
    ),
    (
        "tell a metric that is not a number",
        _mo_tell({"acc": 0.9, "lat": float("nan"), "mem": 1.0}),
        INVALID,
        'values: "lat" must be a finite number, got nan',
    ),
    (
        "tell an infinite extra metric",
        _mo_tell({"acc": 0.9, "lat": 1.0, "mem": 1.0, "other": float("-inf")}),
        INVALID,
        'values: "other" must be a finite number, got -inf',
    ),
    (
        "tell a value that contradicts values",
        _mo_tell({"acc": 0.9, "lat": 1.0, "mem": 1.0}, value=0.5),
        INVALID,
        'value: 0.5 differs from values["acc"] = 0.9',
    ),
    (
        "tell values with a FAILED trial",
        _mo_tell({"acc": 0.9}, state=rpb.TRIAL_STATE_FAILED),
        INVALID,
        "values is given for a FAILED trial",
    ),
    (
        "tell too many metrics",
        _mo_tell({f"m{i}": 1.0 for i in range(65)}),
        INVALID,
        "values: at most 64 metrics, got 65",
    ),
    (
        "tell a metric with an empty name",
        _mo_tell({"acc": 0.9, "lat": 1.0, "mem": 1.0, "": 2.0}),
        INVALID,
        "values: invalid metric name ''",
    ),
    (
        "tell a single-objective trial values without its metric",
        _tell("studies/base/trials/1", rpb.TRIAL_STATE_COMPLETE, values={"other": 1.0}),
        INVALID,
        'values: missing metric "loss"',
    ),
    (
        "add a multi-objective trial with a value alone",
        _mo_add(value=1.0),
        INVALID,
        'trials[0].values: value alone is not enough: missing metrics "lat", "mem"',
    ),
    (
        "add a multi-objective trial without a metric",
        _mo_add(values={"acc": 1.0, "mem": 2.0}),
        INVALID,
        'trials[0].values: missing metric "lat"',
    ),
    (
        "add a trial with a NaN metric",
        _mo_add(values={"acc": 1.0, "lat": float("nan"), "mem": 2.0}),
        INVALID,
        'trials[0].values: "lat" must be a finite number, got nan',
    ),
]


@pytest.fixture(scope="module")
def base_study(module_server: LiveServer) -> LiveServer:
    """Study "base": trial 1 RUNNING for "owner" with 5 attributes; trial 2 RUNNING with a
    lease long expired; trial 3 COMPLETE (0.5) with attribute a = 1.

    Shared by the module's tests: each checks that its rejected request left every table
    as it was, which is also what keeps the set-up the same for the next test.
    """
    live_server = module_server
    stub = live_server.stub()
    spec = _spec(_float("x", 0, 1), lease_duration=_duration(1.0))
    stub.CreateStudy(pb.CreateStudyRequest(study_id="base", spec=spec))
    stub.Ask(pb.AskRequest(study="studies/base", worker_id="owner"))
    stub.Ask(pb.AskRequest(study="studies/base", worker_id="gone"))
    stub.Ask(pb.AskRequest(study="studies/base", worker_id="done"))
    # Leases of 1 s: held long while the set-up goes on, then trial 2's ended long ago.
    sql_all(live_server.db_url, ["UPDATE trials SET lease_deadline = 1e12"])
    stub.Tell(
        pb.TellRequest(
            trial="studies/base/trials/3",
            state=rpb.TRIAL_STATE_COMPLETE,
            value=0.5,
            attrs={"a": _v(1)},
        )
    )
    stub.SetTrialAttributes(
        pb.SetTrialAttributesRequest(
            trial="studies/base/trials/1", attrs={f"k{i}": _v(i) for i in range(5)}
        )
    )
    sql_all(
        live_server.db_url,
        [
            "UPDATE trials SET lease_deadline = 0 WHERE number = 2",
            "UPDATE trials SET lease_deadline = 1e12 WHERE number = 1",
        ],
    )
    # Study "mo": objectives acc (max) and lat (min), constraint mem <= 512; trial 1 RUNNING.
    stub.CreateStudy(pb.CreateStudyRequest(study_id="mo", spec=_mo_spec()))
    stub.Ask(pb.AskRequest(study="studies/mo", worker_id="owner"))
    sql_all(live_server.db_url, ["UPDATE trials SET lease_deadline = 1e12 WHERE study = 'mo'"])
    return live_server


@pytest.mark.parametrize(
    ("case", "call", "code", "message"),
    CASES + ATTR_CASES + MO_CASES,
    ids=[c[0] for c in CASES + ATTR_CASES + MO_CASES],
)
def test_bad_input(
    base_study: LiveServer,
    case: str,
    call: Callable[[Any], Any],
    code: grpc.StatusCode,
    message: str,
) -> None:
    before = snapshot(base_study.db_url)
    with pytest.raises(grpc.RpcError) as raised:
        call(base_study.stub())
    assert raised.value.code() == code, raised.value.details()
    assert message in raised.value.details()
    assert "Traceback" not in raised.value.details()
    assert snapshot(base_study.db_url) == before, "a rejected request changed the store"


def test_oversized_message_is_rejected(module_server: LiveServer) -> None:
    stub = module_server.stub()
    with pytest.raises(grpc.RpcError) as raised:
        stub.Ask(pb.AskRequest(study="studies/x", worker_id="w" * (5 * 1024 * 1024)))
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
