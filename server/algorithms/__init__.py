"""Suggestion algorithms, each a pure function over (space, history, n, rng).

`ALGORITHMS` maps the name used in study specs to how the server calls it.
"""

from __future__ import annotations

from asktell.server.algorithms.base import (
    AlgorithmInfo,
    Deadline,
    History,
    Observation,
    SuggestFn,
    Suggestion,
)
from asktell.server.algorithms.genetic import GENETIC
from asktell.server.algorithms.gp import GP
from asktell.server.algorithms.grid import GRID
from asktell.server.algorithms.random import RANDOM

ALGORITHMS: dict[str, AlgorithmInfo] = {info.name: info for info in (GRID, RANDOM, GP, GENETIC)}

__all__ = [
    "ALGORITHMS",
    "AlgorithmInfo",
    "Deadline",
    "History",
    "Observation",
    "SuggestFn",
    "Suggestion",
]
