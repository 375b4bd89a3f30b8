"""The contract every registered algorithm keeps, whatever it does inside."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from asktell.server.algorithms import ALGORITHMS, History
from asktell.server.algorithms.base import NO_DEADLINE, AlgorithmInfo
from asktell.server.domain import SearchSpace
from asktell.server.errors import InvalidArgument

ALGOS = sorted(ALGORITHMS)


def _suggest(info: AlgorithmInfo, space: SearchSpace, history: History, n: int, seed: int) -> Any:
    settings = info.settings_type()
    info.check_space(space, settings)
    return info.suggest(space, history, n, np.random.default_rng(seed), settings, NO_DEADLINE)


def test_registry_has_every_algorithm() -> None:
    assert set(ALGORITHMS) == {"grid", "random", "gp", "genetic"}
    assert all(name == info.name for name, info in ALGORITHMS.items())


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("n", [1, 3, 8])
def test_n_is_respected(
    algo: str, n: int, mixed_space: SearchSpace, mixed_history: History
) -> None:
    assert len(_suggest(ALGORITHMS[algo], mixed_space, mixed_history, n, 0)) == n


@pytest.mark.parametrize("algo", ALGOS)
def test_same_seed_and_history_same_suggestions(
    algo: str, mixed_space: SearchSpace, mixed_history: History
) -> None:
    info = ALGORITHMS[algo]
    first = _suggest(info, mixed_space, mixed_history, 4, 7)
    assert _suggest(info, mixed_space, mixed_history, 4, 7) == first


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("n_done", [0, 1, 12])
def test_every_value_is_valid(
    algo: str, n_done: int, mixed_space: SearchSpace, mixed_history: History
) -> None:
    history = History(
        seed=mixed_history.seed,
        n_suggested=n_done + 3,
        completed=mixed_history.completed[:n_done],
        pending=mixed_history.pending,
        failed=mixed_history.failed,
    )
    for seed in range(3):
        for suggestion in _suggest(ALGORITHMS[algo], mixed_space, history, 5, seed):
            assert mixed_space.validate(suggestion.params) == suggestion.params


@pytest.mark.parametrize("algo", [a for a in ALGOS if ALGORITHMS[a].needs_history])
def test_history_algorithms_repeat_no_known_configuration(
    algo: str, mixed_space: SearchSpace, mixed_history: History
) -> None:
    known = [o.params for o in mixed_history.completed + mixed_history.pruned]
    known += list(mixed_history.pending + mixed_history.failed)
    suggestions = _suggest(ALGORITHMS[algo], mixed_space, mixed_history, 6, 0)
    configs = [s.params for s in suggestions]
    assert not [c for c in configs if c in known]
    assert len({tuple(sorted(c.items())) for c in configs}) == len(configs)


BAD_SETTINGS: list[tuple[str, dict[str, Any], str]] = [
    ("grid", {"shuffle": "yes"}, "shuffle"),
    ("random", {"quasi_random": 1}, "quasi_random"),
    ("gp", {"acquisition": "pi"}, "acquisition"),
    ("gp", {"n_initial_trials": -1}, "n_initial_trials"),
    ("gp", {"ucb_beta": -0.5}, "ucb_beta"),
    ("gp", {"ucb_beta": float("nan")}, "ucb_beta"),
    ("genetic", {"population_size": -1}, "population_size"),
    ("genetic", {"population_size": 1}, "population_size"),
    ("genetic", {"mutation_rate": 1.5}, "mutation_rate"),
    ("genetic", {"crossover_rate": -0.1}, "crossover_rate"),
    ("genetic", {"population_size": 10, "tournament_size": 11}, "tournament_size"),
    ("genetic", {"population_size": 10, "elite_count": 10}, "elite_count"),
    ("genetic", {"elite_count": -2}, "elite_count"),
] + [(a, {"no_such_setting": 1}, "no_such_setting") for a in ALGOS]


@pytest.mark.parametrize(("algo", "values", "named"), BAD_SETTINGS)
def test_bad_settings_are_invalid_argument(algo: str, values: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidArgument, match=named):
        ALGORITHMS[algo].parse_settings(values)


@pytest.mark.parametrize("algo", ALGOS)
def test_default_settings_are_valid(algo: str) -> None:
    info = ALGORITHMS[algo]
    assert info.parse_settings({}) == info.settings_type()
