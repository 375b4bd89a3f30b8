"""GP warm start: each Ask's fit starts from the previous Ask's hyperparameters (`History.state`).

The fit a warm start reaches is as good as a cold one, a state the GP cannot use is ignored
(never an error), and the same seed, history and state give the same suggestion and state.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from asktell.server.algorithms import ALGORITHMS, History, fixed
from asktell.server.algorithms._gp import model
from asktell.server.algorithms._gp.warp import warp
from asktell.server.algorithms.base import NO_DEADLINE, Observation, state_of
from asktell.server.algorithms.encoding import Encoder
from asktell.server.algorithms.gp import STATE_FORMAT, WARM_FITS_MAX, GpSettings, suggest
from asktell.server.domain import FixedParam, FloatParam, SearchSpace
from benchmarks.functions import PROBLEMS
from benchmarks.loop import history_of, random_results

SETTINGS = GpSettings()


def _fit_data(name: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    problem = PROBLEMS[name]
    results = random_results(problem, n, seed)
    X = Encoder.from_space(problem.space).encode([p for p, _ in results])
    return X, warp(np.array([v for _, v in results]))


def _value(X: np.ndarray, y: np.ndarray, hyper: model.Hyperparameters) -> float:
    value, _ = model._neg_log_posterior(hyper.theta(), X, y)
    return float(value)


@pytest.mark.parametrize(("name", "seed"), [("branin", 0), ("hartmann6", 1), ("ackley10", 2)])
def test_a_warm_fit_reaches_the_log_posterior_of_a_cold_one(name: str, seed: int) -> None:
    # The previous Ask fitted 30 trials; this one has 31 (one more result).
    X, y = _fit_data(name, 31, seed)
    previous = model.fit(X[:-1], y[:-1])
    cold = model.fit(X, y)
    warm = model.fit_warm(X, y, previous.theta())
    assert warm is not None
    assert _value(X, y, warm) <= _value(X, y, cold) + 0.5  # nats, of a posterior ~ -n


def test_a_warm_fit_takes_fewer_evaluations_than_a_cold_one() -> None:
    X, y = _fit_data("hartmann6", 60, 0)
    previous = model.fit(X[:-1], y[:-1])
    calls = {"n": 0}
    original = model._neg_log_posterior

    def counted(*args: object, **kwargs: object) -> tuple[float, np.ndarray]:
        calls["n"] += 1
        return original(*args, **kwargs)  # type: ignore[arg-type]

    model._neg_log_posterior = counted  # type: ignore[assignment]
    try:
        model.fit(X, y)
        n_cold = calls["n"]
        calls["n"] = 0
        assert model.fit_warm(X, y, previous.theta()) is not None
        n_warm = calls["n"]
    finally:
        model._neg_log_posterior = original  # type: ignore[assignment]
    assert n_warm < n_cold / 2


@pytest.mark.parametrize(
    "theta",
    [np.zeros(3), np.zeros(8), np.full(4, np.nan), np.array([0.0, 0.0, np.inf, 0.0])],
    ids=["short", "long", "nan", "inf"],
)
def test_a_warm_fit_refuses_a_theta_that_does_not_fit(theta: np.ndarray) -> None:
    X, y = _fit_data("branin", 20, 0)  # 2 columns: theta has 4 entries
    assert model.fit_warm(X, y, theta) is None


def test_a_warm_fit_from_a_poor_mode_gives_way_to_the_cold_fit() -> None:
    # Every lengthscale at its upper bound and all noise: far worse than the default start.
    X, y = _fit_data("branin", 30, 0)
    bad = np.array([np.log(50.0), np.log(50.0), np.log(1e-2), 0.0])
    assert model.fit_warm(X, y, bad, n_max_iter=1) is None


def _history(n: int, state: str | None = None) -> tuple[SearchSpace, History]:
    problem = PROBLEMS["hartmann6"]
    return problem.space, history_of(0, random_results(problem, n, seed=0), state=state)


def _ask(space: SearchSpace, history: History, number: int) -> tuple[dict, str | None]:
    out = suggest(space, history, 1, np.random.default_rng([0, number]), SETTINGS, NO_DEADLINE)
    return dict(out[-1].params), state_of(out)


def test_the_gp_leaves_its_fit_on_the_last_suggestion() -> None:
    space, history = _history(20)
    out = suggest(space, history, 3, np.random.default_rng(0), SETTINGS, NO_DEADLINE)
    assert [s.state is None for s in out] == [True, True, False]
    state = json.loads(out[-1].state or "")
    assert state["format"] == STATE_FORMAT
    assert len(state["fits"]["objective0"]["theta"]) == 6 + 2
    assert state["fits"]["objective0"]["n_warm"] == 0


def test_the_initial_design_leaves_no_state() -> None:
    space, history = _history(2)
    assert _ask(space, history, 2)[1] is None


def test_same_seed_history_and_state_give_the_same_suggestion_and_state() -> None:
    space, history = _history(20)
    _, state = _ask(space, history, 20)
    assert state is not None
    warm = dataclasses.replace(history, state=state)
    first, second = _ask(space, warm, 21), _ask(space, warm, 21)
    assert first == second
    assert json.loads(first[1] or "")["fits"]["objective0"]["n_warm"] == 1


def test_warm_fits_in_a_row_are_followed_by_a_cold_one() -> None:
    space, history = _history(20)
    n_warm = []
    state = None
    for number in range(20, 20 + WARM_FITS_MAX + 2):
        _, state = _ask(space, dataclasses.replace(history, state=state), number)
        n_warm.append(json.loads(state or "")["fits"]["objective0"]["n_warm"])
    assert n_warm == [*range(WARM_FITS_MAX + 1), 0]


@pytest.mark.parametrize(
    "state",
    [
        "not json",
        "[1, 2]",
        "[" * 100_000,
        '{"format": "gp-fits/0", "fits": {"objective0": {"theta": [0, 0], "n_warm": 0}}}',
        f'{{"format": "{STATE_FORMAT}", "fits": []}}',
        f'{{"format": "{STATE_FORMAT}", "fits": {{"objective0": [1]}}}}',
        f'{{"format": "{STATE_FORMAT}", "fits": {{"objective0": {{"theta": [1, 2]}}}}}}',
        f'{{"format": "{STATE_FORMAT}", "fits": {{"objective0": {{"theta": ["a"]}}}}}}',
        f'{{"format": "{STATE_FORMAT}", "fits": {{"objective0": {{"theta": [1e400]}}}}}}',
        f'{{"format": "{STATE_FORMAT}", "fits": {{"objective0": '
        '{"theta": [0, 0, 0, 0, 0, 0, 0, 0], "n_warm": "x"}}}',
    ],
)
def test_a_state_the_gp_cannot_use_is_ignored(state: str) -> None:
    space, history = _history(20)
    assert _ask(space, dataclasses.replace(history, state=state), 20) == _ask(space, history, 20)


def test_fixed_parameters_keep_the_state() -> None:
    space = SearchSpace(
        (FloatParam("x", 0.0, 1.0), FloatParam("y", 0.0, 1.0)), (), (FixedParam("z", 3),)
    )
    done = tuple(
        Observation({"x": i / 9, "y": (i * 7 % 10) / 9, "z": 3}, float(i)) for i in range(10)
    )
    history = History(seed=0, n_suggested=10, completed=done)
    out = fixed.suggest(
        ALGORITHMS["gp"], space, history, 1, np.random.default_rng(0), SETTINGS, NO_DEADLINE
    )
    assert out[-1].params["z"] == 3
    assert out[-1].state is not None


def test_algorithms_without_state_leave_none() -> None:
    space, history = _history(20)
    for name in ("random", "grid", "genetic"):
        info = ALGORITHMS[name]
        settings = info.settings_type()
        if name == "grid":
            space = SearchSpace((FloatParam("x", 0.0, 1.0, grid_points=3),))
            history = History(seed=0)
        out = info.suggest(space, history, 2, np.random.default_rng(0), settings, NO_DEADLINE)
        assert state_of(out) is None
