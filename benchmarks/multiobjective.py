"""Hypervolume and constrained regret of asktell's algorithms against Optuna's samplers.

    python benchmarks/multiobjective.py                 # everything: 10 seeds, 50 and 100 trials
    python benchmarks/multiobjective.py --quick         # 3 seeds, 50 trials
    python benchmarks/multiobjective.py --problems zdt1 --algorithms gp optuna-gp --seeds 5
    python benchmarks/multiobjective.py --latency-only  # GP Ask time, 1 against 2 objectives
    python benchmarks/multiobjective.py --problems zdt1 --algorithms optuna-gp --seeds 1 \
        --first-seed 7 --json runs.json                 # one seed (runs-zdt1.json), to spread

Multi-objective problems (ZDT1, ZDT2: 6-d, 2 objectives; DTLZ2: 6-d, 3 objectives) report
the hypervolume of the non-dominated set of the trials so far (pymoo's exact
`pymoo.indicators.hv.HV`) against each problem's reference point, printed in the table,
after 50 and 100 trials: median and interquartile range over seeds, higher is better.
The constrained problem (Branin inside a disk, feasible optimum 0.397887) reports the
regret of the best feasible trial, lower is better ("inf" while none was feasible).
asktell's algorithms are called in-process in a sequential loop (n=1 per Ask, the
History rebuilt as the server builds it); Optuna's samplers run ask-and-tell on the same
functions, with the constraint set on each trial (`Trial.set_constraint`, what
Optuna 5 has in place of `constraints_func`) on the constrained problem.

The latency section times one GP suggestion at 100 completed trials (5 parameters, the
history of benchmarks/latency.py) with one objective and with two.
"""

from __future__ import annotations

import os

# Small matrices: one BLAS thread is faster than two fighting (see docs/benchmarks.md).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asktell.server.algorithms import ALGORITHMS, History, Observation
from asktell.server.algorithms.base import NO_DEADLINE
from benchmarks.latency import make_history
from benchmarks.mo_functions import MO_PROBLEMS, MoProblem, Outcome, run_multi

Runner = Callable[[MoProblem, int, int], list[Outcome]]


def _asktell(name: str) -> Runner:
    def runner(problem: MoProblem, n_trials: int, seed: int) -> list[Outcome]:
        return run_multi(name, problem, n_trials, seed)

    return runner


def _optuna(sampler_name: str) -> Runner:
    def runner(problem: MoProblem, n_trials: int, seed: int) -> list[Outcome]:
        import optuna
        from optuna.distributions import FloatDistribution

        optuna.logging.set_verbosity(optuna.logging.WARNING)

        # Constraints reach every sampler through `Trial.set_constraint` (Optuna 5's
        # replacement for `constraints_func`): feasible when every value is <= 0.
        samplers: dict[str, Callable[[], Any]] = {
            "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
            "gp": lambda: optuna.samplers.GPSampler(seed=seed),
            "nsga2": lambda: optuna.samplers.NSGAIISampler(seed=seed),
        }
        study = optuna.create_study(
            directions=["minimize"] * problem.n_objectives, sampler=samplers[sampler_name]()
        )
        dists = {p: FloatDistribution(0.0, 1.0) for p in problem.space.names}
        outcomes = []
        for _ in range(n_trials):
            trial = study.ask(dists)
            outcome = problem(trial.params)
            for k, value in enumerate(outcome[1]):
                trial.set_constraint(f"c{k}", value)
            study.tell(trial, list(outcome[0]))
            outcomes.append(outcome)
        return outcomes

    return runner


ALGORITHMS_RUN: dict[str, Runner] = {
    "random": _asktell("random"),
    "genetic": _asktell("genetic"),
    "gp": _asktell("gp"),
    "optuna-nsga2": _optuna("nsga2"),
    "optuna-tpe": _optuna("tpe"),
    "optuna-gp": _optuna("gp"),
}
CHECKPOINTS = (50, 100)


def hypervolume(outcomes: list[Outcome], ref: tuple[float, ...]) -> float:
    """Hypervolume of the feasible outcomes' objectives against `ref` (pymoo, exact)."""
    from pymoo.indicators.hv import HV

    F = np.array([o for o, c in outcomes if all(x <= 0 for x in c)], dtype=float)
    F = F[(np.array(ref) > F).all(axis=1)] if len(F) else F
    return float(HV(ref_point=np.array(ref))(F)) if len(F) else 0.0


def feasible_regret(outcomes: list[Outcome], optimum: float) -> float:
    """Best feasible value minus the known feasible optimum (inf while nothing is feasible)."""
    feasible = [o[0] for o, c in outcomes if all(x <= 0 for x in c)]
    return min(feasible) - optimum if feasible else math.inf


def score(problem: MoProblem, outcomes: list[Outcome]) -> float:
    if problem.n_objectives > 1:
        return hypervolume(outcomes, problem.ref)
    return feasible_regret(outcomes, problem.optimum)


def _cell(values: list[float], spec: str) -> str:
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    return f"{q50:{spec}} [{q25:{spec}}, {q75:{spec}}]"


def latency(repeats: int) -> tuple[float, float]:
    """Median seconds of one GP suggestion at 100 trials (5-d): one objective, two."""
    info = ALGORITHMS["gp"]
    space, results = make_history(5, 100, 0)
    X = np.array([[float(p[name]) for name in space.names] for p, _ in results])
    second = ((X - 0.7) ** 2).sum(axis=1)  # a second objective that pulls elsewhere
    single = History(
        seed=0, n_suggested=100, completed=tuple(Observation(p, v) for p, v in results)
    )
    double = History(
        seed=0,
        n_suggested=100,
        n_objectives=2,
        completed=tuple(
            Observation(p, v, (v, float(g))) for (p, v), g in zip(results, second, strict=True)
        ),
    )
    times: dict[int, list[float]] = {1: [], 2: []}
    for r in range(repeats):  # interleaved, so that a busy moment hits both alike
        for k, history in ((1, single), (2, double)):
            rng = np.random.default_rng([r, 100])
            start = time.perf_counter()
            info.suggest(space, history, 1, rng, info.settings_type(), NO_DEADLINE)
            times[k].append(time.perf_counter() - start)
    return statistics.median(times[1]), statistics.median(times[2])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    names = list(MO_PROBLEMS)
    parser.add_argument("--problems", nargs="+", default=names, choices=names)
    parser.add_argument(
        "--algorithms", nargs="+", default=list(ALGORITHMS_RUN), choices=list(ALGORITHMS_RUN)
    )
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0, help="the seeds start here")
    parser.add_argument("--trials", type=int, nargs="+", default=list(CHECKPOINTS))
    parser.add_argument("--quick", action="store_true", help="3 seeds, 50 trials")
    parser.add_argument("--repeats", type=int, default=7, help="latency repeats")
    parser.add_argument("--latency-only", action="store_true")
    parser.add_argument("--json", type=Path, help="also write every run's scores here")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.trials, args.repeats = 3, [50], 3
    if not args.latency_only:
        n_trials = max(args.trials)
        for name in args.problems:
            problem = MO_PROBLEMS[name]
            what = (
                f"hypervolume, ref {problem.ref}"
                if problem.n_objectives > 1
                else f"best feasible regret (optimum {problem.optimum})"
            )
            print(f"\n{name}: {what}")
            header = ["algorithm", *[f"@{t}" for t in args.trials], "s / run"]
            print("| " + " | ".join(header) + " |")
            print("|" + "---|" * len(header), flush=True)
            records: list[dict[str, Any]] = []
            for algo in args.algorithms:
                scores: dict[int, list[float]] = {t: [] for t in args.trials}
                seconds = []
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    start = time.perf_counter()
                    outcomes = ALGORITHMS_RUN[algo](problem, n_trials, seed)
                    seconds.append(time.perf_counter() - start)
                    for t in args.trials:
                        scores[t].append(score(problem, outcomes[:t]))
                    records.append(
                        {"problem": name, "algorithm": algo, "seed": seed, "outcomes": outcomes}
                    )
                # Four decimals of hypervolume: ZDT's last 0.1 of 120.67 is where GPs differ.
                spec = ".4f" if problem.n_objectives > 1 else ".4g"
                cells = [_cell(scores[t], spec) for t in args.trials]
                row = [algo, *cells, f"{np.median(seconds):.1f}"]
                print("| " + " | ".join(row) + " |", flush=True)
            if args.json:
                path = args.json.with_name(f"{args.json.stem}-{name}{args.json.suffix}")
                path.write_text(json.dumps(records))
    one, two = latency(args.repeats)
    print(f"\nGP suggestion at 100 trials, 5 parameters (median of {args.repeats})")
    print("| objectives | s / suggestion | ratio |")
    print("|---|---|---|")
    print(f"| 1 | {one:.3f} | 1.00 |")
    print(f"| 2 | {two:.3f} | {two / one:.2f} |", flush=True)


if __name__ == "__main__":
    main()
