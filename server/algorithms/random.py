"""Random search: independent draws from each parameter's prior, or a scrambled Sobol sequence.

Neither variant reads the trial history, so an Ask costs the same whatever the
study's size. Independent draws come from the `rng` the server seeds with the
study seed and trial number; the Sobol sequence is scrambled with the study
seed and advanced to the number of suggestions already made.

A conditional space is sampled top-down (`Encoder.from_unit`): a parameter gets a value
only where its parent's value activates it. Each parameter keeps its own dimension of
the uniform (or Sobol) point whether or not it is active, so a study's Sobol sequence
is the same sequence whatever branch its earlier points took.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from asktell.server.algorithms._seen import Seen
from asktell.server.algorithms.base import AlgorithmInfo, Deadline, History, Suggestion
from asktell.server.algorithms.encoding import Encoder
from asktell.server.domain import Params, SearchSpace
from asktell.server.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class RandomSettings:
    quasi_random: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.quasi_random, bool):
            raise InvalidArgument("algorithm random: quasi_random must be true or false")


def sobol_unit(n_params: int, seed: int, start: int, n: int) -> np.ndarray:
    """Points start .. start + n - 1 of the scrambled Sobol sequence: U (n, n_params)."""
    from scipy.stats import qmc  # here, not at the top: scipy.stats is 1 s of every server start

    sampler = qmc.Sobol(d=n_params, scramble=True, seed=seed)
    if start:
        sampler.fast_forward(start)
    with warnings.catch_warnings():
        # Balance properties need powers of two; a stream of single points is still well spread.
        warnings.simplefilter("ignore", category=UserWarning)
        return sampler.random(n)


def unseen_sobol_point(
    encoder: Encoder,
    seed: int,
    position: int,
    seen: Seen,
    rng: np.random.Generator,
    tries: int,
) -> Params:
    """Sobol point `position` of the study's sequence or, if it was tried already, one of
    up to `tries` uniform random points not tried yet (small finite spaces run out)."""
    n_params = len(encoder.space.params)
    config = encoder.from_unit(sobol_unit(n_params, seed, position, 1))[0]
    for _ in range(tries):
        if config not in seen:
            break
        config = encoder.from_unit(rng.random((1, n_params)))[0]
    return config


def suggest(
    space: SearchSpace,
    history: History,
    n: int,
    rng: np.random.Generator,
    settings: RandomSettings,
    deadline: Deadline,
    /,
) -> list[Suggestion]:
    """`n` configurations drawn from the parameters' priors (top-down in a conditional space)."""
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
