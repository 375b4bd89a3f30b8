"""Genetic: convergence against random, parents, operators, duplicates, pending trials."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import mannwhitneyu

from asktell.server.algorithms import History, Observation
from asktell.server.algorithms.base import NO_DEADLINE
from asktell.server.algorithms.encoding import Encoder
from asktell.server.algorithms.genetic import (
    NOTE_NO_NEW,
    GeneticSettings,
    parent_pool,
    resolve,
    step_lengths,
    suggest,
)
from asktell.server.domain import CategoricalParam, FloatParam, IntParam, SearchSpace
from benchmarks.functions import PROBLEMS
from benchmarks.loop import history_of, random_results, run

SETTINGS = GeneticSettings()


@pytest.mark.slow
def test_genetic_beats_random_on_rosenbrock_4d_at_100_trials() -> None:
    problem = PROBLEMS["rosenbrock4"]
    genetic = [min(run("genetic", problem.space, problem, 100, s)) for s in range(10)]
    rnd = [min(run("random", problem.space, problem, 100, s)) for s in range(10)]
    assert np.median(genetic) < 0.5 * np.median(rnd)
    assert mannwhitneyu(genetic, rnd, alternative="less").pvalue < 0.01


@pytest.mark.parametrize("name", ["branin", "hartmann6", "mixed"])
def test_eight_asks_without_tells_are_distinct_and_spread(name: str) -> None:
    problem = PROBLEMS[name]
    encoder = Encoder.from_space(problem.space)
    results = random_results(problem, 30, seed=0)
    pending: list[dict] = []
    for i in range(8):
        history = history_of(0, results, pending=tuple(pending))
        rng = np.random.default_rng([0, 30 + i])
        [suggestion] = suggest(problem.space, history, 1, rng, SETTINGS, NO_DEADLINE)
        assert suggestion.note == ""
        pending.append(dict(suggestion.params))
    assert pdist(encoder.encode(pending)).min() > 0.01
    assert not [p for p in pending if p in [c for c, _ in results]]


def test_initial_population_is_the_studys_sobol_sequence() -> None:
    space = PROBLEMS["rosenbrock4"].space
    at_once = suggest(space, History(seed=2), 5, np.random.default_rng(0), SETTINGS, NO_DEADLINE)
    one_by_one = [
        suggest(
            space,
            History(seed=2, n_suggested=i),
            1,
            np.random.default_rng(i),
            SETTINGS,
            NO_DEADLINE,
        )[0]
        for i in range(5)
    ]
    assert at_once == one_by_one


def test_parent_pool_is_elites_then_most_recent() -> None:
    values = [5.0, 0.0, 9.0, 1.0, 7.0, 8.0, 6.0]
    history = History(seed=0, completed=tuple(Observation({"x": v}, v) for v in values))
    assert parent_pool(history, elite_count=2, population_size=4) == [1, 3, 6, 5]
    assert parent_pool(history, elite_count=1, population_size=3) == [1, 6, 5]


def test_defaults_grow_with_the_number_of_parameters() -> None:
    wide = SearchSpace(tuple(FloatParam(f"x{i}", 0.0, 1.0) for i in range(25)))
    small = resolve(SETTINGS, PROBLEMS["branin"].space)
    large = resolve(SETTINGS, wide)
    assert (small.population_size, large.population_size) == (10, 25)
    assert small.mutation_rate == 0.5 and large.mutation_rate == 0.04
    # One objective: every pool member is an elite (the worst is replaced), tournaments of 3.
    assert (small.crossover_rate, small.tournament_size, small.elite_count) == (0.9, 3, 10)
    # Several objectives keep NSGA-II's defaults.
    small = resolve(SETTINGS, PROBLEMS["branin"].space, multi=True)
    large = resolve(SETTINGS, PROBLEMS["ackley10"].space, multi=True)
    assert (small.population_size, large.population_size) == (10, 40)
    assert (small.crossover_rate, small.tournament_size, small.elite_count) == (0.9, 2, 1)
    explicit = resolve(GeneticSettings(12, 0.2, 0.5, 3, 2), PROBLEMS["branin"].space)
    assert explicit == type(explicit)(12, 0.2, 0.5, 3, 2)


def test_step_lengths_are_distances_to_the_nearest_earlier_trial() -> None:
    space = SearchSpace((FloatParam("x", 0.0, 10.0), FloatParam("y", 0.0, 10.0)))
    points = [(0.0, 0.0), (10.0, 0.0), (3.0, 4.0), (9.0, 0.0), (3.0, 4.5)]
    history = history_of(0, [({"x": x, "y": y}, float(i)) for i, (x, y) in enumerate(points)])
    steps = step_lengths(Encoder.from_space(space), history, [4, 3, 2, 1, 0])
    np.testing.assert_allclose(steps, [0.05, 0.1, 0.5, 1.0, 0.3 * np.sqrt(2)])


def test_the_mutation_step_shrinks_with_the_population_and_grows_back() -> None:
    """Children of a pool bred with short steps stay close; long steps give long ones."""
    space = PROBLEMS["branin"].space
    encoder = Encoder.from_space(space)
    rng = np.random.default_rng(0)

    def spread(step: float) -> float:
        # A cloud of 40 trials each `step` (in the cube) from the one before it.
        X = 0.5 + np.cumsum(rng.choice([-1.0, 1.0], (40, 2)) * step / np.sqrt(2), axis=0)
        configs = encoder.decode(np.clip(X, 0.0, 1.0))
        history = history_of(0, [(c, float(i)) for i, c in enumerate(configs)])
        out = suggest(space, history, 20, np.random.default_rng(1), SETTINGS, NO_DEADLINE)
        children = encoder.encode([s.params for s in out])
        parents = encoder.encode(configs)
        return float(np.median(np.abs(children[:, None] - parents[None]).sum(2).min(1)))

    short, long = spread(0.001), spread(0.05)
    assert short < 0.002 and long > 0.01 and long > 20 * short


def test_children_are_valid_and_new_in_a_mixed_space() -> None:
    problem = PROBLEMS["mixed"]
    results = random_results(problem, 40, seed=3)
    history = history_of(3, results)
    out = suggest(problem.space, history, 20, np.random.default_rng(3), SETTINGS, NO_DEADLINE)
    keys = {tuple(sorted(c.items())) for c, _ in results}
    for s in out:
        assert problem.space.validate(s.params) == s.params
        assert tuple(sorted(s.params.items())) not in keys
    assert len({tuple(sorted(s.params.items())) for s in out}) == 20


def test_children_stay_near_good_parents() -> None:
    problem = PROBLEMS["rosenbrock4"]
    results = random_results(problem, 60, seed=4)
    out = suggest(
        problem.space, history_of(4, results), 30, np.random.default_rng(4), SETTINGS, NO_DEADLINE
    )
    children = [problem(s.params) for s in out]
    assert np.median(children) < np.median([v for _, v in results])


def test_exhausted_small_space_falls_back_with_a_note() -> None:
    space = SearchSpace((IntParam("k", 0, 2), CategoricalParam("c", ("a", "b"))))
    configs = [{"k": k, "c": c} for k in range(3) for c in "ab"]
    settings = GeneticSettings(population_size=2)
    history = history_of(0, [(c, float(i)) for i, c in enumerate(configs)])
    [out] = suggest(space, history, 1, np.random.default_rng(0), settings, NO_DEADLINE)
    assert out.note == NOTE_NO_NEW and out.params in configs
    # One configuration left: the children find it.
    history = history_of(0, [(c, float(i)) for i, c in enumerate(configs[:-1])])
    [out] = suggest(space, history, 1, np.random.default_rng(0), settings, NO_DEADLINE)
    assert out.params == configs[-1]


def test_integer_genes_keep_trying_their_neighbours_when_the_step_has_shrunk() -> None:
    space = PROBLEMS["mixed"].space
    # A converged population: the float moves by 1e-6 of its range, the integers never.
    configs = [
        {"lr": 1e-3 * (1 + 1e-5 * i), "width": 128, "layers": 4, "optimizer": "adam"}
        for i in range(30)
    ]
    history = history_of(0, [(c, float(-i)) for i, c in enumerate(configs)])
    out = suggest(space, history, 20, np.random.default_rng(0), SETTINGS, NO_DEADLINE)
    moved = [s for s in out if s.params["layers"] != 4 or s.params["width"] != 128]
    assert len(moved) >= 6  # none without the floor
    assert all(abs(int(s.params["layers"]) - 4) <= 3 for s in out)
