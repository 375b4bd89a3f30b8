"""Pareto ranking of observations with several objectives and constraints (lower is better).

Notation (shapes in brackets):
    F  (n, m)  objective values, each flipped so that lower is better; NaN counts as +inf
    v  (n,)    total constraint violation (0 when feasible, > 0 by how much it is not)

Constraint-domination (Deb 2000): a feasible point beats an infeasible one; of two
infeasible points the one with the smaller total violation wins; of two feasible points
the one that Pareto-dominates (no worse in every objective, better in one) wins.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from asktell.server.algorithms.base import Observation

_CHUNK = 512  # rows of the dominance matrix built at once: memory O(_CHUNK * n)


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


def dominates(F: np.ndarray, G: np.ndarray) -> np.ndarray:
    """D (a, b) bool: row i of F Pareto-dominates row j of G."""
    le = (F[:, None, :] <= G[None, :, :]).all(axis=2)
    lt = (F[:, None, :] < G[None, :, :]).any(axis=2)
    return np.asarray(le & lt)


def fronts(F: np.ndarray, v: np.ndarray | None = None) -> np.ndarray:
    """Front index (n,) of each point under constraint-domination, 0 for the best front.

    Feasible points are sorted into Pareto fronts first; infeasible points follow, one
    front per distinct total violation, smallest first. O(n^2 m) time, O(n) memory per
    row chunk.
    """
    n = len(F)
    rank = np.zeros(n, dtype=int)
    if n == 0:
        return rank
    feasible = np.ones(n, dtype=bool) if v is None else v <= 0
    idx = np.flatnonzero(feasible)
    n_feasible_fronts = 0
    if len(idx):
        Ff = F[idx]
        count = np.zeros(len(idx), dtype=int)  # how many points dominate each point
        for start in range(0, len(idx), _CHUNK):
            count += dominates(Ff[start : start + _CHUNK], Ff).sum(axis=0)
        remaining = np.ones(len(idx), dtype=bool)
        level = 0
        while remaining.any():
            current = remaining & (count == 0)
            rank[idx[current]] = level
            remaining &= ~current
            members = np.flatnonzero(current)
            for start in range(0, len(members), _CHUNK):
                count -= dominates(Ff[members[start : start + _CHUNK]], Ff).sum(axis=0)
            level += 1
        n_feasible_fronts = level
    if v is not None and (~feasible).any():
        bad = np.flatnonzero(~feasible)
        _, inverse = np.unique(v[bad], return_inverse=True)
        rank[bad] = n_feasible_fronts + inverse
    return rank


def crowding(F: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance (n,) within one front: +inf at each objective's extremes,
    otherwise the sum over objectives of the normalised gap between the two neighbours."""
    n, m = F.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(m):
        column = F[:, j]
        order = np.argsort(column, kind="stable")
        ordered = column[order]
        distance[order[0]] = distance[order[-1]] = np.inf
        finite = ordered[np.isfinite(ordered)]
        extent = float(finite[-1] - finite[0]) if len(finite) >= 2 else 0.0
        if extent <= 0.0 or not np.isfinite(extent):
            continue
        with np.errstate(invalid="ignore"):
            gaps = (ordered[2:] - ordered[:-2]) / extent
        distance[order[1:-1]] += np.where(np.isfinite(gaps), gaps, 0.0)
    return distance


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


def pareto_mask(F: np.ndarray) -> np.ndarray:
    """Whether each point (n,) is non-dominated in F."""
    return fronts(F) == 0 if len(F) else np.zeros(0, dtype=bool)
