"""Early stopping: the pure rules (table-driven) and the contract that carries them."""

from __future__ import annotations

import dataclasses

import pytest

from asktell.client import spec_from_proto, spec_to_proto
from asktell.client._errors import InvalidArgumentError
from asktell.server import convert, spec_proto
from asktell.server.domain import Goal, MedianStopping, SuccessiveHalving, TrialState
from asktell.server.early_stopping import competitors, is_rung, should_stop
from asktell.server.errors import InvalidArgument

MEDIAN = MedianStopping(min_steps=2, min_trials=3)
ASHA = SuccessiveHalving(min_resource=1, reduction_factor=3)
MAX, MIN = Goal.MAXIMIZE, Goal.MINIMIZE


@pytest.mark.parametrize(
    ("rule", "goal", "step", "own", "others", "stop"),
    [
        # warm-up: step 1 < min_steps is never judged
        (MEDIAN, MAX, 1, [(1, 0.1)], [0.9, 0.9, 0.9], False),
        # too few COMPLETE trials at the step
        (MEDIAN, MAX, 2, [(1, 0.1), (2, 0.1)], [0.9, 0.9], False),
        # best so far below the median: stop
        (MEDIAN, MAX, 2, [(1, 0.1), (2, 0.2)], [0.9, 0.8, 0.7], True),
        # best so far (an earlier step) above the median: go on
        (MEDIAN, MAX, 3, [(1, 0.95), (3, 0.1)], [0.9, 0.8, 0.7], False),
        # equal to the median is not worse
        (MEDIAN, MAX, 2, [(2, 0.8)], [0.9, 0.8, 0.7], False),
        # minimize: higher is worse
        (MEDIAN, MIN, 2, [(2, 5.0)], [1.0, 2.0, 3.0], True),
        (MEDIAN, MIN, 2, [(2, 1.5)], [1.0, 2.0, 3.0], False),
        # no rule: never stop
        (None, MAX, 5, [(5, 0.0)], [1.0, 1.0, 1.0], False),
        # ASHA: not a rung (rungs 1, 3, 9, ...)
        (ASHA, MAX, 2, [(2, 0.0)], [1.0, 1.0, 1.0], False),
        # the first trial at a rung goes on
        (ASHA, MAX, 3, [(3, 0.1)], [], False),
        # two at the rung keep one: the worse stops
        (ASHA, MAX, 3, [(3, 0.1)], [0.5], True),
        (ASHA, MAX, 3, [(3, 0.6)], [0.5], False),
        # six at the rung keep two: second best goes on, third stops
        (ASHA, MAX, 9, [(9, 0.8)], [0.9, 0.1, 0.2, 0.3, 0.4], False),
        (ASHA, MAX, 9, [(9, 0.5)], [0.9, 0.8, 0.2, 0.3, 0.4], True),
        (ASHA, MIN, 1, [(1, 0.5)], [0.1, 0.2], True),
        (ASHA, MIN, 1, [(1, 0.05)], [0.1, 0.2], False),
    ],
)
def test_rules(
    rule: MedianStopping | SuccessiveHalving | None,
    goal: Goal,
    step: int,
    own: list[tuple[int, float]],
    others: list[float],
    stop: bool,
) -> None:
    assert should_stop(rule, goal, step, own, others) is stop


@pytest.mark.parametrize(
    ("rule", "steps"),
    [
        (SuccessiveHalving(1, 3), [1, 3, 9, 27]),
        (SuccessiveHalving(2, 2), [2, 4, 8, 16]),
        (SuccessiveHalving(5, 4), [5, 20]),
    ],
)
def test_rungs(rule: SuccessiveHalving, steps: list[int]) -> None:
    assert [s for s in range(30) if is_rung(rule, s)] == steps


def test_competitors_name_what_to_read() -> None:
    assert competitors(None, 3) is None
    assert competitors(MEDIAN, 1) is None
    assert competitors(MEDIAN, 2) == (TrialState.COMPLETE,)
    assert competitors(ASHA, 2) is None
    assert competitors(ASHA, 3) == ()


@pytest.mark.parametrize(
    "rule",
    [
        {"name": "median"},
        {"name": "median", "min_steps": 4, "min_trials": 5},
        {"name": "asha", "min_resource": 2, "reduction_factor": 4},
    ],
)
def test_contract_round_trip(rule: dict[str, object]) -> None:
    spec = {
        "name": "s",
        "objective": {"metric": "val_loss", "goal": "minimize"},
        "algorithm": {"name": "random", "seed": 1},
        "parameters": {"x": {"type": "float", "min": 0.0, "max": 1.0}},
        "early_stopping": rule,
    }
    name, message = spec_to_proto(spec)
    assert spec_from_proto(name, message)["early_stopping"] == rule
    domain = convert.study_spec(message)
    # The server fills defaults for 0 fields, and stores and returns the result.
    assert spec_proto.load_spec(spec_proto.dump_spec(domain)) == domain
    assert convert.study_spec(convert.study_spec_message(domain)) == domain
    back = spec_from_proto(name, convert.study_spec_message(domain))["early_stopping"]
    assert back["name"] == rule["name"]
    assert {k: v for k, v in back.items() if k in rule} == rule


def test_defaults_and_old_stored_specs() -> None:
    _, message = spec_to_proto(
        {
            "name": "s",
            "objective": {"metric": "m", "goal": "maximize"},
            "parameters": {"x": {"type": "float", "min": 0.0, "max": 1.0}},
            "early_stopping": "asha",
        }
    )
    domain = convert.study_spec(message)
    assert domain.early_stopping == SuccessiveHalving(1, 3)
    plain = dataclasses.replace(domain, early_stopping=None)
    # A spec stored before early stopping existed has no key, and loads as "none".
    stored = spec_proto.dump_spec(plain)
    assert "early_stopping" not in stored
    assert spec_proto.load_spec(stored).early_stopping is None


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"name": "hyperband"}, "early_stopping.name must be one of"),
        ({"name": "median", "eta": 3}, "unknown setting 'eta' for median"),
        ({"name": "asha", "min_resource": -1}, "must be >= 0"),
        ({"name": "asha", "min_resource": 1.5}, "must be an integer"),
    ],
)
def test_client_rejects_bad_rules(rule: dict[str, object], message: str) -> None:
    spec = {
        "name": "s",
        "objective": {"metric": "m", "goal": "maximize"},
        "parameters": {"x": {"type": "float", "min": 0.0, "max": 1.0}},
        "early_stopping": rule,
    }
    with pytest.raises(InvalidArgumentError, match=message):
        spec_to_proto(spec)


def test_server_rejects_reduction_factor_one() -> None:
    with pytest.raises(InvalidArgument, match="reduction_factor must be >= 2"):
        SuccessiveHalving(min_resource=1, reduction_factor=1)
