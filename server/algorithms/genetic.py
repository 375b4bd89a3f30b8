"""A steady-state genetic algorithm over the encoding's unit cube.

Every Ask breeds children from whatever is completed now, so no worker waits for
a generation:

- until `population_size` suggestions were made (or half that many trials completed),
  suggestions are quasi-random (the study's Sobol sequence) and form the first population;
- the parent pool is the `elite_count` best completed trials (elitism) plus the most
  recent other completed trials up to `population_size`; by default every member is an
  elite, so each child that beats the worst member replaces it (a steady state);
- parents are picked by tournament; a child is a blend crossover of two parents (numeric
  genes, one blend factor for all of them: a point on the line through the parents) with
  each categorical gene taken from either parent, or a copy of one parent;
- mutation adds a Gaussian step to every numeric gene in the cube (so log parameters
  mutate in log space and integers are rounded by decoding) and resamples categorical
  genes; the step's length **adapts itself** (self-adaptation, as evolution strategies
  do) while the population stays a pure function of the history: a trial's own step
  length is read back as its distance to the nearest earlier completed trial, and a
  child's step is the median of its pool's step lengths times a log-normal factor, so
  lengths that produced good children survive with them, and the step shrinks as the
  population converges and grows back when long steps succeed; an integer or discrete
  gene's step keeps a standard deviation of at least half of one value's width;
- in a conditional space crossover and mutation touch only the genes active in the child;
  a gene that a changed parent value activates is inherited from the parent that has it
  (or drawn from its prior), one it deactivates is dropped;
- in a study with several objectives or with constraints (NSGA-II, Deb et al. 2002) the
  parent pool is instead the best `population_size` of all completed trials (parents and
  children together: elitism over the combined population) under constraint-domination
  (feasible before infeasible, infeasible by total violation, feasible by non-dominated
  front), each front ordered by crowding distance; a tournament picks the entrant
  ranked first in that order, so fronts first and, within one, the least crowded;
  children there are bred with a fixed mutation step (each gene with probability
  `mutation_rate`) and per-gene blends, and the defaults are NSGA-II's (`resolve`);
- a child that repeats a known configuration (completed, pruned, pending, failed, or
  produced in this call) is bred again, a bounded number of times, then replaced by a
  quasi-random point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

import asktell.server.algorithms._pareto as _pareto
from asktell.server.algorithms._seen import Seen
from asktell.server.algorithms.base import AlgorithmInfo, Deadline, History, Suggestion
from asktell.server.algorithms.encoding import Encoder
from asktell.server.algorithms.random import unseen_sobol_point
from asktell.server.domain import (
    CategoricalParam,
    DiscreteParam,
    IntParam,
    Param,
    Params,
    ParamValue,
    SearchSpace,
)
from asktell.server.errors import InvalidArgument

MUTATION_SCALE = 0.1  # standard deviation of a numeric mutation, in cube units (several objectives)
# Self-adaptive step (one objective): the median of the pool's step lengths, times
# exp(STEP_TAU * N(0, 1)) and STEP_FACTOR. The factor below 1 makes the steps shrink
# unless longer ones keep succeeding (measured in docs/benchmarks.md).
STEP_TAU = 0.3
STEP_FACTOR = 0.85
# The smallest standard deviation of an integer or discrete gene's step, in widths of one
# of its values in the cube: a converged integer keeps trying its neighbours.
INT_STEP_FLOOR = 0.5
BLEND_ALPHA = 0.25  # BLX-alpha: children may land a quarter of the parents' gap outside it
N_BREED_TRIES = 20
NOTE_NO_NEW = "genetic: no new child: quasi-random"


@dataclass(frozen=True, slots=True)
class GeneticSettings:
    """Settings of the genetic algorithm (the contract's GeneticSettings); 0 means the default."""

    population_size: int = 0
    mutation_rate: float = 0.0
    crossover_rate: float = 0.0
    tournament_size: int = 0
    elite_count: int = 0

    def __post_init__(self) -> None:
        for name in ("population_size", "tournament_size", "elite_count"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidArgument(
                    f"algorithm genetic: {name} must be an integer >= 0 (0 = default), "
                    f"got {value!r}"
                )
        for name in ("mutation_rate", "crossover_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidArgument(f"algorithm genetic: {name} must be a number, got {value!r}")
            if not 0.0 <= value <= 1.0:
                raise InvalidArgument(
                    f"algorithm genetic: {name} must be in [0, 1] (0 = default), got {value!r}"
                )
        if self.population_size == 1:
            raise InvalidArgument("algorithm genetic: population_size must be at least 2")
        population = self.population_size or 10  # the smallest default
        if self.population_size and self.tournament_size > population:
            raise InvalidArgument(
                f"algorithm genetic: tournament_size {self.tournament_size} is larger than "
                f"population_size {population}"
            )
        if self.population_size and self.elite_count >= population:
            raise InvalidArgument(
                f"algorithm genetic: elite_count {self.elite_count} must be smaller than "
                f"population_size {population}"
            )


@dataclass(frozen=True, slots=True)
class _Resolved:
    """Settings with the defaults filled in for one search space."""

    population_size: int
    mutation_rate: float
    crossover_rate: float
    tournament_size: int
    elite_count: int


def resolve(settings: GeneticSettings, space: SearchSpace, multi: bool = False) -> _Resolved:
    """The settings with every 0 replaced by its default for `space`.

    Defaults with one objective: population 1 per parameter within [10, 40], every pool
    member an elite (elite_count = population: the worst member is replaced), tournaments
    of 3, mutation rate (categorical genes) 1 / parameters, crossover rate 0.9. With
    several objectives or constraints (`multi`): population 4 per parameter within
    [10, 40], tournaments of 2, mutation rate 1 / parameters, crossover rate 0.9.
    """
    n_params = len(space.params)
    if multi:
        population = settings.population_size or min(max(4 * n_params, 10), 40)
        tournament = settings.tournament_size or 2
        elites = settings.elite_count or 1
    else:
        population = settings.population_size or min(max(n_params, 10), 40)
        tournament = settings.tournament_size or 3
        elites = settings.elite_count or population
    return _Resolved(
        population_size=population,
        mutation_rate=settings.mutation_rate or 1.0 / n_params,
        crossover_rate=settings.crossover_rate or 0.9,
        tournament_size=min(tournament, population),
        elite_count=min(elites, population),
    )


def parent_pool(history: History, elite_count: int, population_size: int) -> list[int]:
    """Indices into `history.completed` of the parents: the elites, then the most recent."""
    values = np.array([o.value for o in history.completed], dtype=float)
    values = np.where(np.isfinite(values), values, np.inf)
    elites = [int(i) for i in np.argsort(values, kind="stable")[:elite_count]]
    recent = [i for i in range(len(values) - 1, -1, -1) if i not in elites]
    return elites + recent[: population_size - len(elites)]


def is_multi(history: History) -> bool:
    """Whether the study has several objectives or constraints (the NSGA-II ranking)."""
    return history.n_objectives > 1 or history.n_constraints > 0


def pareto_pool(history: History, population_size: int) -> list[int]:
    """Indices into `history.completed` of the parents of a multi-objective or constrained
    study, best first: the first `population_size` of the constraint-domination order
    (front, then crowding distance) of every completed trial."""
    F = _pareto.objectives_of(history.completed)
    v = _pareto.violation_of(history.completed)
    return [int(i) for i in _pareto.order(F, v)[:population_size]]


def _ranks(values: list[float]) -> np.ndarray:
    """Rank of each value, 1 for the lowest (ties share one), non-finite values last.

    Selection compares ranks only, so values of any magnitude (1e308, 1e-300) select alike.
    """
    from scipy import stats  # here, not at the top: scipy.stats is 1 s of every server start

    keyed = np.array(values, dtype=float)
    keyed = np.where(np.isfinite(keyed), keyed, np.inf)
    return np.asarray(stats.rankdata(keyed, method="min"), dtype=float)


def _tournament(fitness: np.ndarray, size: int, rng: np.random.Generator) -> int:
    """Index of the lowest rank among `size` pool members drawn without replacement."""
    entrants = rng.choice(len(fitness), size=min(size, len(fitness)), replace=False)
    return int(entrants[np.argmin(fitness[entrants])])


def _breed(
    encoder: Encoder,
    X_pool: np.ndarray,
    pool_configs: list[Params],
    fitness: np.ndarray,
    cfg: _Resolved,
    rng: np.random.Generator,
) -> Params:
    """One child configuration from tournament-selected parents.

    Genes are visited parents first (`space.ordered`), so that the child's own values
    decide which of its parameters are active: crossover and mutation touch only those.
    A parameter that becomes active in the child (a parent gene changed) inherits the
    value of the parent that has it, or is drawn from its prior when neither does; a
    parameter that becomes inactive is dropped. Without conditions this is a plain
    crossover and mutation of every gene, drawing the same random numbers.
    """
    space = encoder.space
    parents = _parents(encoder, X_pool, pool_configs, fitness, cfg, rng, line=False)
    a, config_a, b, config_b, child, after, changed = parents
    mutate = rng.random(len(space.params)) < cfg.mutation_rate
    if not changed and not mutate.any():
        # An unchanged copy would repeat its parent: mutate one of its active genes.
        held = [j for j, p in enumerate(space.params) if p.name in config_a]
        mutate[
            held[int(rng.integers(len(held)))] if space.conditional else rng.integers(len(mutate))
        ] = True
    flips = {p.name for p, flip in zip(space.params, mutate, strict=True) if flip}
    config: dict[str, ParamValue] = {}
    for param in space.ordered:
        cols = encoder.columns[param.name]
        if not _prepare(encoder, param, child, config, after, a, config_a, b, config_b, rng):
            continue
        if param.name in flips:
            if isinstance(param, CategoricalParam):
                child[cols] = 0.0
                child[cols.start + int(rng.integers(len(param.values)))] = 1.0
            else:
                child[cols] = _reflect(child[cols] + MUTATION_SCALE * rng.standard_normal())
        config[param.name] = _value(encoder, param, child)
    return {name: config[name] for name in space.names if name in config}


def step_lengths(encoder: Encoder, history: History, pool: list[int]) -> np.ndarray:
    """(len(pool),) the step length each pool member was bred with, as far as the history
    tells it: its distance (numeric genes active in it, in the cube) to the nearest of the
    completed trials before it in `history.completed` (trial-number order, as the server
    builds it: a child's parents always come earlier). The first trial, which has none,
    counts as a step of 0.3 per gene.
    """
    numeric = ~encoder.is_categorical
    X = encoder.encode([o.params for o in history.completed])
    active = encoder.active_columns(X) & numeric
    out = np.empty(len(pool))
    for q, i in enumerate(pool):
        cols = active[i]
        if i == 0 or not cols.any():
            out[q] = 0.3 * np.sqrt(max(int(cols.sum()), 1))
            continue
        out[q] = float(np.sqrt(((X[:i][:, cols] - X[i, cols]) ** 2).sum(axis=1).min()))
    return out


def _breed_adaptive(
    encoder: Encoder,
    X_pool: np.ndarray,
    pool_configs: list[Params],
    fitness: np.ndarray,
    step: float,
    cfg: _Resolved,
    rng: np.random.Generator,
) -> Params:
    """One child of a single-objective study: tournament-selected parents, a line
    crossover of the numeric genes (one blend factor), categorical genes from either
    parent, then a Gaussian step of length about `step` (times a log-normal factor) over
    every active numeric gene (on an integer or discrete gene a standard deviation of at
    least `INT_STEP_FLOOR` of one value's width) and categorical resampling at
    `mutation_rate`.

    Conditional spaces are handled as in `_breed`: only the child's active genes are
    crossed and mutated, a gene that becomes active is inherited or drawn from its prior.
    """
    space = encoder.space
    parents = _parents(encoder, X_pool, pool_configs, fitness, cfg, rng, line=True)
    a, config_a, b, config_b, child, after, changed = parents
    numeric = [p for p in space.params if p.name in after and not isinstance(p, CategoricalParam)]
    flip = rng.random(len(space.params)) < cfg.mutation_rate
    flips = {
        p.name
        for p, f in zip(space.params, flip, strict=True)
        if f and isinstance(p, CategoricalParam)
    }
    if not changed and not numeric and not flips:
        # An unchanged copy would repeat its parent: resample one of its categorical genes.
        held = [p.name for p in space.params if p.name in config_a]
        flips = {held[int(rng.integers(len(held)))]}
    scale = step * float(np.exp(STEP_TAU * rng.standard_normal())) / np.sqrt(max(len(numeric), 1))
    config: dict[str, ParamValue] = {}
    for param in space.ordered:
        cols = encoder.columns[param.name]
        if not _prepare(encoder, param, child, config, after, a, config_a, b, config_b, rng):
            continue
        if isinstance(param, CategoricalParam):
            if param.name in flips:
                child[cols] = 0.0
                child[cols.start + int(rng.integers(len(param.values)))] = 1.0
        else:
            sd = scale
            if isinstance(param, IntParam):
                sd = max(scale, INT_STEP_FLOOR / param.n_values)
            elif isinstance(param, DiscreteParam):
                sd = max(scale, INT_STEP_FLOOR / len(param.values))
            child[cols] = _reflect(child[cols] + sd * rng.standard_normal())
        config[param.name] = _value(encoder, param, child)
    return {name: config[name] for name in space.names if name in config}


class _Parents(NamedTuple):
    """The parents a child was bred from and the child after crossover."""

    a: np.ndarray
    config_a: Params
    b: np.ndarray | None  # None: no crossover
    config_b: Params
    child: np.ndarray  # a copy of a, crossed with b
    after: Params  # the child's active values after crossover
    changed: bool  # whether the crossover changed the child


def _parents(
    encoder: Encoder,
    X_pool: np.ndarray,
    pool_configs: list[Params],
    fitness: np.ndarray,
    cfg: _Resolved,
    rng: np.random.Generator,
    *,
    line: bool,
) -> _Parents:
    """Tournament-selected parent a, and with probability `crossover_rate` parent b crossed
    into the child: one blend factor for every numeric gene (`line`, a line crossover) or
    one per gene."""
    ia = _tournament(fitness, cfg.tournament_size, rng)
    a, config_a = X_pool[ia], pool_configs[ia]
    child = a.copy()
    if rng.random() >= cfg.crossover_rate:
        return _Parents(a, config_a, None, {}, child, config_a, False)
    ib = _tournament(fitness, cfg.tournament_size, rng)
    b, config_b = X_pool[ib], pool_configs[ib]
    factor = rng.uniform(-BLEND_ALPHA, 1.0 + BLEND_ALPHA) if line else None
    after = _cross(encoder, child, a, b, config_a, config_b, factor, rng)
    return _Parents(a, config_a, b, config_b, child, after, not np.array_equal(child, a))


def _cross(
    encoder: Encoder,
    child: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    config_a: Params,
    config_b: Params,
    factor: float | None,
    rng: np.random.Generator,
) -> Params:
    """Crosses parent b into `child` (a copy of parent a) in place and returns the child's
    active values: each categorical gene both parents have from either at random, each
    numeric one at a + u * (b - a), u = `factor` or, when None, a fresh blend factor per
    gene; a gene only b has is repaired from b."""
    space = encoder.space
    values: dict[str, ParamValue] = {}
    for param in space.ordered:
        if not space.is_active(param.name, values):
            continue
        cols = encoder.columns[param.name]
        if param.name in config_a and param.name in config_b:
            if isinstance(param, CategoricalParam):
                if rng.random() < 0.5:
                    child[cols] = b[cols]
            else:
                u = rng.uniform(-BLEND_ALPHA, 1.0 + BLEND_ALPHA) if factor is None else factor
                child[cols] = a[cols] + u * (b[cols] - a[cols])
        elif param.name not in config_a:  # activated by the crossover: repair
            _repair(encoder, param, child, b if param.name in config_b else None, rng)
        values[param.name] = _value(encoder, param, child)
    return values


def _prepare(
    encoder: Encoder,
    param: Param,
    child: np.ndarray,
    config: Params,
    after: Params,
    a: np.ndarray,
    config_a: Params,
    b: np.ndarray | None,
    config_b: Params,
    rng: np.random.Generator,
) -> bool:
    """Whether `param` is active in the child given the values decided so far (`config`);
    an inactive one is cleared, one activated since the crossover (`after`) repaired."""
    space = encoder.space
    if not space.is_active(param.name, config):
        if space.conditional:
            encoder.set_inactive(param, child)
        return False
    if param.name not in after:  # activated by a mutation: repair
        source = b if b is not None and param.name in config_b else None
        if source is None and param.name in config_a:
            source = a
        _repair(encoder, param, child, source, rng)
    return True


def _value(encoder: Encoder, param: Param, x: np.ndarray) -> ParamValue:
    """The value of `param` in the (unclipped) child x (d,)."""
    return encoder.decode_param(param, np.clip(x[encoder.columns[param.name]], 0.0, 1.0))


def _repair(
    encoder: Encoder,
    param: Param,
    child: np.ndarray,
    source: np.ndarray | None,
    rng: np.random.Generator,
) -> None:
    """Gives a parameter that just became active in `child` the value of the parent `source`
    that has it, or one drawn from its prior, in place."""
    cols = encoder.columns[param.name]
    if source is not None:
        child[cols] = source[cols]
        return
    drawn = encoder.from_unit_param(param, float(rng.random()))
    child[cols] = encoder.encode_param(param, drawn)


def _reflect(v: np.ndarray) -> np.ndarray:
    """Folds values back into [0, 1] so that mutations near a bound are not piled on it."""
    v = np.abs(v)
    return np.where(v > 1.0, 2.0 - v, v)


def suggest(
    space: SearchSpace,
    history: History,
    n: int,
    rng: np.random.Generator,
    settings: GeneticSettings,
    deadline: Deadline,
    /,
) -> list[Suggestion]:
    """`n` children of the current population (quasi-random until there is one)."""
    multi = is_multi(history)
    cfg = resolve(settings, space, multi)
    encoder = Encoder.from_space(space)
    seen = Seen.of_history(space, history)
    out: list[Suggestion] = []

    def add(config: Params, note: str = "") -> None:
        seen.add(config)
        out.append(Suggestion(dict(config), note))

    n_completed = len(history.completed)
    evolving = n_completed >= max(2, cfg.population_size // 2)
    pool: list[int] = []
    if evolving:
        pool = (
            pareto_pool(history, cfg.population_size)
            if multi
            else parent_pool(history, cfg.elite_count, cfg.population_size)
        )
    pool_configs = [history.completed[i].params for i in pool]
    X_pool = encoder.encode(pool_configs) if pool else None
    if multi:  # the pool is in crowded-comparison order: a position is a rank
        fitness = np.arange(1, len(pool) + 1, dtype=float)
    else:
        fitness = _ranks([history.completed[i].value for i in pool])
    step = STEP_FACTOR * float(np.median(step_lengths(encoder, history, pool))) if pool else 0.0
    while len(out) < n:
        position = history.n_suggested + len(out)
        if X_pool is None or position < cfg.population_size:
            add(unseen_sobol_point(encoder, history.seed, position, seen, rng, N_BREED_TRIES))
            continue
        for _ in range(N_BREED_TRIES):
            config = (
                _breed(encoder, X_pool, pool_configs, fitness, cfg, rng)
                if multi
                else _breed_adaptive(encoder, X_pool, pool_configs, fitness, step, cfg, rng)
            )
            if config not in seen:
                add(config)
                break
        else:
            add(
                unseen_sobol_point(encoder, history.seed, position, seen, rng, N_BREED_TRIES),
                NOTE_NO_NEW,
            )
    return out


GENETIC = AlgorithmInfo(
    name="genetic",
    suggest=suggest,
    settings_type=GeneticSettings,
    needs_history=True,
)
