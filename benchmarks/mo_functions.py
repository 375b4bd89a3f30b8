"""Multi-objective and constrained test problems, and a sequential loop over asktell's
algorithms that feeds them several objectives and constraint violations."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from asktell.server.algorithms import ALGORITHMS, History, Observation
from asktell.server.algorithms.base import NO_DEADLINE
from asktell.server.domain import FloatParam, Params, SearchSpace

# (objectives, constraint values): every objective minimised, a constraint holds at <= 0.
Outcome = tuple[tuple[float, ...], tuple[float, ...]]


@dataclass(frozen=True)
class MoProblem:
    """Objectives (lower is better) and constraints (<= 0 holds) over a search space.

    Attributes:
        ref: the hypervolume reference point (multi-objective problems).
        optimum: the best feasible value of the single objective (constrained problems).
    """

    name: str
    space: SearchSpace
    n_objectives: int
    n_constraints: int
    evaluate: Callable[[np.ndarray], Outcome]
    ref: tuple[float, ...] = ()
    optimum: float = math.nan

    def __call__(self, params: Params) -> Outcome:
        return self.evaluate(np.array([float(params[name]) for name in self.space.names]))


def _unit(d: int) -> SearchSpace:
    return SearchSpace(tuple(FloatParam(f"x{i}", 0.0, 1.0) for i in range(d)))


def zdt1(x: np.ndarray) -> Outcome:
    """ZDT1 (Zitzler, Deb, Thiele 2000): convex front f2 = 1 - sqrt(f1) at x2..xn = 0."""
    g = 1.0 + 9.0 * float(x[1:].sum()) / (len(x) - 1)
    return (float(x[0]), g * (1.0 - math.sqrt(x[0] / g))), ()


def zdt2(x: np.ndarray) -> Outcome:
    """ZDT2: concave front f2 = 1 - f1^2 at x2..xn = 0."""
    g = 1.0 + 9.0 * float(x[1:].sum()) / (len(x) - 1)
    return (float(x[0]), g * (1.0 - (x[0] / g) ** 2)), ()


def dtlz2(x: np.ndarray) -> Outcome:
    """DTLZ2 with 3 objectives (Deb et al. 2002): front on the unit sphere's positive octant
    at x3..xn = 0.5."""
    g = float(((x[2:] - 0.5) ** 2).sum())
    a, b = x[0] * math.pi / 2, x[1] * math.pi / 2
    r = 1.0 + g
    return (r * math.cos(a) * math.cos(b), r * math.cos(a) * math.sin(b), r * math.sin(a)), ()


def constrained_branin(x: np.ndarray) -> Outcome:
    """Branin on [-5, 10] x [0, 15] subject to (x1 - 2.5)^2 + (x2 - 7.5)^2 <= 50 (Gelbart,
    Snoek, Adams 2014): two of Branin's three minima are infeasible; the feasible minimum
    is 0.397887 at (pi, 2.275)."""
    x1, x2 = -5.0 + 15.0 * float(x[0]), 15.0 * float(x[1])
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    f = (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10
    return (f,), ((x1 - 2.5) ** 2 + (x2 - 7.5) ** 2 - 50.0,)


MO_PROBLEMS: dict[str, MoProblem] = {
    "zdt1": MoProblem("zdt1", _unit(6), 2, 0, zdt1, ref=(11.0, 11.0)),
    "zdt2": MoProblem("zdt2", _unit(6), 2, 0, zdt2, ref=(11.0, 11.0)),
    "dtlz2": MoProblem("dtlz2", _unit(6), 3, 0, dtlz2, ref=(1.1, 1.1, 1.1)),
    "cbranin": MoProblem("cbranin", _unit(2), 1, 1, constrained_branin, optimum=0.397887),
}


def observation(params: Params, outcome: Outcome) -> Observation:
    """The Observation the server would build: objectives when more than one, violations."""
    objectives, constraints = outcome
    return Observation(
        dict(params),
        objectives[0],
        objectives if len(objectives) > 1 else (),
        tuple(max(c, 0.0) for c in constraints),
    )


def run_multi(
    algorithm: str, problem: MoProblem, n_trials: int, seed: int, settings: object = None
) -> list[Outcome]:
    """Outcomes of `n_trials` sequential suggestions (n=1 each, seeded as the server seeds)."""
    info = ALGORITHMS[algorithm]
    settings = info.settings_type() if settings is None else settings
    done: list[Observation] = []
    outcomes: list[Outcome] = []
    state: str | None = None  # what the algorithm leaves for the next Ask, as the store keeps it
    for number in range(n_trials):
        rng = np.random.default_rng([seed, number])
        history = History(
            seed=seed,
            n_suggested=number,
            n_objectives=problem.n_objectives,
            n_constraints=problem.n_constraints,
            completed=tuple(done),
            state=state,
        )
        [suggestion] = info.suggest(problem.space, history, 1, rng, settings, NO_DEADLINE)
        state = suggestion.state or state
        outcome = problem(suggestion.params)
        done.append(observation(suggestion.params, outcome))
        outcomes.append(outcome)
    return outcomes
