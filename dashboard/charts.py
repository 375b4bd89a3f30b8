"""What the study page's charts draw, computed in the dashboard process (pure Python).

The browser gets one JSON document per study version: a sample of the trials
(every trial up to `MAX_POINTS`; beyond that the best `MAX_BEST` COMPLETE ones plus
trials evenly spaced by number, so a 100,000-trial study stays a few hundred KB),
the best-so-far line computed over every trial, learning curves of up to
`MAX_CURVES` trials, and each parameter's importance.

Parameter importance is the epsilon-squared of a one-way analysis of variance of the
ranks of the objective value, grouped by the parameter's value (each distinct value
of a categorical or discrete parameter, or up to `BINS` equal-count bins of a numeric
one), over the COMPLETE trials in which the parameter is active:

    epsilon² = (SS_between - (k - 1) * MS_within) / (SS_total + MS_within), clipped at 0

It is the share of the objective's (rank) variance that the parameter alone explains,
corrected for the share that k groups would explain by chance; ranks make it
insensitive to outliers and to the objective's scale. Like any first-order measure it
misses interactions. The shares shown are the estimates normalised to sum to 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from asktell.client import Trial

MAX_POINTS = 5000
MAX_BEST = 1000
MAX_CURVES = 200
BINS = 10
MIN_TRIALS_FOR_IMPORTANCE = 5
Json = dict[str, Any]


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _complete(trials: Sequence[Trial]) -> list[Trial]:
    return [t for t in trials if t.state == "COMPLETE" and _finite(t.value)]


def _better(maximize: bool) -> Any:
    return (lambda a, b: a > b) if maximize else (lambda a, b: a < b)


def best_so_far(trials: Sequence[Trial], maximize: bool) -> list[list[float]]:
    """[number, best value] at every trial number where the best improved."""
    better = _better(maximize)
    points: list[list[float]] = []
    best: float | None = None
    for trial in _complete(trials):
        assert trial.value is not None
        if best is None or better(trial.value, best):
            best = trial.value
            points.append([trial.number, best])
    return points


def sample(trials: Sequence[Trial], maximize: bool) -> list[Trial]:
    """Every trial, or the best MAX_BEST COMPLETE ones plus evenly spaced others, by number."""
    if len(trials) <= MAX_POINTS:
        return list(trials)
    ranked = sorted(_complete(trials), key=lambda t: t.value or 0.0, reverse=maximize)
    keep = {t.number for t in ranked[:MAX_BEST]}
    rest = [t for t in trials if t.number not in keep]
    step = len(rest) / (MAX_POINTS - len(keep))
    keep.update(rest[int(i * step)].number for i in range(MAX_POINTS - len(keep)))
    return [t for t in trials if t.number in keep]


def _curves(trials: Sequence[Trial], maximize: bool) -> list[Json]:
    """Learning curves: every trial with measurements, or the best and newest MAX_CURVES."""
    measured = [t for t in trials if t.measurements]
    if len(measured) > MAX_CURVES:
        half = MAX_CURVES // 2
        by_value = sorted(_complete(measured), key=lambda t: t.value or 0.0, reverse=maximize)
        chosen = {t.number for t in by_value[:half]}
        chosen.update(t.number for t in measured[-(MAX_CURVES - len(chosen)) :])
        measured = [t for t in measured if t.number in chosen]
    return [
        {
            "number": t.number,
            "state": t.state,
            "points": [[s, v] for s, v in t.measurements if math.isfinite(v)],
        }
        for t in measured
    ]


def _ranks(values: Sequence[float]) -> list[float]:
    """Average ranks (ties share their mean rank), from 1."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _groups(xs: Sequence[Any], numeric: bool) -> list[list[int]]:
    """Indices grouped by value, or by up to BINS equal-count bins of a numeric value."""
    distinct = sorted(set(xs), key=str) if not numeric else sorted(set(xs))
    if not numeric or len(distinct) <= BINS:
        index = {value: i for i, value in enumerate(distinct)}
        groups: list[list[int]] = [[] for _ in distinct]
        for i, x in enumerate(xs):
            groups[index[x]].append(i)
        return groups
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    size = len(order) / BINS
    return [order[int(b * size) : int((b + 1) * size)] for b in range(BINS)]


def epsilon_squared(xs: Sequence[Any], ys: Sequence[float], numeric: bool) -> float:
    """The share of the variance of `ys` explained by grouping on `xs`, corrected for chance."""
    n = len(ys)
    groups = [g for g in _groups(xs, numeric) if g]
    k = len(groups)
    if n < MIN_TRIALS_FOR_IMPORTANCE or k < 2 or n <= k:
        return 0.0
    mean = sum(ys) / n
    total = sum((y - mean) ** 2 for y in ys)
    between = sum(len(g) * (sum(ys[i] for i in g) / len(g) - mean) ** 2 for g in groups)
    within = (total - between) / (n - k)
    if total <= 0:
        return 0.0
    return max(0.0, (between - (k - 1) * within) / (total + within))


def importance(trials: Sequence[Trial], parameters: Mapping[str, Mapping[str, Any]]) -> list[Json]:
    """Each parameter's importance (see the module docstring), most important first."""
    complete = _complete(trials)
    raw: dict[str, float] = {}
    for name, spec in parameters.items():
        active = [t for t in complete if name in t.params]
        xs = [t.params[name] for t in active]
        numeric = spec.get("type") in ("float", "int") or all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in xs
        )
        ys = _ranks([t.value or 0.0 for t in active])
        raw[name] = epsilon_squared(xs, ys, numeric)
    total = sum(raw.values())
    rows = [
        {"name": name, "epsilon2": value, "share": value / total if total > 0 else 0.0}
        for name, value in raw.items()
    ]
    return sorted(rows, key=lambda r: -float(r["epsilon2"]))


def chart_data(
    trials: Sequence[Trial], parameters: Mapping[str, Mapping[str, Any]], maximize: bool
) -> Json:
    """Everything the study page's charts draw."""
    chosen = sample(trials, maximize)
    workers = sorted({t.worker_id for t in chosen})
    worker_index = {w: i for i, w in enumerate(workers)}
    return {
        "total": len(trials),
        "sampled": len(chosen) < len(trials),
        "workers": workers,
        "trials": [
            {
                "n": t.number,
                "s": t.state,
                "v": t.value if _finite(t.value) else None,
                "p": t.params,
                "t0": t.create_time.timestamp() if t.create_time else None,
                "t1": t.end_time.timestamp() if t.end_time else None,
                "w": worker_index[t.worker_id],
            }
            for t in chosen
        ],
        "best": best_so_far(trials, maximize),
        "curves": _curves(trials, maximize),
        "importance": importance(trials, parameters),
    }
