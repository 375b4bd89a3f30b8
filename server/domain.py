"""Domain values of asktell: search spaces, study specs and trials.

These are plain frozen dataclasses, validated on construction. They know
nothing of protobuf, gRPC or the store: `convert.py` builds them from requests
and `storage/` persists them.
"""

from __future__ import annotations

import enum
import json
import math
import re
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from asktell.server.errors import InvalidArgument

# A parameter's value has exactly the type its spec gives: int and integer discrete
# parameters give int, float and real discrete ones float, a categorical one the
# listed value's own type. Attributes take the same four types.
ParamValue = bool | int | float | str
Params = Mapping[str, ParamValue]
AttrValue = ParamValue
Attrs = Mapping[str, AttrValue]

MAX_PARAMETERS = 64
MAX_CHOICES = 10_000
MAX_ID_LENGTH = 128  # worker and request ids
# The largest integer magnitude a double holds exactly (and unambiguously): the algorithms
# place integers in a float64 unit cube, so bounds beyond it would lose whole values.
MAX_EXACT_INT = 2**53 - 1
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
STUDY_ID_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9._\-]{0,61}[a-z0-9])?$")


class Scale(enum.StrEnum):
    LINEAR = "linear"
    LOG = "log"


class Goal(enum.StrEnum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


class Aggregate(enum.StrEnum):
    """How a cross-validated objective's value is made from a trial's reported folds."""

    MEAN = "mean"
    MEDIAN = "median"

    def of(self, values: Sequence[float]) -> float:
        """The aggregate of `values` (at least one)."""
        if self is Aggregate.MEAN:
            return math.fsum(values) / len(values)
        return float(statistics.median(values))


class TrialState(enum.StrEnum):
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    PRUNED = "PRUNED"

    @property
    def finished(self) -> bool:
        return self is not TrialState.RUNNING


class StudyState(enum.StrEnum):
    ACTIVE = "ACTIVE"
    STOPPED = "STOPPED"
    # Never stored: an ACTIVE study whose budget is used and whose trials are all
    # finished reports it (see `usecases.studies`).
    COMPLETED = "COMPLETED"


def _finite(name: str, what: str, value: float) -> None:
    if not math.isfinite(value):
        raise InvalidArgument(f'parameter "{name}": {what} must be a finite number, got {value}')


def _finite_width(name: str, what: str, low: float, high: float) -> None:
    """Rejects a span whose width `high - low` overflows a double.

    Every algorithm measures values relative to that width (a uniform draw is
    `low + u * (high - low)`, the GP's cube is `(x - low) / (high - low)`), so an
    infinite width would turn every suggestion into `max` or NaN.
    """
    if not math.isfinite(high - low):
        raise InvalidArgument(
            f'parameter "{name}": the {what} max - min overflows a double '
            f"({high!r} - {low!r} > {sys.float_info.max:.4g}); narrow it, or shift or "
            "rescale the parameter so that its width is finite"
        )


@dataclass(frozen=True, slots=True)
class FloatParam:
    """A real parameter in [low, high]; `grid_points` spaces a grid evenly in its scale."""

    name: str
    low: float
    high: float
    scale: Scale = Scale.LINEAR
    grid_points: int = 0

    def __post_init__(self) -> None:
        _finite(self.name, "min", self.low)
        _finite(self.name, "max", self.high)
        if self.low > self.high:
            raise InvalidArgument(f'parameter "{self.name}": min {self.low} > max {self.high}')
        # A log range needs nothing more: every positive finite double has a finite log.
        if self.scale is Scale.LOG and self.low <= 0:
            raise InvalidArgument(
                f'parameter "{self.name}": log scale needs min > 0, got min {self.low}'
            )
        _finite_width(self.name, "range", self.low, self.high)
        if self.grid_points < 0 or self.grid_points > MAX_CHOICES:
            raise InvalidArgument(
                f'parameter "{self.name}": grid_points must be 0 to {MAX_CHOICES}, '
                f"got {self.grid_points}"
            )

    def contains(self, value: ParamValue) -> bool:
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
        )


@dataclass(frozen=True, slots=True)
class IntParam:
    """An integer parameter in [low, high] on multiples of `step` from `low`."""

    name: str
    low: int
    high: int
    scale: Scale = Scale.LINEAR
    step: int = 1

    def __post_init__(self) -> None:
        for what, bound in (("min", self.low), ("max", self.high)):
            if not -MAX_EXACT_INT <= bound <= MAX_EXACT_INT:
                raise InvalidArgument(
                    f'parameter "{self.name}": {what} {bound} is out of range: integer bounds '
                    f"must be within +-{MAX_EXACT_INT} (2^53 - 1), the integers a double "
                    "holds exactly"
                )
        if self.low > self.high:
            raise InvalidArgument(f'parameter "{self.name}": min {self.low} > max {self.high}')
        if self.step < 1:
            raise InvalidArgument(f'parameter "{self.name}": step must be >= 1, got {self.step}')
        if self.scale is Scale.LOG and self.low <= 0:
            raise InvalidArgument(
                f'parameter "{self.name}": log scale needs min > 0, got min {self.low}'
            )
        if self.scale is Scale.LOG and self.step != 1:
            raise InvalidArgument(
                f'parameter "{self.name}": log scale needs step 1, got step {self.step}'
            )
        if (self.high - self.low) % self.step:
            raise InvalidArgument(
                f'parameter "{self.name}": max - min ({self.high - self.low}) '
                f"is not a multiple of step {self.step}"
            )

    @property
    def n_values(self) -> int:
        return (self.high - self.low) // self.step + 1

    def contains(self, value: ParamValue) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
            and (value - self.low) % self.step == 0
        )


@dataclass(frozen=True, slots=True)
class DiscreteParam:
    """A numeric parameter restricted to listed values, kept sorted.

    Integer values (all of them ints) stay ints and trials get ints; any real
    value among them makes them all floats.
    """

    name: str
    values: tuple[float, ...] | tuple[int, ...]

    def __post_init__(self) -> None:
        _check_choices(self.name, self.values)
        for value in self.values:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidArgument(
                    f'parameter "{self.name}": discrete values must be numbers, got {value!r}'
                )
            if isinstance(value, int):
                _check_exact_int(self.name, "every value", value)
            else:
                _finite(self.name, "every value", value)
        values: tuple[float, ...] | tuple[int, ...] = (
            tuple(sorted(int(v) for v in self.values))
            if all(isinstance(v, int) for v in self.values)
            else tuple(sorted(float(v) for v in self.values))
        )
        object.__setattr__(self, "values", values)
        _finite_width(self.name, "values' span", float(values[0]), float(values[-1]))

    @property
    def integer(self) -> bool:
        return isinstance(self.values[0], int)

    def contains(self, value: ParamValue) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.integer and not isinstance(value, int):
            return False
        return value in self.values


@dataclass(frozen=True, slots=True)
class CategoricalParam:
    """A parameter that takes one of the listed values, in the listed order.

    Values may be strings, ints, finite floats or bools, mixed; a trial's value is
    the listed value itself, with its type (1, 1.0, True and "1" are four values).
    """

    name: str
    values: tuple[ParamValue, ...]

    def __post_init__(self) -> None:
        _check_choices(self.name, self.values)
        for value in self.values:
            if isinstance(value, str):
                if not value or len(value) > 256:
                    raise InvalidArgument(
                        f'parameter "{self.name}": categorical strings must be 1 to 256 '
                        f"characters, got {_shown(value)}"
                    )
            elif isinstance(value, float):
                _finite(self.name, "every value", value)
            elif isinstance(value, int) and not isinstance(value, bool):
                _check_exact_int(self.name, "every value", value)
            elif not isinstance(value, bool):
                raise InvalidArgument(
                    f'parameter "{self.name}": categorical values must be strings, numbers or '
                    f"booleans, got {_shown(value)}"
                )

    @property
    def only_strings(self) -> bool:
        return all(isinstance(v, str) for v in self.values)

    def index(self, value: ParamValue) -> int:
        """The position of `value` among the listed values, typed; -1 when not listed."""
        key = typed_key(value)
        for position, listed in enumerate(self.values):
            if typed_key(listed) == key:
                return position
        return -1

    def contains(self, value: ParamValue) -> bool:
        return self.index(value) >= 0


def typed_key(value: ParamValue) -> tuple[str, ParamValue]:
    """`value` with its type, so that 1, 1.0, True and "1" stay four distinct values."""
    return (type(value).__name__, value)


def _check_exact_int(name: str, what: str, value: int) -> None:
    if not -MAX_EXACT_INT <= value <= MAX_EXACT_INT:
        raise InvalidArgument(
            f'parameter "{name}": {what} must be within +-{MAX_EXACT_INT} (2^53 - 1), the '
            f"integers a double holds exactly; got {value}"
        )


def _check_choices(name: str, values: tuple[Any, ...]) -> None:
    if not values:
        raise InvalidArgument(f'parameter "{name}": values must not be empty')
    if len(values) > MAX_CHOICES:
        raise InvalidArgument(
            f'parameter "{name}": at most {MAX_CHOICES} values, got {len(values)}'
        )
    if len({typed_key(v) for v in values}) != len(values):
        raise InvalidArgument(f'parameter "{name}": values must be unique')


Param = FloatParam | IntParam | DiscreteParam | CategoricalParam


@dataclass(frozen=True, slots=True)
class FixedParam:
    """A parameter held at one value: trials carry it, the algorithms never search it.

    `stage_study` and `stage_trial` say where a value fixed by an earlier stage
    came from (the study and its trial number); empty for a value the spec fixes.
    """

    name: str
    value: ParamValue
    stage_study: str = ""
    stage_trial: int = 0

    def __post_init__(self) -> None:
        value = self.value
        if isinstance(value, str):
            if not value or len(value) > 256:
                raise InvalidArgument(
                    f'parameter "{self.name}": a fixed string must be 1 to 256 characters, '
                    f"got {_shown(value)}"
                )
        elif isinstance(value, float):
            _finite(self.name, "the fixed value", value)
        elif isinstance(value, int) and not isinstance(value, bool):
            if not -(2**63) <= value <= 2**63 - 1:
                raise InvalidArgument(
                    f'parameter "{self.name}": the fixed value is outside the 64-bit integer range'
                )
        elif not isinstance(value, bool):
            raise InvalidArgument(
                f'parameter "{self.name}": a fixed value must be a string, a number or a '
                f"boolean, got {_shown(value)}"
            )
        if self.stage_trial < 0 or (self.stage_trial and not self.stage_study):
            raise InvalidArgument(
                f'parameter "{self.name}": stage_trial is set only with stage_study'
            )

    def normalise(self, value: ParamValue) -> ParamValue:
        """`value` as the fixed value when it is the same number (3.0 for a fixed 3)."""
        if hasattr(value, "item"):  # a NumPy scalar
            value = value.item()
        numbers = [v for v in (value, self.value) if isinstance(v, int | float)]
        same_number = len(numbers) == 2 and not any(isinstance(v, bool) for v in numbers)
        return self.value if same_number and value == self.value else value

    def contains(self, value: ParamValue) -> bool:
        return typed_key(self.normalise(value)) == typed_key(self.value)


@dataclass(frozen=True, slots=True)
class Condition:
    """Parameter `param` is active only when parameter `parent` takes one of `values`."""

    param: str
    parent: str
    values: tuple[ParamValue, ...]


@dataclass(frozen=True, slots=True)
class SearchSpace:
    """An ordered set of uniquely named parameters, some of them conditional.

    A conditional parameter is active when its parent is active and takes one of
    the condition's values; a configuration holds exactly the active parameters.
    Conditions form a forest: each parameter has at most one parent.
    """

    params: tuple[Param, ...]
    conditions: tuple[Condition, ...] = ()
    # Parameters held at one value (`FixedParam`): part of every configuration in
    # which they are active, never searched. `searched()` is the space without them.
    fixed: tuple[FixedParam, ...] = ()
    # Every parameter's name (searched and fixed) in the spec's order; empty: params, then fixed.
    order: tuple[str, ...] = ()
    # Derived once: every Ask and Tell asks for them.
    _condition_of: Mapping[str, Condition] = field(init=False, repr=False, compare=False)
    _ordered: tuple[Param, ...] = field(init=False, repr=False, compare=False)
    _all_ordered: tuple[Param | FixedParam, ...] = field(init=False, repr=False, compare=False)
    _searched: SearchSpace | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        every: tuple[Param | FixedParam, ...] = (*self.params, *self.fixed)
        if not every:
            raise InvalidArgument("parameters: the search space is empty; give at least one")
        if len(every) > MAX_PARAMETERS:
            raise InvalidArgument(
                f"parameters: at most {MAX_PARAMETERS} parameters, got {len(every)}"
            )
        seen: set[str] = set()
        for param in every:
            if not NAME_PATTERN.fullmatch(param.name):
                raise InvalidArgument(
                    f"parameters: invalid name {param.name[:80]!r}: use 1-64 letters, digits, "
                    "'_', '.' or '-', starting with a letter or '_'"
                )
            if param.name in seen:
                raise InvalidArgument(f'parameters: duplicate name "{param.name}"')
            seen.add(param.name)
        if not self.order:
            object.__setattr__(self, "order", tuple(p.name for p in every))
        elif sorted(self.order) != sorted(seen):
            raise InvalidArgument("parameters: the order must name every parameter once")
        self._check_conditions()
        object.__setattr__(self, "_condition_of", {c.param: c for c in self.conditions})
        object.__setattr__(self, "_all_ordered", self._parents_first())
        ordered = tuple(p for p in self._all_ordered if not isinstance(p, FixedParam))
        object.__setattr__(self, "_ordered", ordered)
        object.__setattr__(self, "_searched", self._without_fixed() if self.fixed else self)

    def _check_conditions(self) -> None:
        by_name: dict[str, Param | FixedParam] = {p.name: p for p in (*self.params, *self.fixed)}
        parents: dict[str, str] = {}
        normalised: list[Condition] = []
        for condition in self.conditions:
            where = f'parameter "{condition.param}": when'
            if condition.param not in by_name:
                raise InvalidArgument(f"{where}: no parameter of that name")
            if condition.param in parents:
                raise InvalidArgument(f"{where}: give one parent, got two conditions")
            parent = by_name.get(condition.parent)
            if parent is None:
                raise InvalidArgument(
                    f'{where}: parent "{condition.parent[:80]}" is not a parameter of the spec'
                )
            if parent.name == condition.param:
                raise InvalidArgument(f"{where}: a parameter cannot be its own parent")
            if isinstance(parent, FixedParam):
                # Any value may be listed: the child is always active or never.
                if not condition.values:
                    raise InvalidArgument(f"{where}: list at least one value of {parent.name!r}")
                fixed_values = tuple(parent.normalise(v) for v in condition.values)
                if len({typed_key(v) for v in fixed_values}) != len(fixed_values):
                    raise InvalidArgument(f"{where}: values must be unique")
                parents[condition.param] = condition.parent
                normalised.append(Condition(condition.param, condition.parent, fixed_values))
                continue
            if isinstance(parent, FloatParam):
                raise InvalidArgument(
                    f'{where}: parent "{parent.name}" is a float parameter; a parent must be '
                    "categorical, discrete or int"
                )
            if not condition.values:
                raise InvalidArgument(f"{where}: list at least one value of {parent.name!r}")
            values = tuple(_normalise(parent, v) for v in condition.values)
            for given, value in zip(condition.values, values, strict=True):
                if not parent.contains(value):
                    raise InvalidArgument(
                        f'{where}: {_shown(given)} is not a value of parent "{parent.name}"'
                    )
            if len({typed_key(v) for v in values}) != len(values):
                raise InvalidArgument(f"{where}: values must be unique")
            parents[condition.param] = condition.parent
            normalised.append(Condition(condition.param, condition.parent, values))
        # The parent's own values (3, not 3.0, for an int parent): activity compares types.
        object.__setattr__(self, "conditions", tuple(normalised))
        for name in parents:
            path = [name]
            while path[-1] in parents:
                path.append(parents[path[-1]])
                if path[-1] == name:
                    raise InvalidArgument(
                        f'parameter "{name}": when: conditions form a cycle ({" -> ".join(path)})'
                    )

    @property
    def names(self) -> tuple[str, ...]:
        """Every parameter's name, fixed ones included, in the spec's order."""
        return self.order

    @property
    def conditional(self) -> bool:
        return bool(self.conditions)

    def condition(self, name: str) -> Condition | None:
        """The condition of parameter `name`; None when it is always active."""
        return self._condition_of.get(name)

    def children(self, name: str) -> tuple[Param, ...]:
        """The parameters whose parent is `name`, in spec order."""
        names = {c.param for c in self.conditions if c.parent == name}
        return tuple(p for p in self.params if p.name in names)

    @property
    def ordered(self) -> tuple[Param, ...]:
        """Every parameter, parents before their children, otherwise in spec order."""
        return self._ordered

    def searched(self) -> SearchSpace | None:
        """The space the algorithms search: without the fixed parameters; None when that
        leaves nothing (the study has one configuration).

        A parameter whose parent is fixed is always active (its condition lists the
        fixed value; it then takes the fixed parent's own condition, if any) or never
        (it is left out, with its descendants).
        """
        return self._searched

    def _without_fixed(self) -> SearchSpace | None:
        fixed = {f.name: f for f in self.fixed}
        kept: dict[str, Condition | None] = {}
        for param in self._all_ordered:  # parents first: a dropped parent is known
            if isinstance(param, FixedParam):
                continue
            condition = self.condition(param.name)
            while condition is not None and condition.parent in fixed:
                parent = fixed[condition.parent]
                if typed_key(parent.value) not in {typed_key(v) for v in condition.values}:
                    break
                above = self.condition(parent.name)
                condition = (
                    None if above is None else Condition(param.name, above.parent, above.values)
                )
            else:
                if condition is None or condition.parent in kept:
                    kept[param.name] = condition
        if not kept:
            return None
        params = tuple(p for p in self.params if p.name in kept)
        conditions = tuple(c for c in kept.values() if c is not None)
        return SearchSpace(params, conditions)

    def with_fixed(self, params: Params) -> dict[str, ParamValue]:
        """`params` (a configuration of `searched()`) with every fixed parameter active in it."""
        merged = dict(params)
        for param in self._all_ordered:
            if isinstance(param, FixedParam) and self.is_active(param.name, merged):
                merged[param.name] = param.value
        return {name: merged[name] for name in self.names if name in merged}

    def without_fixed(self, params: Params) -> dict[str, ParamValue]:
        """`params` without the fixed parameters: the configuration an algorithm sees."""
        if not self.fixed:
            return dict(params)
        fixed = {f.name for f in self.fixed}
        return {name: value for name, value in params.items() if name not in fixed}

    def _parents_first(self) -> tuple[Param | FixedParam, ...]:
        parent_of = {c.param: c.parent for c in self.conditions}
        done: set[str] = set()
        out: list[Param | FixedParam] = []
        position = {name: i for i, name in enumerate(self.order)}
        remaining = sorted([*self.params, *self.fixed], key=lambda p: position[p.name])
        while remaining:
            for param in remaining:
                parent = parent_of.get(param.name)
                if parent is None or parent in done:
                    out.append(param)
                    done.add(param.name)
                    remaining.remove(param)
                    break
        return tuple(out)

    def is_active(self, name: str, params: Params) -> bool:
        """Whether parameter `name` is active given the values of its ancestors in `params`."""
        condition = self.condition(name)
        if condition is None:
            return True
        if condition.parent not in params or not self.is_active(condition.parent, params):
            return False
        value = params[condition.parent]
        return typed_key(value) in {typed_key(v) for v in condition.values}

    def active(self, params: Params) -> dict[str, ParamValue]:
        """`params` without the parameters that are inactive under it (or unknown).

        For a full assignment (every parameter given a value) this is the
        configuration a trial holds.
        """
        return {
            p.name: params[p.name]
            for p in self._all_ordered
            if p.name in params and self.is_active(p.name, params)
        }

    def __getitem__(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        raise KeyError(name)

    def validate(self, params: Params) -> dict[str, ParamValue]:
        """Checks a configuration against the space and returns it normalised.

        The configuration must hold every active parameter and no inactive one.
        Numbers are taken across int and float where no value changes: a whole
        float for an int parameter, an int for a float or real discrete one, 1.0
        for a categorical's listed 1. Nothing else changes type: "32" is not 32,
        and 1 is not True.

        A fixed parameter may be left out (it is filled in) or given with exactly
        its value.

        Raises:
            InvalidArgument: a parameter is missing, unknown, inactive or out of
                its domain, or a fixed one has another value, named.
        """
        unknown = sorted(set(params) - set(self.names))
        if unknown:
            raise InvalidArgument(f"params: unknown parameter {_shown(unknown[0])}")
        normalised: dict[str, ParamValue] = {}
        for param in self._all_ordered:
            active = self.is_active(param.name, normalised)
            if not active:
                if param.name in params:
                    condition = self.condition(param.name)
                    assert condition is not None
                    raise InvalidArgument(
                        f'params: "{param.name}" is inactive here (it applies only when '
                        f"{condition.parent} is one of {list(condition.values)!r}); leave it out"
                    )
                continue
            if isinstance(param, FixedParam):
                if param.name in params and not param.contains(params[param.name]):
                    raise InvalidArgument(
                        f'params: "{param.name}" is fixed at {_shown(param.value)}, got '
                        f"{_shown(params[param.name])}; leave it out or give exactly that value"
                    )
                normalised[param.name] = param.value
                continue
            if param.name not in params:
                raise InvalidArgument(f'params: missing parameter "{param.name}"')
            value = _normalise(param, params[param.name])
            if not param.contains(value):
                raise InvalidArgument(
                    f'params: "{param.name}" = {_shown(params[param.name])} is outside its domain'
                    f"{_type_hint(param, value)}"
                )
            normalised[param.name] = value
        return {name: normalised[name] for name in self.names if name in normalised}


def _shown(value: object, limit: int = 80) -> str:
    """The repr of a caller's value for an error message, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _normalise(param: Param, value: ParamValue) -> ParamValue:
    if hasattr(value, "item"):  # a NumPy scalar from an algorithm
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    wants_int = isinstance(param, IntParam) or (isinstance(param, DiscreteParam) and param.integer)
    if wants_int and isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(param, FloatParam | DiscreteParam) and not wants_int and isinstance(value, int):
        return float(value)
    if isinstance(param, CategoricalParam) and not param.contains(value):
        for listed in param.values:
            if not isinstance(listed, bool) and isinstance(listed, int | float) and listed == value:
                return listed
    return value


def _type_hint(param: Param, value: ParamValue) -> str:
    """Why a value of the wrong type is outside the domain, for the error message."""
    if isinstance(param, IntParam | DiscreteParam | FloatParam) and (
        isinstance(value, bool) or not isinstance(value, int | float)
    ):
        return f" (a {type(value).__name__}; give a number)"
    return ""


@dataclass(frozen=True, slots=True)
class Objective:
    metric: str
    goal: Goal
    where: str = field(default="objective", compare=False, repr=False)
    # Set: the value is the aggregate of the trial's reported folds (see `usecases.trials`).
    aggregate: Aggregate | None = None

    def __post_init__(self) -> None:
        if not self.metric or len(self.metric) > 128:
            raise InvalidArgument(f"{self.where}.metric: give a metric name of 1 to 128 characters")

    def better(self, a: float, b: float) -> bool:
        """Whether value `a` is strictly better than `b`."""
        return a < b if self.goal is Goal.MINIMIZE else a > b


MAX_OBJECTIVES = 8
MAX_CONSTRAINTS = 16
MAX_METRICS = 64  # metrics told with one trial
MAX_METRIC_LENGTH = 128


@dataclass(frozen=True, slots=True)
class Constraint:
    """A limit on a reported metric: satisfied when `low <= value <= high` (either may be None)."""

    metric: str
    low: float | None = None
    high: float | None = None
    where: str = field(default="constraint", compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.metric or len(self.metric) > MAX_METRIC_LENGTH:
            raise InvalidArgument(
                f"{self.where}.metric: give a metric name of 1 to {MAX_METRIC_LENGTH} characters"
            )
        if self.low is None and self.high is None:
            raise InvalidArgument(
                f'{self.where} ("{self.metric}"): give min, max or both; a constraint without '
                "a bound limits nothing"
            )
        for what, bound in (("min", self.low), ("max", self.high)):
            if bound is not None and not math.isfinite(bound):
                raise InvalidArgument(
                    f'{self.where}.{what} ("{self.metric}"): must be a finite number, got {bound}'
                )
        if self.low is not None and self.high is not None and self.low > self.high:
            raise InvalidArgument(
                f'{self.where} ("{self.metric}"): min {self.low} > max {self.high}'
            )

    def violation(self, value: float) -> float:
        """How far `value` is outside the bounds; 0 when the constraint holds."""
        if self.low is not None and value < self.low:
            return self.low - value
        if self.high is not None and value > self.high:
            return value - self.high
        return 0.0


def check_metrics(field: str, values: Mapping[str, object]) -> dict[str, float]:
    """A told metric map (name -> value) checked: at most 64 names of 1-128 characters, finite.

    Raises:
        InvalidArgument: naming `field` and the metric.
    """
    if len(values) > MAX_METRICS:
        raise InvalidArgument(f"{field}: at most {MAX_METRICS} metrics, got {len(values)}")
    out: dict[str, float] = {}
    for name, value in values.items():
        if not isinstance(name, str) or not name or len(name) > MAX_METRIC_LENGTH:
            raise InvalidArgument(
                f"{field}: invalid metric name {_shown(name)}: 1 to {MAX_METRIC_LENGTH} characters"
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidArgument(f'{field}: "{name[:80]}" must be a number, got {_shown(value)}')
        if not math.isfinite(value):
            raise InvalidArgument(f'{field}: "{name[:80]}" must be a finite number, got {value}')
        out[name] = float(value)
    return out


@dataclass(frozen=True, slots=True)
class AlgorithmConfig:
    """The algorithm's name, its validated settings object and the requested seed."""

    name: str
    settings: Any
    seed: int | None = None
    suggestion_deadline: float = 0.0

    def __post_init__(self) -> None:
        if self.suggestion_deadline < 0 or not math.isfinite(self.suggestion_deadline):
            raise InvalidArgument("algorithm.suggestion_deadline must be >= 0")


@dataclass(frozen=True, slots=True)
class MedianStopping:
    """The median stopping rule; see `asktell.server.early_stopping`."""

    min_steps: int = 0
    min_trials: int = 3

    def __post_init__(self) -> None:
        if self.min_steps < 0:
            raise InvalidArgument(
                f"early_stopping.median.min_steps must be >= 0, got {self.min_steps}"
            )
        if self.min_trials < 1:
            raise InvalidArgument(
                f"early_stopping.median.min_trials must be >= 1, got {self.min_trials}"
            )


@dataclass(frozen=True, slots=True)
class SuccessiveHalving:
    """Asynchronous successive halving; see `asktell.server.early_stopping`."""

    min_resource: int = 1
    reduction_factor: int = 3

    def __post_init__(self) -> None:
        if self.min_resource < 1:
            raise InvalidArgument(
                f"early_stopping.asha.min_resource must be >= 1, got {self.min_resource}"
            )
        if self.reduction_factor < 2:
            raise InvalidArgument(
                f"early_stopping.asha.reduction_factor must be >= 2, got {self.reduction_factor}"
            )


@dataclass(frozen=True, slots=True)
class Racing:
    """Racing over cross-validation folds; see `asktell.server.early_stopping`."""

    min_folds: int = 2
    top_k: int = 1
    min_trials: int = 1
    spread_factor: float = 2.0

    def __post_init__(self) -> None:
        if self.min_folds < 2:
            raise InvalidArgument(
                f"early_stopping.racing.min_folds must be >= 2 (a spread needs two folds), "
                f"got {self.min_folds}"
            )
        if self.top_k < 1:
            raise InvalidArgument(f"early_stopping.racing.top_k must be >= 1, got {self.top_k}")
        if self.min_trials < 1:
            raise InvalidArgument(
                f"early_stopping.racing.min_trials must be >= 1, got {self.min_trials}"
            )
        if not (math.isfinite(self.spread_factor) and self.spread_factor > 0):
            raise InvalidArgument(
                "early_stopping.racing.spread_factor must be a finite number > 0, "
                f"got {self.spread_factor}"
            )


EarlyStopping = MedianStopping | SuccessiveHalving | Racing

MAX_STAGES = 8


@dataclass(frozen=True, slots=True)
class Stage:
    """An earlier study whose best trial fixes parameters of this one (staged tuning).

    `parameters` empty means every parameter of that best trial that the spec does
    not define; `trial` is the number of the trial the values came from, 0 until
    CreateStudy resolves the stage (`usecases.stages`).
    """

    study: str
    parameters: tuple[str, ...] = ()
    trial: int = 0
    where: str = field(default="stages[0]", compare=False, repr=False)

    def __post_init__(self) -> None:
        if not STUDY_ID_PATTERN.fullmatch(self.study):
            raise InvalidArgument(
                f"{self.where}.study: {self.study[:80]!r} is not a study id: use 1-63 "
                "lower-case letters, digits, '-', '_' or '.', starting and ending with a "
                "letter or digit"
            )
        if len(self.parameters) > MAX_PARAMETERS:
            raise InvalidArgument(
                f"{self.where}.parameters: at most {MAX_PARAMETERS}, got {len(self.parameters)}"
            )
        for name in self.parameters:
            if not NAME_PATTERN.fullmatch(name):
                raise InvalidArgument(
                    f"{self.where}.parameters: {_shown(name)} is not a parameter name"
                )
        if len(set(self.parameters)) != len(self.parameters):
            raise InvalidArgument(f"{self.where}.parameters: names must be unique")
        if self.trial < 0:
            raise InvalidArgument(f"{self.where}.trial must be >= 0, got {self.trial}")


DEFAULT_LEASE_SECONDS = 600.0
# How the reason of a trial failed by lease expiry starts; metrics count them by it.
LEASE_EXPIRED_REASON = "lease expired"


@dataclass(frozen=True, slots=True)
class StudySpec:
    """A study's definition.

    `objectives` holds one objective or several (the first is the primary one:
    `Trial.value`, Report and early stopping refer to it unless
    `early_stopping_metric` names another); `constraints` limit other reported
    metrics. Metric names are unique across both.
    """

    objectives: tuple[Objective, ...]
    algorithm: AlgorithmConfig
    space: SearchSpace
    max_trials: int = 0
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    max_retries: int = 0
    early_stopping: EarlyStopping | None = None
    constraints: tuple[Constraint, ...] = ()
    early_stopping_metric: str = ""
    # Earlier studies whose best trials fix parameters (their values are in `space.fixed`).
    stages: tuple[Stage, ...] = ()

    @property
    def objective(self) -> Objective:
        """The first (primary) objective."""
        return self.objectives[0]

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @property
    def pareto(self) -> bool:
        """Whether the best trials are a Pareto front (several objectives, or constraints)."""
        return len(self.objectives) > 1 or bool(self.constraints)

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric a COMPLETE trial must report: the objectives', then the constraints'."""
        return tuple(o.metric for o in self.objectives) + tuple(c.metric for c in self.constraints)

    def aggregated_objective(self) -> Objective | None:
        """The objective whose value aggregates the trial's reported folds, if any."""
        for objective in self.objectives:
            if objective.aggregate is not None:
                return objective
        return None

    def _check_aggregates(self) -> None:
        """Only the objective that Report values refer to can aggregate them."""
        reported = self.early_stopping_objective().metric
        for objective in self.objectives:
            if objective.aggregate is not None and objective.metric != reported:
                raise InvalidArgument(
                    f'{objective.where}.aggregate: Report values are those of "{reported[:80]}" '
                    f"(early_stopping.metric, or the first objective), so only that objective "
                    f'can aggregate them, not "{objective.metric[:80]}"'
                )

    def early_stopping_objective(self) -> Objective:
        """The objective that Report values (and early stopping) refer to."""
        for objective in self.objectives:
            if objective.metric == self.early_stopping_metric:
                return objective
        return self.objectives[0]

    def _check_metrics(self) -> None:
        if not 1 <= len(self.objectives) <= MAX_OBJECTIVES:
            raise InvalidArgument(
                f"objectives: give 1 to {MAX_OBJECTIVES} objectives, got {len(self.objectives)}"
            )
        if len(self.constraints) > MAX_CONSTRAINTS:
            raise InvalidArgument(
                f"constraints: at most {MAX_CONSTRAINTS} constraints, got {len(self.constraints)}"
            )
        seen: set[str] = set()
        for where, metric in [
            *((f"objectives[{i}]", o.metric) for i, o in enumerate(self.objectives)),
            *((f"constraints[{i}]", c.metric) for i, c in enumerate(self.constraints)),
        ]:
            if metric in seen:
                raise InvalidArgument(
                    f'{where}.metric: duplicate metric "{metric[:80]}"; every objective and '
                    "constraint names its own metric"
                )
            seen.add(metric)
        if self.early_stopping_metric:
            if self.early_stopping is None:
                raise InvalidArgument("early_stopping.metric: set only with an early-stopping rule")
            if self.early_stopping_metric not in {o.metric for o in self.objectives}:
                raise InvalidArgument(
                    f'early_stopping.metric: "{self.early_stopping_metric[:80]}" is not an '
                    "objective of the study; name one of "
                    + ", ".join(repr(o.metric) for o in self.objectives)
                )

    def __post_init__(self) -> None:
        self._check_metrics()
        self._check_aggregates()
        if self.max_trials < 0:
            raise InvalidArgument("max_trials must be >= 0 (0 means unlimited)")
        if not (1.0 <= self.lease_seconds <= 7 * 24 * 3600.0):
            raise InvalidArgument(
                f"lease_duration must be 1 s to 7 days, got {self.lease_seconds} s"
            )
        if not (0 <= self.max_retries <= 100):
            raise InvalidArgument(f"max_retries must be 0 to 100, got {self.max_retries}")
        self._check_stages()

    def _check_stages(self) -> None:
        if len(self.stages) > MAX_STAGES:
            raise InvalidArgument(f"stages: at most {MAX_STAGES}, got {len(self.stages)}")
        seen: set[str] = set()
        for i, stage in enumerate(self.stages):
            if stage.study in seen:
                raise InvalidArgument(f'stages[{i}].study: "{stage.study}" is listed twice')
            seen.add(stage.study)

    @property
    def resolved(self) -> bool:
        """Whether every stage has been resolved (its values are among the fixed parameters)."""
        return all(stage.trial for stage in self.stages)


def check_id(field: str, value: str) -> None:
    """Raises InvalidArgument unless `value` (a worker or request id) is short and printable."""
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise InvalidArgument(f"{field} must be at most {MAX_ID_LENGTH} printable characters")


MAX_ATTRS = 64
MAX_ATTR_STRING = 4096
MAX_ATTRS_BYTES = 64 * 1024  # the JSON encoding of one trial's attributes
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def check_attrs(
    field: str, attrs: Mapping[str, object], existing: Attrs | None = None
) -> dict[str, AttrValue]:
    """`existing` with `attrs` merged in (a key given again takes the new value), checked.

    Keys are like parameter names (1-64 letters, digits, '_', '.' or '-', starting
    with a letter or '_'); values are bools, int64 integers, finite floats or
    strings of at most 4096 characters (no NUL). A trial holds at most 64
    attributes, whose JSON encoding is at most 64 KiB.

    Raises:
        InvalidArgument: naming `field` and the key.
    """
    merged: dict[str, AttrValue] = dict(existing or {})
    for key, value in attrs.items():
        if not isinstance(key, str) or not NAME_PATTERN.fullmatch(key):
            raise InvalidArgument(
                f"{field}: invalid key {_shown(key)}: use 1-64 letters, digits, '_', '.' or "
                "'-', starting with a letter or '_'"
            )
        where = f'{field}: "{key}"'
        if isinstance(value, bool):
            pass
        elif isinstance(value, int):
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise InvalidArgument(f"{where} is outside the 64-bit integer range")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidArgument(f"{where} must be a finite number, got {value}")
        elif isinstance(value, str):
            if len(value) > MAX_ATTR_STRING:
                raise InvalidArgument(
                    f"{where} must be at most {MAX_ATTR_STRING} characters, got {len(value)}"
                )
            if "\x00" in value:
                raise InvalidArgument(f"{where} must not contain NUL characters")
        elif value is None:
            raise InvalidArgument(f"{where} has no value")
        else:
            raise InvalidArgument(
                f"{where} must be a string, a number or a boolean, got {type(value).__name__}"
            )
        merged[key] = value
    if len(merged) > MAX_ATTRS:
        raise InvalidArgument(
            f"{field}: at most {MAX_ATTRS} attributes per trial, got {len(merged)}"
            + (f" with the {len(existing)} it has" if existing else "")
        )
    size = len(json.dumps(merged, separators=(",", ":")).encode())
    if size > MAX_ATTRS_BYTES:
        raise InvalidArgument(
            f"{field}: the trial's attributes take {size} bytes encoded; at most {MAX_ATTRS_BYTES}"
        )
    return merged


def check_study_id(study_id: str) -> str:
    """Raises InvalidArgument unless `study_id` is a valid study id."""
    if not STUDY_ID_PATTERN.fullmatch(study_id):
        raise InvalidArgument(
            f"study id {study_id[:80]!r} is invalid: use 1-63 lower-case letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit"
        )
    return study_id


@dataclass(frozen=True, slots=True)
class Study:
    id: str
    spec: StudySpec
    seed: int
    state: StudyState
    create_time: float
    n_suggested: int = 0


@dataclass(frozen=True, slots=True)
class Trial:
    study_id: str
    number: int
    state: TrialState
    params: Mapping[str, ParamValue]
    value: float | None = None
    measurements: tuple[tuple[int, float], ...] = ()
    worker_id: str = ""
    lease_deadline: float | None = None
    create_time: float = 0.0
    end_time: float | None = None
    reason: str = ""
    suggested_by: str = ""
    retry_of: int | None = None
    attempt: int = 0
    request_id: str = ""
    attrs: Attrs = field(default_factory=dict)
    # Every metric told with a COMPLETE trial (objectives, constraints, others).
    values: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TrialCounts:
    running: int = 0
    complete: int = 0
    failed: int = 0
    pruned: int = 0
    queued: int = 0
