"""Shared fixtures of the algorithm tests; puts the repository root on sys.path for `benchmarks`."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from asktell.server.algorithms import History, Observation  # noqa: E402
from asktell.server.algorithms.encoding import Encoder  # noqa: E402
from asktell.server.domain import (  # noqa: E402
    CategoricalParam,
    DiscreteParam,
    FloatParam,
    IntParam,
    Scale,
    SearchSpace,
)


@pytest.fixture
def mixed_space() -> SearchSpace:
    """Every kind of parameter: log float (with grid points), stepped int, log int, discrete,
    categorical, and a single-valued float."""
    return SearchSpace(
        (
            FloatParam("lr", 1e-5, 1e-1, Scale.LOG, grid_points=5),
            IntParam("batch", 16, 256, step=16),
            IntParam("width", 8, 1024, Scale.LOG),
            DiscreteParam("dropout", (0.0, 0.1, 0.25, 0.5)),
            CategoricalParam("optimizer", ("sgd", "adam", "rmsprop")),
            FloatParam("fixed", 0.3, 0.3, grid_points=1),
        )
    )


@pytest.fixture
def mixed_history(mixed_space: SearchSpace) -> History:
    """12 completed trials, 1 pruned, 2 pending and 1 failed, all from seeded random draws."""
    encoder = Encoder.from_space(mixed_space)
    configs = encoder.from_unit(np.random.default_rng(0).random((16, len(mixed_space.params))))
    values = np.random.default_rng(1).normal(size=13)
    completed = tuple(Observation(c, float(v)) for c, v in zip(configs[:12], values, strict=False))
    return History(
        seed=3,
        n_suggested=16,
        completed=completed,
        pruned=(Observation(configs[12], float(values[12])),),
        pending=(configs[13], configs[14]),
        failed=(configs[15],),
    )
