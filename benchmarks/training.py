"""A real training task: how good the trials after the initial design are, on average.

    python benchmarks/training.py                           # 40 trials, 5 seeds, 3 algorithms
    python benchmarks/training.py --trials 30 --seeds 3 --algorithms gp optuna-tpe

The task is the built-in `sklearn:sklearn.ensemble.HistGradientBoostingClassifier` on
scikit-learn's bundled breast-cancer data (`--task-option data=breast_cancer cv=3`), the
search space of examples/sklearn-hgb.yaml (learning rate, iterations, leaf nodes, leaf
size, L2; log scales) with at most `--max-iter` boosting iterations. Each trial runs the
task in-process with the same trial seed (0), so a configuration always scores the
same and every algorithm sees the same function. asktell's GP is called as the server
calls it (`benchmarks/loop.py`); Optuna's TPESampler and GPSampler run their ask/tell
loops on the same space. The objective is the cross-validated accuracy (maximised; the
algorithms minimise 1 - accuracy). Reported per algorithm, median [25th, 75th
percentile] over seeds: the mean accuracy of the trials after the first `--skip`
(the largest initial design of the three: Optuna's samplers start with 10 random
trials, asktell's GP with 6 quasi-random ones here), the best accuracy, and the
seconds per run.
"""

from __future__ import annotations

import os

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

from asktell.server.domain import FloatParam, IntParam, Params, Scale, SearchSpace
from asktell.worker.tasks import sklearn_task
from benchmarks.loop import run
from benchmarks.quality import optuna_distribution

ESTIMATOR = "sklearn:sklearn.ensemble.HistGradientBoostingClassifier"
METRIC = "cv_accuracy"


class _Reporter:
    """The task's reporter in-process: fixed seed, one thread, never stops the trial."""

    device = "cpu"
    seed = 0
    threads = 1
    trial_number = 0
    stopping = False

    def report(self, step: int, **metrics: float) -> bool:
        return False


def space(max_iter: int) -> SearchSpace:
    """examples/sklearn-hgb.yaml's parameters, iterations capped at `max_iter`."""
    return SearchSpace(
        (
            FloatParam("learning_rate", 1e-3, 1.0, Scale.LOG),
            IntParam("max_iter", 10, max_iter, Scale.LOG),
            IntParam("max_leaf_nodes", 2, 64, Scale.LOG),
            IntParam("min_samples_leaf", 1, 100, Scale.LOG),
            FloatParam("l2_regularization", 1e-6, 10.0, Scale.LOG),
        )
    )


def objective(data: str, cv: int) -> Callable[[Params], float]:
    """1 - the task's cross-validated accuracy of a configuration (lower is better)."""
    task = sklearn_task(ESTIMATOR, {"data": data, "cv": str(cv)})
    assert task is not None

    def error(params: Params) -> float:
        return 1.0 - float(task(dict(params), _Reporter())[METRIC])

    return error


Runner = Callable[[SearchSpace, Callable[[Params], float], int, int], list[float]]


def _asktell_gp(sp: SearchSpace, f: Callable[[Params], float], n: int, seed: int) -> list[float]:
    return run("gp", sp, f, n, seed)


def _optuna(kind: str) -> Runner:
    def runner(sp: SearchSpace, f: Callable[[Params], float], n: int, seed: int) -> list[float]:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler: Any = (
            optuna.samplers.TPESampler(seed=seed)
            if kind == "tpe"
            else optuna.samplers.GPSampler(seed=seed)
        )
        study = optuna.create_study(sampler=sampler)
        dists = {p.name: optuna_distribution(p) for p in sp.params}
        values = []
        for _ in range(n):
            trial = study.ask(dists)
            value = f(trial.params)
            study.tell(trial, value)
            values.append(value)
        return values

    return runner


ALGORITHMS: dict[str, Runner] = {
    "gp": _asktell_gp,
    "optuna-tpe": _optuna("tpe"),
    "optuna-gp": _optuna("gp"),
}


def _cell(values: list[float]) -> str:
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    return f"{q50:.4f} [{q25:.4f}, {q75:.4f}]"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--algorithms", nargs="+", default=list(ALGORITHMS), choices=list(ALGORITHMS)
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--skip", type=int, default=10, help="initial trials left out of the mean")
    parser.add_argument("--data", default="breast_cancer")
    parser.add_argument("--cv", type=int, default=3)
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write every run's accuracies here")
    args = parser.parse_args(argv)
    sp, f = space(args.max_iter), objective(args.data, args.cv)
    header = [
        "algorithm",
        f"mean accuracy, trials {args.skip + 1}-{args.trials}",
        f"best accuracy @{args.trials}",
        "s / run",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header), flush=True)
    records: list[dict[str, Any]] = []
    for algo in args.algorithms:
        means, bests, seconds = [], [], []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            start = time.perf_counter()
            errors = ALGORITHMS[algo](sp, f, args.trials, seed)
            seconds.append(time.perf_counter() - start)
            accuracy = 1.0 - np.array(errors)
            means.append(float(accuracy[args.skip :].mean()))
            bests.append(float(accuracy.max()))
            records.append({"algorithm": algo, "seed": seed, "accuracy": accuracy.tolist()})
            if args.json:
                args.json.write_text(json.dumps(records))
        cells = [_cell(means), _cell(bests), f"{np.median(seconds):.0f}"]
        print("| " + " | ".join([algo, *cells]) + " |", flush=True)


if __name__ == "__main__":
    main()
