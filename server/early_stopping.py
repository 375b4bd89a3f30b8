"""Early stopping rules: pure functions deciding whether a RUNNING trial should stop.

`usecases.trials.report` asks `competitors(rule, step)` which other trials' values
at the step just reported it must read (None: the rule makes no decision at this
step, so nothing is read), then calls `should_stop` with them. Nothing here reads
the store or the clock.

Median stopping rule (after Golovin et al., "Google Vizier", KDD 2017, §3.2.2):
    at step s >= min_steps, stop when this trial's best value up to s is worse
    than the median of the values that COMPLETE trials reported at s, once at
    least min_trials of them did.

Asynchronous successive halving (Li et al., "A System for Massively Parallel
Hyperparameter Tuning", MLSys 2020):
    rungs are the steps r_k = min_resource * eta**k (eta = reduction_factor). A
    trial reporting at a rung goes on only if its value is among the best
    max(1, n // eta) of the n values every trial (in any state) reported there,
    itself included. Trials are never paused and resumed, so the first trials at
    a rung are judged against the few that got there before them.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from asktell.server.domain import (
    EarlyStopping,
    Goal,
    MedianStopping,
    SuccessiveHalving,
    TrialState,
)

# Every state: ASHA ranks all trials that reached a rung, whatever became of them.
ALL_STATES: tuple[TrialState, ...] = ()


def competitors(rule: EarlyStopping | None, step: int) -> tuple[TrialState, ...] | None:
    """The states of the other trials whose values at `step` the rule compares with.

    Returns:
        None when the rule makes no decision at `step` (no rule, a warm-up step,
        a step that is not a rung); `ALL_STATES` (empty) for every state.
    """
    if isinstance(rule, MedianStopping):
        return (TrialState.COMPLETE,) if step >= rule.min_steps else None
    if isinstance(rule, SuccessiveHalving):
        return ALL_STATES if is_rung(rule, step) else None
    return None


def is_rung(rule: SuccessiveHalving, step: int) -> bool:
    """Whether `step` is min_resource times a power of reduction_factor."""
    rung = rule.min_resource
    while rung < step:
        rung *= rule.reduction_factor
    return rung == step


def should_stop(
    rule: EarlyStopping | None,
    goal: Goal,
    step: int,
    own: Sequence[tuple[int, float]],
    others: Sequence[float],
) -> bool:
    """Whether the trial that just reported at `step` should stop.

    Args:
        rule: the study's early-stopping rule (None: never stop).
        goal: whether lower or higher values are better.
        step: the step just reported.
        own: this trial's (step, value) measurements, the one at `step` included.
        others: the values other trials (in the states `competitors` named)
            reported at `step`.
    """
    if competitors(rule, step) is None:
        return False
    at_step = [value for s, value in own if s == step]
    if not at_step:
        return False
    if isinstance(rule, MedianStopping):
        return _median_says_stop(rule, goal, step, own, others)
    assert isinstance(rule, SuccessiveHalving)
    return _asha_says_stop(rule, goal, at_step[-1], others)


def _flip(goal: Goal, value: float) -> float:
    """Lower is better after this, whatever the goal."""
    return -value if goal is Goal.MAXIMIZE else value


def _median_says_stop(
    rule: MedianStopping,
    goal: Goal,
    step: int,
    own: Sequence[tuple[int, float]],
    others: Sequence[float],
) -> bool:
    if len(others) < rule.min_trials:
        return False
    best = min(_flip(goal, value) for s, value in own if s <= step)
    median = statistics.median(_flip(goal, value) for value in others)
    return best > median


def _asha_says_stop(
    rule: SuccessiveHalving, goal: Goal, value: float, others: Sequence[float]
) -> bool:
    n_kept = max(1, (len(others) + 1) // rule.reduction_factor)
    mine = _flip(goal, value)
    n_better = sum(1 for other in others if _flip(goal, other) < mine)
    return n_better >= n_kept
