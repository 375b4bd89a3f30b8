"""Benchmark objectives with known optima, shared by the tests and the benchmark scripts.

Each `Problem` pairs an asktell search space with a function of a configuration
(lower is better) and its known minimum, so simple regret is `best - optimum`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from asktell.server.domain import (
    CategoricalParam,
    Condition,
    FloatParam,
    IntParam,
    Params,
    Scale,
    SearchSpace,
)


@dataclass(frozen=True)
class Problem:
    """A named objective over a search space, with its known minimum value."""

    name: str
    space: SearchSpace
    objective: Callable[[Params], float]
    optimum: float

    def __call__(self, params: Params) -> float:
        return self.objective(params)


def _floats(names: str, low: float, high: float) -> tuple[FloatParam, ...]:
    return tuple(FloatParam(name, low, high) for name in names.split())


def branin(p: Params) -> float:
    """Branin-Hoo on [-5, 10] x [0, 15]; minimum 0.397887 at three points."""
    x1, x2 = float(p["x1"]), float(p["x2"])
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(p: Params) -> float:
    """Hartmann 6-d on [0, 1]^6; minimum -3.32237."""
    x = np.array([float(p[f"x{i}"]) for i in range(6)])
    inner = (_H6_A * (x - _H6_P) ** 2).sum(axis=1)
    return float(-(_H6_ALPHA * np.exp(-inner)).sum())


def rosenbrock(p: Params) -> float:
    """Rosenbrock on [-2, 2]^d; minimum 0 at (1, ..., 1)."""
    x = np.array([float(p[f"x{i}"]) for i in range(len(p))])
    return float((100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum())


def ackley(p: Params) -> float:
    """Ackley on [-32.768, 32.768]^d; minimum 0 at the origin."""
    x = np.array([float(p[f"x{i}"]) for i in range(len(p))])
    d = len(x)
    return float(
        -20 * math.exp(-0.2 * math.sqrt((x**2).sum() / d))
        - math.exp(np.cos(2 * math.pi * x).sum() / d)
        + 20
        + math.e
    )


_OPTIMISER_COST = {"sgd": 0.3, "adam": 0.0, "rmsprop": 0.15}


def mixed(p: Params) -> float:
    """A hyperparameter-like surface: log lr, log-int width, stepped int, categorical.

    Minimum 0 at lr = 1e-3, width = 128, layers = 4, optimiser = adam.
    """
    # The best learning rate depends on the optimiser: an interaction a model must learn.
    shift = 0.5 if p["optimizer"] == "sgd" else 0.0
    lr_term = (math.log10(float(p["lr"])) + 3.0 - shift) ** 2 / 4.0
    width_term = (math.log2(int(p["width"])) - 7.0) ** 2 / 9.0
    layers_term = ((int(p["layers"]) - 4) / 6.0) ** 2
    return lr_term + width_term + layers_term + _OPTIMISER_COST[str(p["optimizer"])]


_BRANIN_MIN = 0.397887


def two_branch(p: Params) -> float:
    """A conditional surface: a categorical `branch` picks one of two sub-problems.

    Branch a (`a_x1`, `a_x2`) is Branin scaled by 1/20 plus 0.5, minimum 0.5 at Branin's
    three minimisers; branch b (`b_x` linear, `b_lr` log, `b_n` int) has minimum 0 at
    b_x = 0.7, b_lr = 10^-2.5, b_n = 6. A parameter both branches share, `shared`, adds
    (shared - 0.3)^2. The optimum is 0, in branch b; branch a's best is 0.5 worse, and its
    values are more often low, so a search must leave a good-looking branch.
    """
    shared = (float(p["shared"]) - 0.3) ** 2
    if p["branch"] == "a":
        x = {"x1": p["a_x1"], "x2": p["a_x2"]}
        return 0.5 + (branin(x) - _BRANIN_MIN) / 20.0 + shared
    lr_term = (math.log10(float(p["b_lr"])) + 2.5) ** 2 / 2.0
    x_term = 4.0 * (float(p["b_x"]) - 0.7) ** 2
    n_term = ((int(p["b_n"]) - 6) / 3.0) ** 2
    return lr_term + x_term + n_term + shared


PROBLEMS: dict[str, Problem] = {
    "branin": Problem(
        "branin",
        SearchSpace((FloatParam("x1", -5.0, 10.0), FloatParam("x2", 0.0, 15.0))),
        branin,
        0.397887,
    ),
    "hartmann6": Problem(
        "hartmann6", SearchSpace(_floats("x0 x1 x2 x3 x4 x5", 0.0, 1.0)), hartmann6, -3.32237
    ),
    "rosenbrock4": Problem(
        "rosenbrock4", SearchSpace(_floats("x0 x1 x2 x3", -2.0, 2.0)), rosenbrock, 0.0
    ),
    "ackley10": Problem(
        "ackley10",
        SearchSpace(_floats(" ".join(f"x{i}" for i in range(10)), -32.768, 32.768)),
        ackley,
        0.0,
    ),
    "mixed": Problem(
        "mixed",
        SearchSpace(
            (
                FloatParam("lr", 1e-5, 1e-1, Scale.LOG),
                IntParam("width", 8, 1024, Scale.LOG),
                IntParam("layers", 1, 10),
                CategoricalParam("optimizer", ("sgd", "adam", "rmsprop")),
            )
        ),
        mixed,
        0.0,
    ),
    "two_branch": Problem(
        "two_branch",
        SearchSpace(
            (
                CategoricalParam("branch", ("a", "b")),
                FloatParam("shared", 0.0, 1.0),
                FloatParam("a_x1", -5.0, 10.0),
                FloatParam("a_x2", 0.0, 15.0),
                FloatParam("b_x", 0.0, 1.0),
                FloatParam("b_lr", 1e-4, 1.0, Scale.LOG),
                IntParam("b_n", 1, 10),
            ),
            (
                Condition("a_x1", "branch", ("a",)),
                Condition("a_x2", "branch", ("a",)),
                Condition("b_x", "branch", ("b",)),
                Condition("b_lr", "branch", ("b",)),
                Condition("b_n", "branch", ("b",)),
            ),
        ),
        two_branch,
        0.0,
    ),
}
