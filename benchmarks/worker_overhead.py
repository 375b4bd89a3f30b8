"""Worker overhead: the share of wall time a worker spends outside the training function,
and digits-MLP trials per minute with 1 and 2 worker processes.

    python benchmarks/worker_overhead.py                  # about 3 minutes on 2 cores
    python benchmarks/worker_overhead.py --part start-up  # one worker's start, 5 times

Overhead runs `Worker` in this process against `asktell serve` (SQLite) in
another, with a task that sleeps for the trial's length in 10 reported steps,
so the CPU is free and only the worker's own work (Ask, Report, heartbeats,
Tell) shows. Throughput runs `asktell worker --processes N --task digits-mlp`
and counts trials per minute from the first Ask to the last Tell (steady state),
and over the whole run including process start-up (torch import). Start-up runs
`asktell worker --task digits-mlp --max-trials 1` on a study of one 1-epoch trial,
five times: the process's wall and CPU time (user + system, its children included),
the medians of the last four (the first also writes .pyc files).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from asktell.client import Client
from asktell.worker.demo import start_server
from asktell.worker.device import Placement
from asktell.worker.loop import Worker, WorkerConfig
from asktell.worker.tasks import Reporter

STEPS = 10


def sleeper(params: dict[str, Any], reporter: Reporter) -> dict[str, float]:
    """A trial of `seconds` doing nothing but reporting STEPS times."""
    for step in range(1, STEPS + 1):
        time.sleep(float(params["seconds"]) / STEPS)
        reporter.report(step, loss=float(params["x"]))
    return {"loss": float(params["x"])}


def overhead(
    address: str, name: str, algorithm: str, seconds: float, n: int, prefetch: bool
) -> str:
    with Client(address) as client:
        client.create_study(
            {
                "name": name,
                "objective": {"metric": "loss", "goal": "minimize"},
                "algorithm": {"name": algorithm, "seed": 1},
                "max_trials": n,
                "lease_seconds": 30,
                "parameters": {
                    "x": {"type": "float", "min": 0.0, "max": 1.0},
                    "y": {"type": "float", "min": 0.0, "max": 1.0},
                    "seconds": {"type": "float", "min": seconds, "max": seconds},
                },
            }
        )
    config = WorkerConfig(
        server=address, study=name, task="benchmarks.worker_overhead:sleeper", prefetch=prefetch
    )
    stats = Worker(config, Placement("cpu", None, 1)).run()
    outside = stats.wall_seconds - stats.task_seconds
    # Reports run inside the task: wall time beyond the sleeping counts them too.
    beyond = stats.wall_seconds - stats.n_trials * seconds
    return (
        f"| {seconds:g} s | {algorithm} | {'yes' if prefetch else 'no'} | {stats.n_trials} "
        f"| {stats.wall_seconds:.2f} | {outside / stats.n_trials * 1000:.1f} "
        f"| {outside / stats.wall_seconds:.2%} | {beyond / stats.wall_seconds:.2%} |"
    )


def run_digits_worker(address: str, study: str, *args: str) -> None:
    """`asktell worker --task digits-mlp --device cpu` on `study` to its end (exit 0)."""
    subprocess.run(
        [
            *(sys.executable, "-m", "asktell.client._cli", "worker", "--server", address),
            *("--study", study, "--task", "digits-mlp", "--device", "cpu", *args),
        ],
        check=True,
        capture_output=True,
    )


def throughput(address: str, name: str, processes: int, n: int) -> str:
    with Client(address) as client:
        study = client.create_study(
            {
                "name": name,
                "objective": {"metric": "val_accuracy", "goal": "maximize"},
                "algorithm": {"name": "random", "seed": 1},
                "max_trials": n,
                "parameters": {
                    "lr": {"type": "float", "min": 1e-3, "max": 1e-2, "scale": "log"},
                    "width": {"type": "int", "min": 64, "max": 64},
                    "batch_size": {"type": "discrete", "values": [32]},
                    "epochs": {"type": "int", "min": 5, "max": 5},
                },
            }
        )
        started = time.monotonic()
        run_digits_worker(address, name, "--processes", str(processes))
        wall = time.monotonic() - started
        trials = study.trials()
    first = min(t.create_time for t in trials if t.create_time)
    last = max(t.end_time for t in trials if t.end_time)
    steady = (last - first).total_seconds()
    return (
        f"| {processes} | {len(trials)} | {steady:.1f} | {len(trials) / steady * 60:.0f} "
        f"| {wall:.1f} | {len(trials) / wall * 60:.0f} |"
    )


def start_up(address: str, runs: int = 5) -> str:
    """One worker process with one short digits trial, `runs` times: median wall and CPU."""
    walls, cpus = [], []
    with Client(address) as client:
        for run in range(runs):
            name = f"start-up-{run}"
            client.create_study(
                {
                    "name": name,
                    "objective": {"metric": "val_accuracy", "goal": "maximize"},
                    "algorithm": {"name": "random", "seed": run},
                    "max_trials": 1,
                    "parameters": {
                        "width": {"type": "fixed", "value": 32},
                        "epochs": {"type": "fixed", "value": 1},
                    },
                }
            )
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.monotonic()
            run_digits_worker(address, name, "--max-trials", "1")
            walls.append(time.monotonic() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return (
        f"| {runs - 1} | {statistics.median(walls[1:]):.2f} | {statistics.median(cpus[1:]):.2f} "
        f"| {min(walls):.2f}-{max(walls):.2f} |"
    )


def overhead_table(address: str) -> None:
    print(
        "| trial | algorithm | prefetch | trials | wall s | outside task ms/trial "
        "| outside task | all but the work |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for i, (seconds, algorithm, n, prefetch) in enumerate(
        [
            (1.0, "random", 10, False),
            (1.0, "gp", 20, False),
            (1.0, "gp", 20, True),
            (10.0, "random", 4, False),
        ]
    ):
        print(overhead(address, f"overhead-{i}", algorithm, seconds, n, prefetch))
    print()


def throughput_table(address: str) -> None:
    print("| processes | trials | steady s | trials/min | wall s | trials/min incl. start |")
    print("| --- | --- | --- | --- | --- | --- |")
    for processes in (1, 2):
        print(throughput(address, f"throughput-{processes}", processes, 16))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--part", choices=["all", "overhead", "throughput", "start-up"], default="all"
    )
    part = parser.parse_args().part
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    with tempfile.TemporaryDirectory() as tmp, open(f"{tmp}/server.log", "w") as log:
        server, address = start_server(f"sqlite:///{tmp}/bench.db", log)
        try:
            if part in ("all", "start-up"):
                print("| runs | wall s (median) | CPU s (median) | wall s, all runs |")
                print("| --- | --- | --- | --- |")
                print(start_up(address))
                print()
            if part in ("all", "overhead"):
                overhead_table(address)
            if part in ("all", "throughput"):
                throughput_table(address)
        finally:
            server.terminate()
            server.wait(timeout=15)


if __name__ == "__main__":
    main()
