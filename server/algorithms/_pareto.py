"""Pareto ranking of observations with several objectives and constraints (lower is better).

Notation (shapes in brackets):
    F  (n, m)  objective values, each flipped so that lower is better; NaN counts as +inf
    v  (n,)    total constraint violation (0 when feasible, > 0 by how much it is not)

The ranking primitives (fronts, crowding) live in `asktell.server.pareto`, shared with
the best-trials order; this module adapts observations to them.

Constraint-domination (Deb 2000): a feasible point beats an infeasible one; of two
infeasible points the one with the smaller total violation wins; of two feasible points
the one that Pareto-dominates (no worse in every objective, better in one) wins.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from asktell.server.algorithms.base import Observation
from asktell.server.pareto import crowding, fronts, pareto_mask

__all__ = ["crowding", "fronts", "objectives_of", "order", "pareto_mask", "violation_of"]


def objectives_of(observations: Sequence[Observation]) -> np.ndarray:
    """F (n, m): every objective of each observation (`value` alone in a single-objective
    study), non-finite values replaced by +inf."""
    rows = [o.objectives or (o.value,) for o in observations]
    width = max((len(r) for r in rows), default=1)
    F = np.array([list(r) + [r[0]] * (width - len(r)) for r in rows], dtype=float)
    F = F.reshape(len(rows), width)
    return np.where(np.isfinite(F) | (-np.inf == F), F, np.inf)


def violation_of(observations: Sequence[Observation]) -> np.ndarray:
    """v (n,): the sum of each observation's constraint violations (0 without constraints)."""
    v = np.array([float(sum(max(x, 0.0) for x in o.violations)) for o in observations])
    return np.where(np.isnan(v), np.inf, v).reshape(len(observations))


def order(F: np.ndarray, v: np.ndarray | None = None) -> np.ndarray:
    """Indices (n,) best first: by front, then by crowding distance (larger first) within
    a feasible front, then by index (stable)."""
    rank = fronts(F, v)
    spread = np.zeros(len(F))
    feasible = np.ones(len(F), dtype=bool) if v is None else v <= 0
    for level in np.unique(rank[feasible]):
        members = np.flatnonzero(feasible & (rank == level))
        spread[members] = crowding(F[members])
    return np.lexsort((np.arange(len(F)), -spread, rank))
