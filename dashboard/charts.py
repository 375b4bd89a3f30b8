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

A study with several objectives also gets `pareto` (`pareto_data`): its objectives and
constraints, the numbers of its Pareto front (the server's GetBestTrials answer while
the study has at most SERVER_FRONT_TRIALS COMPLETE trials; beyond that, or when the
answer is capped at MAX_SERVER_FRONT trials, the non-dominated feasible COMPLETE trials
computed here by the same rule, from the trials already read: GetBestTrials reads and
ranks every trial, about 1.3 s of server time at 10,000 trials, on each change), and
each objective's best-so-far line over the feasible trials; each sampled trial then
carries `vs` (its objectives' values, in the spec's order) and `f` (whether it
satisfies every constraint). The sample keeps the front.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from asktell.client import Trial
from asktell.v1.spec import constraints_of, is_feasible, objectives_of

MAX_POINTS = 5000
MAX_BEST = 1000
MAX_CURVES = 200
BINS = 10
MIN_TRIALS_FOR_IMPORTANCE = 5
MAX_SERVER_FRONT = 100  # GetBestTrials answers at most this many
SERVER_FRONT_TRIALS = 1000  # beyond this many COMPLETE trials the front is computed here
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


def sample(trials: Sequence[Trial], maximize: bool, also: Collection[int] = ()) -> list[Trial]:
    """Every trial, or the best MAX_BEST COMPLETE ones, the numbers in `also` (up to
    MAX_BEST of them) and evenly spaced others, by number."""
    if len(trials) <= MAX_POINTS:
        return list(trials)
    ranked = sorted(_complete(trials), key=lambda t: t.value or 0.0, reverse=maximize)
    keep = {t.number for t in ranked[:MAX_BEST]}
    keep.update(sorted(also)[:MAX_BEST])
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


def _objective_values(trial: Trial, metrics: Sequence[str]) -> list[float] | None:
    """The trial's value of each metric, or None unless COMPLETE with all of them finite."""
    if trial.state != "COMPLETE":
        return None
    found = [trial.values.get(m) for m in metrics]
    if not all(_finite(v) for v in found):
        return None
    return [float(v) for v in found if v is not None]


def non_dominated(points: Mapping[int, Sequence[float]]) -> list[int]:
    """The keys of `points` (lower is better in every coordinate) that no other point
    dominates, by key.

    Points are visited in lexicographic order, where a point's dominators all come
    first, so a point is kept unless a kept one dominates it (a dominated point's
    dominator is itself dominated by a kept one), and a point equal to the one before
    it shares its fate. With two coordinates a point is dominated when its second is
    not below the last kept one's; with three, when the kept points whose second is at
    most its own include one whose third is at most its own, a prefix minimum (a
    Fenwick tree over the ranks of the second coordinate): n log n either way. With
    more, each point is compared with the kept ones (n x front size).
    """
    ordered = sorted((tuple(float(x) for x in p), key) for key, p in points.items())
    if not ordered:
        return []
    m = len(ordered[0][0])
    kept: list[int] = []
    previous: tuple[float, ...] | None = None
    previous_kept = False
    ranks = {y: i + 1 for i, y in enumerate(sorted({p[1] for p, _ in ordered}))} if m == 3 else {}
    tree = [math.inf] * (len(ranks) + 1)  # prefix minimum of the kept points' third
    last_second = math.inf
    others: list[tuple[float, ...]] = []
    for point, key in ordered:
        if point == previous:
            keep = previous_kept
        elif m == 2:
            keep = point[1] < last_second
        elif m == 3:
            i, lowest = ranks[point[1]], math.inf
            while i > 0:
                lowest = min(lowest, tree[i])
                i -= i & -i
            keep = lowest > point[2]
        else:
            keep = not any(all(map(operator.le, other, point)) for other in others)
        if keep and point != previous:
            if m == 2:
                last_second = point[1]
            elif m == 3:
                i = ranks[point[1]]
                while i < len(tree):
                    tree[i] = min(tree[i], point[2])
                    i += i & -i
            else:
                others.append(point)
        if keep:
            kept.append(key)
        previous, previous_kept = point, keep
    return sorted(kept)


def asks_server(trials: Sequence[Trial]) -> bool:
    """Whether `pareto_data` should be given the server's front (GetBestTrials): while the
    study has at most SERVER_FRONT_TRIALS COMPLETE trials."""
    return 0 < sum(t.state == "COMPLETE" for t in trials) <= SERVER_FRONT_TRIALS


def pareto_data(
    trials: Sequence[Trial], spec: Mapping[str, Any], server_best: Sequence[Trial] | None
) -> Json:
    """The Pareto view of a study with several objectives (see the module docstring).

    `server_best` is the server's GetBestTrials answer (count 0): the front of the
    feasible trials, or the least violating trial when none is feasible; None (not
    asked, see `asks_server`) computes the front here.
    """
    objectives = objectives_of(spec)
    metrics = [str(o["metric"]) for o in objectives]
    signs = [-1.0 if o.get("goal") == "maximize" else 1.0 for o in objectives]
    values: dict[int, list[float]] = {}
    feasible: dict[int, bool] = {}
    for trial in trials:
        found = _objective_values(trial, metrics)
        if found is not None:
            values[trial.number] = found
            feasible[trial.number] = is_feasible(spec, trial.values)
    front = [t.number for t in server_best or () if feasible.get(t.number)]
    source = "server"
    if server_best is None or len(server_best) >= MAX_SERVER_FRONT:
        front = non_dominated(
            {
                n: [s * x for s, x in zip(signs, v, strict=True)]
                for n, v in values.items()
                if feasible[n]
            }
        )
        source = "dashboard"
    best: list[list[list[float]]] = []
    for index, objective in enumerate(objectives):
        better = _better(objective.get("goal") == "maximize")
        line: list[list[float]] = []
        for number in sorted(values):
            if feasible[number] and (not line or better(values[number][index], line[-1][1])):
                line.append([number, values[number][index]])
        best.append(line)
    return {
        "objectives": objectives,
        "constraints": constraints_of(spec),
        "front": sorted(front),
        "front_source": source,
        "feasible": sum(feasible.values()),
        "infeasible": len(feasible) - sum(feasible.values()),
        "best": best,
    }


def chart_data(
    trials: Sequence[Trial],
    parameters: Mapping[str, Mapping[str, Any]],
    maximize: bool,
    pareto: Json | None = None,
    spec: Mapping[str, Any] | None = None,
) -> Json:
    """Everything the study page's charts draw; with `pareto` (and the `spec` it was
    computed from), the Pareto view's too."""
    chosen = sample(trials, maximize, pareto["front"] if pareto else ())
    workers = sorted({t.worker_id for t in chosen})
    worker_index = {w: i for i, w in enumerate(workers)}
    rows = []
    metrics = [str(o["metric"]) for o in pareto["objectives"]] if pareto else []
    for t in chosen:
        item: Json = {
            "n": t.number,
            "s": t.state,
            "v": t.value if _finite(t.value) else None,
            "p": t.params,
            "t0": t.create_time.timestamp() if t.create_time else None,
            "t1": t.end_time.timestamp() if t.end_time else None,
            "w": worker_index[t.worker_id],
        }
        if pareto is not None and spec is not None:
            item["vs"] = _objective_values(t, metrics)
            item["f"] = is_feasible(spec, t.values) if item["vs"] is not None else None
        rows.append(item)
    data: Json = {
        "total": len(trials),
        "sampled": len(chosen) < len(trials),
        "workers": workers,
        "trials": rows,
        "best": best_so_far(trials, maximize),
        "curves": _curves(trials, maximize),
        "importance": importance(trials, parameters),
    }
    if pareto is not None:
        data["pareto"] = pareto
    return data
