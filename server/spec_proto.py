"""The contract's StudySpec and ParameterValues <-> the domain's, and the stored form of a spec.

The store keeps a study's spec as the contract's own JSON serialisation of the
canonical StudySpec (`dump_spec`): what GetStudy answers is what the database
holds, and there is no third, hand-written shape. Every malformed field raises
`InvalidArgument` naming it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import json_format
from google.protobuf.duration_pb2 import Duration

from asktell.server.algorithms import ALGORITHMS
from asktell.server.domain import (
    Aggregate,
    AlgorithmConfig,
    CategoricalParam,
    Condition,
    Constraint,
    DiscreteParam,
    EarlyStopping,
    FixedParam,
    FloatParam,
    Goal,
    IntParam,
    MedianStopping,
    Objective,
    Param,
    Params,
    ParamValue,
    Racing,
    Scale,
    SearchSpace,
    Stage,
    StudySpec,
    SuccessiveHalving,
)
from asktell.server.errors import InvalidArgument
from asktell.v1 import resources_pb2 as pb
from asktell.v1.spec import ALGORITHMS as CONTRACT_ALGORITHMS
from asktell.v1.spec import SpecError, fill_settings_message, settings_values
from asktell.v1.values import value_message, value_of

# The range protobuf allows for Durations: up to 10,000 years either way.
MAX_DURATION_SECONDS = 315_576_000_000
MAX_NANOS = 999_999_999
NANOS_PER_SECOND = 1_000_000_000

_GOALS = {pb.GOAL_MINIMIZE: Goal.MINIMIZE, pb.GOAL_MAXIMIZE: Goal.MAXIMIZE}
_AGGREGATES = {pb.AGGREGATE_MEAN: Aggregate.MEAN, pb.AGGREGATE_MEDIAN: Aggregate.MEDIAN}
_SCALES: dict[int, Scale] = {
    pb.SCALE_UNSPECIFIED: Scale.LINEAR,
    pb.SCALE_LINEAR: Scale.LINEAR,
    pb.SCALE_LOG: Scale.LOG,
}


# ------------------------------------------------------------------ durations
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


def duration_message(seconds: float) -> Duration:
    # Clamped: float rounding at the very edge of the range must not fail the answer.
    limit = MAX_DURATION_SECONDS * NANOS_PER_SECOND + MAX_NANOS
    duration = Duration()
    duration.FromNanoseconds(max(-limit, min(limit, round(seconds * NANOS_PER_SECOND))))
    return duration


# ------------------------------------------------------------------ values
def typed_value(message: pb.ParameterValue, where: str) -> ParamValue:
    """The value a caller's ParameterValue holds.

    Raises:
        InvalidArgument: naming `where`, for an unset value or a non-finite number.
    """
    value = value_of(message)
    if value is None:
        raise InvalidArgument(f"{where} has no value; set one of its fields")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgument(f"{where} must be finite, got {value}")
    return value


def params(
    message: Mapping[str, pb.ParameterValue], field: str = "params"
) -> dict[str, ParamValue]:
    """The typed values of a request's map; the space checks them against the spec."""
    return {name: typed_value(value, f'{field}: "{name[:80]}"') for name, value in message.items()}


def params_message(values: Params) -> dict[str, pb.ParameterValue]:
    return {name: value_message(value) for name, value in values.items()}


# ------------------------------------------------------------------ spec: proto -> domain
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
        d = spec.discrete_parameter
        if d.values and d.int_values:
            raise InvalidArgument(
                f'parameter "{name}": set values (real numbers) or int_values (integers), not both'
            )
        return DiscreteParam(name, tuple(d.int_values) or tuple(d.values))
    if kind == "categorical_parameter":
        c = spec.categorical_parameter
        if c.values and c.choices:
            raise InvalidArgument(
                f'parameter "{name}": set values (strings) or choices (typed values), not both'
            )
        if c.values:
            return CategoricalParam(name, tuple(c.values))
        where = f'parameter "{name}": choices'
        return CategoricalParam(
            name, tuple(typed_value(v, f"{where}[{i}]") for i, v in enumerate(c.choices))
        )
    raise InvalidArgument(
        f'parameter "{name}": no type given; set one of float_parameter, int_parameter, '
        "discrete_parameter, categorical_parameter or fixed_parameter"
    )


def _fixed(spec: pb.ParameterSpec) -> FixedParam:
    f = spec.fixed_parameter
    if not f.HasField("value"):
        raise InvalidArgument(f'parameter "{spec.name}": fixed_parameter.value is required')
    value = typed_value(f.value, f'parameter "{spec.name}": fixed_parameter.value')
    return FixedParam(spec.name, value, f.stage_study, f.stage_trial)


def search_space(parameters: Sequence[pb.ParameterSpec]) -> SearchSpace:
    """The space of a spec's parameters: searched ones, fixed ones, their conditions, in order."""
    conditions = tuple(c for c in (_condition(p) for p in parameters) if c is not None)
    tuned = tuple(_param(p) for p in parameters if p.WhichOneof("domain") != "fixed_parameter")
    fixed = tuple(_fixed(p) for p in parameters if p.WhichOneof("domain") == "fixed_parameter")
    return SearchSpace(tuned, conditions, fixed, tuple(p.name for p in parameters))


def _stages(message: pb.StudySpec) -> tuple[Stage, ...]:
    return tuple(
        Stage(s.study, tuple(s.parameters), s.trial, where=f"stages[{i}]")
        for i, s in enumerate(message.stages)
    )


def _condition(spec: pb.ParameterSpec) -> Condition | None:
    if not spec.HasField("when"):
        return None
    where = f'parameter "{spec.name}": when'
    values = tuple(typed_value(v, f"{where}.values[{i}]") for i, v in enumerate(spec.when.values))
    return Condition(spec.name, spec.when.parent, values)


def _scale(name: str, scale: int) -> Scale:
    if scale not in _SCALES:
        raise InvalidArgument(f'parameter "{name}": unknown scale {scale}')
    return _SCALES[scale]


def _algorithm(message: pb.Algorithm) -> AlgorithmConfig:
    kind = message.WhichOneof("settings")
    if kind is None:
        raise InvalidArgument(
            "algorithm: no algorithm given; set one of " + ", ".join(CONTRACT_ALGORITHMS)
        )
    if kind not in ALGORITHMS:
        raise InvalidArgument(f"algorithm: {kind} is not available on this server")
    # An unspecified enum (None) means the algorithm's own default.
    values = {k: v for k, v in settings_values(getattr(message, kind)).items() if v is not None}
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
    if kind == "racing":
        return _racing(message.racing)
    return None


def _racing(r: pb.Racing) -> Racing:
    top_k = r.top_k or 1
    return Racing(
        min_folds=r.min_folds or 2,
        top_k=top_k,
        min_trials=r.min_trials or top_k,
        spread_factor=r.spread_factor or 2.0,
    )


def study_spec(message: pb.StudySpec) -> StudySpec:
    """The domain spec of a request, validated.

    Raises:
        InvalidArgument: naming the first bad field.
    """
    objectives = _objectives(message)
    lease = (
        duration_seconds(message.lease_duration, "lease_duration")
        if message.HasField("lease_duration")
        else None
    )
    return StudySpec(
        objectives=objectives,
        constraints=tuple(
            Constraint(
                c.metric,
                c.min if c.HasField("min") else None,
                c.max if c.HasField("max") else None,
                where=f"constraints[{i}]",
            )
            for i, c in enumerate(message.constraints)
        ),
        early_stopping_metric=message.early_stopping.metric,
        algorithm=_algorithm(message.algorithm),
        space=search_space(message.parameters),
        max_trials=message.max_trials,
        **({"lease_seconds": lease} if lease is not None else {}),
        max_retries=message.max_retries,
        early_stopping=_early_stopping(message.early_stopping),
        stages=_stages(message),
    )


def _objective(message: pb.Objective, where: str) -> Objective:
    if message.goal not in _GOALS:
        raise InvalidArgument(f"{where}.goal: set MINIMIZE or MAXIMIZE")
    if message.aggregate and message.aggregate not in _AGGREGATES:
        raise InvalidArgument(f"{where}.aggregate: unknown aggregate {message.aggregate}")
    return Objective(
        message.metric,
        _GOALS[message.goal],
        where=where,
        aggregate=_AGGREGATES.get(message.aggregate),
    )


def _objectives(message: pb.StudySpec) -> tuple[Objective, ...]:
    """`objective` alone, or `objectives` alone; the canonical message of a server with
    several objectives has both, `objective` being the first of `objectives`."""
    listed = tuple(_objective(o, f"objectives[{i}]") for i, o in enumerate(message.objectives))
    if not listed:
        return (_objective(message.objective, "objective"),)
    if message.HasField("objective") and not (
        len(listed) > 1 and _objective(message.objective, "objective") == listed[0]
    ):
        raise InvalidArgument(
            "objectives: set objective (one) or objectives (several), not both (unless "
            "objective is the first of two or more objectives, as a server writes them)"
        )
    return listed


# ------------------------------------------------------------------ spec: domain -> proto
def _early_stopping_message(rule: EarlyStopping) -> pb.EarlyStopping:
    if isinstance(rule, MedianStopping):
        return pb.EarlyStopping(
            median=pb.MedianStopping(min_steps=rule.min_steps, min_trials=rule.min_trials)
        )
    if isinstance(rule, Racing):
        return pb.EarlyStopping(
            racing=pb.Racing(
                min_folds=rule.min_folds,
                top_k=rule.top_k,
                min_trials=rule.min_trials,
                spread_factor=rule.spread_factor,
            )
        )
    return pb.EarlyStopping(
        asha=pb.SuccessiveHalving(
            min_resource=rule.min_resource, reduction_factor=rule.reduction_factor
        )
    )


def _settings_dict(settings: Any) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


def study_spec_message(spec: StudySpec) -> pb.StudySpec:
    """The canonical message of a domain spec: defaults filled in, every field explicit."""
    algorithm = pb.Algorithm(
        suggestion_deadline=duration_message(spec.algorithm.suggestion_deadline)
    )
    if spec.algorithm.seed is not None:
        algorithm.seed = spec.algorithm.seed
    try:
        fill_settings_message(
            getattr(algorithm, spec.algorithm.name),
            _settings_dict(spec.algorithm.settings),
            "algorithm",
            spec.algorithm.name,
        )
    except SpecError as exc:  # a settings dataclass out of step with the .proto
        raise AssertionError(str(exc)) from exc
    message = pb.StudySpec(
        objective=_objective_message(spec.objective),
        objectives=[_objective_message(o) for o in spec.objectives] if spec.multi_objective else [],
        constraints=[
            pb.Constraint(metric=c.metric, min=c.low, max=c.high) for c in spec.constraints
        ],
        algorithm=algorithm,
        parameters=parameter_messages(spec.space),
        stages=[
            pb.Stage(study=s.study, parameters=list(s.parameters), trial=s.trial)
            for s in spec.stages
        ],
        max_trials=spec.max_trials,
        lease_duration=duration_message(spec.lease_seconds),
        max_retries=spec.max_retries,
    )
    if spec.early_stopping is not None:
        message.early_stopping.CopyFrom(_early_stopping_message(spec.early_stopping))
        message.early_stopping.metric = spec.early_stopping_metric
    return message


def _objective_message(objective: Objective) -> pb.Objective:
    goal = pb.GOAL_MINIMIZE if objective.goal is Goal.MINIMIZE else pb.GOAL_MAXIMIZE
    message = pb.Objective(metric=objective.metric, goal=goal)
    for number, aggregate in _AGGREGATES.items():
        if objective.aggregate is aggregate:
            message.aggregate = number
    return message


def parameter_messages(space: SearchSpace) -> list[pb.ParameterSpec]:
    """Every parameter of `space` (fixed ones too) in the spec's order."""
    by_name: dict[str, Param | FixedParam] = {p.name: p for p in (*space.params, *space.fixed)}
    return [_param_message(by_name[name], space.condition(name)) for name in space.names]


def _param_message(param: Param | FixedParam, condition: Condition | None) -> pb.ParameterSpec:
    message = pb.ParameterSpec(name=param.name)
    scale = pb.SCALE_LOG if getattr(param, "scale", Scale.LINEAR) is Scale.LOG else pb.SCALE_LINEAR
    if isinstance(param, FixedParam):
        message.fixed_parameter.CopyFrom(
            pb.FixedParameter(
                value=value_message(param.value),
                stage_study=param.stage_study,
                stage_trial=param.stage_trial,
            )
        )
    elif isinstance(param, FloatParam):
        message.float_parameter.CopyFrom(
            pb.FloatParameter(
                min=param.low, max=param.high, scale=scale, grid_points=param.grid_points
            )
        )
    elif isinstance(param, IntParam):
        message.int_parameter.CopyFrom(
            pb.IntParameter(min=param.low, max=param.high, scale=scale, step=param.step)
        )
    elif isinstance(param, DiscreteParam):
        if param.integer:
            message.discrete_parameter.int_values.extend(int(v) for v in param.values)
        else:
            message.discrete_parameter.values.extend(float(v) for v in param.values)
    elif param.only_strings:
        message.categorical_parameter.values.extend(str(v) for v in param.values)
    else:
        message.categorical_parameter.choices.extend(value_message(v) for v in param.values)
    if condition is not None:
        message.when.CopyFrom(
            pb.ParentCondition(
                parent=condition.parent, values=[value_message(v) for v in condition.values]
            )
        )
    return message


# ------------------------------------------------------------------ stored form
def dump_spec(spec: StudySpec) -> str:
    """The stored form: the canonical message as JSON, keys sorted; equal specs, equal text."""
    return json_format.MessageToJson(
        study_spec_message(spec),
        preserving_proto_field_name=True,
        sort_keys=True,
        indent=None,
    )


@functools.lru_cache(maxsize=1024)
def load_spec(text: str) -> StudySpec:
    """The spec stored as `text`.

    Memoised on the text: specs are immutable values, and every RPC loads its
    study's, so this keeps parsing off the hot path. It is not study state: a
    replica that never saw the text parses it the same way.
    """
    return study_spec(json_format.Parse(text, pb.StudySpec()))
