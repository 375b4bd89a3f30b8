"""Domain values of asktell: search spaces, study specs and trials.

These are plain frozen dataclasses, validated on construction. They know
nothing of protobuf, gRPC or the store: `convert.py` builds them from requests
and `storage/` persists them.
"""

from __future__ import annotations

import enum
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from asktell.server.errors import InvalidArgument

ParamValue = float | int | str
Params = Mapping[str, ParamValue]

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
    """A numeric parameter restricted to listed values, kept sorted."""

    name: str
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        _check_choices(self.name, self.values)
        for value in self.values:
            _finite(self.name, "every value", value)
        object.__setattr__(self, "values", tuple(sorted(self.values)))
        _finite_width(self.name, "values' span", self.values[0], self.values[-1])

    def contains(self, value: ParamValue) -> bool:
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and (float(value) in self.values)
        )


@dataclass(frozen=True, slots=True)
class CategoricalParam:
    """A parameter that takes one of the listed strings, in the listed order."""

    name: str
    values: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_choices(self.name, self.values)
        for value in self.values:
            if not value or len(value) > 256:
                raise InvalidArgument(
                    f'parameter "{self.name}": categorical values must be 1 to 256 characters'
                )

    def contains(self, value: ParamValue) -> bool:
        return isinstance(value, str) and value in self.values


def _check_choices(name: str, values: tuple[Any, ...]) -> None:
    if not values:
        raise InvalidArgument(f'parameter "{name}": values must not be empty')
    if len(values) > MAX_CHOICES:
        raise InvalidArgument(
            f'parameter "{name}": at most {MAX_CHOICES} values, got {len(values)}'
        )
    if len(set(values)) != len(values):
        raise InvalidArgument(f'parameter "{name}": values must be unique')


Param = FloatParam | IntParam | DiscreteParam | CategoricalParam


@dataclass(frozen=True, slots=True)
class SearchSpace:
    """An ordered set of uniquely named parameters."""

    params: tuple[Param, ...]

    def __post_init__(self) -> None:
        if not self.params:
            raise InvalidArgument("parameters: the search space is empty; give at least one")
        if len(self.params) > MAX_PARAMETERS:
            raise InvalidArgument(
                f"parameters: at most {MAX_PARAMETERS} parameters, got {len(self.params)}"
            )
        seen: set[str] = set()
        for param in self.params:
            if not NAME_PATTERN.fullmatch(param.name):
                raise InvalidArgument(
                    f"parameters: invalid name {param.name[:80]!r}: use 1-64 letters, digits, "
                    "'_', '.' or '-', starting with a letter or '_'"
                )
            if param.name in seen:
                raise InvalidArgument(f'parameters: duplicate name "{param.name}"')
            seen.add(param.name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def __getitem__(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        raise KeyError(name)

    def validate(self, params: Params) -> dict[str, ParamValue]:
        """Checks a full configuration against the space and returns it normalised.

        Integers given as whole floats are accepted for int parameters, and ints
        for float and discrete ones.

        Raises:
            InvalidArgument: a parameter is missing, unknown or out of its domain.
        """
        unknown = sorted(set(params) - set(self.names))
        if unknown:
            raise InvalidArgument(f"params: unknown parameter {_shown(unknown[0])}")
        normalised: dict[str, ParamValue] = {}
        for param in self.params:
            if param.name not in params:
                raise InvalidArgument(f'params: missing parameter "{param.name}"')
            value = _normalise(param, params[param.name])
            if not param.contains(value):
                raise InvalidArgument(
                    f'params: "{param.name}" = {_shown(params[param.name])} is outside its domain'
                )
            normalised[param.name] = value
        return normalised


def _shown(value: object, limit: int = 80) -> str:
    """The repr of a caller's value for an error message, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _normalise(param: Param, value: ParamValue) -> ParamValue:
    if hasattr(value, "item"):  # a NumPy scalar from an algorithm
        value = value.item()
    if isinstance(param, IntParam) and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(param, FloatParam | DiscreteParam) and isinstance(value, int):
        return float(value)
    return value


@dataclass(frozen=True, slots=True)
class Objective:
    metric: str
    goal: Goal

    def __post_init__(self) -> None:
        if not self.metric or len(self.metric) > 128:
            raise InvalidArgument("objective.metric: give a metric name of 1 to 128 characters")

    def better(self, a: float, b: float) -> bool:
        """Whether value `a` is strictly better than `b`."""
        return a < b if self.goal is Goal.MINIMIZE else a > b


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


EarlyStopping = MedianStopping | SuccessiveHalving

DEFAULT_LEASE_SECONDS = 600.0
# How the reason of a trial failed by lease expiry starts; metrics count them by it.
LEASE_EXPIRED_REASON = "lease expired"


@dataclass(frozen=True, slots=True)
class StudySpec:
    objective: Objective
    algorithm: AlgorithmConfig
    space: SearchSpace
    max_trials: int = 0
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    max_retries: int = 0
    early_stopping: EarlyStopping | None = None

    def __post_init__(self) -> None:
        if self.max_trials < 0:
            raise InvalidArgument("max_trials must be >= 0 (0 means unlimited)")
        if not (1.0 <= self.lease_seconds <= 7 * 24 * 3600.0):
            raise InvalidArgument(
                f"lease_duration must be 1 s to 7 days, got {self.lease_seconds} s"
            )
        if not (0 <= self.max_retries <= 100):
            raise InvalidArgument(f"max_retries must be 0 to 100, got {self.max_retries}")


def check_id(field: str, value: str) -> None:
    """Raises InvalidArgument unless `value` (a worker or request id) is short and printable."""
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise InvalidArgument(f"{field} must be at most {MAX_ID_LENGTH} printable characters")


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


@dataclass(frozen=True, slots=True)
class TrialCounts:
    running: int = 0
    complete: int = 0
    failed: int = 0
    pruned: int = 0
    queued: int = 0
