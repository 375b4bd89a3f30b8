"""Fixed parameters, kept away from the algorithms: the one place that strips and adds them.

A study's space may hold fixed parameters (`domain.FixedParam`): part of every
configuration in which they are active, never searched. `suggest` runs an
algorithm on `SearchSpace.searched()` (the space without them, conditions on a
fixed parent resolved) with a history whose configurations lack them, then adds
the fixed values to each suggestion, so no algorithm models them.

A space of fixed parameters only has one configuration: the grid hands it out
once (then the study is exhausted); the other algorithms hand it out whenever
asked, as they would a one-point space.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from asktell.server.algorithms.base import (
    AlgorithmInfo,
    Deadline,
    History,
    Observation,
    Suggestion,
)
from asktell.server.domain import SearchSpace

# Algorithms that hand out each configuration of the space once.
EXHAUSTIVE = frozenset({"grid"})


def check_space(info: AlgorithmInfo, space: SearchSpace, settings: Any) -> None:
    """`info.check_space` on the searched part of `space` (nothing to check when it is empty)."""
    searched = space.searched()
    if searched is not None:
        info.check_space(searched, settings)


def suggest(
    info: AlgorithmInfo,
    space: SearchSpace,
    history: History,
    n: int,
    rng: np.random.Generator,
    settings: Any,
    deadline: Deadline,
) -> list[Suggestion]:
    """`info.suggest` on the searched part of `space`, each suggestion with the fixed values
    (and the algorithm's `state` kept: `dataclasses.replace` changes only the params)."""
    searched = space.searched()
    if searched is None:
        count = max(0, min(n, 1 - history.n_suggested)) if info.name in EXHAUSTIVE else n
        return [Suggestion(space.with_fixed({})) for _ in range(count)]
    if searched is space:  # no fixed parameters
        return info.suggest(space, history, n, rng, settings, deadline)
    suggestions = info.suggest(searched, strip_history(space, history), n, rng, settings, deadline)
    return [dataclasses.replace(s, params=space.with_fixed(s.params)) for s in suggestions]


def strip_history(space: SearchSpace, history: History) -> History:
    """`history` with the fixed parameters left out of every configuration."""

    def observation(o: Observation) -> Observation:
        return dataclasses.replace(o, params=space.without_fixed(o.params))

    return dataclasses.replace(
        history,
        completed=tuple(observation(o) for o in history.completed),
        pending=tuple(space.without_fixed(p) for p in history.pending),
        pruned=tuple(observation(o) for o in history.pruned),
        failed=tuple(space.without_fixed(p) for p in history.failed),
    )
