"""The one encoding of configurations as points of a unit cube, shared by every algorithm.

Two views of a search space with `p` parameters:

- **cube** `X: (n, d)` in [0, 1]^d for models (GP) and variation (genetic): a float
  or discrete parameter takes one column (log parameters in log space), an
  integer one column with half a step of padding at each end so that every value
  owns an equal slice, a categorical parameter one column per value (one-hot).
  `decode` rounds integers, snaps discrete values, takes the argmax of a one-hot
  block and clips to bounds, so any point of the cube decodes to a valid configuration.
- **unit** `U: (n, p)` in [0, 1)^p, one uniform per parameter, mapped by each
  parameter's inverse CDF (`from_unit`): what random and quasi-random sampling use.

Conditional spaces keep every parameter's columns (and its unit column) at a fixed
place, so configurations of different branches stay comparable. A parameter that is
inactive in a configuration is encoded at a fixed point: `INACTIVE` (-1, outside the
cube) in its numeric column, all zeros in its one-hot block (equally far from every
value). Outside the cube, an inactive value is at least one unit from every active
one, so a branch's trials do not pass for trials of another branch at some value of
its parameters (with 0.5, a trial of branch b looked to the GP like a trial of branch
a at the middle of a's range: see docs/algorithms.md). Decoding and sampling go
top-down (`space.ordered`): a parameter gets a value only when its parent's decoded
value activates it, so `encode(decode(X))` is a fixed point of decoding: inactive
columns always sit at their fixed encoding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from asktell.server.domain import (
    CategoricalParam,
    DiscreteParam,
    FloatParam,
    IntParam,
    Param,
    Params,
    ParamValue,
    Scale,
    SearchSpace,
    typed_key,
)

# The numeric column of an inactive parameter, outside the cube. A parameter whose column
# still holds it when its parent's change activates it (a categorical neighbour in the
# acquisition search) decodes to the middle of its range.
INACTIVE = -1.0
# The largest float below 1: a quantile of 1.0 would index one past the last value.
_BELOW_ONE = math.nextafter(1.0, 0.0)


def _numeric_bounds(param: Param) -> tuple[float, float, bool]:
    """(low, high, log) of the one cube column of a non-categorical parameter."""
    if isinstance(param, FloatParam):
        log = param.scale is Scale.LOG
        return param.low, param.high, log
    if isinstance(param, IntParam):
        log = param.scale is Scale.LOG
        pad = 0.5 * param.step
        return param.low - pad, param.high + pad, log
    if isinstance(param, DiscreteParam):
        return param.values[0], param.values[-1], False
    raise TypeError(param)


@dataclass(frozen=True)
class Encoder:
    """Maps configurations of one search space to and from the unit cube.

    Attributes:
        space: the search space.
        columns: parameter name -> slice of its columns in X.
        is_categorical: (d,) whether each column belongs to a one-hot block.
    """

    space: SearchSpace
    columns: dict[str, slice]
    is_categorical: np.ndarray

    @classmethod
    def from_space(cls, space: SearchSpace) -> Encoder:
        columns: dict[str, slice] = {}
        flags: list[bool] = []
        for param in space.params:
            width = len(param.values) if isinstance(param, CategoricalParam) else 1
            columns[param.name] = slice(len(flags), len(flags) + width)
            flags.extend([isinstance(param, CategoricalParam)] * width)
        return cls(space, columns, np.array(flags, dtype=bool))

    @property
    def n_dims(self) -> int:
        return len(self.is_categorical)

    # ----------------------------------------------------------------- cube
    def encode(self, configs: Sequence[Params]) -> np.ndarray:
        """X: (n, d) for `configs` (each must be valid in the space), in [0, 1] but for
        inactive numeric columns.

        A parameter a configuration does not hold (inactive there) takes its fixed
        inactive encoding.
        """
        X = np.zeros((len(configs), self.n_dims))
        for param in self.space.params:
            cols = self.columns[param.name]
            if isinstance(param, CategoricalParam):
                for row, config in enumerate(configs):
                    if param.name in config:
                        X[row, cols.start + param.index(config[param.name])] = 1.0
                continue
            low, high, log = _numeric_bounds(param)
            held = [param.name in c for c in configs]
            if all(held):
                values = np.array([float(c[param.name]) for c in configs])
                X[:, cols.start] = _to_unit(values, low, high, log)
                continue
            values = np.array([float(c.get(param.name, low)) for c in configs])
            X[:, cols.start] = np.where(held, _to_unit(values, low, high, log), INACTIVE)
        return X

    def encode_param(self, param: Param, value: ParamValue) -> np.ndarray:
        """The columns of one parameter for one of its values."""
        return self.encode([{param.name: value}])[0, self.columns[param.name]]

    def set_inactive(self, param: Param, x: np.ndarray) -> None:
        """Puts parameter `param` of the point x (d,) at its fixed inactive encoding."""
        x[self.columns[param.name]] = 0.0 if isinstance(param, CategoricalParam) else INACTIVE

    @staticmethod
    def from_unit_param(param: Param, u: float) -> ParamValue:
        """The parameter's value at quantile `u` in [0, 1) of its prior (as `from_unit`)."""
        return _value_at(param, min(max(u, 0.0), np.nextafter(1.0, 0.0)))

    def active_params(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Parameter name -> (n,) bool, whether it is active in each encoded point of X.

        X must hold encodings (fixed points of decode -> encode, as `encode` gives): an
        inactive parameter is recognised by its fixed encoding.
        """
        X = np.atleast_2d(X)
        out: dict[str, np.ndarray] = {}
        for param in self.space.params:
            cols = self.columns[param.name]
            if isinstance(param, CategoricalParam):
                out[param.name] = X[:, cols].sum(axis=1) > 0.0
            else:
                out[param.name] = X[:, cols.start] != INACTIVE
        return out

    def active_columns(self, X: np.ndarray) -> np.ndarray:
        """(n, d) bool: the columns of the parameters active in each encoded point of X."""
        X = np.atleast_2d(X)
        mask = np.ones(X.shape, dtype=bool)
        if not self.space.conditional:
            return mask
        for name, on in self.active_params(X).items():
            mask[:, self.columns[name]] = on[:, None]
        return mask

    def decode(self, X: np.ndarray) -> list[dict[str, ParamValue]]:
        """Valid configurations for any points X: (n, d) (clipped into the cube first).

        NaN coordinates (which no algorithm should produce) decode like 0, so that a
        bug upstream still yields a valid configuration rather than an invalid one.
        """
        X = np.nan_to_num(np.atleast_2d(np.asarray(X, dtype=float)), nan=0.0)
        if self.space.conditional:
            # A parameter whose column still holds the inactive marker when its parent's
            # value activates it (a changed parent) decodes to the middle of its range.
            X = X.copy()
            numeric = ~self.is_categorical
            X[:, numeric] = np.where(X[:, numeric] == INACTIVE, 0.5, X[:, numeric])
            return self._keep_active(self._decode_all(np.clip(X, 0.0, 1.0)))
        return self._decode_all(np.clip(X, 0.0, 1.0))

    def _decode_all(self, X: np.ndarray) -> list[dict[str, ParamValue]]:
        """Every parameter's value at X (n, d) in [0, 1], active or not."""
        out: list[dict[str, ParamValue]] = [{} for _ in range(len(X))]
        for param in self.space.params:
            cols = self.columns[param.name]
            if isinstance(param, CategoricalParam):
                picks = np.argmax(X[:, cols], axis=1)
                for row, pick in enumerate(picks):
                    out[row][param.name] = param.values[int(pick)]
                continue
            low, high, log = _numeric_bounds(param)
            for row, fraction in enumerate(X[:, cols.start]):
                out[row][param.name] = _snap(param, interpolate(low, high, float(fraction), log))
        return out

    def _keep_active(self, full: list[dict[str, ParamValue]]) -> list[dict[str, ParamValue]]:
        """Full assignments cut to their active parameters, decided top-down (parents first):
        a parameter is active where its parent is active and has one of the condition's values.
        """
        active: dict[str, np.ndarray] = {}
        for param in self.space.ordered:
            condition = self.space.condition(param.name)
            if condition is None:
                active[param.name] = np.ones(len(full), dtype=bool)
                continue
            keys = {typed_key(v) for v in condition.values}
            on = np.array([typed_key(row[condition.parent]) in keys for row in full], dtype=bool)
            active[param.name] = active[condition.parent] & on
        names = self.space.names
        return [
            {name: row[name] for name in names if active[name][i]} for i, row in enumerate(full)
        ]

    def decode_param(self, param: Param, x: np.ndarray) -> ParamValue:
        """The value of one parameter from its columns `x` (already clipped into [0, 1])."""
        if isinstance(param, CategoricalParam):
            return param.values[int(np.argmax(x))]
        low, high, log = _numeric_bounds(param)
        return _snap(param, interpolate(low, high, float(x[0]), log))

    # ----------------------------------------------------------------- unit
    def from_unit(self, U: np.ndarray) -> list[dict[str, ParamValue]]:
        """Configurations for U: (n, p) in [0, 1), one uniform per parameter.

        Uniform U gives each parameter its natural prior: uniform (or log-uniform)
        floats, every integer and every listed value equally likely.
        """
        # Python floats: an Ask draws a few values, and NumPy's per-call overhead
        # (clip, element access) cost more than the arithmetic.
        rows = np.atleast_2d(U).tolist()
        out: list[dict[str, ParamValue]] = [{} for _ in rows]
        for j, param in enumerate(self.space.params):
            name = param.name
            for config, values in zip(out, rows, strict=True):
                config[name] = _value_at(param, min(max(values[j], 0.0), _BELOW_ONE))
        if self.space.conditional:
            # Top-down: a parameter holds a value only where its parent's value activates
            # it; each keeps its own column of U, so a sequence stays stable per parameter.
            return self._keep_active(out)
        return out


def _to_unit(values: np.ndarray, low: float, high: float, log: bool) -> np.ndarray:
    if log:
        values, low, high = np.log(values), math.log(low), math.log(high)
    if high == low:
        return np.full_like(values, 0.5)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def interpolate(low: float, high: float, fraction: float, log: bool) -> float:
    """The point `fraction` of the way from `low` to `high` (in log space if `log`).

    Fraction 0 (or less, or NaN) gives `low` and 1 (or more) gives `high` exactly, and
    the result always lies in [low, high]: `low + 1.0 * (high - low)` can round past
    `high` and `exp(log(x))` need not give back `x`. `high - low` must be finite.
    """
    if not fraction > 0.0:
        return low
    if fraction >= 1.0:
        return high
    if log:
        log_low, log_high = math.log(low), math.log(high)
        # min(): rounding must not push the exponent past log(high), where exp may overflow.
        value = math.exp(min(log_low + fraction * (log_high - log_low), log_high))
    else:
        value = low + fraction * (high - low)
    return min(max(value, low), high)


def float_at(param: FloatParam, fraction: float) -> float:
    """The float parameter's value `fraction` of the way through its range, in its scale."""
    return interpolate(param.low, param.high, fraction, param.scale is Scale.LOG)


def _snap(param: Param, value: float) -> ParamValue:
    """The valid value of a numeric parameter nearest to `value`."""
    if isinstance(param, FloatParam):
        return min(max(value, param.low), param.high)
    if isinstance(param, IntParam):
        return _lattice(param, round((value - param.low) / param.step))
    if isinstance(param, DiscreteParam):
        # The listed value itself: an int for integer discrete parameters.
        values = np.asarray(param.values, dtype=float)
        return param.values[int(np.argmin(np.abs(values - value)))]
    raise TypeError(param)


def _lattice(param: IntParam, steps: int) -> int:
    """The integer `steps` steps above `low`, held to the parameter's values."""
    return param.low + min(max(steps, 0), param.n_values - 1) * param.step


def _value_at(param: Param, u: float) -> ParamValue:
    """The parameter's value at quantile `u` in [0, 1) of its natural prior."""
    if isinstance(param, CategoricalParam | DiscreteParam):
        return param.values[min(int(u * len(param.values)), len(param.values) - 1)]
    if isinstance(param, IntParam) and param.scale is Scale.LINEAR:
        return _lattice(param, int(u * param.n_values))
    low, high, log = _numeric_bounds(param)
    return _snap(param, interpolate(low, high, u, log))
