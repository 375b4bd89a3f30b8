"""Time of one GP suggestion against peers, on the same history.

    python benchmarks/latency.py                      # 50..1000 trials, 5 and 10 dims
    python benchmarks/latency.py --trials 50 200 --dims 5 --repeats 3

Each column is a function (space, results, rng) -> seconds for one suggestion given the
same completed trials; add a column by adding an entry to `COLUMNS`.

asktell's columns time the Ask of a study that already had one: the trials but the last
are added, one Ask is made and told (so the store holds the GP's fitted hyperparameters,
which the timed Ask's fit starts from, as every Ask but a study's first does), then the
timed Ask runs on as many completed trials as the other columns get.
"""

from __future__ import annotations

import os

# Small matrices: one BLAS thread is faster than two fighting (see docs/benchmarks.md).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asktell.server.algorithms import ALGORITHMS
from asktell.server.algorithms.base import NO_DEADLINE, state_of
from asktell.server.domain import FloatParam, Params, SearchSpace
from benchmarks.loop import history_of

Results = list[tuple[Params, float]]
Column = Callable[[SearchSpace, Results, int], float]


def _objective(x: np.ndarray) -> float:
    return float(np.sum(np.sin(3.0 * x) * (x - 0.3) ** 2))


def make_history(d: int, n: int, seed: int) -> tuple[SearchSpace, Results]:
    """A d-dimensional unit-box space and n completed random trials of a smooth function."""
    space = SearchSpace(tuple(FloatParam(f"x{i}", 0.0, 1.0) for i in range(d)))
    X = np.random.default_rng(seed).random((n, d))
    return space, [({f"x{i}": float(v) for i, v in enumerate(x)}, _objective(x)) for x in X]


def _value(params: Params) -> float:
    return _objective(np.array([params[f"x{i}"] for i in range(len(params))], dtype=float))


def asktell_gp(space: SearchSpace, results: Results, seed: int) -> float:
    """The suggestion in-process, after a warm-up Ask on all but the last trial (its state)."""
    info = ALGORITHMS["gp"]
    settings = info.settings_type()
    before = history_of(seed, results[:-1])
    rng = np.random.default_rng([seed, len(results) - 1])
    [warm_up] = info.suggest(space, before, 1, rng, settings, NO_DEADLINE)
    done = [*results[:-1], (warm_up.params, _value(warm_up.params))]
    history = history_of(seed, done, state=state_of([warm_up]))
    rng = np.random.default_rng([seed, len(results)])
    start = time.perf_counter()
    info.suggest(space, history, 1, rng, settings, NO_DEADLINE)
    return time.perf_counter() - start


def asktell_rpc(space: SearchSpace, results: Results, seed: int) -> float:
    """One Ask RPC end to end: a real server on a SQLite file, history read from the store,
    after a warm-up Ask (told) on all but the last trial."""
    import tempfile

    from asktell.client import Client
    from asktell.server.app import create_server
    from asktell.server.storage import open_store

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/latency.db")
        server, port = create_server(store, "127.0.0.1:0")
        server.start()
        try:
            with Client(f"127.0.0.1:{port}") as client:
                study = client.create_study(
                    {
                        "name": "latency",
                        "objective": {"metric": "y", "goal": "minimize"},
                        "algorithm": {"name": "gp", "seed": seed},
                        "parameters": {
                            name: {"type": "float", "min": 0.0, "max": 1.0} for name in space.names
                        },
                    }
                )
                study.add_trials([{"params": dict(p), "value": v} for p, v in results[:-1]])
                warm_up = study.ask()
                assert warm_up is not None
                client.tell(warm_up, _value(warm_up.params))
                start = time.perf_counter()
                trial = study.ask()
                elapsed = time.perf_counter() - start
                assert trial is not None
        finally:
            server.stop(None)
            store.close()
    return elapsed


def optuna_gp(space: SearchSpace, results: Results, seed: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {p.name: optuna.distributions.FloatDistribution(0.0, 1.0) for p in space.params}
    study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=seed))
    study.add_trials(
        [
            optuna.trial.create_trial(params=dict(p), distributions=dists, value=v)
            for p, v in results
        ]
    )
    start = time.perf_counter()
    trial = study.ask(dists)
    elapsed = time.perf_counter() - start
    study.tell(trial, 0.0)
    return elapsed


def skopt_gp(space: SearchSpace, results: Results, seed: int) -> float:
    from skopt import Optimizer

    opt = Optimizer([(0.0, 1.0)] * len(space.params), base_estimator="GP", random_state=seed)
    X = [[float(p[name]) for name in space.names] for p, _ in results]
    start = time.perf_counter()
    opt.tell(X, [v for _, v in results])  # fits the GP, as asktell refits on each Ask
    opt.ask()
    return time.perf_counter() - start


COLUMNS: dict[str, Column] = {
    "asktell gp": asktell_gp,
    "asktell Ask RPC": asktell_rpc,
    "optuna GPSampler": optuna_gp,
    "skopt Optimizer": skopt_gp,
}


def measure(column: Column, space: SearchSpace, results: Results, repeats: int) -> str:
    try:
        times = [column(space, results, seed) for seed in range(repeats)]
    except (ImportError, OSError) as exc:  # Optuna's GPSampler needs torch
        return f"n/a ({type(exc).__name__})"
    return f"{statistics.median(times):.3f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[50, 100, 200, 500, 1000])
    parser.add_argument("--dims", type=int, nargs="+", default=[5, 10])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--columns", nargs="+", default=list(COLUMNS), choices=list(COLUMNS))
    args = parser.parse_args(argv)
    header = ["dims", "trials", *[f"{c} (s)" for c in args.columns]]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for d in args.dims:
        for n in args.trials:
            space, results = make_history(d, n, seed=d * 10_000 + n)
            cells = [measure(COLUMNS[c], space, results, args.repeats) for c in args.columns]
            print("| " + " | ".join([str(d), str(n), *cells]) + " |", flush=True)


if __name__ == "__main__":
    main()
