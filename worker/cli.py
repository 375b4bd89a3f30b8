"""`asktell worker`: N worker processes (spawned, one per GPU or sharing the CPU cores).

Importing this module must stay cheap: torch is imported by the tasks, in the
worker processes, never at CLI start-up.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
from pathlib import Path
from types import FrameType

import click

from asktell.client import AsktellError
from asktell.client.cli_options import Connection, connection_options
from asktell.worker.device import Placement, available_cores, default_processes, plan, visible_gpus
from asktell.worker.loop import DEFAULT_SERVER_WAIT, Worker, WorkerConfig, WorkerStats
from asktell.worker.tasks import BUILTIN_TASKS, TaskNotFound, check_task_name
from asktell.worker.tensorboard import missing as tensorboard_missing

log = logging.getLogger("asktell.worker")


def _gpus(device: str) -> list[str]:
    # No NVIDIA device node: skip importing torch (seconds) just to learn there is no GPU.
    if device == "auto" and not any(Path("/dev").glob("nvidia[0-9]*")):
        return []
    return visible_gpus(device)


def _summary(stats: WorkerStats) -> str:
    states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(stats.states.items())) or "no trials"
    share = stats.task_seconds / stats.wall_seconds if stats.wall_seconds else 0.0
    return f"{states} in {stats.wall_seconds:.1f} s ({share:.0%} of it in the task)"


def run_process(config: WorkerConfig, placement: Placement) -> int:
    """Runs one worker in this process; the exit status.

    1: the server stayed unreachable or the study is gone; 2: the task cannot be loaded.
    """
    try:
        worker = Worker(config, placement)
    except TaskNotFound as exc:
        log.error("worker cannot start: %s", exc)
        return 2
    try:
        stats = worker.run()
    except AsktellError as exc:
        log.error("worker gives up: %s", exc)
        return 1
    log.info("worker done: %s", _summary(stats))
    return 0


def _child(config: WorkerConfig, placement: Placement, verbose: bool) -> None:
    """Entry point of a spawned worker process."""
    if placement.cuda_visible_devices is not None:
        # Before torch is imported: the process then sees its one GPU as cuda:0.
        os.environ["CUDA_VISIBLE_DEVICES"] = placement.cuda_visible_devices
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
    )
    sys.exit(run_process(config, placement))


def run_processes(configs: list[WorkerConfig], placements: list[Placement], verbose: bool) -> int:
    """Spawns one process per config and waits; SIGTERM is passed on to each.

    Returns:
        0 if every process exited 0, else 1.
    """
    # spawn, not fork: gRPC channels and CUDA contexts must be created after the split.
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_child, args=(c, p, verbose), name=f"asktell-worker-{k}")
        for k, (c, p) in enumerate(zip(configs, placements, strict=True))
    ]

    def forward(signum: int, frame: FrameType | None) -> None:
        for process in processes:
            if process.pid is not None and process.exitcode is None:
                os.kill(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    # Ctrl-C reaches the whole process group: the children handle it themselves.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    codes = [process.exitcode for process in processes]
    log.info("worker processes exited with %s", codes)
    return 0 if all(code == 0 for code in codes) else 1


def task_option_pairs(given: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """`--task-option KEY=VALUE` values as pairs; TaskNotFound for one without `=`."""
    pairs = []
    for item in given:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise TaskNotFound(f"--task-option {item!r}: give KEY=VALUE")
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def _check_tensorboard(directory: str) -> None:
    """Exits 2 with one line unless the tensorboard package is there and `directory` can
    be created."""
    problem = tensorboard_missing()
    if problem is None:
        try:
            Path(directory).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = f"--tensorboard {directory}: {exc.strerror or exc}"
    if problem is not None:
        click.echo(f"asktell worker: cannot start: {problem}", err=True)
        sys.exit(2)


@click.command("worker")
@connection_options
@click.option(
    "--study",
    envvar="ASKTELL_STUDY",
    required=True,
    help="The study id to work on. [env ASKTELL_STUDY]",
)
@click.option(
    "--task",
    envvar="ASKTELL_TASK",
    required=True,
    help=f"{', '.join(sorted(BUILTIN_TASKS))}, sklearn:ESTIMATOR (an estimator's import path), "
    "or package.module:function (see docs/workers.md). [env ASKTELL_TASK]",
)
@click.option(
    "--task-option",
    "task_options",
    envvar="ASKTELL_TASK_OPTIONS",
    multiple=True,
    metavar="KEY=VALUE",
    help="An option of the sklearn:ESTIMATOR task (data=breast_cancer, cv=5, scoring=..., "
    "metric=...); repeat it. [env ASKTELL_TASK_OPTIONS]",
)
@click.option(
    "--processes",
    envvar="ASKTELL_WORKER_PROCESSES",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Worker processes; 0 means one per visible GPU, or 1 without a GPU. "
    "[env ASKTELL_WORKER_PROCESSES]",
)
@click.option(
    "--device",
    envvar="ASKTELL_DEVICE",
    default="auto",
    show_default=True,
    help="auto (CUDA if present), cpu, cuda (one GPU per process) or cuda:K. [env ASKTELL_DEVICE]",
)
@click.option(
    "--prefetch",
    envvar="ASKTELL_PREFETCH",
    is_flag=True,
    help="Ask for the next trial while one trains. [env ASKTELL_PREFETCH]",
)
@click.option(
    "--worker-id",
    envvar="ASKTELL_WORKER_ID",
    default=None,
    help="Lease holder name (default host-pid); with several processes, NAME-K. "
    "[env ASKTELL_WORKER_ID]",
)
@click.option(
    "--server-wait",
    envvar="ASKTELL_SERVER_WAIT",
    default=DEFAULT_SERVER_WAIT,
    show_default=True,
    type=float,
    help="Seconds to keep retrying an unreachable server (a finished result is kept meanwhile). "
    "[env ASKTELL_SERVER_WAIT]",
)
@click.option(
    "--max-trials",
    envvar="ASKTELL_WORKER_MAX_TRIALS",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Trials per process at most; 0 means until the study ends. "
    "[env ASKTELL_WORKER_MAX_TRIALS]",
)
@click.option(
    "--metrics-port",
    envvar="ASKTELL_WORKER_METRICS_PORT",
    type=click.IntRange(min=0),
    default=None,
    help="Serve Prometheus metrics; process k listens on this port + k (0: free ports). "
    "[env ASKTELL_WORKER_METRICS_PORT]",
)
@click.option(
    "--tensorboard",
    "tensorboard_dir",
    envvar="ASKTELL_TENSORBOARD",
    default=None,
    metavar="DIR",
    help="Write a TensorBoard run per trial, DIR/STUDY/trial-N: reported metrics, told "
    "metrics, hyperparameters (needs asktell[tensorboard]). [env ASKTELL_TENSORBOARD]",
)
def worker_command(
    connection: Connection,
    study: str,
    task: str,
    task_options: tuple[str, ...],
    processes: int,
    device: str,
    prefetch: bool,
    worker_id: str | None,
    server_wait: float,
    max_trials: int,
    metrics_port: int | None,
    tensorboard_dir: str | None,
) -> None:
    """Pull trials of a study, train, report each epoch and tell, until the study ends.

    SIGTERM ends the current trial as FAILED ("worker stopped (SIGTERM)") and exits 0.
    """
    try:
        options = task_option_pairs(task_options)
        check_task_name(task, dict(options))
    except TaskNotFound as exc:
        click.echo(f"asktell worker: cannot start: {exc}", err=True)
        sys.exit(2)
    if tensorboard_dir is not None:
        _check_tensorboard(tensorboard_dir)
    try:
        gpus = _gpus(device)
        n = processes or default_processes(gpus)
        placements = plan(device, n, gpus, available_cores())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--device") from exc
    token = connection.read_token()
    configs = [
        WorkerConfig(
            server=connection.server,
            study=study,
            task=task,
            worker_id=f"{worker_id}-{k}" if worker_id and n > 1 else worker_id,
            prefetch=prefetch,
            server_wait=server_wait,
            max_trials=max_trials,
            timeout=connection.timeout,
            token=token,
            tls_ca=connection.tls_ca,
            tls_cert=connection.tls_cert,
            tls_key=connection.tls_key,
            metrics_port=None
            if metrics_port is None
            else (metrics_port + k if metrics_port else 0),
            task_options=options,
            tensorboard=tensorboard_dir,
        )
        for k in range(n)
    ]
    verbose = logging.getLogger().isEnabledFor(logging.DEBUG)
    if n == 1:
        sys.exit(run_process(configs[0], placements[0]))
    sys.exit(run_processes(configs, placements, verbose))
