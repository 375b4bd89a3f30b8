"""Protobuf <-> domain. With `service.py`, the only server module that imports asktell.v1.

Every malformed field raises `InvalidArgument` naming the field, so handlers
stay free of validation code.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from asktell.server.algorithms import ALGORITHMS
from asktell.server.domain import (
    AlgorithmConfig,
    CategoricalParam,
    DiscreteParam,
    EarlyStopping,
    FloatParam,
    Goal,
    IntParam,
    MedianStopping,
    Objective,
    Param,
    Params,
    ParamValue,
    Scale,
    SearchSpace,
    Study,
    StudySpec,
    SuccessiveHalving,
    Trial,
    TrialCounts,
    TrialState,
)
from asktell.server.errors import InvalidArgument
from asktell.server.usecases.ask import AskResult
from asktell.server.usecases.studies import StudyView
from asktell.server.usecases.trials import EvaluatedTrial
from asktell.v1 import resources_pb2 as pb

# NUL is no part of any id, and PostgreSQL refuses it in text.
STUDY_NAME = re.compile(r"^studies/([^/\x00]+)$")
TRIAL_NAME = re.compile(r"^studies/([^/\x00]+)/trials/(\d{1,18})$")
MAX_NAME_LENGTH = 256

_GOALS = {pb.GOAL_MINIMIZE: Goal.MINIMIZE, pb.GOAL_MAXIMIZE: Goal.MAXIMIZE}
_SCALES = {
    pb.SCALE_UNSPECIFIED: Scale.LINEAR,
    pb.SCALE_LINEAR: Scale.LINEAR,
    pb.SCALE_LOG: Scale.LOG,
}
_TRIAL_STATES = {
    pb.TRIAL_STATE_RUNNING: TrialState.RUNNING,
    pb.TRIAL_STATE_COMPLETE: TrialState.COMPLETE,
    pb.TRIAL_STATE_FAILED: TrialState.FAILED,
    pb.TRIAL_STATE_PRUNED: TrialState.PRUNED,
}
_TRIAL_STATES_PB = {state: number for number, state in _TRIAL_STATES.items()}
_ACQUISITIONS = {
    pb.ACQUISITION_UNSPECIFIED: "log_ei",
    pb.ACQUISITION_LOG_EI: "log_ei",
    pb.ACQUISITION_EI: "ei",
    pb.ACQUISITION_UCB: "ucb",
}
_ACQUISITIONS_PB = {
    "log_ei": pb.ACQUISITION_LOG_EI,
    "ei": pb.ACQUISITION_EI,
    "ucb": pb.ACQUISITION_UCB,
}


# ------------------------------------------------------------------ names
def study_id(name: str, field: str = "study") -> str:
    """'studies/{id}' -> id."""
    match = STUDY_NAME.match(name) if len(name) <= MAX_NAME_LENGTH else None
    if not match:
        raise InvalidArgument(f'{field}: expected "studies/{{study}}", got {name[:80]!r}')
    return match.group(1)


def trial_ref(name: str, field: str = "trial") -> tuple[str, int]:
    """'studies/{id}/trials/{number}' -> (id, number)."""
    match = TRIAL_NAME.match(name) if len(name) <= MAX_NAME_LENGTH else None
    if not match:
        raise InvalidArgument(
            f'{field}: expected "studies/{{study}}/trials/{{number}}", got {name[:80]!r}'
        )
    return match.group(1), int(match.group(2))


def study_name(study_id: str) -> str:
    return f"studies/{study_id}"


def trial_name(study_id: str, number: int) -> str:
    return f"studies/{study_id}/trials/{number}"


# ------------------------------------------------------------------ page tokens
def encode_page_token(after: str | int | None) -> str:
    if after is None:
        return ""
    return base64.urlsafe_b64encode(f"{type(after).__name__}:{after}".encode()).decode()


def decode_page_token(token: str, kind: type[str] | type[int]) -> str | int:
    """The position to continue after; '' or 0 for the first page."""
    if not token:
        return kind()
    try:
        tag, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if tag != kind.__name__ or "\x00" in value:
            raise ValueError(tag)
        return kind(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidArgument("page_token is not one this server returned") from exc


# ------------------------------------------------------------------ spec
def _param(spec: pb.ParameterSpec) -> Param:
    name = spec.name
    kind = spec.WhichOneof("domain")
    if kind == "float_parameter":
        f = spec.float_parameter
        return FloatParam(name, f.min, f.max, _scale(name, f.scale), f.grid_points)
    if kind == "int_parameter":
        i = spec.int_parameter
        return IntParam(name, i.min, i.max, _scale(name, i.scale), i.step or 1)
    if kind == "discrete_parameter":
        return DiscreteParam(name, tuple(spec.discrete_parameter.values))
    if kind == "categorical_parameter":
        return CategoricalParam(name, tuple(spec.categorical_parameter.values))
    raise InvalidArgument(
        f'parameter "{name}": no type given; set one of float_parameter, int_parameter, '
        "discrete_parameter or categorical_parameter"
    )


def _scale(name: str, scale: int) -> Scale:
    if scale not in _SCALES:
        raise InvalidArgument(f'parameter "{name}": unknown scale {scale}')
    return _SCALES[scale]


def _seconds(duration: Duration) -> float:
    return duration.seconds + duration.nanos / 1e9


def _algorithm(message: pb.Algorithm) -> AlgorithmConfig:
    kind = message.WhichOneof("settings")
    if kind is None:
        raise InvalidArgument(
            "algorithm: no algorithm given; set one of " + ", ".join(sorted(ALGORITHMS))
        )
    if kind not in ALGORITHMS:
        raise InvalidArgument(f"algorithm: {kind} is not available on this server")
    settings_message = getattr(message, kind)
    values = {
        field.name: getattr(settings_message, field.name)
        for field in settings_message.DESCRIPTOR.fields
    }
    if "acquisition" in values:
        if values["acquisition"] not in _ACQUISITIONS:
            raise InvalidArgument(
                f"algorithm.gp.acquisition: unknown value {values['acquisition']}"
            )
        values["acquisition"] = _ACQUISITIONS[values["acquisition"]]
    return AlgorithmConfig(
        name=kind,
        settings=ALGORITHMS[kind].parse_settings(values),
        seed=message.seed if message.HasField("seed") else None,
        suggestion_deadline=_seconds(message.suggestion_deadline),
    )


def _early_stopping(message: pb.EarlyStopping) -> EarlyStopping | None:
    """The rule of a request, with 0 fields replaced by their defaults."""
    kind = message.WhichOneof("rule")
    if kind == "median":
        m = message.median
        return MedianStopping(min_steps=m.min_steps, min_trials=m.min_trials or 3)
    if kind == "asha":
        a = message.asha
        return SuccessiveHalving(
            min_resource=a.min_resource or 1, reduction_factor=a.reduction_factor or 3
        )
    return None


def _early_stopping_message(rule: EarlyStopping) -> pb.EarlyStopping:
    if isinstance(rule, MedianStopping):
        return pb.EarlyStopping(
            median=pb.MedianStopping(min_steps=rule.min_steps, min_trials=rule.min_trials)
        )
    return pb.EarlyStopping(
        asha=pb.SuccessiveHalving(
            min_resource=rule.min_resource, reduction_factor=rule.reduction_factor
        )
    )


def study_spec(message: pb.StudySpec) -> StudySpec:
    """The domain spec of a request, validated.

    Raises:
        InvalidArgument: naming the first bad field.
    """
    if message.objective.goal not in _GOALS:
        raise InvalidArgument("objective.goal: set MINIMIZE or MAXIMIZE")
    lease = _seconds(message.lease_duration) if message.HasField("lease_duration") else None
    return StudySpec(
        objective=Objective(message.objective.metric, _GOALS[message.objective.goal]),
        algorithm=_algorithm(message.algorithm),
        space=SearchSpace(tuple(_param(p) for p in message.parameters)),
        max_trials=message.max_trials,
        **({"lease_seconds": lease} if lease is not None else {}),
        max_retries=message.max_retries,
        early_stopping=_early_stopping(message.early_stopping),
    )


def _duration(seconds: float) -> Duration:
    duration = Duration()
    duration.FromNanoseconds(round(seconds * 1e9))
    return duration


def study_spec_message(spec: StudySpec) -> pb.StudySpec:
    algorithm = pb.Algorithm(suggestion_deadline=_duration(spec.algorithm.suggestion_deadline))
    if spec.algorithm.seed is not None:
        algorithm.seed = spec.algorithm.seed
    settings = getattr(algorithm, spec.algorithm.name)
    for field in settings.DESCRIPTOR.fields:
        value = getattr(spec.algorithm.settings, field.name)
        if field.name == "acquisition":
            value = _ACQUISITIONS_PB[value]
        setattr(settings, field.name, value)
    settings.SetInParent()
    message = pb.StudySpec(
        objective=pb.Objective(
            metric=spec.objective.metric,
            goal=pb.GOAL_MINIMIZE if spec.objective.goal is Goal.MINIMIZE else pb.GOAL_MAXIMIZE,
        ),
        algorithm=algorithm,
        parameters=[_param_message(p) for p in spec.space.params],
        max_trials=spec.max_trials,
        lease_duration=_duration(spec.lease_seconds),
        max_retries=spec.max_retries,
    )
    if spec.early_stopping is not None:
        message.early_stopping.CopyFrom(_early_stopping_message(spec.early_stopping))
    return message


def _param_message(param: Param) -> pb.ParameterSpec:
    scale = pb.SCALE_LOG if getattr(param, "scale", Scale.LINEAR) is Scale.LOG else pb.SCALE_LINEAR
    if isinstance(param, FloatParam):
        return pb.ParameterSpec(
            name=param.name,
            float_parameter=pb.FloatParameter(
                min=param.low, max=param.high, scale=scale, grid_points=param.grid_points
            ),
        )
    if isinstance(param, IntParam):
        return pb.ParameterSpec(
            name=param.name,
            int_parameter=pb.IntParameter(
                min=param.low, max=param.high, scale=scale, step=param.step
            ),
        )
    if isinstance(param, DiscreteParam):
        return pb.ParameterSpec(
            name=param.name, discrete_parameter=pb.DiscreteParameter(values=param.values)
        )
    return pb.ParameterSpec(
        name=param.name, categorical_parameter=pb.CategoricalParameter(values=param.values)
    )


# ------------------------------------------------------------------ params
def params(
    message: Mapping[str, pb.ParameterValue], field: str = "params"
) -> dict[str, ParamValue]:
    out: dict[str, ParamValue] = {}
    for name, value in message.items():
        kind = value.WhichOneof("kind")
        if kind is None:
            raise InvalidArgument(f'{field}: "{name}" has no value')
        raw = getattr(value, kind)
        if kind == "number_value" and not math.isfinite(raw):
            raise InvalidArgument(f'{field}: "{name}" must be finite, got {raw}')
        out[name] = raw
    return out


def params_message(values: Params) -> dict[str, pb.ParameterValue]:
    out = {}
    for name, value in values.items():
        if isinstance(value, str):
            out[name] = pb.ParameterValue(string_value=value)
        elif isinstance(value, int):
            out[name] = pb.ParameterValue(int_value=value)
        else:
            out[name] = pb.ParameterValue(number_value=value)
    return out


# ------------------------------------------------------------------ resources
def _timestamp(seconds: float | None) -> Timestamp | None:
    if seconds is None:
        return None
    stamp = Timestamp()
    stamp.FromNanoseconds(round(seconds * 1e9))
    return stamp


def trial_state(number: int, field: str = "state") -> TrialState:
    if number not in _TRIAL_STATES:
        raise InvalidArgument(f"{field}: set RUNNING, COMPLETE, FAILED or PRUNED")
    return _TRIAL_STATES[number]


def trial_message(trial: Trial) -> pb.Trial:
    message = pb.Trial(
        name=trial_name(trial.study_id, trial.number),
        number=trial.number,
        state=_TRIAL_STATES_PB[trial.state],
        params=params_message(trial.params),
        measurements=[pb.Measurement(step=s, value=v) for s, v in trial.measurements],
        worker_id=trial.worker_id,
        lease_deadline=_timestamp(trial.lease_deadline),
        create_time=_timestamp(trial.create_time),
        end_time=_timestamp(trial.end_time),
        reason=trial.reason,
        suggested_by=trial.suggested_by,
        retry_of=trial.retry_of or 0,
    )
    if trial.value is not None:
        message.value = trial.value
    return message


def _counts(counts: TrialCounts) -> pb.TrialCounts:
    return pb.TrialCounts(
        running=counts.running,
        complete=counts.complete,
        failed=counts.failed,
        pruned=counts.pruned,
        queued=counts.queued,
    )


def study_message(study: Study, counts: TrialCounts | None = None) -> pb.Study:
    return pb.Study(
        name=study_name(study.id),
        spec=study_spec_message(study.spec),
        state=pb.STUDY_STATE_ACTIVE if study.state == "ACTIVE" else pb.STUDY_STATE_STOPPED,
        create_time=_timestamp(study.create_time),
        trial_counts=_counts(counts) if counts is not None else None,
        seed=study.seed,
    )


def study_view_message(view: StudyView) -> pb.Study:
    return study_message(view.study, view.counts)


def evaluated_trial(message: pb.EvaluatedTrial, index: int) -> EvaluatedTrial:
    field = f"trials[{index}]"
    state = (
        TrialState.COMPLETE
        if message.state == pb.TRIAL_STATE_UNSPECIFIED
        else trial_state(message.state, f"{field}.state")
    )
    end_time = message.end_time.ToNanoseconds() / 1e9 if message.HasField("end_time") else None
    return EvaluatedTrial(
        params=params(message.params, f"{field}.params"),
        state=state,
        value=message.value if message.HasField("value") else None,
        end_time=end_time,
    )


ASK_STATUS = {"OK": 1, "EXHAUSTED": 2, "STOPPED": 3}


def ask_status(result: AskResult) -> int:
    return ASK_STATUS[str(result.status)]
