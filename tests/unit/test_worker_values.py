"""The worker tells every metric of a task's dict for a study with several objectives."""

from __future__ import annotations

import math

import pytest

from asktell.worker.loop import objective_values


def test_every_numeric_metric_is_told() -> None:
    result = {"acc": 0.9, "lat": 12, "mem": 300.0, "note": "x", "flag": True, "attrs": {"a": 1}}
    assert objective_values(result, ["acc", "lat", "mem"]) == {
        "acc": 0.9,
        "lat": 12.0,
        "mem": 300.0,
    }


def test_an_extra_metric_that_is_not_finite_is_left_out() -> None:
    assert objective_values({"acc": 1.0, "x": math.nan}, ["acc"]) == {"acc": 1.0}


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ({"acc": 0.9}, "the task returned no 'lat' (the study's metrics)"),
        ({"acc": 0.9, "lat": math.inf}, "lat = inf, not a finite number"),
        ({"acc": 0.9, "lat": "fast"}, "lat = 'fast', not a finite number"),
        (0.9, "not a dict of the study's metrics ['acc', 'lat']"),
    ],
)
def test_a_missing_or_bad_metric_fails_the_trial(result: object, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        objective_values(result, ["acc", "lat"])
    assert message in str(raised.value)
