"""Random search: independent draws from each parameter's prior, or a scrambled Sobol sequence.

Neither variant reads the trial history, so an Ask costs the same whatever the
study's size. Independent draws come from the `rng` the server seeds with the
study seed and trial number; the Sobol sequence is scrambled with the study
seed and advanced to the number of suggestions already made.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.stats import qmc

from asktell.server.algorithms.base import AlgorithmInfo, Deadline, History, Suggestion
from asktell.server.algorithms.encoding import Encoder
from asktell.server.domain import SearchSpace
from asktell.server.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class RandomSettings:
    quasi_random: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.quasi_random, bool):
            raise InvalidArgument("algorithm random: quasi_random must be true or false")


def sobol_unit(n_params: int, seed: int, start: int, n: int) -> np.ndarray:
    """Points start .. start + n - 1 of the scrambled Sobol sequence: U (n, n_params)."""
    sampler = qmc.Sobol(d=n_params, scramble=True, seed=seed)
    if start:
        sampler.fast_forward(start)
    with warnings.catch_warnings():
        # Balance properties need powers of two; a stream of single points is still well spread.
        warnings.simplefilter("ignore", category=UserWarning)
        return sampler.random(n)


def suggest(
    space: SearchSpace,
    history: History,
    n: int,
    rng: np.random.Generator,
    settings: RandomSettings,
    deadline: Deadline,
    /,
) -> list[Suggestion]:
    """`n` configurations drawn from the parameters' priors."""
    encoder = Encoder.from_space(space)
    if settings.quasi_random:
        unit = sobol_unit(len(space.params), history.seed, history.n_suggested, n)
    else:
        unit = rng.random((n, len(space.params)))
    return [Suggestion(params) for params in encoder.from_unit(unit)]


RANDOM = AlgorithmInfo(
    name="random",
    suggest=suggest,
    settings_type=RandomSettings,
    needs_history=False,
)
