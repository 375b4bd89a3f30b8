"""The demo behind `asktell demo`: a server on SQLite and clients tuning a classifier."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import click

from asktell.client._client import Client
from asktell.client._models import Trial

DEMO_STUDY = "digits-svc-demo"


def demo_spec(algorithm: str, n_trials: int) -> dict[str, Any]:
    return {
        "name": DEMO_STUDY,
        "objective": {"metric": "val_accuracy", "goal": "maximize"},
        "algorithm": {"name": algorithm, "seed": 7},
        "max_trials": n_trials,
        "parameters": {
            "C": {"type": "float", "min": 1e-2, "max": 1e3, "scale": "log", "grid_points": 6},
            "gamma": {"type": "float", "min": 1e-5, "max": 1e-1, "scale": "log", "grid_points": 5},
            "kernel": {"type": "categorical", "values": ["rbf", "sigmoid"]},
        },
    }


def evaluate(trial: Trial) -> float:
    """3-fold cross-validated accuracy of an SVM on scikit-learn's bundled digits."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import cross_val_score
    from sklearn.svm import SVC

    features, labels = load_digits(return_X_y=True)
    model = SVC(C=trial.params["C"], gamma=trial.params["gamma"], kernel=trial.params["kernel"])
    return float(cross_val_score(model, features / 16.0, labels, cv=3).mean())


def start_server(db: str) -> tuple[subprocess.Popen[str], str]:
    """`asktell serve` on a free loopback port; returns the process and its address."""
    process = subprocess.Popen(
        [sys.executable, "-m", "asktell.client._cli", "serve", "--db", db, "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"serving on (\S+:\d+)", line)
    if not match:
        process.kill()
        raise click.ClickException(f"the server did not start: {line.strip()!r}")
    return process, match.group(1)


def run_demo(*, n_trials: int, jobs: int, algorithm: str, db: str) -> None:
    started = time.monotonic()
    server, address = start_server(db)
    click.echo(f"server on {address}, store {db}")
    try:
        with Client(address) as client:
            study = client.create_study(demo_spec(algorithm, n_trials))
            done = study.info().counts
            already = done.complete + done.failed + done.pruned
            click.echo(f"study {study.id}: {algorithm}, {n_trials} trials, {jobs} clients")
            with click.progressbar(length=max(n_trials - already, 0), label="trials") as bar:

                def progress(trial: Trial) -> None:
                    bar.label = f"trial {trial.number:>3} {trial.state:<8} best {best_value()}"
                    bar.update(1)

                def best_value() -> str:
                    best = study.best_trial
                    return "-" if best is None or best.value is None else f"{best.value:.4f}"

                study.optimize(evaluate, n_jobs=jobs, on_trial=progress)
            trials = study.trials()
            best = study.best_trial
        by_state = Counter(t.state for t in trials)
        click.echo("trials: " + ", ".join(f"{n} {s.lower()}" for s, n in sorted(by_state.items())))
        if best is not None:
            params = ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in best.params.items()
            )
            click.echo(f"best trial {best.number}: val_accuracy {best.value:.4f} ({params})")
        click.echo(f"time: {time.monotonic() - started:.1f} s")
    finally:
        server.terminate()
        server.wait(timeout=15)
