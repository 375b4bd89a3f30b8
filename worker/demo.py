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
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import click

from asktell.client import Client, NotFoundError, Study

DEMO_STUDY = "digits-mlp-demo"
POLL_SECONDS = 0.5
ALGORITHMS = ("gp", "random", "genetic", "grid")
# A grid needs a finite axis for each float: three points each, visited in shuffled order so
# that a short demo samples the whole grid rather than the corner of its first axes.
GRID_POINTS = 3


def demo_spec(algorithm: str, n_trials: int) -> dict[str, Any]:
    """The spec of examples/digits-mlp.yaml, under the demo's own name.

    For grid, each float parameter gets `grid_points` and the grid is shuffled.
    """
    algo: dict[str, Any] = {"name": algorithm, "seed": 7}
    if algorithm == "grid":
        algo["shuffle"] = True
    spec: dict[str, Any] = {
        "name": DEMO_STUDY,
        "objective": {"metric": "val_accuracy", "goal": "maximize"},
        "algorithm": algo,
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
    if algorithm == "grid":
        for parameter in spec["parameters"].values():
            if parameter["type"] == "float":
                parameter["grid_points"] = GRID_POINTS
    return spec


def _cli(*args: str) -> list[str]:
    """`asktell ARGS` with this interpreter (the script may not be on PATH)."""
    return [sys.executable, "-m", "asktell.client._cli", *args]


def start_server(db: str, log: IO[str]) -> tuple[subprocess.Popen[str], str]:
    """`asktell serve` on a free loopback port, its log to `log`; the process and its address."""
    process = subprocess.Popen(
        _cli("serve", "--db", db, "--port", "0"),
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"serving on (\S+:\d+)", line)
    if not match:
        process.kill()
        process.wait()
        raise click.ClickException(f"the server did not start: {_tail(log)}")
    return process, match.group(1)


def _tail(log: IO[str], limit: int = 3000) -> str:
    log.flush()
    log.seek(0)
    return log.read()[-limit:].strip()


def _fresh_study(client: Client, spec: dict[str, Any]) -> Study:
    """The demo study, started over: a rerun shows a whole search again.

    Only a study that is there is deleted: a first run asks nothing that fails.
    """
    if any(info.id == spec["name"] for info in client.list_studies()):
        with contextlib.suppress(NotFoundError):  # deleted meanwhile
            client.delete_study(spec["name"])
    return client.create_study(spec)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def run_demo(*, n_trials: int, processes: int, algorithm: str, db: str) -> None:
    """Serve, create the study, run the workers with progress, print a summary and what next."""
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as server_log:
        server, address = start_server(db, server_log)
        click.echo(f"server on {address}, store {db}")
        try:
            with Client(address) as client:
                study = _fresh_study(client, demo_spec(algorithm, n_trials))
                click.echo(
                    f"study {study.id}: {algorithm}, {n_trials} trials, median early stopping, "
                    f"{processes} worker processes training an MLP on the digits"
                )
                _run_workers(study, address, n_trials, processes)
                _summary(study, time.monotonic() - started)
        except click.ClickException:
            if server.poll() is not None:
                click.echo(f"the server exited; its log:\n{_tail(server_log)}", err=True)
            raise
        finally:
            server.terminate()
            server.wait(timeout=15)
    click.echo(next_steps(db, DEMO_STUDY, _asktell_command()))


def _run_workers(study: Study, address: str, n_trials: int, processes: int) -> None:
    """`asktell worker --processes N` on the study, with progress until it exits."""
    with tempfile.TemporaryFile("w+") as log:
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
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        if sys.stdout.isatty():
            _follow_bar(study, workers, n_trials)
        else:
            _follow_lines(study, workers, n_trials, click.echo)
        if workers.wait() != 0:
            raise click.ClickException(f"the workers failed:\n{_tail(log)}")


def progress_line(study: Study, n_trials: int) -> str:
    """`trials 7/20 finished (5 complete, 1 pruned, 1 failed), 2 running, best ...`."""
    counts = study.info().counts
    done = counts.complete + counts.failed + counts.pruned
    best = study.best_trial
    best_text = "-" if best is None or best.value is None else f"{best.value:.4f}"
    return (
        f"trials {done}/{n_trials} finished ({counts.complete} complete, {counts.pruned} pruned, "
        f"{counts.failed} failed), {counts.running} running, best val_accuracy {best_text}"
    )


def _follow_lines(
    study: Study, workers: subprocess.Popen[str], n_trials: int, echo: Callable[[str], None]
) -> None:
    """Without a terminal: a progress line at the start and each time a trial finishes."""
    last = ""
    while True:
        running = workers.poll() is None
        line = progress_line(study, n_trials)
        finished = line.partition(" finished")[0]  # "trials 7/20"
        if finished != last:
            echo(line)
            last = finished
        if not running:
            return
        time.sleep(POLL_SECONDS)


def _follow_bar(study: Study, workers: subprocess.Popen[str], n_trials: int) -> None:
    """On a terminal: a progress bar of finished trials until the worker processes exit."""
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


def _asktell_command() -> str:
    """How to run `asktell` from here: the name on PATH, else the script beside this Python."""
    beside = Path(sys.executable).parent / "asktell"
    on_path = shutil.which("asktell")
    if not beside.exists() or (on_path and Path(on_path).resolve() == beside.resolve()):
        return "asktell"
    try:
        return str(beside.relative_to(Path.cwd()))
    except ValueError:
        return str(beside)


def next_steps(db: str, study: str, asktell: str = "asktell") -> str:
    """What to run after the demo: a server on the demo's store, workers, the study, the UI."""
    server = "127.0.0.1:50051"
    return "\n".join(
        [
            "",
            "next: the study stays in the store; run the pieces yourself (each in a terminal):",
            f"  {asktell} serve --db {db}",
            f"  {asktell} study update {study} --more-trials 20 --server {server}",
            f"  {asktell} worker --server {server} --study {study} --task digits-mlp",
            f"  {asktell} study show {study} --server {server}",
            f"  {asktell} dashboard --server {server}      # then open http://127.0.0.1:8080/",
            "  your own study: README.md (a spec file, `study create -f`, a task of yours)",
        ]
    )


@click.command("demo")
@click.option(
    "--trials",
    "n_trials",
    envvar="ASKTELL_DEMO_TRIALS",
    default=20,
    show_default=True,
    type=click.IntRange(min=1),
    help="Trials to run. [env ASKTELL_DEMO_TRIALS]",
)
@click.option(
    "--processes",
    envvar="ASKTELL_DEMO_PROCESSES",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes. [env ASKTELL_DEMO_PROCESSES]",
)
@click.option(
    "--algorithm",
    envvar="ASKTELL_DEMO_ALGORITHM",
    default="gp",
    show_default=True,
    type=click.Choice(ALGORITHMS),
    help="The study's algorithm (grid: 3 points per float, shuffled). [env ASKTELL_DEMO_ALGORITHM]",
)
@click.option(
    "--db",
    envvar="ASKTELL_DEMO_DB",
    default="sqlite:///asktell-demo.db",
    show_default=True,
    help="The demo server's store. [env ASKTELL_DEMO_DB]",
)
def demo_command(n_trials: int, processes: int, algorithm: str, db: str) -> None:
    """Start a server on SQLite and worker processes tuning an MLP on the digits."""
    run_demo(n_trials=n_trials, processes=processes, algorithm=algorithm, db=db)
