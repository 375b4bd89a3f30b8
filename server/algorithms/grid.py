"""Grid search: a lazily indexed Cartesian product, optionally visited in shuffled order.

The grid is never built. Point `i` is found by reading `i` in mixed radix (one
digit per parameter), so a 10^12-point grid costs nothing to create. The
shuffled order is a keyed permutation of the indices (a Feistel network with
cycle walking), so it needs no memory either and is the same on every replica.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from asktell.server.algorithms.base import AlgorithmInfo, Deadline, History, Suggestion
from asktell.server.algorithms.encoding import float_at
from asktell.server.domain import (
    CategoricalParam,
    DiscreteParam,
    FloatParam,
    IntParam,
    Param,
    ParamValue,
    SearchSpace,
)
from asktell.server.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class GridSettings:
    shuffle: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.shuffle, bool):
            raise InvalidArgument("algorithm grid: shuffle must be true or false")


def axis_size(param: Param) -> int:
    """Number of grid values of one parameter."""
    if isinstance(param, FloatParam):
        return param.grid_points
    if isinstance(param, IntParam):
        return param.n_values
    return len(param.values)


def axis_value(param: Param, i: int) -> ParamValue:
    """The i-th grid value of one parameter, computed without building the axis."""
    if isinstance(param, CategoricalParam | DiscreteParam):
        return param.values[i]
    if isinstance(param, IntParam):
        return param.low + i * param.step
    if param.grid_points == 1:
        return param.low
    # The last point is exactly `high` (i / (n - 1) == 1.0), however the range rounds.
    return float_at(param, i / (param.grid_points - 1))


def grid_size(space: SearchSpace) -> int:
    return math.prod(axis_size(p) for p in space.params)


def grid_point(space: SearchSpace, index: int) -> dict[str, ParamValue]:
    """Grid point number `index` in lexicographic order (the last parameter varies fastest)."""
    point: dict[str, ParamValue] = {}
    for param in reversed(space.params):
        index, digit = divmod(index, axis_size(param))
        point[param.name] = axis_value(param, digit)
    return {p.name: point[p.name] for p in space.params}


def shuffled_index(index: int, size: int, seed: int) -> int:
    """A seeded bijection of [0, size): a 4-round Feistel network with cycle walking."""
    half_bits = max(1, ((size - 1).bit_length() + 1) // 2)
    mask = (1 << half_bits) - 1
    key = seed.to_bytes(16, "little", signed=False)
    x = index
    while True:
        left, right = x >> half_bits, x & mask
        for round_number in range(4):
            digest = hashlib.blake2b(
                right.to_bytes(32, "little") + bytes([round_number]), key=key, digest_size=16
            ).digest()
            left, right = right, left ^ (int.from_bytes(digest, "little") & mask)
        x = (left << half_bits) | right
        if x < size:  # cycle walking: re-encrypt until the result lands in range
            return x


def check_space(space: SearchSpace, settings: Any) -> None:
    for param in space.params:
        if isinstance(param, FloatParam) and param.grid_points < 1:
            raise InvalidArgument(
                f'parameter "{param.name}": the grid algorithm needs grid_points for float '
                "parameters (or make it a discrete parameter with explicit values)"
            )


def suggest(
    space: SearchSpace,
    history: History,
    n: int,
    rng: np.random.Generator,
    settings: GridSettings,
    deadline: Deadline,
    /,
) -> list[Suggestion]:
    """The next `n` grid points after the `history.n_suggested` already handed out."""
    size = grid_size(space)
    stop = min(history.n_suggested + n, size)
    suggestions = []
    for index in range(history.n_suggested, stop):
        point_index = shuffled_index(index, size, history.seed) if settings.shuffle else index
        suggestions.append(Suggestion(grid_point(space, point_index)))
    return suggestions


GRID = AlgorithmInfo(
    name="grid",
    suggest=suggest,
    settings_type=GridSettings,
    needs_history=False,
    check_space=check_space,
)
