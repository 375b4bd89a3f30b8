"""Fold pruning on 5-fold cross-validation: fold evaluations spent and best CV score reached.

    python benchmarks/cv_pruning.py                # 5 seeds, 40 configurations each
    python benchmarks/cv_pruning.py --quick        # 2 seeds, 20 configurations
    python benchmarks/cv_pruning.py --seeds 10 --trials 60 --data digits

The `sklearn` task's code (`asktell.worker.tasks.sklearn.cross_validate`: StratifiedKFold
seeded by the trial seed, one fold fitted and scored at a time, each fold reported)
tunes `HistGradientBoostingClassifier` on a bundled data set (breast_cancer by default)
for a fixed budget of configurations, in five set-ups:

- asktell random, racing off and on (`early_stopping: {name: racing}`, defaults):
  random suggestions do not depend on the history, so both runs of a seed try the
  same configurations and differ only in the folds racing saves;
- asktell gp with racing on (the GP learns from pruned trials too);
- Optuna's RandomSampler with no pruner and with its MedianPruner (folds reported as
  steps with `trial.report(score, fold)`; `n_startup_trials=1`, `n_warmup_steps=1`, so
  that it judges from the second fold as racing does) and with its
  SuccessiveHalvingPruner (`min_resource=1`, `reduction_factor=3`).

asktell runs through a real server (in-process, SQLite in a temporary folder): Ask,
Report per fold (the server's rule answers should_stop), Tell COMPLETE without a
value (the server tells the mean of the folds) or PRUNED. The table gives the median
over seeds of the fold evaluations spent (fits) and of the best CV accuracy reached,
and how many seeds reached the same best score as the same sampler without pruning.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import hashlib
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asktell.client import Client
from asktell.server.app import create_server
from asktell.server.storage import open_store
from asktell.worker.tasks.sklearn import Options, cross_validate, estimator_class

ESTIMATOR = "sklearn:sklearn.ensemble.HistGradientBoostingClassifier"
PARAMETERS: dict[str, dict[str, Any]] = {
    "learning_rate": {"type": "float", "min": 1e-3, "max": 1.0, "scale": "log"},
    "max_iter": {"type": "int", "min": 10, "max": 200, "scale": "log"},
    "max_leaf_nodes": {"type": "int", "min": 2, "max": 64, "scale": "log"},
    "min_samples_leaf": {"type": "int", "min": 1, "max": 100, "scale": "log"},
    "l2_regularization": {"type": "float", "min": 1e-6, "max": 10.0, "scale": "log"},
}
FOLDS = 5


@dataclass
class Outcome:
    fits: int
    best: float


class _Reporter:
    """What `cross_validate` needs: the seed, the threads, and a report() that asks someone."""

    def __init__(self, seed: int, trial_number: int, ask: Callable[[int, float], bool]) -> None:
        self.device = "cpu"
        self.seed = seed
        self.threads = 1
        self.trial_number = trial_number
        self.fits = 0
        self._ask = ask
        self._stopped = False

    @property
    def stopping(self) -> bool:
        return self._stopped

    def report(self, step: int, **metrics: float) -> bool:
        self.fits += 1
        self._stopped = self._ask(step, metrics["cv_accuracy"])
        return self._stopped


def _seed(study_seed: int, number: int) -> int:
    digest = hashlib.blake2b(f"{study_seed}:{number}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


def run_asktell(
    client: Client, algorithm: str, racing: float, n_trials: int, seed: int, data: str
) -> Outcome:
    """One study; `racing` is the rule's spread_factor (0: no early stopping)."""
    name = f"cv-{algorithm}-{racing:g}-{seed}"
    spec: dict[str, Any] = {
        "name": name,
        "objective": {"metric": "cv_accuracy", "goal": "maximize", "aggregate": "mean"},
        "algorithm": {"name": algorithm, "seed": seed},
        "max_trials": n_trials,
        "parameters": PARAMETERS,
    }
    if racing:
        spec["early_stopping"] = {"name": "racing", "spread_factor": racing}
    study = client.create_study(spec)
    estimator = estimator_class(ESTIMATOR)
    options = Options(data=data, cv=FOLDS)
    fits = 0
    while (trial := study.ask()) is not None:
        reporter = _Reporter(
            _seed(seed, trial.number), trial.number, lambda s, v, t=trial: t.report(s, v)
        )
        cross_validate(estimator, dict(trial.params), options, reporter)
        fits += reporter.fits
        if reporter.stopping:
            trial.prune("racing")
        else:
            trial.tell(None)  # the server tells the mean of the reported folds
    best = study.best_trial
    assert best is not None and best.value is not None
    return Outcome(fits, best.value)


def run_optuna(pruner_name: str, n_trials: int, seed: int, data: str) -> Outcome:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruners: dict[str, Callable[[], Any]] = {
        "none": optuna.pruners.NopPruner,
        "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=1),
        "sha": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
    }
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=seed),
        pruner=pruners[pruner_name](),
    )
    estimator = estimator_class(ESTIMATOR)
    options = Options(data=data, cv=FOLDS)
    fits = 0
    best = -1.0
    for _ in range(n_trials):
        trial = study.ask()
        params = {
            "learning_rate": trial.suggest_float("learning_rate", 1e-3, 1.0, log=True),
            "max_iter": trial.suggest_int("max_iter", 10, 200, log=True),
            "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 2, 64, log=True),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 100, log=True),
            "l2_regularization": trial.suggest_float("l2_regularization", 1e-6, 10.0, log=True),
        }

        def ask(step: int, value: float, t: Any = trial) -> bool:
            t.report(value, step)
            return bool(t.should_prune())

        reporter = _Reporter(_seed(seed, trial.number + 1), trial.number + 1, ask)
        result = cross_validate(estimator, params, options, reporter)
        fits += reporter.fits
        if reporter.stopping:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, result["cv_accuracy"])
            best = max(best, result["cv_accuracy"])
    return Outcome(fits, best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--data", default="breast_cancer")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--spread-factors",
        type=float,
        nargs="+",
        default=[2.0],
        help="racing's spread_factor for the asktell random rows (2 is the default)",
    )
    parser.add_argument("--no-optuna", action="store_true", help="asktell rows only")
    parser.add_argument("--no-gp", action="store_true", help="no asktell gp row")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.trials = 2, 20
    import optuna
    import sklearn

    started = time.monotonic()
    results: dict[str, list[Outcome]] = {}
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{folder}/bench.db")
        server, port = create_server(store, "127.0.0.1:0")
        server.start()
        try:
            with Client(f"127.0.0.1:{port}") as client:
                for seed in range(args.seeds):
                    runs: list[tuple[str, Callable[..., Outcome], tuple[Any, ...]]] = [
                        ("asktell random, no pruning", run_asktell, (client, "random", 0.0)),
                        *(
                            (
                                "asktell random, racing"
                                + ("" if factor == 2.0 else f" (spread_factor {factor:g})"),
                                run_asktell,
                                (client, "random", factor),
                            )
                            for factor in args.spread_factors
                        ),
                    ]
                    if not args.no_gp:
                        runs.append(("asktell gp, racing", run_asktell, (client, "gp", 2.0)))
                    if not args.no_optuna:
                        runs += [
                            ("optuna random, no pruning", run_optuna, ("none",)),
                            ("optuna random, MedianPruner", run_optuna, ("median",)),
                            ("optuna random, SuccessiveHalving", run_optuna, ("sha",)),
                        ]
                    for label, function, head in runs:
                        outcome = function(*head, args.trials, seed, args.data)
                        results.setdefault(label, []).append(outcome)
                        print(f"seed {seed} {label}: {results[label][-1]}", file=sys.stderr)
        finally:
            server.stop(None)
            store.close()

    full = args.trials * FOLDS
    print(
        f"\n{args.trials} configurations x {FOLDS} folds ({full} fold evaluations without "
        f"pruning), HistGradientBoostingClassifier on {args.data}, {args.seeds} seeds; "
        f"median over seeds [min, max]\n"
    )
    print("| set-up | fold evaluations | saved | best CV accuracy | same best as unpruned |")
    print("| --- | --- | --- | --- | --- |")
    for label, outcomes in results.items():
        baseline = results[
            "asktell random, no pruning"
            if label.startswith("asktell")
            else "optuna random, no pruning"
        ]
        fits = [o.fits for o in outcomes]
        bests = [o.best for o in outcomes]
        same = sum(abs(o.best - b.best) < 1e-12 for o, b in zip(outcomes, baseline, strict=True))
        saved = 1 - statistics.median(fits) / full
        print(
            f"| {label} | {statistics.median(fits):.0f} [{min(fits)}, {max(fits)}] | "
            f"{saved:.0%} | {statistics.median(bests):.4f} [{min(bests):.4f}, {max(bests):.4f}] "
            f"| {same}/{len(outcomes)} |"
        )
    print(
        f"\n{time.strftime('%Y-%m-%d')}, {platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, scikit-learn {sklearn.__version__}, "
        f"Optuna {optuna.__version__}; {time.monotonic() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
