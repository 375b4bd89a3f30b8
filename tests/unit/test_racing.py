"""The racing rule over cross-validation folds and the aggregates, as pure functions."""

from __future__ import annotations

import math

import pytest

from asktell.server.domain import Aggregate, Goal, Racing
from asktell.server.early_stopping import (
    racing_judges,
    racing_reference,
    racing_says_stop,
    should_stop,
)
from asktell.server.errors import InvalidArgument

BEST = [0.95, 0.97, 0.96, 0.94, 0.98]  # mean 0.96, fold sd 0.0158
RULE = Racing()


def test_defaults() -> None:
    assert (RULE.min_folds, RULE.top_k, RULE.min_trials, RULE.spread_factor) == (2, 1, 1, 2.0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"min_folds": 1}, "min_folds must be >= 2"),
        ({"top_k": 0}, "top_k must be >= 1"),
        ({"min_trials": 0}, "min_trials must be >= 1"),
        ({"spread_factor": 0.0}, "spread_factor must be a finite number > 0"),
        ({"spread_factor": math.nan}, "spread_factor must be a finite number > 0"),
    ],
)
def test_bad_settings(fields: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        Racing(**fields)  # type: ignore[arg-type]


def test_one_fold_is_never_judged() -> None:
    assert not racing_judges(RULE, [0.1])
    assert racing_judges(RULE, [0.1, 0.1])
    assert not racing_says_stop(RULE, Goal.MAXIMIZE, [0.1], 0.96, BEST)


def test_clearly_bad_stops_after_two_folds() -> None:
    assert racing_says_stop(RULE, Goal.MAXIMIZE, [0.63, 0.62], 0.96, BEST)


def test_within_the_noise_goes_on() -> None:
    for n in range(2, 6):
        assert not racing_says_stop(
            RULE, Goal.MAXIMIZE, [0.96, 0.94, 0.95, 0.97, 0.95][:n], 0.96, BEST
        )


def test_a_third_fold_settles_a_middling_one() -> None:
    assert not racing_says_stop(RULE, Goal.MAXIMIZE, [0.93, 0.95], 0.96, BEST)
    assert racing_says_stop(RULE, Goal.MAXIMIZE, [0.93, 0.95, 0.86], 0.96, BEST)


def test_the_pooled_spread_guards_two_agreeing_folds() -> None:
    # Two equal folds alone have no spread; pooled with the reference's, 0.95 vs 0.96 is noise.
    assert not racing_says_stop(RULE, Goal.MAXIMIZE, [0.95, 0.95], 0.96, BEST)
    # Without the reference's folds nothing pools: any worse mean of equal folds stops.
    assert racing_says_stop(RULE, Goal.MAXIMIZE, [0.95, 0.95], 0.96, [])


def test_minimize_mirrors_maximize() -> None:
    losses = [1 - v for v in BEST]
    assert racing_says_stop(RULE, Goal.MINIMIZE, [0.37, 0.38], 0.04, losses)
    assert not racing_says_stop(RULE, Goal.MINIMIZE, [0.04, 0.06], 0.04, losses)


def test_spread_factor_widens_the_margin() -> None:
    own = [0.93, 0.95, 0.86]
    assert racing_says_stop(Racing(spread_factor=2.0), Goal.MAXIMIZE, own, 0.96, BEST)
    assert not racing_says_stop(Racing(spread_factor=3.0), Goal.MAXIMIZE, own, 0.96, BEST)


def test_reference_is_the_top_k_th_best() -> None:
    values = [0.9, 0.5, 0.96, 0.7]
    assert racing_reference(Racing(top_k=1), Goal.MAXIMIZE, values) == 2
    assert racing_reference(Racing(top_k=2, min_trials=2), Goal.MAXIMIZE, values) == 0
    assert racing_reference(Racing(top_k=2, min_trials=2), Goal.MINIMIZE, values) == 3
    # Fewer than top_k completed: the worst of them; fewer than min_trials: none.
    assert racing_reference(Racing(top_k=9, min_trials=2), Goal.MAXIMIZE, values) == 1
    assert racing_reference(Racing(min_trials=5), Goal.MAXIMIZE, values) is None
    assert racing_reference(RULE, Goal.MAXIMIZE, []) is None


def test_should_stop_leaves_racing_to_its_own_functions() -> None:
    # The step-wise entry point (median, ASHA) makes no racing decision.
    assert not should_stop(RULE, Goal.MAXIMIZE, 1, [(0, 0.1), (1, 0.1)], [0.9, 0.9])


def test_aggregates() -> None:
    assert Aggregate.MEAN.of([0.1, 0.2, 0.3]) == math.fsum([0.1, 0.2, 0.3]) / 3
    assert Aggregate.MEDIAN.of([0.3, 0.1, 0.2]) == 0.2
    assert Aggregate.MEDIAN.of([0.1, 0.2]) == pytest.approx(0.15)
