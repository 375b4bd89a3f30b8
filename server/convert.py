"""Protobuf <-> domain. With `service.py`, the only server module that imports asktell.v1.

Every malformed field raises `InvalidArgument` naming the field, so handlers
stay free of validation code.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from asktell.server.algorithms import ALGORITHMS
from asktell.server.domain import (
    STUDY_ID_PATTERN,
    AlgorithmConfig,
    Attrs,
    AttrValue,
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
    check_attrs,
)
from asktell.server.errors import InvalidArgument
from asktell.server.usecases.ask import AskResult, AskStatus
from asktell.server.usecases.studies import StudyView
from asktell.server.usecases.trials import EvaluatedTrial
from asktell.v1 import resources_pb2 as pb
from asktell.v1 import service_pb2 as service_pb
from asktell.v1.values import value_message, value_of

# NUL is no part of any id, and PostgreSQL refuses it in text.
STUDY_NAME = re.compile(r"studies/([^/\x00]+)")
TRIAL_NAME = re.compile(r"studies/([^/\x00]+)/trials/([^/\x00]+)")
# A positive number as this server writes it: ASCII digits, no sign, no leading zero.
POSITIVE_NUMBER = re.compile(r"[1-9][0-9]{0,18}")
MAX_NAME_LENGTH = 256
MAX_INT64 = 2**63 - 1

# The range protobuf allows: Timestamps from 0001-01-01T00:00:00Z to
# 9999-12-31T23:59:59.999999999Z, Durations up to 10,000 years either way.
MIN_TIMESTAMP_SECONDS = -62_135_596_800
MAX_TIMESTAMP_SECONDS = 253_402_300_799
MAX_DURATION_SECONDS = 315_576_000_000
MAX_NANOS = 999_999_999
NANOS_PER_SECOND = 1_000_000_000

_GOALS = {pb.GOAL_MINIMIZE: Goal.MINIMIZE, pb.GOAL_MAXIMIZE: Goal.MAXIMIZE}
_SCALES: dict[int, Scale] = {
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
    match = STUDY_NAME.fullmatch(name) if len(name) <= MAX_NAME_LENGTH else None
    if not match:
        raise InvalidArgument(f'{field}: expected "studies/{{study}}", got {name[:80]!r}')
    return match.group(1)


def trial_ref(name: str, field: str = "trial") -> tuple[str, int]:
    """'studies/{id}/trials/{number}' -> (id, number); the number as this server writes it."""
    match = TRIAL_NAME.fullmatch(name) if len(name) <= MAX_NAME_LENGTH else None
    number = positive_int64(match.group(2)) if match else None
    if match is None or number is None:
        raise InvalidArgument(
            f'{field}: expected "studies/{{study}}/trials/{{number}}" with the number in '
            f"ASCII digits, no leading zero, 1 to {MAX_INT64}; got {name[:80]!r}"
        )
    return match.group(1), number


def positive_int64(text: str) -> int | None:
    """`text` as a number from 1 to 2**63 - 1 written canonically, else None.

    Strict on purpose: int() also reads '01', '+1', ' 1', '1_0' and non-ASCII
    digits, which would give one trial many names.
    """
    if not POSITIVE_NUMBER.fullmatch(text):
        return None
    number = int(text)
    return number if number <= MAX_INT64 else None


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
    """The position to continue after; '' or 0 for the first page.

    Only a token this server returns is accepted, byte for byte: the position
    reaches the database, so a forged one must not (an integer beyond int64,
    say, overflows SQLite's).

    Raises:
        InvalidArgument: `page_token: ...` saying what is wrong with it.
    """
    if not token:
        return kind()
    try:
        text = base64.b64decode(token, altchars=b"-_", validate=True).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise InvalidArgument(_bad_token("it is not base64url")) from None
    tag, _, value = text.partition(":")
    if tag not in ("int", "str"):
        raise InvalidArgument(_bad_token("it is not one this server returned"))
    if tag != kind.__name__:
        raise InvalidArgument(_bad_token("it belongs to another list"))
    after: str | int | None
    if kind is int:
        after = positive_int64(value)
        if after is None:
            raise InvalidArgument(_bad_token(f"the trial number is not 1 to {MAX_INT64}"))
    else:
        after = value
        if not STUDY_ID_PATTERN.fullmatch(value):
            raise InvalidArgument(_bad_token("the study id in it is invalid"))
    if encode_page_token(after) != token:
        raise InvalidArgument(_bad_token("it is not one this server returned"))
    return after


def _bad_token(why: str) -> str:
    return (
        f"page_token: {why}; pass the next_page_token of the previous page unchanged, "
        "or none for the first page"
    )


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


def duration_seconds(duration: Duration, field: str) -> float:
    """A caller's Duration in seconds.

    Raises:
        InvalidArgument: naming `field`, for a Duration outside protobuf's range
            (the server could not write it back) or with nanos of the wrong sign.
    """
    seconds, nanos = duration.seconds, duration.nanos
    if not -MAX_DURATION_SECONDS <= seconds <= MAX_DURATION_SECONDS:
        raise InvalidArgument(
            f"{field}: seconds must be -{MAX_DURATION_SECONDS} to {MAX_DURATION_SECONDS}, "
            f"got {seconds}"
        )
    if not -MAX_NANOS <= nanos <= MAX_NANOS or (seconds and nanos and (seconds < 0) != (nanos < 0)):
        raise InvalidArgument(
            f"{field}: nanos must be -{MAX_NANOS} to {MAX_NANOS} with the sign of seconds, "
            f"got seconds={seconds} nanos={nanos}"
        )
    return float(seconds + nanos / NANOS_PER_SECOND)


def timestamp_seconds(stamp: Timestamp, field: str) -> float:
    """A caller's Timestamp in seconds since the epoch.

    Raises:
        InvalidArgument: naming `field`, for a Timestamp outside protobuf's range
            (years 1 to 9999, nanos 0 to 999,999,999).
    """
    if not MIN_TIMESTAMP_SECONDS <= stamp.seconds <= MAX_TIMESTAMP_SECONDS:
        raise InvalidArgument(
            f"{field}: seconds must be {MIN_TIMESTAMP_SECONDS} to {MAX_TIMESTAMP_SECONDS} "
            f"(years 1 to 9999), got {stamp.seconds}"
        )
    if not 0 <= stamp.nanos <= MAX_NANOS:
        raise InvalidArgument(f"{field}: nanos must be 0 to {MAX_NANOS}, got {stamp.nanos}")
    return float(stamp.seconds + stamp.nanos / NANOS_PER_SECOND)


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
        suggestion_deadline=duration_seconds(
            message.suggestion_deadline, "algorithm.suggestion_deadline"
        ),
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
    lease = (
        duration_seconds(message.lease_duration, "lease_duration")
        if message.HasField("lease_duration")
        else None
    )
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
    # Clamped: float rounding at the very edge of the range must not fail the answer.
    limit = MAX_DURATION_SECONDS * NANOS_PER_SECOND + MAX_NANOS
    duration = Duration()
    duration.FromNanoseconds(max(-limit, min(limit, round(seconds * NANOS_PER_SECOND))))
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
    """The typed values of a request's map; the space checks them against the spec."""
    out: dict[str, ParamValue] = {}
    for name, value in message.items():
        raw = value_of(value)
        if raw is None:
            raise InvalidArgument(f'{field}: "{name[:80]}" has no value')
        if isinstance(raw, float) and not math.isfinite(raw):
            raise InvalidArgument(f'{field}: "{name[:80]}" must be finite, got {raw}')
        out[name] = raw
    return out


def params_message(values: Params) -> dict[str, pb.ParameterValue]:
    return {name: value_message(value) for name, value in values.items()}


# ------------------------------------------------------------------ attributes
def attrs(message: Mapping[str, pb.ParameterValue], field: str = "attrs") -> dict[str, AttrValue]:
    """The typed values of a request's attribute map, checked (`domain.check_attrs`)."""
    out: dict[str, AttrValue | None] = {name: value_of(value) for name, value in message.items()}
    return check_attrs(field, out)


def attrs_message(values: Attrs) -> dict[str, pb.ParameterValue]:
    return {name: value_message(value) for name, value in values.items()}


# ------------------------------------------------------------------ resources
def _timestamp(seconds: float | None) -> Timestamp | None:
    if seconds is None:
        return None
    # Clamped: a value stored before requests were checked, or float rounding at the
    # edge of the range, must not make the whole answer fail.
    lowest = MIN_TIMESTAMP_SECONDS * NANOS_PER_SECOND
    highest = MAX_TIMESTAMP_SECONDS * NANOS_PER_SECOND + MAX_NANOS
    stamp = Timestamp()
    stamp.FromNanoseconds(max(lowest, min(highest, round(seconds * NANOS_PER_SECOND))))
    return stamp


def trial_state(state: pb.TrialState, field: str = "state") -> TrialState:
    if state not in _TRIAL_STATES:
        raise InvalidArgument(f"{field}: set RUNNING, COMPLETE, FAILED or PRUNED")
    return _TRIAL_STATES[state]


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
        attrs=attrs_message(trial.attrs),
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


def evaluated_trial(message: service_pb.EvaluatedTrial, index: int) -> EvaluatedTrial:
    field = f"trials[{index}]"
    state = (
        TrialState.COMPLETE
        if message.state == pb.TRIAL_STATE_UNSPECIFIED
        else trial_state(message.state, f"{field}.state")
    )
    end_time = (
        timestamp_seconds(message.end_time, f"{field}.end_time")
        if message.HasField("end_time")
        else None
    )
    return EvaluatedTrial(
        params=params(message.params, f"{field}.params"),
        state=state,
        value=message.value if message.HasField("value") else None,
        end_time=end_time,
        attrs=attrs(message.attrs, f"{field}.attrs"),
        reason=message.reason,
    )


ASK_STATUS = {
    AskStatus.OK: service_pb.ASK_STATUS_OK,
    AskStatus.EXHAUSTED: service_pb.ASK_STATUS_EXHAUSTED,
    AskStatus.STOPPED: service_pb.ASK_STATUS_STOPPED,
}


def ask_status(result: AskResult) -> service_pb.AskStatus:
    return ASK_STATUS[result.status]
