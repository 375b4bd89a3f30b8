"""Sequential ask-and-tell loops over asktell's algorithms, called directly (no server).

As the server does, each Ask gets the state the algorithm left at the previous one
(`History.state`, the GP's fitted hyperparameters), so these loops take the same path."""

from __future__ import annotations

from typing import Any

import numpy as np

from asktell.server.algorithms import ALGORITHMS, History, Observation
from asktell.server.algorithms.base import NO_DEADLINE, state_of
from asktell.server.domain import Params, SearchSpace


def history_of(
    seed: int,
    results: list[tuple[Params, float]],
    *,
    pending: tuple[Params, ...] = (),
    n_suggested: int | None = None,
    state: str | None = None,
) -> History:
    """A History of completed (params, value) pairs, as the server would build it."""
    done = tuple(Observation(dict(p), v) for p, v in results)
    count = len(results) + len(pending) if n_suggested is None else n_suggested
    return History(seed=seed, n_suggested=count, completed=done, pending=pending, state=state)


def run(
    algorithm: str,
    space: SearchSpace,
    objective: Any,
    n_trials: int,
    seed: int,
    settings: Any = None,
) -> list[float]:
    """Values of up to `n_trials` sequential suggestions (n=1 each, seeded as the server seeds);
    fewer when the algorithm says the space is exhausted."""
    info = ALGORITHMS[algorithm]
    settings = info.settings_type() if settings is None else settings
    results: list[tuple[Params, float]] = []
    state: str | None = None
    for number in range(n_trials):
        rng = np.random.default_rng([seed, number])
        history = history_of(seed, results, state=state)
        suggestions = info.suggest(space, history, 1, rng, settings, NO_DEADLINE)
        if not suggestions:
            break
        state = state_of(suggestions) or state  # kept by the store between Asks
        [suggestion] = suggestions
        results.append((suggestion.params, float(objective(suggestion.params))))
    return [v for _, v in results]


def random_results(problem: Any, n: int, seed: int) -> list[tuple[Params, float]]:
    """`n` configurations drawn from `problem.space`'s priors, with their values."""
    from asktell.server.algorithms.encoding import Encoder

    encoder = Encoder.from_space(problem.space)
    configs = encoder.from_unit(np.random.default_rng(seed).random((n, len(problem.space.params))))
    return [(c, problem(c)) for c in configs]
