"""The GP with parallel workers: regret when each Ask is made while other trials are pending.

    python benchmarks/parallel.py                                  # 5 problems, 10 seeds, 8 workers
    python benchmarks/parallel.py --problems branin --seeds 3 --algorithms gp
    python benchmarks/parallel.py --workers 4 --order random

Each run keeps `--workers` suggestions pending: it asks that many first (each Ask seeing
the earlier ones as pending), then repeatedly finishes one of them (the oldest, or with
`--order random` a seeded random one), tells its value and asks again with the others
still pending, until `--trials` evaluations are done. asktell's GP is called directly as
the server calls it (`suggest` with n=1, the pending configurations in the history, the
rng seeded with the study seed and the trial number, the state the previous Ask left:
its fitted hyperparameters, as the store keeps them); Optuna's GPSampler runs the same
way through `study.ask` / `study.tell`, its pending trials RUNNING in the study. The
sequential run of each algorithm (one trial at a time) on the same seed is in the same
table. "min gap" is the smallest distance, in the GP's unit-cube encoding (one column per
numeric parameter, one-hot categoricals), between a new suggestion and a suggestion
pending when it was made: the median over seeds and the smallest of all seeds.
"""

from __future__ import annotations

import os

# Small matrices: one BLAS thread is faster than two fighting (see docs/benchmarks.md).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asktell.server.algorithms import ALGORITHMS as ASKTELL
from asktell.server.algorithms.base import NO_DEADLINE, state_of
from asktell.server.algorithms.encoding import Encoder
from asktell.server.domain import Params
from benchmarks.functions import PROBLEMS, Problem
from benchmarks.loop import history_of, run
from benchmarks.quality import ALGORITHMS as SEQUENTIAL
from benchmarks.quality import optuna_distribution

# A run: the values in the order the evaluations finished, and the smallest distance
# between a suggestion and one pending when it was made (inf when none was pending).
Parallel = Callable[[Problem, int, int, int, str], tuple[list[float], float]]


def _gap(encoder: Encoder, new: Params, pending: list[Params]) -> float:
    if not pending:
        return float("inf")
    X = encoder.encode([new, *pending])
    return float(np.sqrt(((X[1:] - X[0]) ** 2).sum(axis=1)).min())


def _finish_index(order: str, n_pending: int, rng: np.random.Generator) -> int:
    return 0 if order == "oldest" else int(rng.integers(n_pending))


def asktell_parallel(
    problem: Problem, n_trials: int, seed: int, workers: int, order: str
) -> tuple[list[float], float]:
    """asktell's GP with `workers` suggestions pending at each Ask (until the budget runs out)."""
    info = ASKTELL["gp"]
    settings = info.settings_type()
    encoder = Encoder.from_space(problem.space)
    finish_rng = np.random.default_rng([seed, 999])
    results: list[tuple[Params, float]] = []
    pending: list[Params] = []
    n_suggested, gap = 0, float("inf")
    state: str | None = None
    while len(results) < n_trials:
        while len(pending) < workers and n_suggested < n_trials:
            rng = np.random.default_rng([seed, n_suggested])
            history = history_of(
                seed, results, pending=tuple(pending), n_suggested=n_suggested, state=state
            )
            suggestions = info.suggest(problem.space, history, 1, rng, settings, NO_DEADLINE)
            state = state_of(suggestions) or state
            [suggestion] = suggestions
            gap = min(gap, _gap(encoder, suggestion.params, pending))
            pending.append(dict(suggestion.params))
            n_suggested += 1
        params = pending.pop(_finish_index(order, len(pending), finish_rng))
        results.append((params, float(problem(params))))
    return [v for _, v in results], gap


def optuna_gp_parallel(
    problem: Problem, n_trials: int, seed: int, workers: int, order: str
) -> tuple[list[float], float]:
    """Optuna's GPSampler with `workers` trials RUNNING at each ask."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if problem.space.conditional:
        raise NotImplementedError("the parallel benchmark runs on flat spaces")
    study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=seed))
    dists = {p.name: optuna_distribution(p) for p in problem.space.params}
    encoder = Encoder.from_space(problem.space)
    finish_rng = np.random.default_rng([seed, 999])
    values: list[float] = []
    pending: list[Any] = []
    n_suggested, gap = 0, float("inf")
    while len(values) < n_trials:
        while len(pending) < workers and n_suggested < n_trials:
            trial = study.ask(dists)
            gap = min(gap, _gap(encoder, trial.params, [t.params for t in pending]))
            pending.append(trial)
            n_suggested += 1
        trial = pending.pop(_finish_index(order, len(pending), finish_rng))
        value = float(problem(trial.params))
        study.tell(trial, value)
        values.append(value)
    return values, gap


PARALLEL: dict[str, tuple[Parallel, Callable[[Problem, int, int], list[float]]]] = {
    "gp": (asktell_parallel, lambda p, n, s: run("gp", p.space, p, n, s)),
    "optuna-gp": (optuna_gp_parallel, SEQUENTIAL["optuna-gp"]),
}
FLAT_PROBLEMS = [name for name, p in PROBLEMS.items() if not p.space.conditional]


def _cell(regrets: list[float]) -> str:
    q25, q50, q75 = np.percentile(regrets, [25, 50, 75])
    return f"{q50:.3g} [{q25:.3g}, {q75:.3g}]"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--problems",
        nargs="+",
        default=["branin", "hartmann6", "mixed", "ackley10", "rosenbrock4"],
        choices=FLAT_PROBLEMS,
    )
    parser.add_argument("--algorithms", nargs="+", default=list(PARALLEL), choices=list(PARALLEL))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--order", choices=["oldest", "random"], default="oldest")
    parser.add_argument("--no-sequential", action="store_true", help="parallel runs only")
    parser.add_argument("--json", type=Path, help="also write every run's regret curve here")
    args = parser.parse_args(argv)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    header = [
        "problem",
        "algorithm",
        f"sequential @{args.trials}",
        f"{args.workers} workers @{args.trials}",
        "ratio of medians",
        "min gap: median, smallest",
        "s / run",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header), flush=True)
    records: list[dict[str, Any]] = []
    for name in args.problems:
        problem = PROBLEMS[name]
        for algo in args.algorithms:
            parallel, sequential = PARALLEL[algo]
            seq, par, gaps, seconds = [], [], [], []
            try:
                for seed in seeds:
                    if not args.no_sequential:
                        values = sequential(problem, args.trials, seed)
                        seq.append(float(min(values)) - problem.optimum)
                    start = time.perf_counter()
                    values, gap = parallel(problem, args.trials, seed, args.workers, args.order)
                    seconds.append(time.perf_counter() - start)
                    par.append(float(min(values)) - problem.optimum)
                    gaps.append(gap)
                    records.append(
                        {
                            "problem": name,
                            "algorithm": algo,
                            "seed": seed,
                            "sequential": seq[-1] if seq else None,
                            "parallel": par[-1],
                            "min_gap": gap,
                            "regret": (np.minimum.accumulate(values) - problem.optimum).tolist(),
                        }
                    )
            except (ImportError, OSError) as exc:
                print(f"| {name} | {algo} | n/a: {type(exc).__name__}: {exc} |", flush=True)
                continue
            ratio = f"{np.median(par) / np.median(seq):.2f}" if seq else "-"
            cells = [
                _cell(seq) if seq else "-",
                _cell(par),
                ratio,
                f"{np.median(gaps):.3g}, {np.min(gaps):.3g}",
                f"{np.median(seconds):.1f}",
            ]
            print("| " + " | ".join([name, algo, *cells]) + " |", flush=True)
            if args.json:
                args.json.write_text(json.dumps(records))


if __name__ == "__main__":
    main()
