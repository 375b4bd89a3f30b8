"""The spec file's form of a study (a YAML mapping, or the same dict) <-> the contract's StudySpec.

One definition for the client and the server: the client sends what
`spec_to_proto` builds and shows what `spec_from_proto` gives back; the server
reads algorithm and early-stopping settings with `settings_values` and writes
them with `fill_settings_message`, so a setting added to the .proto is known to
both sides by its field name, and an enum setting by its value names.

```yaml
name: digits-mlp
objective: {metric: val_accuracy, goal: maximize}
# a cross-validated objective: Report sends one value per fold, the value is their mean
# objective: {metric: cv_accuracy, goal: maximize, aggregate: mean}     # or median
# or several, the first being the primary one, and limits on other metrics:
# objectives: [{metric: val_accuracy, goal: maximize}, {metric: latency_ms, goal: minimize}]
# constraints: [{metric: memory_mb, max: 512}, {metric: recall, min: 0.8}]
algorithm: {name: gp, seed: 7}            # grid | random | gp | genetic, plus their settings
max_trials: 50
lease_seconds: 600                         # optional
max_retries: 0                             # optional
early_stopping: {name: median, min_steps: 2}   # optional: median | asha | racing, plus settings
                                               # (and `metric:`, an objective; default the first)
parameters:
  lr: {type: float, min: 1e-4, max: 1e-1, scale: log}
  optimizer: {type: categorical, values: [adam, sgd]}
  momentum: {type: float, min: 0.5, max: 0.99, when: {optimizer: [sgd]}}
  depth: {type: int, min: 1, max: 3}
  width_3: {type: discrete, values: [64, 128, 256], when: {depth: [3]}}
  batch_size: {type: discrete, values: [16, 32, 64, 128]}   # ints in, ints out
  augment: {type: categorical, values: [true, false]}       # booleans in, booleans out
  lr_schedule: {type: fixed, value: cosine}                 # one value, not searched
stages: [{study: digits-arch}]     # optional: fix what an earlier study's best trial has
                                   # ({study: S, parameters: [depth, width]} for some of it)
```
Structure and types are checked here (unknown keys, a string for a number);
ranges, domains and conditions by the server, which names what it rejects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml
from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message

from asktell.v1 import resources_pb2 as pb
from asktell.v1.values import Value, ValueTypeError, value_message, value_of


class SpecError(ValueError):
    """A spec dict that does not have the spec file's shape; the message names the key."""


TOP_KEYS = frozenset(
    {
        "name",
        "objective",
        "objectives",
        "constraints",
        "algorithm",
        "max_trials",
        "lease_seconds",
        "max_retries",
        "parameters",
        "early_stopping",
        "stages",
    }
)
PARAMETER_KEYS = {
    "float": frozenset({"type", "min", "max", "scale", "grid_points", "when"}),
    "int": frozenset({"type", "min", "max", "scale", "step", "when"}),
    "discrete": frozenset({"type", "values", "when"}),
    "categorical": frozenset({"type", "values", "when"}),
    # `stage` is what a spec read back says of a value an earlier stage fixed.
    "fixed": frozenset({"type", "value", "when", "stage"}),
}
STAGE_KEYS = frozenset({"study", "parameters", "trial"})
# The algorithm-wide keys of `algorithm:`; the rest are the chosen algorithm's settings.
ALGORITHM_COMMON_KEYS = frozenset({"name", "seed", "suggestion_deadline"})
# Each name is a field of the contract's oneof, so a new algorithm or rule is known by both sides.
ALGORITHMS = tuple(f.name for f in pb.Algorithm.DESCRIPTOR.oneofs_by_name["settings"].fields)
EARLY_STOPPING_RULES = tuple(
    f.name for f in pb.EarlyStopping.DESCRIPTOR.oneofs_by_name["rule"].fields
)
GOALS = {"minimize": pb.GOAL_MINIMIZE, "maximize": pb.GOAL_MAXIMIZE}
SCALES = {"linear": pb.SCALE_LINEAR, "log": pb.SCALE_LOG}

# YAML 1.1 (PyYAML) reads 1e-4 as a string: numbers a person writes are read as numbers.
_NUMBER_TEXT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


# ------------------------------------------------------------------ enums
def enum_names(enum: EnumDescriptor) -> dict[str, int]:
    """Spec names of an enum's values: ACQUISITION_LOG_EI -> "log_ei"; UNSPECIFIED left out."""
    prefix = enum.values[0].name.removesuffix("UNSPECIFIED")
    return {
        value.name.removeprefix(prefix).lower(): value.number
        for value in enum.values
        if not value.name.endswith("_UNSPECIFIED")
    }


def enum_name(enum: EnumDescriptor, number: int) -> str | None:
    """The spec name of an enum value; None for UNSPECIFIED or a number the enum lacks."""
    for name, value in enum_names(enum).items():
        if value == number:
            return name
    return None


# ------------------------------------------------------------------ YAML
class _SpecLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading YAML 1.2 numbers (1e-4, 1E3) as numbers."""


_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def load_yaml(text: str, source: str | None = None) -> Any:
    """A spec file's YAML as a dict; `1e-4` is the number 0.0001, as in YAML 1.2.

    Raises:
        SpecError: the text is not valid YAML; one line giving the place, as
            `SOURCE:LINE:COLUMN: not valid YAML: PROBLEM` when `source` (a file
            name) is given, else `not valid YAML at line L, column C: PROBLEM`.
    """
    try:
        return yaml.load(text, Loader=_SpecLoader)
    except yaml.YAMLError as exc:
        raise SpecError(yaml_error_line(exc, source)) from None


def yaml_error_line(exc: yaml.YAMLError, source: str | None = None) -> str:
    """PyYAML's error as one line: where (line and column from 1), the problem, its context."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    text = " ".join(str(problem if problem else exc).split())
    if context and context_mark is not None and context_mark is not mark:
        text += f" ({' '.join(context.split())} at line {context_mark.line + 1})"
    if mark is None:
        return f"{source}: not valid YAML: {text}" if source else f"not valid YAML: {text}"
    line, column = mark.line + 1, mark.column + 1
    if source:
        return f"{source}:{line}:{column}: not valid YAML: {text}"
    return f"not valid YAML at line {line}, column {column}: {text}"


# ------------------------------------------------------------------ dict -> proto
def _number(where: str, value: Any, kind: type = float) -> Any:
    """A number of the spec: an int or float (or a numeric string), as `kind`."""
    if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value.strip()):
        text = value.strip()
        value = int(text) if kind is int and text.lstrip("+-").isdigit() else float(text)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{where} must be a number, got {value!r}")
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise SpecError(f"{where} must be an integer, got {value!r}")
        return int(value)
    return float(value)


_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
}
# The longest google.protobuf.Duration: 10,000 years.
MAX_DURATION_SECONDS = 315_576_000_000


def _integer(where: str, value: Any, message: Any, field: str) -> int:
    """An integer of the spec for `message`'s field `field`, within what that field holds."""
    number: int = _number(where, value, int)
    descriptor = message.DESCRIPTOR.fields_by_name[field]
    low, high = _INT_RANGES.get(descriptor.type, (-(2**63), 2**63 - 1))
    if not low <= number <= high:
        raise SpecError(f"{where} must be an integer from {low} to {high}, got {number}")
    return number


def _seconds(where: str, value: Any) -> float:
    """A number of seconds that a Duration holds."""
    seconds: float = _number(where, value)
    if not abs(seconds) <= MAX_DURATION_SECONDS:
        raise SpecError(
            f"{where} must be a number of seconds up to {MAX_DURATION_SECONDS}, got {seconds:g}"
        )
    return seconds


def _typed(where: str, value: Any) -> pb.ParameterValue:
    try:
        return value_message(value)
    except ValueTypeError as exc:
        raise SpecError(f"{where}: {exc}") from None


def _scale(where: str, value: Any) -> int:
    if value not in SCALES:
        raise SpecError(f"{where}.scale must be linear or log, got {value!r}")
    return SCALES[value]


def duration(seconds: float) -> Duration:
    message = Duration()
    message.FromNanoseconds(round(seconds * 1e9))
    return message


def _values_list(where: str, data: Mapping[str, Any]) -> list[Any]:
    values = data["values"]
    if not isinstance(values, list | tuple):
        raise SpecError(f"{where}.values must be a list")
    return list(values)


def _when(where: str, data: Any) -> pb.ParentCondition:
    if not isinstance(data, Mapping) or len(data) != 1:
        raise SpecError(f"{where}.when must name one parent: {{PARENT: [VALUES...]}}, got {data!r}")
    ((parent, values),) = data.items()
    if not isinstance(values, list | tuple):
        values = [values]
    return pb.ParentCondition(
        parent=str(parent),
        values=[_typed(f"{where}.when.{parent}[{i}]", v) for i, v in enumerate(values)],
    )


def parameter_to_proto(name: str, data: Any) -> pb.ParameterSpec:
    where = f"parameters.{name}"
    if not isinstance(data, Mapping):
        raise SpecError(f"{where} must be a mapping with a type, got {data!r}")
    kind = data.get("type")
    if kind not in PARAMETER_KEYS:
        raise SpecError(
            f"{where}.type must be one of float, int, discrete, categorical, fixed; got {kind!r}"
        )
    unknown = sorted(set(data) - PARAMETER_KEYS[kind])
    if unknown:
        raise SpecError(f"{where}: unknown key {unknown[0]!r} for a {kind} parameter")
    required = {"float": ("min", "max"), "int": ("min", "max"), "fixed": ("value",)}
    for key in required.get(kind, ("values",)):
        if key not in data:
            raise SpecError(f"{where}.{key} is required for a {kind} parameter")
    spec = pb.ParameterSpec(name=str(name))
    if kind == "fixed":
        spec.fixed_parameter.CopyFrom(_fixed_to_proto(where, data))
    elif kind == "float":
        spec.float_parameter.CopyFrom(
            pb.FloatParameter(
                min=_number(f"{where}.min", data["min"]),
                max=_number(f"{where}.max", data["max"]),
                scale=_scale(where, data.get("scale", "linear")),
                grid_points=_integer(
                    f"{where}.grid_points",
                    data.get("grid_points", 0),
                    pb.FloatParameter,
                    "grid_points",
                ),
            )
        )
    elif kind == "int":
        spec.int_parameter.CopyFrom(
            pb.IntParameter(
                min=_integer(f"{where}.min", data["min"], pb.IntParameter, "min"),
                max=_integer(f"{where}.max", data["max"], pb.IntParameter, "max"),
                scale=_scale(where, data.get("scale", "linear")),
                step=_integer(f"{where}.step", data.get("step", 1), pb.IntParameter, "step"),
            )
        )
    elif kind == "discrete":
        values = _values_list(where, data)
        numbers = [_number(f"{where}.values[{i}]", v) for i, v in enumerate(values)]
        whole = [isinstance(v, int) and not isinstance(v, bool) for v in values]
        if values and all(whole):
            spec.discrete_parameter.int_values.extend(
                _integer(f"{where}.values[{i}]", v, pb.DiscreteParameter, "int_values")
                for i, v in enumerate(values)
            )
        else:
            spec.discrete_parameter.values.extend(numbers)
        spec.discrete_parameter.SetInParent()
    else:
        values = _values_list(where, data)
        if all(isinstance(v, str) for v in values):
            spec.categorical_parameter.values.extend(values)
        else:
            spec.categorical_parameter.choices.extend(
                _typed(f"{where}.values[{i}]", v) for i, v in enumerate(values)
            )
        spec.categorical_parameter.SetInParent()
    if data.get("when") is not None:
        spec.when.CopyFrom(_when(where, data["when"]))
    return spec


def _fixed_to_proto(where: str, data: Mapping[str, Any]) -> pb.FixedParameter:
    fixed = pb.FixedParameter(value=_typed(f"{where}.value", data["value"]))
    stage = data.get("stage")
    if stage is not None:
        if not isinstance(stage, Mapping) or set(stage) != {"study", "trial"}:
            raise SpecError(f"{where}.stage must be {{study: STUDY, trial: NUMBER}}")
        fixed.stage_study = str(stage["study"])
        fixed.stage_trial = _integer(
            f"{where}.stage.trial", stage["trial"], pb.FixedParameter, "stage_trial"
        )
    return fixed


def _stages_to_proto(items: Any) -> list[pb.Stage]:
    """`stages:`: a list of {study: S, parameters: [...]} (or of study ids)."""
    if items is None:
        return []
    if not isinstance(items, list | tuple):
        raise SpecError("stages must be a list of {study: STUDY, parameters: [NAMES...]}")
    out = []
    for i, item in enumerate(items):
        where = f"stages[{i}]"
        if isinstance(item, str):
            item = {"study": item}
        if not isinstance(item, Mapping) or "study" not in item:
            raise SpecError(f"{where} must be {{study: STUDY, parameters: [NAMES...]}}")
        unknown = sorted(set(item) - STAGE_KEYS)
        if unknown:
            raise SpecError(f"{where}: unknown key {unknown[0]!r}; known: parameters, study, trial")
        names = item.get("parameters") or []
        if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
            raise SpecError(f"{where}.parameters must be a list of parameter names")
        stage = pb.Stage(study=str(item["study"]), parameters=list(names))
        if item.get("trial") is not None:
            stage.trial = _integer(f"{where}.trial", item["trial"], pb.Stage, "trial")
        out.append(stage)
    return out


def fill_settings_message(
    settings: Message,
    data: Mapping[str, Any],
    where: str,
    owner: str,
    also_known: frozenset[str] = frozenset(),
) -> None:
    """Copies `data` (setting name -> value) into a settings message, checking names and types.

    Booleans must be booleans, doubles numbers, integers non-negative integers,
    enums one of their spec names (`enum_names`).

    Raises:
        SpecError: an unknown setting of `owner` (the message lists the known
            ones, with `also_known`) or a
            value of the wrong type.
    """
    fields = {f.name: f for f in settings.DESCRIPTOR.fields}
    for key, value in data.items():
        if key not in fields:
            known = ", ".join(sorted(set(fields) | also_known)) or "none"
            raise SpecError(f"{where}: unknown setting {key!r} for {owner}; known: {known}")
        field = fields[key]
        if field.type == FieldDescriptor.TYPE_ENUM:
            names = enum_names(field.enum_type)
            if value not in names:
                raise SpecError(f"{where}.{key} must be one of {', '.join(names)}, got {value!r}")
            value = names[value]
        elif field.type == FieldDescriptor.TYPE_BOOL:
            if not isinstance(value, bool):
                raise SpecError(f"{where}.{key} must be true or false, got {value!r}")
        elif field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            value = _number(f"{where}.{key}", value)
        else:
            value = _number(f"{where}.{key}", value, int)
            if value < 0:
                raise SpecError(f"{where}.{key} must be >= 0, got {value}")
            value = _integer(f"{where}.{key}", value, settings, key)
        setattr(settings, key, value)
    settings.SetInParent()


def settings_values(settings: Message) -> dict[str, Any]:
    """Every field of a settings message by name, enums by spec name (None when unspecified)."""
    values: dict[str, Any] = {}
    for field in settings.DESCRIPTOR.fields:
        value = getattr(settings, field.name)
        if field.type == FieldDescriptor.TYPE_ENUM:
            value = enum_name(field.enum_type, value)
        values[field.name] = value
    return values


def _algorithm_to_proto(data: Any) -> pb.Algorithm:
    if isinstance(data, str):
        data = {"name": data}
    if not isinstance(data, Mapping) or data.get("name") not in ALGORITHMS:
        raise SpecError(f"algorithm.name must be one of {', '.join(ALGORITHMS)}")
    name = data["name"]
    algorithm = pb.Algorithm()
    if data.get("seed") is not None:
        algorithm.seed = _integer("algorithm.seed", data["seed"], pb.Algorithm, "seed")
    if "suggestion_deadline" in data:
        seconds = _seconds("algorithm.suggestion_deadline", data["suggestion_deadline"])
        algorithm.suggestion_deadline.CopyFrom(duration(seconds))
    settings = {k: v for k, v in data.items() if k not in ALGORITHM_COMMON_KEYS}
    fill_settings_message(
        getattr(algorithm, name), settings, "algorithm", name, ALGORITHM_COMMON_KEYS
    )
    return algorithm


def _early_stopping_to_proto(data: Any) -> pb.EarlyStopping:
    if isinstance(data, str):
        data = {"name": data}
    if not isinstance(data, Mapping) or data.get("name") not in EARLY_STOPPING_RULES:
        raise SpecError(f"early_stopping.name must be one of {', '.join(EARLY_STOPPING_RULES)}")
    message = pb.EarlyStopping()
    settings = {k: v for k, v in data.items() if k not in ("name", "metric")}
    fill_settings_message(
        getattr(message, data["name"]),
        settings,
        "early_stopping",
        data["name"],
        frozenset({"name", "metric"}),
    )
    if data.get("metric") is not None:
        message.metric = str(data["metric"])
    return message


def spec_to_proto(spec: Mapping[str, Any]) -> tuple[str, pb.StudySpec]:
    """(study id, StudySpec) from a spec dict.

    Raises:
        SpecError: a missing or unknown key, or a value of the wrong type or out
            of the range its field can hold.
    """
    try:
        return _spec_to_proto(spec)
    except (ValueError, TypeError, OverflowError) as exc:  # protobuf's range checks, unhashables
        if isinstance(exc, SpecError):
            raise
        # Every field is range-checked above with its name; this is the last resort.
        raise SpecError(f"a value its field cannot hold: {exc}") from None


def _spec_to_proto(spec: Mapping[str, Any]) -> tuple[str, pb.StudySpec]:
    if not isinstance(spec, Mapping):
        raise SpecError("a study spec must be a mapping")
    unknown = sorted(set(spec) - TOP_KEYS)
    if unknown:
        raise SpecError(f"unknown key {unknown[0]!r}; known: {', '.join(sorted(TOP_KEYS))}")
    for key in ("name", "parameters"):
        if key not in spec:
            raise SpecError(f"{key} is required")
    objectives = _objectives_to_proto(spec)
    parameters = spec["parameters"]
    if not isinstance(parameters, Mapping):
        raise SpecError("parameters must be a mapping of name to parameter")
    message = pb.StudySpec(
        objective=objectives[0],
        objectives=objectives if len(objectives) > 1 else [],
        constraints=_constraints_to_proto(spec.get("constraints")),
        stages=_stages_to_proto(spec.get("stages")),
        algorithm=_algorithm_to_proto(spec.get("algorithm", "random")),
        parameters=[parameter_to_proto(name, p) for name, p in parameters.items()],
        max_trials=_integer("max_trials", spec.get("max_trials", 0), pb.StudySpec, "max_trials"),
        max_retries=_integer(
            "max_retries", spec.get("max_retries", 0), pb.StudySpec, "max_retries"
        ),
    )
    if "lease_seconds" in spec:
        message.lease_duration.CopyFrom(duration(_seconds("lease_seconds", spec["lease_seconds"])))
    if spec.get("early_stopping") is not None:
        message.early_stopping.CopyFrom(_early_stopping_to_proto(spec["early_stopping"]))
    return str(spec["name"]), message


def _objective_to_proto(where: str, data: Any) -> pb.Objective:
    if (
        not isinstance(data, Mapping)
        or not {"metric", "goal"} <= set(data)
        or not set(data) <= {"metric", "goal", "aggregate"}
    ):
        raise SpecError(
            f"{where} must be {{metric: NAME, goal: minimize|maximize}} "
            "(and optionally aggregate: mean|median)"
        )
    if data["goal"] not in GOALS:
        raise SpecError(f"{where}.goal must be minimize or maximize, got {data['goal']!r}")
    objective = pb.Objective(metric=str(data["metric"]), goal=GOALS[data["goal"]])
    if data.get("aggregate") is not None:
        aggregates = enum_names(pb.Aggregate.DESCRIPTOR)
        if data["aggregate"] not in aggregates:
            raise SpecError(
                f"{where}.aggregate must be one of {', '.join(aggregates)}, "
                f"got {data['aggregate']!r}"
            )
        objective.aggregate = aggregates[data["aggregate"]]  # type: ignore[assignment]
    return objective


def _objective_from_proto(objective: pb.Objective) -> dict[str, Any]:
    entry: dict[str, Any] = {"metric": objective.metric, "goal": _goal_name(objective)}
    aggregate = enum_name(pb.Aggregate.DESCRIPTOR, objective.aggregate)
    if aggregate is not None:
        entry["aggregate"] = aggregate
    return entry


def _objectives_to_proto(spec: Mapping[str, Any]) -> list[pb.Objective]:
    """`objective:` (one) or `objectives:` (a list, the first primary), never both."""
    if "objective" in spec and "objectives" in spec:
        raise SpecError("give objective (one) or objectives (a list), not both")
    if "objective" in spec:
        return [_objective_to_proto("objective", spec["objective"])]
    if "objectives" not in spec:
        raise SpecError("objective (or objectives) is required")
    items = spec["objectives"]
    if not isinstance(items, list | tuple) or not items:
        raise SpecError("objectives must be a non-empty list of {metric: NAME, goal: ...}")
    return [_objective_to_proto(f"objectives[{i}]", item) for i, item in enumerate(items)]


CONSTRAINT_KEYS = frozenset({"metric", "min", "max"})


def _constraints_to_proto(items: Any) -> list[pb.Constraint]:
    if items is None:
        return []
    if not isinstance(items, list | tuple):
        raise SpecError("constraints must be a list of {metric: NAME, min: X, max: Y}")
    out = []
    for i, item in enumerate(items):
        where = f"constraints[{i}]"
        if not isinstance(item, Mapping) or "metric" not in item:
            raise SpecError(f"{where} must be {{metric: NAME, min: X and/or max: Y}}")
        unknown = sorted(set(item) - CONSTRAINT_KEYS)
        if unknown:
            raise SpecError(f"{where}: unknown key {unknown[0]!r}; known: metric, min, max")
        constraint = pb.Constraint(metric=str(item["metric"]))
        for bound in ("min", "max"):
            if item.get(bound) is not None:
                setattr(constraint, bound, _number(f"{where}.{bound}", item[bound]))
        out.append(constraint)
    return out


def _goal_name(objective: pb.Objective) -> str:
    return "maximize" if objective.goal == pb.GOAL_MAXIMIZE else "minimize"


# ------------------------------------------------------------------ proto -> dict
def _values(values: Any) -> list[Value | None]:
    return [value_of(v) for v in values]


def parameter_from_proto(message: pb.ParameterSpec) -> dict[str, Any]:
    """A parameter's entry in the spec file's `parameters:` mapping."""
    scales = {number: name for name, number in SCALES.items()}
    kind = message.WhichOneof("domain")
    entry: dict[str, Any]
    if kind == "float_parameter":
        f = message.float_parameter
        entry = {
            "type": "float",
            "min": f.min,
            "max": f.max,
            "scale": scales.get(f.scale, "linear"),
        }
        if f.grid_points:
            entry["grid_points"] = f.grid_points
    elif kind == "int_parameter":
        i = message.int_parameter
        entry = {"type": "int", "min": i.min, "max": i.max, "scale": scales.get(i.scale, "linear")}
        if i.step > 1:
            entry["step"] = i.step
    elif kind == "discrete_parameter":
        d = message.discrete_parameter
        entry = {"type": "discrete", "values": list(d.int_values) or list(d.values)}
    elif kind == "fixed_parameter":
        x = message.fixed_parameter
        entry = {"type": "fixed", "value": value_of(x.value)}
        if x.stage_study:
            entry["stage"] = {"study": x.stage_study, "trial": x.stage_trial}
    else:
        c = message.categorical_parameter
        entry = {"type": "categorical", "values": list(c.values) or _values(c.choices)}
    if message.HasField("when"):
        entry["when"] = {message.when.parent: _values(message.when.values)}
    return entry


def spec_from_proto(name: str, message: pb.StudySpec) -> dict[str, Any]:
    """The spec dict of a study, in the same form as the spec file."""
    algorithm_name = message.algorithm.WhichOneof("settings") or "random"
    algorithm: dict[str, Any] = {"name": algorithm_name}
    if message.algorithm.HasField("seed"):
        algorithm["seed"] = message.algorithm.seed
    settings = getattr(message.algorithm, algorithm_name)
    for field, value in settings.ListFields():
        algorithm[field.name] = (
            enum_name(field.enum_type, value) if field.type == FieldDescriptor.TYPE_ENUM else value
        )
    deadline = message.algorithm.suggestion_deadline.ToNanoseconds() / 1e9
    if deadline:
        algorithm["suggestion_deadline"] = deadline
    spec: dict[str, Any] = {"name": name}
    if len(message.objectives) > 1:
        spec["objectives"] = [_objective_from_proto(o) for o in message.objectives]
    else:
        objective = message.objectives[0] if message.objectives else message.objective
        spec["objective"] = _objective_from_proto(objective)
    if message.constraints:
        spec["constraints"] = [
            {
                "metric": c.metric,
                **({"min": c.min} if c.HasField("min") else {}),
                **({"max": c.max} if c.HasField("max") else {}),
            }
            for c in message.constraints
        ]
    spec |= {
        "algorithm": algorithm,
        "max_trials": message.max_trials,
        "lease_seconds": message.lease_duration.ToNanoseconds() / 1e9,
        "max_retries": message.max_retries,
        "parameters": {p.name: parameter_from_proto(p) for p in message.parameters},
    }
    if message.stages:
        spec["stages"] = [_stage_from_proto(stage) for stage in message.stages]
    rule = message.early_stopping.WhichOneof("rule") if message.HasField("early_stopping") else None
    if rule is not None:
        rule_settings = getattr(message.early_stopping, rule)
        spec["early_stopping"] = {
            "name": rule,
            **{f.name: v for f, v in rule_settings.ListFields()},
            **({"metric": message.early_stopping.metric} if message.early_stopping.metric else {}),
        }
    return spec


def _stage_from_proto(stage: pb.Stage) -> dict[str, Any]:
    entry: dict[str, Any] = {"study": stage.study}
    if stage.parameters:
        entry["parameters"] = list(stage.parameters)
    if stage.trial:
        entry["trial"] = stage.trial
    return entry


# ------------------------------------------------------------------ reading a spec dict
def objectives_of(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A spec dict's objectives, `{metric, goal}` each, the primary first (one or several)."""
    if spec.get("objectives"):
        return [dict(o) for o in spec["objectives"]]
    return [dict(spec["objective"])]


def constraints_of(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A spec dict's constraints, `{metric, min?, max?}` each."""
    return [dict(c) for c in spec.get("constraints") or []]


def fixed_of(spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A spec dict's fixed parameters by name: `{type: fixed, value, stage?, when?}` each."""
    return {
        str(name): dict(p)
        for name, p in (spec.get("parameters") or {}).items()
        if isinstance(p, Mapping) and p.get("type") == "fixed"
    }


def is_feasible(spec: Mapping[str, Any], values: Mapping[str, float]) -> bool:
    """Whether a trial's told metrics satisfy every constraint of a spec dict."""
    for constraint in constraints_of(spec):
        value = values.get(constraint["metric"])
        if value is None:
            return False
        if constraint.get("min") is not None and value < constraint["min"]:
            return False
        if constraint.get("max") is not None and value > constraint["max"]:
            return False
    return True
