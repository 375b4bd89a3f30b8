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

Racing over cross-validation folds (after Maron & Moore's Hoeffding races and
Birattari et al.'s F-Race, with a two-sample z-test in place of their bounds):
    a trial reports one value per fold (the step is the fold number; only how
    many folds it reported counts, so 0..k-1 and 1..k are the same). Once it has
    n >= min_folds folds with mean x, it is compared with the reference: the
    top_k-th best COMPLETE trial (the worst one while fewer than top_k have
    completed; nothing is stopped before min_trials have), with value r over its
    m reported folds. With s the fold standard deviation pooled over this
    trial's folds and the reference's (n - 1 + m - 1 degrees of freedom, so two
    folds that happen to agree do not make the rule overconfident), the trial
    stops when x is worse than r by more than
        spread_factor * s * sqrt(1/n + 1/m),
    spread_factor standard errors of the difference of the two means. A
    reference told without folds contributes no spread (m counts as n). A
    clearly bad configuration (a fold mean many fold spreads below the best)
    stops after 2 or 3 folds; one within the noise of the best runs every fold.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from asktell.server.domain import (
    EarlyStopping,
    Goal,
    MedianStopping,
    Racing,
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


def racing_judges(rule: Racing, own: Sequence[float]) -> bool:
    """Whether the racing rule judges a trial that has reported the fold values `own`."""
    return len(own) >= rule.min_folds


def racing_reference(rule: Racing, goal: Goal, complete: Sequence[float]) -> int | None:
    """The index in `complete` (COMPLETE trials' values) of the racing reference.

    The top_k-th best value (the worst while fewer than top_k completed); None
    before min_trials trials completed.
    """
    if len(complete) < rule.min_trials or not complete:
        return None
    order = sorted(range(len(complete)), key=lambda i: _flip(goal, complete[i]))
    return order[min(rule.top_k, len(order)) - 1]


def racing_says_stop(
    rule: Racing,
    goal: Goal,
    own: Sequence[float],
    reference: float,
    reference_folds: Sequence[float],
) -> bool:
    """Whether a trial with fold values `own` loses the race against the reference.

    Args:
        rule: the racing settings.
        goal: whether lower or higher values are better.
        own: this trial's fold values so far (at least `min_folds` to be judged).
        reference: the reference trial's value (its aggregate).
        reference_folds: the reference trial's fold values (may be empty).
    """
    n = len(own)
    if n < rule.min_folds:
        return False
    mean = math.fsum(own) / n
    squares = _squared_deviations(own)
    dof = n - 1
    m = len(reference_folds)
    if m >= 2:
        squares += _squared_deviations(reference_folds)
        dof += m - 1
    else:
        m = n
    spread = math.sqrt(squares / dof) if dof > 0 else 0.0
    margin = rule.spread_factor * spread * math.sqrt(1 / n + 1 / m)
    return _flip(goal, mean) - _flip(goal, reference) > margin


def _squared_deviations(values: Sequence[float]) -> float:
    mean = math.fsum(values) / len(values)
    return math.fsum((v - mean) ** 2 for v in values)
