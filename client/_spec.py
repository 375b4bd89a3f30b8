"""Study specs as dicts (the YAML spec file) <-> the contract's StudySpec.

```yaml
name: digits-mlp
objective: {metric: val_accuracy, goal: maximize}
algorithm: {name: random, seed: 7}      # grid | random | gp | genetic, plus their settings
max_trials: 50
lease_seconds: 600                      # optional
max_retries: 0                          # optional
early_stopping: {name: median, min_steps: 2}   # optional: median | asha, plus settings
parameters:
  lr: {type: float, min: 1.0e-4, max: 1.0e-1, scale: log}
  hidden: {type: int, min: 16, max: 256}
  batch_size: {type: discrete, values: [16, 32, 64, 128]}
  activation: {type: categorical, values: [relu, tanh]}
```
Structure is checked here (unknown keys, wrong types); values are checked by
the server, which names the field it rejects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf.duration_pb2 import Duration

from asktell.client._errors import InvalidArgumentError
from asktell.v1 import resources_pb2 as pb

_TOP_KEYS = {
    "name",
    "objective",
    "algorithm",
    "max_trials",
    "lease_seconds",
    "max_retries",
    "parameters",
    "early_stopping",
}
_PARAM_KEYS = {
    "float": {"type", "min", "max", "scale", "grid_points"},
    "int": {"type", "min", "max", "scale", "step"},
    "discrete": {"type", "values"},
    "categorical": {"type", "values"},
}
_ALGORITHMS = ("grid", "random", "gp", "genetic")
_ALGORITHM_COMMON = {"name", "seed", "suggestion_deadline"}
# Spec-file name of each rule -> its field in the EarlyStopping oneof.
_EARLY_STOPPING = {"median": "median", "asha": "asha"}
_ACQUISITIONS = {
    "log_ei": pb.ACQUISITION_LOG_EI,
    "ei": pb.ACQUISITION_EI,
    "ucb": pb.ACQUISITION_UCB,
}


def _fail(message: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"INVALID_ARGUMENT: spec: {message}")


def _number(where: str, value: Any, kind: type = float) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(f"{where} must be a number, got {value!r}")
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise _fail(f"{where} must be an integer, got {value!r}")
        return int(value)
    return float(value)


def _scale(where: str, value: Any) -> pb.Scale:
    scales = {"linear": pb.SCALE_LINEAR, "log": pb.SCALE_LOG}
    if value not in scales:
        raise _fail(f"{where}.scale must be linear or log, got {value!r}")
    return scales[value]


def _duration(seconds: float) -> Duration:
    duration = Duration()
    duration.FromNanoseconds(round(seconds * 1e9))
    return duration


def parameter_to_proto(name: str, data: Any) -> pb.ParameterSpec:
    where = f"parameters.{name}"
    if not isinstance(data, Mapping):
        raise _fail(f"{where} must be a mapping with a type, got {data!r}")
    kind = data.get("type")
    if kind not in _PARAM_KEYS:
        raise _fail(f"{where}.type must be one of float, int, discrete, categorical; got {kind!r}")
    unknown = sorted(set(data) - _PARAM_KEYS[kind])
    if unknown:
        raise _fail(f"{where}: unknown key {unknown[0]!r} for a {kind} parameter")
    for key in ("min", "max") if kind in ("float", "int") else ("values",):
        if key not in data:
            raise _fail(f"{where}.{key} is required for a {kind} parameter")
    spec = pb.ParameterSpec(name=str(name))
    if kind == "float":
        spec.float_parameter.CopyFrom(
            pb.FloatParameter(
                min=_number(f"{where}.min", data["min"]),
                max=_number(f"{where}.max", data["max"]),
                scale=_scale(where, data.get("scale", "linear")),
                grid_points=_number(f"{where}.grid_points", data.get("grid_points", 0), int),
            )
        )
    elif kind == "int":
        spec.int_parameter.CopyFrom(
            pb.IntParameter(
                min=_number(f"{where}.min", data["min"], int),
                max=_number(f"{where}.max", data["max"], int),
                scale=_scale(where, data.get("scale", "linear")),
                step=_number(f"{where}.step", data.get("step", 1), int),
            )
        )
    else:
        values = data["values"]
        if not isinstance(values, list | tuple):
            raise _fail(f"{where}.values must be a list")
        if kind == "discrete":
            numbers = [_number(f"{where}.values[{i}]", v) for i, v in enumerate(values)]
            spec.discrete_parameter.CopyFrom(pb.DiscreteParameter(values=numbers))
        else:
            spec.categorical_parameter.CopyFrom(
                pb.CategoricalParameter(values=[str(v) for v in values])
            )
    return spec


def _fill_settings(
    settings: Any,
    data: Mapping[str, Any],
    where: str,
    name: str,
    skip: Iterable[str],
    also_known: Iterable[str] = (),
) -> None:
    """Copies `data`'s keys (but `skip`) into a settings message, checking names and types.

    An unknown key's message lists the settings and `also_known`.

    Booleans must be booleans, doubles numbers, integers non-negative integers;
    `acquisition` is one of `_ACQUISITIONS`.
    """
    fields = {f.name: f for f in settings.DESCRIPTOR.fields}
    skipped = set(skip)
    for key, value in data.items():
        if key in skipped:
            continue
        if key not in fields:
            known = ", ".join(sorted(set(fields) | set(also_known)))
            raise _fail(f"{where}: unknown setting {key!r} for {name}; known: {known}")
        if key == "acquisition":
            if value not in _ACQUISITIONS:
                raise _fail(f"{where}.acquisition must be one of {', '.join(_ACQUISITIONS)}")
            value = _ACQUISITIONS[value]
        elif fields[key].type == fields[key].TYPE_BOOL:
            if not isinstance(value, bool):
                raise _fail(f"{where}.{key} must be true or false")
        elif fields[key].type == fields[key].TYPE_DOUBLE:
            value = _number(f"{where}.{key}", value)
        else:
            value = _number(f"{where}.{key}", value, int)
            if value < 0:
                raise _fail(f"{where}.{key} must be >= 0, got {value}")
        setattr(settings, key, value)


def _algorithm_to_proto(data: Any) -> pb.Algorithm:
    if isinstance(data, str):
        data = {"name": data}
    if not isinstance(data, Mapping) or data.get("name") not in _ALGORITHMS:
        raise _fail(f"algorithm.name must be one of {', '.join(_ALGORITHMS)}")
    name = data["name"]
    algorithm = pb.Algorithm()
    if data.get("seed") is not None:
        algorithm.seed = _number("algorithm.seed", data["seed"], int)
    if "suggestion_deadline" in data:
        seconds = _number("algorithm.suggestion_deadline", data["suggestion_deadline"])
        algorithm.suggestion_deadline.CopyFrom(_duration(seconds))
    settings = getattr(algorithm, name)
    settings.SetInParent()
    _fill_settings(settings, data, "algorithm", name, _ALGORITHM_COMMON, _ALGORITHM_COMMON)
    return algorithm


def _early_stopping_to_proto(data: Any) -> pb.EarlyStopping:
    if isinstance(data, str):
        data = {"name": data}
    if not isinstance(data, Mapping) or data.get("name") not in _EARLY_STOPPING:
        raise _fail(f"early_stopping.name must be one of {', '.join(_EARLY_STOPPING)}")
    name = data["name"]
    message = pb.EarlyStopping()
    settings = getattr(message, _EARLY_STOPPING[name])
    settings.SetInParent()
    _fill_settings(settings, data, "early_stopping", name, {"name"})
    return message


def _early_stopping_from_proto(message: pb.EarlyStopping) -> dict[str, Any]:
    kind = message.WhichOneof("rule")
    name = {field: name for name, field in _EARLY_STOPPING.items()}[kind]
    settings = getattr(message, kind)
    return {"name": name, **{f.name: v for f, v in settings.ListFields()}}


def spec_to_proto(spec: Mapping[str, Any]) -> tuple[str, pb.StudySpec]:
    """(study id, StudySpec) from a spec dict.

    Raises:
        InvalidArgumentError: a missing or unknown key, or a value of the wrong type
            or out of the range its field can hold.
    """
    try:
        return _spec_to_proto(spec)
    except (ValueError, TypeError, OverflowError) as exc:  # protobuf's range checks, unhashables
        raise _fail(f"a value is out of range or of the wrong type: {exc}") from None


def _spec_to_proto(spec: Mapping[str, Any]) -> tuple[str, pb.StudySpec]:
    if not isinstance(spec, Mapping):
        raise _fail("a study spec must be a mapping")
    unknown = sorted(set(spec) - _TOP_KEYS)
    if unknown:
        raise _fail(f"unknown key {unknown[0]!r}; known: {', '.join(sorted(_TOP_KEYS))}")
    for key in ("name", "objective", "parameters"):
        if key not in spec:
            raise _fail(f"{key} is required")
    objective = spec["objective"]
    if not isinstance(objective, Mapping) or set(objective) != {"metric", "goal"}:
        raise _fail("objective must be {metric: NAME, goal: minimize|maximize}")
    goals = {"minimize": pb.GOAL_MINIMIZE, "maximize": pb.GOAL_MAXIMIZE}
    if objective["goal"] not in goals:
        raise _fail(f"objective.goal must be minimize or maximize, got {objective['goal']!r}")
    parameters = spec["parameters"]
    if not isinstance(parameters, Mapping):
        raise _fail("parameters must be a mapping of name to parameter")
    message = pb.StudySpec(
        objective=pb.Objective(metric=str(objective["metric"]), goal=goals[objective["goal"]]),
        algorithm=_algorithm_to_proto(spec.get("algorithm", "random")),
        parameters=[parameter_to_proto(name, p) for name, p in parameters.items()],
        max_trials=_number("max_trials", spec.get("max_trials", 0), int),
        max_retries=_number("max_retries", spec.get("max_retries", 0), int),
    )
    if message.max_trials < 0 or message.max_retries < 0:
        raise _fail("max_trials and max_retries must be >= 0")
    if "lease_seconds" in spec:
        message.lease_duration.CopyFrom(_duration(_number("lease_seconds", spec["lease_seconds"])))
    if spec.get("early_stopping") is not None:
        message.early_stopping.CopyFrom(_early_stopping_to_proto(spec["early_stopping"]))
    return str(spec["name"]), message


def spec_from_proto(name: str, message: pb.StudySpec) -> dict[str, Any]:
    """The spec dict of a study, in the same form as the spec file."""
    parameters: dict[str, Any] = {}
    scales = {pb.SCALE_LOG: "log"}
    for p in message.parameters:
        kind = p.WhichOneof("domain")
        if kind == "float_parameter":
            f = p.float_parameter
            entry: dict[str, Any] = {"type": "float", "min": f.min, "max": f.max}
            entry["scale"] = scales.get(f.scale, "linear")
            if f.grid_points:
                entry["grid_points"] = f.grid_points
        elif kind == "int_parameter":
            i = p.int_parameter
            entry = {"type": "int", "min": i.min, "max": i.max}
            entry["scale"] = scales.get(i.scale, "linear")
            if i.step > 1:
                entry["step"] = i.step
        elif kind == "discrete_parameter":
            entry = {"type": "discrete", "values": list(p.discrete_parameter.values)}
        else:
            entry = {"type": "categorical", "values": list(p.categorical_parameter.values)}
        parameters[p.name] = entry
    algorithm_name = message.algorithm.WhichOneof("settings") or "random"
    algorithm: dict[str, Any] = {"name": algorithm_name}
    if message.algorithm.HasField("seed"):
        algorithm["seed"] = message.algorithm.seed
    settings = getattr(message.algorithm, algorithm_name)
    names = {v: k for k, v in _ACQUISITIONS.items()}
    for field, value in settings.ListFields():
        algorithm[field.name] = names.get(value, value) if field.name == "acquisition" else value
    deadline = message.algorithm.suggestion_deadline.ToNanoseconds() / 1e9
    if deadline:
        algorithm["suggestion_deadline"] = deadline
    spec: dict[str, Any] = {
        "name": name,
        "objective": {
            "metric": message.objective.metric,
            "goal": "maximize" if message.objective.goal == pb.GOAL_MAXIMIZE else "minimize",
        },
        "algorithm": algorithm,
        "max_trials": message.max_trials,
        "lease_seconds": message.lease_duration.ToNanoseconds() / 1e9,
        "max_retries": message.max_retries,
        "parameters": parameters,
    }
    if message.HasField("early_stopping") and message.early_stopping.WhichOneof("rule"):
        spec["early_stopping"] = _early_stopping_from_proto(message.early_stopping)
    return spec
