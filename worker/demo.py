"""`asktell demo`: a server on SQLite and worker processes training an MLP on the digits.

It runs what a user would: `asktell serve`, a study from the digits-MLP spec, and
`asktell worker --processes N --task digits-mlp`, then shows the search as it goes.
It talks to both through the command line and the client, so it needs the server
and the worker extras (its entry point says so) but imports neither part.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from typing import Any

import click

from asktell.client import Client, NotFoundError, Study

DEMO_STUDY = "digits-mlp-demo"
POLL_SECONDS = 0.5


def demo_spec(algorithm: str, n_trials: int) -> dict[str, Any]:
    """The spec of examples/digits-mlp.yaml, under the demo's own name."""
    return {
        "name": DEMO_STUDY,
        "objective": {"metric": "val_accuracy", "goal": "maximize"},
        "algorithm": {"name": algorithm, "seed": 7},
        "max_trials": n_trials,
        "lease_seconds": 60,
        "max_retries": 1,
        "early_stopping": {"name": "median", "min_steps": 3, "min_trials": 4},
        "parameters": {
            "lr": {"type": "float", "min": 1e-4, "max": 1e-1, "scale": "log"},
            "weight_decay": {"type": "float", "min": 1e-6, "max": 1e-2, "scale": "log"},
            "width": {"type": "int", "min": 16, "max": 256, "scale": "log"},
            "depth": {"type": "int", "min": 1, "max": 3},
            "dropout": {"type": "float", "min": 0.0, "max": 0.5},
            "batch_size": {"type": "discrete", "values": [16, 32, 64, 128]},
            "optimizer": {"type": "categorical", "values": ["adam", "sgd"]},
            "epochs": {"type": "int", "min": 5, "max": 20},
        },
    }


def _cli(*args: str) -> list[str]:
    """`asktell ARGS` with this interpreter (the script may not be on PATH)."""
    return [sys.executable, "-m", "asktell.client._cli", *args]


def start_server(db: str) -> tuple[subprocess.Popen[str], str]:
    """`asktell serve` on a free loopback port; returns the process and its address."""
    process = subprocess.Popen(
        _cli("serve", "--db", db, "--port", "0"),
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


def _fresh_study(client: Client, spec: dict[str, Any]) -> Study:
    """The demo study, started over: a rerun shows a whole search again."""
    with contextlib.suppress(NotFoundError):
        client.delete_study(spec["name"])
    return client.create_study(spec)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def run_demo(*, n_trials: int, processes: int, algorithm: str, db: str) -> None:
    """Serve, create the study, run the workers with a progress bar, print a summary."""
    started = time.monotonic()
    server, address = start_server(db)
    click.echo(f"server on {address}, store {db}")
    try:
        with Client(address) as client, tempfile.TemporaryFile("w+") as log:
            study = _fresh_study(client, demo_spec(algorithm, n_trials))
            click.echo(
                f"study {study.id}: {algorithm}, {n_trials} trials, median early stopping, "
                f"{processes} worker processes training an MLP on the digits"
            )
            workers = subprocess.Popen(
                _cli(
                    "worker",
                    "--server",
                    address,
                    "--study",
                    study.id,
                    "--task",
                    "digits-mlp",
                    "--processes",
                    str(processes),
                ),
                stdout=log,
                stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            _follow(study, workers, n_trials)
            if workers.wait() != 0:
                log.seek(0)
                raise click.ClickException(f"the workers failed:\n{log.read()[-3000:]}")
            _summary(study, time.monotonic() - started)
    finally:
        server.terminate()
        server.wait(timeout=15)


def _follow(study: Study, workers: subprocess.Popen[bytes], n_trials: int) -> None:
    """A progress bar of finished trials until the worker processes exit."""
    with click.progressbar(length=n_trials, label="trials", show_pos=True) as bar:
        shown = 0
        while True:
            running = workers.poll() is None
            counts = study.info().counts
            done = counts.complete + counts.failed + counts.pruned
            best = study.best_trial
            best_text = "-" if best is None or best.value is None else f"{best.value:.4f}"
            bar.label = f"best val_accuracy {best_text}, {counts.pruned} pruned"
            bar.update(done - shown)
            shown = done
            if not running:
                return
            time.sleep(POLL_SECONDS)


def _summary(study: Study, seconds: float) -> None:
    trials = study.trials()
    best = study.best_trial
    by_state = Counter(t.state for t in trials)
    click.echo("trials: " + ", ".join(f"{n} {s.lower()}" for s, n in sorted(by_state.items())))
    if best is not None and best.value is not None:
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items())
        click.echo(f"best trial {best.number}: val_accuracy {best.value:.4f}")
        click.echo(f"  {params}")
    click.echo(f"time: {seconds:.1f} s ({len(trials) / seconds * 60:.0f} trials per minute)")


@click.command("demo")
@click.option("--trials", "n_trials", default=20, show_default=True, help="Trials to run.")
@click.option("--processes", default=2, show_default=True, help="Worker processes.")
@click.option("--algorithm", default="gp", show_default=True, help="grid, random, gp, genetic.")
@click.option("--db", default="sqlite:///asktell-demo.db", show_default=True)
def demo_command(n_trials: int, processes: int, algorithm: str, db: str) -> None:
    """Start a server on SQLite and worker processes tuning an MLP on the digits."""
    run_demo(n_trials=n_trials, processes=processes, algorithm=algorithm, db=db)
