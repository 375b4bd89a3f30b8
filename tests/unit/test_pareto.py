"""Pareto fronts and the best-trial order against brute force."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from asktell.server import pareto

values = st.integers(0, 4).map(float)  # small integers: many ties and duplicates


@st.composite
def studies(draw: st.DrawFn) -> tuple[list[list[float]], list[list[float]]]:
    m = draw(st.integers(1, 3))
    k = draw(st.integers(0, 2))
    n = draw(st.integers(0, 25))
    objectives = [[draw(values) for _ in range(m)] for _ in range(n)]
    violations = [[draw(st.sampled_from([0.0, 0.0, 1.0, 2.5])) for _ in range(k)] for _ in range(n)]
    return objectives, violations


@given(studies())
def test_the_first_front_is_the_feasible_non_dominated_set(
    study: tuple[list[list[float]], list[list[float]]],
) -> None:
    objectives, violations = study
    feasible = [all(v <= 0 for v in row) for row in violations]
    expected = [
        i
        for i, ok in enumerate(feasible)
        if ok
        and not any(
            feasible[j] and pareto.dominates(objectives[j], objectives[i])
            for j in range(len(objectives))
        )
    ]
    assert pareto.front_indices(objectives, feasible) == expected


@given(studies())
def test_the_order_ranks_feasible_fronts_then_infeasible_by_violation(
    study: tuple[list[list[float]], list[list[float]]],
) -> None:
    objectives, violations = study
    n = len(objectives)
    order = pareto.best_order(list(range(1, n + 1)), objectives, violations, n)
    assert sorted(order) == list(range(n))
    if n == 0:
        return
    feasible = [all(v <= 0 for v in violations[i]) for i in order]
    assert feasible == sorted(feasible, reverse=True)
    ranked = [i for i, ok in zip(order, feasible, strict=True) if ok]
    # No trial is ranked after one it dominates.
    for a, i in enumerate(ranked):
        assert not any(pareto.dominates(objectives[j], objectives[i]) for j in ranked[a + 1 :])
    totals = pareto.total_violation(np.asarray(violations, dtype=float).reshape(n, -1))
    infeasible = [totals[i] for i, ok in zip(order, feasible, strict=True) if not ok]
    assert infeasible == sorted(infeasible)
    assert pareto.best_order(list(range(1, n + 1)), objectives, violations, 3) == order[:3]
