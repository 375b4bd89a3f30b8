"""Pareto fronts and the order of a study's best trials, as pure functions.

Every objective is flipped so that lower is better before it reaches these
functions; a trial's violations say by how much it is outside each constraint's
bounds (0 when it satisfies it). The order (`best_order`) is the one
GetBestTrials documents in service.proto:

1. the feasible trials (no violation), by non-dominated front: the Pareto
   front first, then the front of what remains without it, and so on;
   within a front by crowding distance, largest first (so a front's extreme
   points come first), then by the first objective, then by trial number;
2. then the infeasible trials, by their total normalised violation (each
   constraint's violation divided by that constraint's largest violation among
   all the trials given), smallest first, then by the first objective, then by
   trial number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from asktell.server.domain import Goal, StudySpec

_CHUNK = 512  # rows of the dominance matrix built at once: memory O(_CHUNK * n)


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether `a` Pareto-dominates `b` (lower is better): no worse anywhere, better somewhere."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True)
    )


def first_front(points: NDArray[np.float64]) -> list[int]:
    """The rows of `points` (n x m, lower is better) that no other row dominates, in row order.

    Rows are visited in lexicographic order, where a row's dominators all come
    before it; a row is kept unless a row already kept dominates it (a
    dominated dominator's own dominator is kept and dominates it too). So the
    cost is n x (front size) x m, not n^2.
    """
    n = len(points)
    if n == 0:
        return []
    order = np.lexsort(points.T[::-1])
    kept: list[int] = []
    for i in order:
        if kept:
            front = points[kept]
            row = points[i]
            if bool(np.any(np.all(front <= row, axis=1) & np.any(front < row, axis=1))):
                continue
        kept.append(int(i))
    return sorted(kept)


def dominance(F: NDArray[np.float64], G: NDArray[np.float64]) -> NDArray[np.bool_]:
    """D (a, b): whether row i of F Pareto-dominates row j of G (lower is better)."""
    le = (F[:, None, :] <= G[None, :, :]).all(axis=2)
    lt = (F[:, None, :] < G[None, :, :]).any(axis=2)
    return np.asarray(le & lt)


def fronts(F: NDArray[np.float64], v: NDArray[np.float64] | None = None) -> NDArray[np.int_]:
    """Front index (n,) of each row under constraint-domination, 0 for the best front.

    `v` (n,) is each row's total constraint violation (0 when feasible). Feasible rows
    are sorted into Pareto fronts first; infeasible rows follow, one front per
    distinct total violation, smallest first (Deb 2000). O(n^2 m) time, O(n) memory
    per chunk of rows.
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
        count = np.zeros(len(idx), dtype=int)  # how many rows dominate each row
        for start in range(0, len(idx), _CHUNK):
            count += dominance(Ff[start : start + _CHUNK], Ff).sum(axis=0)
        remaining = np.ones(len(idx), dtype=bool)
        level = 0
        while remaining.any():
            current = remaining & (count == 0)
            rank[idx[current]] = level
            remaining &= ~current
            members = np.flatnonzero(current)
            for start in range(0, len(members), _CHUNK):
                count -= dominance(Ff[members[start : start + _CHUNK]], Ff).sum(axis=0)
            level += 1
        n_feasible_fronts = level
    if v is not None and (~feasible).any():
        bad = np.flatnonzero(~feasible)
        _, inverse = np.unique(v[bad], return_inverse=True)
        rank[bad] = n_feasible_fronts + inverse
    return rank


def pareto_mask(F: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Whether each row (n,) of F is non-dominated."""
    mask = np.zeros(len(F), dtype=bool)
    mask[first_front(F)] = True
    return mask


def crowding(F: NDArray[np.float64]) -> NDArray[np.float64]:
    """NSGA-II's crowding distance (n,) of each row of one front: infinite at each
    objective's extremes, otherwise the sum over objectives of the gap between the two
    neighbours divided by the objective's finite extent."""
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


def total_violation(violations: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each row's sum over constraints of its violation / that constraint's largest violation."""
    if violations.size == 0:
        return np.zeros(len(violations))
    scale = violations.max(axis=0)
    scale[scale <= 0] = 1.0
    return np.asarray((violations / scale).sum(axis=1), dtype=np.float64)


def best_order(
    numbers: Sequence[int],
    objectives: Sequence[Sequence[float]],
    violations: Sequence[Sequence[float]],
    limit: int,
) -> list[int]:
    """Indices of the first `limit` trials in the documented order (see the module docstring).

    Args:
        numbers: the trials' numbers (the last tie-break).
        objectives: per trial, every objective flipped so that lower is better.
        violations: per trial, one violation per constraint (may be empty rows).
        limit: how many indices to return at most.
    """
    n = len(numbers)
    if n == 0 or limit <= 0:
        return []
    points = np.asarray(objectives, dtype=np.float64).reshape(n, -1)
    violated = np.asarray(violations, dtype=np.float64).reshape(n, -1)
    feasible = np.flatnonzero(~np.any(violated > 0, axis=1)) if violated.size else np.arange(n)
    out: list[int] = []
    remaining = [int(i) for i in feasible]
    while remaining and len(out) < limit:
        front = [remaining[k] for k in first_front(points[remaining])]
        distance = crowding(points[front])
        ranked = sorted(
            range(len(front)),
            key=lambda k: (-distance[k], points[front[k], 0], numbers[front[k]]),
        )
        out.extend(front[k] for k in ranked)
        taken = set(front)
        remaining = [i for i in remaining if i not in taken]
    if len(out) < limit:
        infeasible = np.setdiff1d(np.arange(n), feasible)
        total = total_violation(violated)
        out.extend(
            sorted(
                (int(i) for i in infeasible),
                key=lambda i: (total[i], points[i, 0], numbers[i]),
            )
        )
    return out[:limit]


def front_indices(objectives: Sequence[Sequence[float]], feasible: Sequence[bool]) -> list[int]:
    """Indices of the feasible non-dominated trials (the Pareto front), in index order."""
    chosen = [i for i, ok in enumerate(feasible) if ok]
    if not chosen:
        return []
    points = np.asarray([objectives[i] for i in chosen], dtype=np.float64).reshape(len(chosen), -1)
    return [chosen[k] for k in first_front(points)]


def front_stats(
    spec: StudySpec, told: Sequence[Mapping[str, float]]
) -> tuple[int, dict[str, float]]:
    """(Pareto front size, best feasible value per objective) of a study's COMPLETE trials.

    `told` holds each COMPLETE trial's metrics. Values are in the objectives' own
    direction (the largest accuracy, the smallest latency); an objective has no
    entry while no trial is feasible.
    """
    signs = [1.0 if o.goal is Goal.MINIMIZE else -1.0 for o in spec.objectives]
    points: list[list[float]] = []
    for values in told:
        if all(m in values for m in spec.metrics) and all(
            c.violation(values[c.metric]) <= 0 for c in spec.constraints
        ):
            points.append(
                [s * values[o.metric] for s, o in zip(signs, spec.objectives, strict=True)]
            )
    if not points:
        return 0, {}
    array = np.asarray(points, dtype=np.float64)
    bests = {
        o.metric: float(s * array[:, j].min())
        for j, (s, o) in enumerate(zip(signs, spec.objectives, strict=True))
    }
    return len(first_front(array)), bests
