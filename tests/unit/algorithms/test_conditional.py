"""Conditional spaces under every algorithm: each trial holds exactly its active parameters.

Hypothesis draws random condition trees (depth up to 3, every parameter type, typed
categorical values: strings, ints, floats, booleans, mixed) and histories made of
conditional configurations; every suggestion must pass `space.validate` unchanged and
carry the spec's types. The concrete space of the issue (optimizer / momentum / depth /
width_2 / width_3) is checked by name: the grid's 28 combinations, each once, then
exhaustion; hundreds of trials from random, Sobol, GP and genetic.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asktell.server.algorithms import ALGORITHMS, History, Observation
from asktell.server.algorithms.base import NO_DEADLINE
from asktell.server.algorithms.encoding import INACTIVE, Encoder
from asktell.server.algorithms.genetic import GeneticSettings
from asktell.server.algorithms.gp import GpSettings
from asktell.server.algorithms.grid import GridSettings, axis_value, grid_size
from asktell.server.algorithms.random import RandomSettings
from asktell.server.domain import (
    CategoricalParam,
    Condition,
    DiscreteParam,
    FloatParam,
    IntParam,
    Param,
    Params,
    ParamValue,
    Scale,
    SearchSpace,
    typed_key,
)
from asktell.server.errors import InvalidArgument

ISSUE_SPACE = SearchSpace(
    (
        CategoricalParam("optimizer", ("adam", "sgd")),
        FloatParam("momentum", 0.5, 0.99, grid_points=3),
        IntParam("depth", 1, 3),
        DiscreteParam("width_2", (32, 64)),
        DiscreteParam("width_3", (32, 64)),
    ),
    (
        Condition("momentum", "optimizer", ("sgd",)),
        Condition("width_2", "depth", (2, 3)),
        Condition("width_3", "depth", (3,)),
    ),
)


def examples(n: int) -> settings:
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_trial(space: SearchSpace, config: Params) -> None:
    """`config` holds exactly the active parameters, each with the spec's type."""
    assert space.validate(config) == config, config
    assert set(config) == set(space.active(config)), config
    for name, value in config.items():
        param = space[name]
        if isinstance(param, IntParam) or (isinstance(param, DiscreteParam) and param.integer):
            assert type(value) is int, (name, value)
        elif isinstance(param, FloatParam | DiscreteParam):
            assert type(value) is float, (name, value)
        else:
            assert isinstance(param, CategoricalParam)
            listed = param.values[param.index(value)]
            assert type(value) is type(listed), (name, value)


def typed(config: Params) -> tuple[Any, ...]:
    return tuple(sorted((k, typed_key(v)) for k, v in config.items()))


# ------------------------------------------------------------------ strategies
categorical_values = st.one_of(
    st.lists(st.text("abxy", min_size=1, max_size=2), min_size=1, max_size=4, unique=True),
    st.just([True, False]),
    # Mixed and look-alike values: 1, 1.0, True and "1" are four distinct values.
    st.lists(
        st.sampled_from([1, 1.0, True, "1", 0, False, 2.5, "adam", -3]),
        min_size=1,
        max_size=5,
        unique_by=typed_key,
    ),
)


@st.composite
def params(draw: st.DrawFn, name: str, parent_only: bool) -> Param:
    """A parameter of any type (floats cannot be parents) with a small grid."""
    kinds = ["int", "discrete", "categorical"] + ([] if parent_only else ["float"])
    kind = draw(st.sampled_from(kinds))
    if kind == "float":
        log = draw(st.booleans())
        low = draw(st.floats(1e-4, 10.0)) if log else draw(st.floats(-10.0, 10.0))
        high = low * 2.0 + 1.0 if log else low + draw(st.floats(0.5, 100.0))  # distinct grid points
        return FloatParam(
            name, low, high, Scale.LOG if log else Scale.LINEAR, draw(st.integers(1, 3))
        )
    if kind == "int":
        low = draw(st.integers(-5, 5))
        step = draw(st.integers(1, 3))
        return IntParam(name, low, low + step * draw(st.integers(0, 3)), step=step)
    if kind == "discrete":
        if draw(st.booleans()):
            ints = draw(st.lists(st.integers(-50, 50), min_size=1, max_size=4, unique=True))
            return DiscreteParam(name, tuple(ints))
        reals = draw(st.lists(st.floats(-5.0, 5.0), min_size=1, max_size=4, unique=True))
        return DiscreteParam(name, tuple(reals))
    return CategoricalParam(name, tuple(draw(categorical_values)))


def grid_values(param: Param) -> list[ParamValue]:
    if isinstance(param, IntParam):
        return list(range(param.low, param.high + 1, param.step))
    assert isinstance(param, DiscreteParam | CategoricalParam)
    return list(param.values)


@st.composite
def conditional_spaces(draw: st.DrawFn) -> SearchSpace:
    """A forest of 2 to 7 parameters, each child under one parent, depth up to 3."""
    n = draw(st.integers(2, 7))
    out: list[Param] = []
    conditions: list[Condition] = []
    depth: dict[str, int] = {}
    for i in range(n):
        name = f"p{i}"
        parents = [p for p in out if not isinstance(p, FloatParam) and depth[p.name] < 3]
        has_parent = bool(parents) and draw(st.integers(0, 3)) > 0
        param = draw(params(name, parent_only=False))
        if has_parent:
            parent = draw(st.sampled_from(parents))
            values = grid_values(parent)
            chosen = draw(
                st.lists(st.sampled_from(values), min_size=1, max_size=3, unique_by=typed_key)
            )
            conditions.append(Condition(name, parent.name, tuple(chosen)))
            depth[name] = depth[parent.name] + 1
        else:
            depth[name] = 1
        out.append(param)
    # Spec order need not put parents first: shuffle the listing.
    order = draw(st.permutations(out))
    return SearchSpace(tuple(order), tuple(conditions))


def conditional_history(space: SearchSpace, n_done: int, n_pending: int, seed: int) -> History:
    """Random conditional configurations: `n_done` completed with random values, then pending."""
    rng = np.random.default_rng(seed)
    configs = Encoder.from_space(space).from_unit(
        rng.random((n_done + n_pending + 1, len(space.params)))
    )
    values = rng.normal(size=n_done)
    return History(
        seed=seed,
        n_suggested=len(configs),
        completed=tuple(Observation(c, float(v)) for c, v in zip(configs, values, strict=False)),
        pending=tuple(configs[n_done : n_done + n_pending]),
        failed=(configs[-1],),
    )


# ------------------------------------------------------------------ properties
@examples(150)
@given(space=conditional_spaces(), quasi=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_random_and_sobol_sample_top_down(space: SearchSpace, quasi: bool, seed: int) -> None:
    history = History(seed=seed, n_suggested=seed % 1000)
    out = ALGORITHMS["random"].suggest(
        space, history, 20, np.random.default_rng(seed), RandomSettings(quasi), NO_DEADLINE
    )
    assert len(out) == 20
    for s in out:
        check_trial(space, s.params)


@examples(150)
@given(space=conditional_spaces(), shuffle=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_a_conditional_grid_holds_each_valid_combination_once(
    space: SearchSpace, shuffle: bool, seed: int
) -> None:
    size = grid_size(space)
    assert size == len(_brute_force_grid(space))
    info, grid = ALGORITHMS["grid"], GridSettings(shuffle)
    handed: list[Params] = []
    while True:
        history = History(seed=seed, n_suggested=len(handed))
        out = info.suggest(space, history, 7, np.random.default_rng(0), grid, NO_DEADLINE)
        if not out:
            break
        handed += [s.params for s in out]
    assert len(handed) == size
    for config in handed:
        check_trial(space, config)
    assert sorted(map(typed, handed)) == sorted(map(typed, _brute_force_grid(space)))


def _brute_force_grid(space: SearchSpace) -> list[Params]:
    """Every valid combination, by enumerating the full product and keeping active parts."""
    axes: list[list[ParamValue]] = []
    for param in space.params:
        if isinstance(param, FloatParam):
            axes.append([axis_value(param, i) for i in range(param.grid_points)])
        else:
            axes.append(grid_values(param))
    seen: dict[tuple[Any, ...], Params] = {}
    for combo in _product(axes):
        full = dict(zip(space.names, combo, strict=True))
        config = space.active(full)
        config = {n: config[n] for n in space.names if n in config}
        seen[typed(config)] = config
    return list(seen.values())


def _product(axes: list[list[ParamValue]]) -> list[tuple[ParamValue, ...]]:
    out: list[tuple[ParamValue, ...]] = [()]
    for axis in axes:
        out = [(*row, v) for row in out for v in axis]
    return out


@examples(30)  # each example is a model fit and an acquisition search
@given(
    space=conditional_spaces(),
    n_done=st.integers(1, 8),
    n_pending=st.integers(0, 2),
    acquisition=st.sampled_from(["log_ei", "ucb"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_gp_suggests_only_active_parameters(
    space: SearchSpace, n_done: int, n_pending: int, acquisition: str, seed: int
) -> None:
    settings_ = GpSettings(n_initial_trials=1, acquisition=acquisition)
    ALGORITHMS["gp"].check_space(space, settings_)
    history = conditional_history(space, n_done, n_pending, seed)
    out = ALGORITHMS["gp"].suggest(
        space, history, 2, np.random.default_rng(seed), settings_, NO_DEADLINE
    )
    assert len(out) == 2
    for s in out:
        check_trial(space, s.params)


@examples(150)
@given(
    space=conditional_spaces(),
    n_done=st.integers(2, 12),
    n_pending=st.integers(0, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_genetic_children_hold_only_active_parameters(
    space: SearchSpace, n_done: int, n_pending: int, seed: int
) -> None:
    history = conditional_history(space, n_done, n_pending, seed)
    out = ALGORITHMS["genetic"].suggest(
        space,
        history,
        8,
        np.random.default_rng(seed),
        GeneticSettings(population_size=2),
        NO_DEADLINE,
    )
    assert len(out) == 8
    for s in out:
        check_trial(space, s.params)


@examples(200)
@given(space=conditional_spaces(), data=st.data())
def test_decode_then_encode_is_a_fixed_point(space: SearchSpace, data: st.DataObject) -> None:
    encoder = Encoder.from_space(space)
    coordinate = st.one_of(st.floats(-0.5, 1.5), st.sampled_from([0.0, 0.5, 1.0]))
    X = np.array(data.draw(st.lists(coordinate, min_size=encoder.n_dims, max_size=encoder.n_dims)))
    configs = encoder.decode(X)
    for config in configs:
        check_trial(space, config)
    snapped = encoder.encode(configs)
    again = encoder.decode(snapped)
    # The same parameters, the same values (a float may move by a rounding error).
    assert [sorted(c) for c in again] == [sorted(c) for c in configs]
    for a, b in zip(again, configs, strict=True):
        for name, value in a.items():
            assert typed_key(value)[0] == typed_key(b[name])[0]
            if isinstance(value, float):
                assert value == pytest.approx(b[name], rel=1e-9, abs=1e-12)
            else:
                assert typed_key(value) == typed_key(b[name])
    np.testing.assert_allclose(encoder.encode(again), snapped, atol=1e-9)
    # Inactive parameters sit at their fixed encoding.
    for param in space.params:
        if param.name not in configs[0]:
            cols = snapped[0, encoder.columns[param.name]]
            expected = 0.0 if isinstance(param, CategoricalParam) else INACTIVE
            assert np.all(cols == expected)


# ------------------------------------------------------------------ the issue's space
def test_the_issue_grid_has_28_combinations_each_once_then_is_exhausted() -> None:
    assert grid_size(ISSUE_SPACE) == 28  # adam: 1 + sgd: 3 momenta; depth 1: 1, 2: 2, 3: 4
    for shuffle in (False, True):
        info, grid = ALGORITHMS["grid"], GridSettings(shuffle)
        out = info.suggest(
            ISSUE_SPACE, History(seed=4), 100, np.random.default_rng(0), grid, NO_DEADLINE
        )
        configs = [s.params for s in out]
        assert len(configs) == 28
        assert len({typed(c) for c in configs}) == 28
        for config in configs:
            check_trial(ISSUE_SPACE, config)
        done = History(seed=4, n_suggested=28)
        assert info.suggest(ISSUE_SPACE, done, 1, np.random.default_rng(0), grid, NO_DEADLINE) == []
    assert {c["depth"]: 0 for c in configs}.keys() == {1, 2, 3}


def _objective(config: Params) -> float:
    value = 0.2 if config["optimizer"] == "adam" else (float(config["momentum"]) - 0.9) ** 2
    return value + sum(int(config.get(w, 0)) / 640.0 for w in ("width_2", "width_3"))


@pytest.mark.parametrize(
    ("algo", "settings_", "n_trials"),
    [
        ("random", RandomSettings(), 300),
        ("random", RandomSettings(quasi_random=True), 300),
        ("genetic", GeneticSettings(), 300),
        ("gp", GpSettings(), 60),
    ],
    ids=["random", "sobol", "genetic", "gp"],
)
def test_hundreds_of_trials_hold_exactly_their_active_parameters(
    algo: str, settings_: Any, n_trials: int
) -> None:
    info = ALGORITHMS[algo]
    results: list[tuple[Params, float]] = []
    pending: list[Params] = []
    batch = 4 if algo != "gp" else 3  # parallel asks: pending trials in the history
    while len(results) < n_trials:
        history = History(
            seed=9,
            n_suggested=len(results) + len(pending),
            completed=tuple(Observation(c, v) for c, v in results),
            pending=tuple(pending),
        )
        rng = np.random.default_rng([9, len(results)])
        out = info.suggest(ISSUE_SPACE, history, batch, rng, settings_, NO_DEADLINE)
        assert len(out) == batch
        for s in out:
            check_trial(ISSUE_SPACE, s.params)
        pending = [s.params for s in out[: batch // 2]]
        results += [(s.params, _objective(s.params)) for s in out[batch // 2 :]]
    if algo in ("genetic", "gp"):  # history algorithms repeat no configuration
        keys = [typed(c) for c, _ in results]
        assert len(keys) == len(set(keys))
    # Both branches and all depths were explored.
    assert {c["optimizer"] for c, _ in results} == {"adam", "sgd"}
    assert {c["depth"] for c, _ in results} == {1, 2, 3}


# ------------------------------------------------------------------ quality, briefly
# A correctness check, not the quality benchmark (benchmarks/quality.py, problem
# two_branch: 10 seeds, 20 and 50 trials, against Optuna's TPE and GP samplers).
TREE_SPACE = SearchSpace(
    (
        CategoricalParam("optimizer", ("adam", "sgd")),
        FloatParam("lr", 1e-4, 1.0, Scale.LOG),
        FloatParam("momentum", 0.0, 0.99),
        IntParam("depth", 1, 3),
        IntParam("width", 16, 256, Scale.LOG),
    ),
    (Condition("momentum", "optimizer", ("sgd",)), Condition("width", "depth", (2, 3))),
)


def _tree_objective(p: Params) -> float:
    """Minimum 0 at sgd, lr = 10^-2.5, momentum 0.9, depth 3, width 128."""
    sgd = p["optimizer"] == "sgd"
    value = (np.log10(float(p["lr"])) + 2.0 + (0.5 if sgd else 0.0)) ** 2 / 4.0
    value += 2.0 * (float(p["momentum"]) - 0.9) ** 2 if sgd else 0.15
    depth = int(p["depth"])
    if depth == 1:
        return float(value + 0.3)
    best_log_width = 7.0 if depth == 3 else 6.0
    value += ((np.log2(int(p["width"])) - best_log_width) / 3.0) ** 2 + (0.0 if depth == 3 else 0.1)
    return float(value)


def _best_after(algo: str, n_trials: int, seed: int) -> float:
    info = ALGORITHMS[algo]
    settings_ = info.settings_type()
    results: list[tuple[Params, float]] = []
    for number in range(n_trials):
        history = History(
            seed=seed,
            n_suggested=number,
            completed=tuple(Observation(c, v) for c, v in results),
        )
        rng = np.random.default_rng([seed, number])
        [s] = info.suggest(TREE_SPACE, history, 1, rng, settings_, NO_DEADLINE)
        check_trial(TREE_SPACE, s.params)
        results.append((s.params, _tree_objective(s.params)))
    return min(v for _, v in results)


@pytest.mark.slow
def test_gp_beats_random_on_a_conditional_function() -> None:
    seeds = range(3)
    gp = [_best_after("gp", 20, s) for s in seeds]
    rnd = [_best_after("random", 20, s) for s in seeds]
    # Every GP run ends below every random run, and the median well below.
    assert max(gp) < min(rnd), (gp, rnd)
    assert np.median(gp) < 0.6 * np.median(rnd), (gp, rnd)


def test_grid_needs_grid_points_for_a_conditional_float_too() -> None:
    space = SearchSpace(
        (CategoricalParam("optimizer", ("adam", "sgd")), FloatParam("momentum", 0.5, 0.99)),
        (Condition("momentum", "optimizer", ("sgd",)),),
    )
    with pytest.raises(InvalidArgument, match='"momentum": the grid algorithm needs grid_points'):
        ALGORITHMS["grid"].check_space(space, GridSettings())
