"""Simple regret of asktell's algorithms and of peers, on the shared benchmark functions.

    python benchmarks/quality.py                       # everything: 10 seeds, 100 trials
    python benchmarks/quality.py --quick               # 3 seeds, 20 and 50 trials, 3 functions
    python benchmarks/quality.py --problems branin --algorithms gp optuna-tpe --seeds 5
    python benchmarks/quality.py --problems two_branch --trials 20 50   # conditional

Regret is the best value found minus the known optimum, reported as the median and
interquartile range over seeds after 20, 50 and 100 trials. asktell's algorithms are
called directly in a sequential loop (n=1 per Ask, history rebuilt from the results).
On a conditional problem Optuna's samplers run define-by-run (a child parameter is
suggested only inside its branch) and scikit-optimize, which has no conditional
parameters, is left out. `deap-ga` (a plain (10 + 10) GA written with DEAP) and
`optuna-nsga2-p10` (NSGA-II with a population of 10) are the genetic algorithm's anchors.
"""

from __future__ import annotations

import os

# Small matrices: one BLAS thread is faster than two fighting (see docs/benchmarks.md).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asktell.server.algorithms.grid import GridSettings
from asktell.server.domain import (
    CategoricalParam,
    DiscreteParam,
    FloatParam,
    IntParam,
    Scale,
    SearchSpace,
)
from benchmarks.functions import PROBLEMS, Problem
from benchmarks.loop import run

Runner = Callable[[Problem, int, int], list[float]]


def _asktell(name: str) -> Runner:
    def runner(problem: Problem, n_trials: int, seed: int) -> list[float]:
        return run(name, problem.space, problem, n_trials, seed)

    return runner


def _grid(problem: Problem, n_trials: int, seed: int) -> list[float]:
    """Shuffled grid with about n_trials points: k values per float axis."""
    n_float = sum(isinstance(p, FloatParam) for p in problem.space.params)
    k = max(2, math.ceil(n_trials ** (1.0 / max(n_float, 1)) - 1e-9))
    params = tuple(
        FloatParam(p.name, p.low, p.high, p.scale, grid_points=k)
        if isinstance(p, FloatParam)
        else p
        for p in problem.space.params
    )
    space = SearchSpace(params, problem.space.conditions)
    values = run("grid", space, problem, n_trials, seed, GridSettings(shuffle=True))
    return values + [values[-1]] * (n_trials - len(values))  # an exhausted grid stops early


def _optuna(sampler_name: str) -> Runner:
    def runner(problem: Problem, n_trials: int, seed: int) -> list[float]:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        samplers: dict[str, Callable[[], Any]] = {
            "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
            # On a conditional space it samples the child parameters independently (random);
            # that is the behaviour measured, so its per-trial warning is off.
            "gp": lambda: optuna.samplers.GPSampler(
                seed=seed, warn_independent_sampling=not problem.space.conditional
            ),
            "nsga2": lambda: optuna.samplers.NSGAIISampler(seed=seed),
            # The population the genetic anchor uses (the default, 50, leaves two
            # generations in 100 trials).
            "nsga2-p10": lambda: optuna.samplers.NSGAIISampler(population_size=10, seed=seed),
        }
        study = optuna.create_study(sampler=samplers[sampler_name]())
        space = problem.space
        dists = {p.name: optuna_distribution(p) for p in space.params}
        values = []
        for _ in range(n_trials):
            if space.conditional:
                # Define-by-run: ask for each parameter only where its parent activates it.
                trial = study.ask()
                params: dict[str, Any] = {}
                for param in space.ordered:
                    if space.is_active(param.name, params):
                        params[param.name] = _optuna_suggest(trial, param)
            else:
                trial = study.ask(dists)
                params = trial.params
            value = problem(params)
            study.tell(trial, value)
            values.append(value)
        return values

    return runner


def _optuna_suggest(trial: Any, param: Any) -> Any:
    """One define-by-run suggestion through Optuna's public `suggest_*` calls."""
    if isinstance(param, FloatParam):
        return trial.suggest_float(param.name, param.low, param.high, log=param.scale is Scale.LOG)
    if isinstance(param, IntParam):
        log = param.scale is Scale.LOG
        return trial.suggest_int(param.name, param.low, param.high, step=param.step, log=log)
    return trial.suggest_categorical(param.name, list(param.values))


def optuna_distribution(param: Any) -> Any:
    """Optuna's distribution for one of our parameters (shared by the benchmark scripts)."""
    from optuna import distributions as d

    if isinstance(param, FloatParam):
        return d.FloatDistribution(param.low, param.high, log=param.scale is Scale.LOG)
    if isinstance(param, IntParam):
        log = param.scale is Scale.LOG
        return d.IntDistribution(param.low, param.high, log=log, step=param.step)
    return d.CategoricalDistribution(param.values)


def _skopt(problem: Problem, n_trials: int, seed: int) -> list[float]:
    if problem.space.conditional:
        raise NotImplementedError("scikit-optimize has no conditional parameters")
    from skopt import gp_minimize
    from skopt.space import Categorical, Integer, Real

    dims: list[Any] = []
    for p in problem.space.params:
        if isinstance(p, FloatParam):
            prior = "log-uniform" if p.scale is Scale.LOG else "uniform"
            dims.append(Real(p.low, p.high, prior=prior, name=p.name))
        elif isinstance(p, IntParam):
            prior = "log-uniform" if p.scale is Scale.LOG else "uniform"
            dims.append(Integer(p.low, p.high, prior=prior, name=p.name))
        elif isinstance(p, CategoricalParam | DiscreteParam):
            dims.append(Categorical(list(p.values), name=p.name))
    names = problem.space.names
    values: list[float] = []

    def objective(x: list[Any]) -> float:
        params = {n: (v.item() if hasattr(v, "item") else v) for n, v in zip(names, x, strict=True)}
        values.append(problem(params))
        return values[-1]

    gp_minimize(objective, dims, n_calls=n_trials, random_state=seed, n_initial_points=10)
    return values


def _deap_ga(problem: Problem, n_trials: int, seed: int) -> list[float]:
    """A plain (10 + 10) DEAP GA in the unit cube (one gene per parameter, decoded through
    each parameter's prior as random sampling does): parents by tournaments of 2, SBX
    crossover (eta 15, probability 0.9 per pair) and polynomial mutation (eta 20, each gene
    with probability 1 / genes), survivors the best 10 of parents and children."""
    if problem.space.conditional:
        raise NotImplementedError("the DEAP GA runs on flat spaces only")
    import random

    from deap import base, creator, tools

    from asktell.server.algorithms.encoding import Encoder

    if not hasattr(creator, "FitnessMin"):
        creator.create("FitnessMin", base.Fitness, weights=(-1.0,))
        creator.create("Individual", list, fitness=creator.FitnessMin)
    mu, lam = 10, 10
    n_genes = len(problem.space.params)
    encoder = Encoder.from_space(problem.space)
    random.seed(seed)  # DEAP's operators draw from the module's generator
    values: list[float] = []

    def evaluate(ind: Any) -> None:
        [config] = encoder.from_unit(np.array([ind]))
        values.append(problem(config))
        ind.fitness.values = (values[-1],)

    toolbox = base.Toolbox()
    toolbox.register("mate", tools.cxSimulatedBinaryBounded, eta=15.0, low=0.0, up=1.0)
    toolbox.register(
        "mutate", tools.mutPolynomialBounded, eta=20.0, low=0.0, up=1.0, indpb=1.0 / n_genes
    )
    population = [creator.Individual(random.random() for _ in range(n_genes)) for _ in range(mu)]
    for ind in population:
        evaluate(ind)
    while len(values) < n_trials:
        parents = [toolbox.clone(p) for p in tools.selTournament(population, lam, tournsize=2)]
        for a, b in zip(parents[::2], parents[1::2], strict=True):
            if random.random() < 0.9:
                toolbox.mate(a, b)
        children = []
        for child in parents[: n_trials - len(values)]:
            toolbox.mutate(child)
            evaluate(child)
            children.append(child)
        population = tools.selBest(population + children, mu)
    return values


def _smac(facade_name: str) -> Runner:
    """SMAC3 through its ask/tell interface, with the facade's defaults (initial design,
    model, acquisition): `hpo` is the random-forest facade, `bb` the GP (black-box) one."""

    def runner(problem: Problem, n_trials: int, seed: int) -> list[float]:
        if problem.space.conditional:
            raise NotImplementedError("the SMAC3 runner here builds flat spaces only")
        import logging
        import tempfile

        from ConfigSpace import (
            CategoricalHyperparameter,
            ConfigurationSpace,
            UniformFloatHyperparameter,
            UniformIntegerHyperparameter,
        )
        from smac import BlackBoxFacade, HyperparameterOptimizationFacade, Scenario
        from smac.runhistory.dataclasses import TrialValue

        logging.getLogger("smac").setLevel(logging.ERROR)
        cs = ConfigurationSpace(seed=seed)
        for p in problem.space.params:
            log = getattr(p, "scale", None) is Scale.LOG
            if isinstance(p, FloatParam):
                cs.add(UniformFloatHyperparameter(p.name, p.low, p.high, log=log))
            elif isinstance(p, IntParam) and p.step == 1:
                cs.add(UniformIntegerHyperparameter(p.name, p.low, p.high, log=log))
            elif isinstance(p, CategoricalParam):
                cs.add(CategoricalHyperparameter(p.name, list(p.values)))
            else:
                raise NotImplementedError(f"the SMAC3 runner has no {type(p).__name__}")
        facade = {"hpo": HyperparameterOptimizationFacade, "bb": BlackBoxFacade}[facade_name]
        values: list[float] = []
        with tempfile.TemporaryDirectory() as out:
            scenario = Scenario(
                cs, deterministic=True, n_trials=n_trials, seed=seed, output_directory=Path(out)
            )
            smac = facade(
                scenario,
                target_function=lambda config, seed=0: 0.0,
                overwrite=True,
                logging_level=40,
            )
            for _ in range(n_trials):
                info = smac.ask()
                value = problem(dict(info.config))
                smac.tell(info, TrialValue(cost=value))
                values.append(value)
        return values

    return runner


ALGORITHMS: dict[str, Runner] = {
    "grid": _grid,
    "random": _asktell("random"),
    "gp": _asktell("gp"),
    "genetic": _asktell("genetic"),
    "optuna-tpe": _optuna("tpe"),
    "optuna-gp": _optuna("gp"),
    "optuna-nsga2": _optuna("nsga2"),
    "optuna-nsga2-p10": _optuna("nsga2-p10"),
    "deap-ga": _deap_ga,
    "skopt-gp": _skopt,
    "smac-hpo": _smac("hpo"),
    "smac-bb": _smac("bb"),
}
CHECKPOINTS = (20, 50, 100)


def _cell(regrets: list[float]) -> str:
    q25, q50, q75 = np.percentile(regrets, [25, 50, 75])
    return f"{q50:.3g} [{q25:.3g}, {q75:.3g}]"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument(
        "--algorithms", nargs="+", default=list(ALGORITHMS), choices=list(ALGORITHMS)
    )
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, nargs="+", default=list(CHECKPOINTS))
    parser.add_argument("--quick", action="store_true", help="3 seeds, 20/50 trials, 3 problems")
    parser.add_argument("--json", type=Path, help="also write every run's best-so-far values here")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.trials = 3, [20, 50]
        args.problems = [p for p in args.problems if p in ("branin", "hartmann6", "mixed")]
    n_trials = max(args.trials)
    header = ["problem", "algorithm", *[f"regret @{t}" for t in args.trials], "s / run"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header), flush=True)
    records: list[dict[str, Any]] = []
    for name in args.problems:
        problem = PROBLEMS[name]
        for algo in args.algorithms:
            curves, seconds = [], []
            try:
                for seed in range(args.seeds):
                    start = time.perf_counter()
                    values = ALGORITHMS[algo](problem, n_trials, seed)
                    seconds.append(time.perf_counter() - start)
                    curves.append(np.minimum.accumulate(values) - problem.optimum)
            # Optuna's GPSampler needs torch; scikit-optimize and the DEAP GA have no
            # conditional parameters.
            except (ImportError, OSError, NotImplementedError) as exc:
                print(f"| {name} | {algo} | n/a: {type(exc).__name__}: {exc} |", flush=True)
                continue
            cells = [_cell([float(c[t - 1]) for c in curves]) for t in args.trials]
            print(
                "| " + " | ".join([name, algo, *cells, f"{np.median(seconds):.1f}"]) + " |",
                flush=True,
            )
            records += [
                {"problem": name, "algorithm": algo, "seed": s, "regret": c.tolist()}
                for s, c in enumerate(curves)
            ]
            if args.json:
                args.json.write_text(json.dumps(records))


if __name__ == "__main__":
    main()
