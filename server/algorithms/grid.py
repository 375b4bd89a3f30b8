"""Grid search: a lazily indexed Cartesian product, optionally visited in shuffled order.

The grid is never built. Point `i` is found by reading `i` in mixed radix (one
digit per parameter), so a 10^12-point grid costs nothing to create. The
shuffled order is a keyed permutation of the indices (a Feistel network with
cycle walking), so it needs no memory either and is the same on every replica.

A conditional space is a tree, and its grid holds only valid combinations: a child's
axis exists only under the parent values that activate it. The size of a parameter's
subtree is the sum, over its values, of the product of the sizes of the children that
value activates (1 for a value that activates none); the grid's size is the product of
the root parameters' subtree sizes. Point `i` reads `i` in mixed radix over the roots,
then, inside a subtree, finds the parent's value by the cumulative sizes of its values
and reads the rest in mixed radix over the children it activates. Only the values that
activate a child (those its condition lists) have a size other than 1, so an index is
found in time linear in the number of listed condition values, never in the number of
points or of a parent's values. Without conditions this is exactly the plain product.
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
    typed_key,
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


def axis_position(param: Param, value: ParamValue) -> int:
    """The position of `value` on the parameter's grid axis (typed); -1 when it is not there.

    Matches `SearchSpace.is_active`, which compares values with their types.
    """
    key = typed_key(value)
    if isinstance(param, CategoricalParam):
        return param.index(value)
    if isinstance(param, DiscreteParam):
        for position, listed in enumerate(param.values):
            if typed_key(listed) == key:
                return position
        return -1
    if isinstance(param, IntParam):
        if isinstance(value, int) and not isinstance(value, bool) and param.contains(value):
            return (value - param.low) // param.step
        return -1
    return -1  # a float parameter is never a parent


@dataclass(frozen=True)
class _Node:
    """A parameter's subtree: its axis, and the values whose subtrees are larger than 1.

    Attributes:
        param: the parameter.
        size: number of valid combinations of the parameter and its descendants.
        special: (axis position, children activated there, their subtree sizes, the
            product of those sizes), sorted by position; every other position has size 1.
    """

    param: Param
    size: int
    special: tuple[tuple[int, tuple[_Node, ...], tuple[int, ...], int], ...]


def _node(space: SearchSpace, param: Param) -> _Node:
    children: dict[int, list[_Node]] = {}
    for child in space.children(param.name):
        condition = space.condition(child.name)
        assert condition is not None
        node = _node(space, child)
        for position in sorted({axis_position(param, v) for v in condition.values} - {-1}):
            children.setdefault(position, []).append(node)
    special = []
    for position in sorted(children):
        nodes = tuple(children[position])
        sizes = tuple(n.size for n in nodes)
        special.append((position, nodes, sizes, math.prod(sizes)))
    size = axis_size(param) - len(special) + sum(s[3] for s in special)
    return _Node(param, size, tuple(special))


def _roots(space: SearchSpace) -> tuple[_Node, ...]:
    return tuple(_node(space, p) for p in space.params if space.condition(p.name) is None)


def _mixed_radix(
    nodes: tuple[_Node, ...], sizes: tuple[int, ...], index: int, point: dict[str, ParamValue]
) -> None:
    """Reads `index` in mixed radix over `nodes` (the last varies fastest) into `point`."""
    for node, size in zip(reversed(nodes), reversed(sizes), strict=True):
        index, digit = divmod(index, size)
        _subtree_point(node, digit, point)


def _subtree_point(node: _Node, index: int, point: dict[str, ParamValue]) -> None:
    """Combination number `index` of one parameter's subtree, written into `point`."""
    # Walk the positions in order: a run of size-1 positions, then a special one, ...
    start = 0  # first position of the current run
    for position, nodes, sizes, block in node.special:
        run = position - start
        if index < run:
            point[node.param.name] = axis_value(node.param, start + index)
            return
        index -= run
        if index < block:
            point[node.param.name] = axis_value(node.param, position)
            _mixed_radix(nodes, sizes, index, point)
            return
        index -= block
        start = position + 1
    point[node.param.name] = axis_value(node.param, start + index)


def grid_size(space: SearchSpace) -> int:
    """Number of valid combinations: the plain product, or the tree's count when conditional."""
    if not space.conditional:
        return math.prod(axis_size(p) for p in space.params)
    return math.prod(node.size for node in _roots(space))


def grid_point(space: SearchSpace, index: int) -> dict[str, ParamValue]:
    """Grid point number `index` in lexicographic order (the last parameter varies fastest).

    In a conditional space the point holds only the parameters active in it.
    """
    point: dict[str, ParamValue] = {}
    if space.conditional:
        roots = _roots(space)
        _mixed_radix(roots, tuple(n.size for n in roots), index, point)
        return {name: point[name] for name in space.names if name in point}
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
    roots = _roots(space) if space.conditional else ()
    suggestions = []
    for index in range(history.n_suggested, stop):
        point_index = shuffled_index(index, size, history.seed) if settings.shuffle else index
        if space.conditional:
            point: dict[str, ParamValue] = {}
            _mixed_radix(roots, tuple(r.size for r in roots), point_index, point)
            suggestions.append(Suggestion({k: point[k] for k in space.names if k in point}))
        else:
            suggestions.append(Suggestion(grid_point(space, point_index)))
    return suggestions


GRID = AlgorithmInfo(
    name="grid",
    suggest=suggest,
    settings_type=GridSettings,
    needs_history=False,
    check_space=check_space,
)
