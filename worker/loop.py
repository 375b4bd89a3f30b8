"""One worker process: Ask, train, Report each epoch, Tell, until the study has nothing more.

Shutdown and faults:
- SIGTERM or SIGINT (Kubernetes eviction, Ctrl-C) sets a flag. The task sees it
  through `reporter.stopping` / `reporter.report()` and returns; the trial is told
  FAILED "worker stopped (SIGTERM)", so the study's max_retries hands it out
  again, and the process exits 0. A second signal interrupts the task at once.
- A worker killed with -9 stops renewing its lease; the server fails the trial
  (and queues a retry if allowed) when the lease runs out.
- An unreachable server is retried with backoff for `server_wait` seconds on
  every call, so a finished trial's result is kept and told once it is back.
"""

from __future__ import annotations

import hashlib
import logging
import math
import signal
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from asktell.client import (
    DEFAULT_TIMEOUT,
    Client,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    Study,
    Trial,
    failure_reason,
)
from asktell.worker.device import Placement
from asktell.worker.leases import LeaseKeeper
from asktell.worker.metrics import WorkerMetrics
from asktell.worker.tasks import Task, load_task
from asktell.worker.tensorboard import TrialRun

log = logging.getLogger("asktell.worker")

DEFAULT_SERVER_WAIT = 300.0
# Renew leases three times per lease, so one lost heartbeat never costs the trial.
HEARTBEATS_PER_LEASE = 3
MIN_HEARTBEAT_INTERVAL = 0.2


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """What one worker process runs.

    Attributes:
        server: "host:port" of the asktell server.
        study: the study id.
        task: a built-in task name or "package.module:function".
        worker_id: lease holder name; None means host-pid.
        prefetch: ask for the next trial while the current one trains.
        server_wait: seconds each call keeps retrying an unreachable server.
        max_trials: trials this process runs at most; 0 means until the study ends.
        timeout: seconds each call may take.
        token, tls_ca, tls_cert, tls_key: credentials, as for `asktell.client.Client`.
        metrics_port: serve Prometheus metrics on this port (0: a free one); None: off.
        task_options: (key, value) pairs for the task (`sklearn:ESTIMATOR` takes them).
        tensorboard: write a TensorBoard run per trial under this directory
            (`asktell.worker.tensorboard`); None: off.
    """

    server: str
    study: str
    task: str
    worker_id: str | None = None
    prefetch: bool = False
    server_wait: float = DEFAULT_SERVER_WAIT
    max_trials: int = 0
    timeout: float = DEFAULT_TIMEOUT
    token: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    metrics_port: int | None = None
    task_options: tuple[tuple[str, str], ...] = ()
    tensorboard: str | None = None


@dataclass
class WorkerStats:
    """What one process did: trials by final state and where the time went."""

    states: Counter[str] = field(default_factory=Counter)
    task_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def n_trials(self) -> int:
        return sum(self.states.values())


class WorkerStopped(BaseException):
    """A second stop signal: leave the task now (BaseException: tasks' `except Exception`
    must not swallow it)."""


class Shutdown:
    """The stop flag, set by SIGTERM or SIGINT; a second signal raises WorkerStopped."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal_name is not None:
            raise WorkerStopped(self.signal_name)
        self.signal_name = signal.Signals(signum).name
        log.info("%s: finishing the current trial as FAILED, then exiting", self.signal_name)

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    @property
    def reason(self) -> str:
        return f"worker stopped ({self.signal_name})"


def trial_seed(study_seed: int, trial: Trial) -> int:
    """A 31-bit seed from the study seed and the trial (a retry reuses the original's)."""
    number = trial.retry_of or trial.number
    digest = hashlib.blake2b(f"{study_seed}:{number}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


class TrialReporter:
    """The `reporter` a task receives (see `asktell.worker.tasks`)."""

    def __init__(
        self,
        trial: Trial,
        metric: str,
        keeper: LeaseKeeper,
        shutdown: Shutdown,
        seed: int,
        placement: Placement,
        metrics: WorkerMetrics,
        board: TrialRun | None = None,
    ) -> None:
        self.trial = trial
        self.metric = metric
        self.device = placement.device
        self.threads = placement.threads
        self.seed = seed
        self.trial_number = trial.number
        self.stopped_at: int | None = None  # the step at which the server said stop
        self.interrupted = False  # the task was told to stop for the shutdown
        self.lost_reason: str | None = None
        self._keeper = keeper
        self._shutdown = shutdown
        self._metrics = metrics
        self._board = board

    @property
    def lost(self) -> str | None:
        """Why this worker no longer holds the trial, or None."""
        return self.lost_reason or self._keeper.lost(self.trial)

    @property
    def stopping(self) -> bool:
        """True once the task should return: early stop, shutdown or lost lease."""
        if self._shutdown.requested:
            self.interrupted = True
        return self.interrupted or self.stopped_at is not None or self.lost is not None

    def report(self, step: int, **metrics: float) -> bool:
        """Sends the objective metric at `step`; returns whether to stop now.

        An optional `samples` metric (training samples since the last report)
        feeds the worker's samples-per-second metric.
        """
        self._metrics.epoch_reported(metrics.get("samples"), self.device)
        if self.metric not in metrics:
            raise ValueError(
                f"report() needs the study's metric {self.metric!r}; got {sorted(metrics)}"
            )
        if self._board is not None:
            self._board.report(step, metrics)
        if self.lost is None:
            try:
                if self.trial.report(step, float(metrics[self.metric])):
                    self.stopped_at = step
            except (FailedPreconditionError, NotFoundError) as exc:
                self.lost_reason = str(exc)
        log.debug("trial %d step %d: %s", self.trial.number, step, metrics)
        return self.stopping


def objective_value(result: Any, metric: str) -> float:
    """The finite objective value in a task's result.

    A task returns a dict of final metrics holding the study's `metric`, a dict
    {"value": x, ...} or a bare number; see `task_outcome`.

    Raises:
        ValueError: the result holds no finite objective value.
    """
    if isinstance(result, int | float) and not isinstance(result, bool):
        raw: Any = result
        shown = "the objective value"
    elif isinstance(result, Mapping) and (metric in result or "value" in result):
        key = metric if metric in result else "value"
        raw = result[key]
        shown = key
    else:
        raise ValueError(f"the task returned no {metric!r} (the study's metric): {result!r}"[:1000])
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(raw, bool) or not math.isfinite(value):
        raise ValueError(f"the task returned {shown} = {raw!r}, not a finite number"[:1000])
    return value


def objective_values(result: Any, metrics: Sequence[str]) -> dict[str, float]:
    """Every metric a task's result tells, for a study with several objectives or constraints.

    The result must be a dict holding each of `metrics` (the objectives' and the
    constraints') as a finite number; its other numeric, finite entries are told
    too ("attrs" is not a metric).

    Raises:
        ValueError: a metric is missing or not a finite number.
    """
    if not isinstance(result, Mapping):
        raise ValueError(
            f"the task returned {result!r}, not a dict of the study's metrics {list(metrics)}"[
                :1000
            ]
        )
    missing = [m for m in metrics if m not in result]
    if missing:
        raise ValueError(
            f"the task returned no {', '.join(map(repr, missing))} (the study's metrics): "
            f"{result!r}"[:1000]
        )
    values: dict[str, float] = {}
    for key, raw in result.items():
        if key == "attrs":
            continue
        number = raw if isinstance(raw, int | float) and not isinstance(raw, bool) else None
        if number is None or not math.isfinite(number):
            if key in metrics:
                raise ValueError(f"the task returned {key} = {raw!r}, not a finite number"[:1000])
            continue
        values[str(key)] = float(number)
    return values


def task_attrs(result: Any) -> dict[str, Any]:
    """The attributes a task's result asks to store with the trial: its "attrs" mapping.

    Raises:
        ValueError: "attrs" is there but not a mapping.
    """
    if not isinstance(result, Mapping) or result.get("attrs") is None:
        return {}
    attrs = result["attrs"]
    if not isinstance(attrs, Mapping):
        raise ValueError(f"the task returned attrs = {attrs!r}, not a mapping"[:1000])
    return dict(attrs)


class Worker:
    """The loop of one process; `run()` returns when the study or the process ends."""

    def __init__(self, config: WorkerConfig, placement: Placement) -> None:
        self.config = config
        self.placement = placement
        self.shutdown = Shutdown()
        self.stats = WorkerStats()
        self.metrics = WorkerMetrics()
        self._task: Task = load_task(config.task, dict(config.task_options))

    def run(self) -> WorkerStats:
        """Runs trials until the study is exhausted or stopped, max_trials, or a signal.

        Raises:
            asktell.client.AsktellError: the server stayed unreachable past
                server_wait, or the study does not exist.
        """
        started = time.monotonic()
        self.shutdown.install()
        if self.config.metrics_port is not None:
            self.metrics.serve(self.config.metrics_port)
        client = Client(
            self.config.server,
            timeout=self.config.timeout,
            retry_seconds=self.config.server_wait,
            token=self.config.token,
            tls_ca=self.config.tls_ca,
            tls_cert=self.config.tls_cert,
            tls_key=self.config.tls_key,
        )
        with client:
            study = client.get_study(self.config.study)
            info = study.info()
            objectives = info.spec.get("objectives") or [info.spec["objective"]]
            # Report values are the early-stopping metric's: the first objective by default.
            self._metric = str(
                (info.spec.get("early_stopping") or {}).get("metric") or objectives[0]["metric"]
            )
            self._value_metric = str(objectives[0]["metric"])
            # Several objectives or constraints: a task's dict is told metric by metric.
            self._all_metrics = [str(o["metric"]) for o in objectives] + [
                str(c["metric"]) for c in info.spec.get("constraints") or []
            ]
            self._study_seed = info.seed
            interval = max(
                MIN_HEARTBEAT_INTERVAL, float(info.spec["lease_seconds"]) / HEARTBEATS_PER_LEASE
            )
            self._keeper = LeaseKeeper(interval).start()
            try:
                self._loop(study)
            except WorkerStopped:
                log.warning("stopped hard by a second signal; held leases will expire")
            finally:
                self._keeper.close()
        self.stats.wall_seconds = time.monotonic() - started
        return self.stats

    # ------------------------------------------------------------ loop
    def _loop(self, study: Study) -> None:
        worker_id = self.config.worker_id
        limit = self.config.max_trials
        prefetcher = ThreadPoolExecutor(1, "asktell-prefetch") if self.config.prefetch else None
        upcoming: Future[Trial | None] | None = None
        n_started = 0
        try:
            while not self.shutdown.requested and not (limit and n_started >= limit):
                if upcoming is not None:
                    trial = upcoming.result()
                    upcoming = None
                else:
                    # The first Ask resumes trials this worker id already holds (a restart).
                    trial = self._ask(study, worker_id, resume=n_started == 0)
                if trial is None:
                    log.info("the study has no more trials")
                    break
                n_started += 1
                if prefetcher is not None and not (limit and n_started >= limit):
                    upcoming = prefetcher.submit(self._ask, study, worker_id, False)
                if self.shutdown.requested:
                    self._give_back(trial)
                    break
                self._run_trial(trial)
        finally:
            if upcoming is not None:
                spare = upcoming.result()
                if spare is not None:
                    self._give_back(spare)
            if prefetcher is not None:
                prefetcher.shutdown()

    def _ask(self, study: Study, worker_id: str | None, resume: bool) -> Trial | None:
        trial = study.ask(worker_id=worker_id, resume=resume)
        if trial is not None:
            self._keeper.hold(trial)  # a prefetched trial is leased too
        return trial

    # ------------------------------------------------------------ one trial
    def _run_trial(self, trial: Trial) -> None:
        board = self._open_board(trial)
        try:
            self._train_and_tell(trial, board)
        finally:
            if board is not None:
                board.close()

    def _open_board(self, trial: Trial) -> TrialRun | None:
        """The trial's TensorBoard run with --tensorboard (None without, or if it fails)."""
        if self.config.tensorboard is None:
            return None
        try:
            return TrialRun(self.config.tensorboard, self.config.study, trial.number, trial.params)
        except OSError as exc:
            log.warning("trial %d: no tensorboard run: %s", trial.number, exc)
            return None

    def _train_and_tell(self, trial: Trial, board: TrialRun | None) -> None:
        reporter = TrialReporter(
            trial,
            self._metric,
            self._keeper,
            self.shutdown,
            trial_seed(self._study_seed, trial),
            self.placement,
            self.metrics,
            board,
        )
        self.metrics.trial_started(trial.number, self.placement.device)
        result: Any = None
        error: str | None = None
        started = time.monotonic()
        try:
            result = self._task(dict(trial.params), reporter)
        except WorkerStopped:
            reporter.interrupted = True
        except Exception as exc:  # the trial fails; the worker goes on
            error = failure_reason(exc)
        task_seconds = time.monotonic() - started
        self.stats.task_seconds += task_seconds
        self._keeper.release(trial)
        outcome = self._finish(trial, reporter, result, error)
        self.metrics.trial_finished(outcome, task_seconds)
        if board is not None:
            told = dict(trial.values)
            if not told and trial.value is not None:
                told = {self._value_metric: trial.value}
            board.end(outcome, told if outcome == "COMPLETE" else {})
        log.info(
            "trial %d %s%s in %.2f s%s",
            trial.number,
            trial.state,
            f" {self._value_metric}={trial.value:.6g}" if trial.value is not None else "",
            task_seconds,
            f": {trial.reason}" if trial.reason else "",
        )

    def _finish(self, trial: Trial, reporter: TrialReporter, result: Any, error: str | None) -> str:
        """Tells the trial's outcome; returns it (LOST when the lease was lost)."""
        lost = reporter.lost
        if lost is not None:
            log.warning("trial %d: not told, the lease was lost: %s", trial.number, lost)
            self.stats.states["LOST"] += 1
            return "LOST"
        state, value, reason = self._verdict(reporter, result, error)
        try:
            attrs = task_attrs(result)
        except ValueError as exc:
            state, value, reason, attrs = "FAILED", None, str(exc), {}
        try:
            self._tell(trial, state, value, reason, attrs)
        except InvalidArgumentError as exc:  # attributes the server refuses fail the trial
            log.warning("trial %d: the server refused its attributes: %s", trial.number, exc)
            self._tell(trial, "FAILED", None, f"attrs refused: {exc}"[:1000])
        self.stats.states[trial.state] += 1
        return trial.state

    def _verdict(
        self, reporter: TrialReporter, result: Any, error: str | None
    ) -> tuple[str, float | dict[str, float] | None, str]:
        """(state, value, reason) to tell for a trial whose task has returned or raised."""
        if error is not None:
            return "FAILED", None, error
        if reporter.interrupted:
            return "FAILED", None, self.shutdown.reason
        if reporter.stopped_at is not None:
            return "PRUNED", None, f"stopped early at step {reporter.stopped_at}"
        try:
            if len(self._all_metrics) > 1:
                return "COMPLETE", objective_values(result, self._all_metrics), ""
            return "COMPLETE", objective_value(result, self._value_metric), ""
        except ValueError as exc:
            return "FAILED", None, str(exc)

    def _give_back(self, trial: Trial) -> None:
        """Fails a trial this worker will not run, so that max_retries can hand it out."""
        self._keeper.release(trial)
        reason = self.shutdown.reason if self.shutdown.requested else "worker stopped"
        self._tell(trial, "FAILED", None, f"{reason} before starting it")

    @staticmethod
    def _tell(
        trial: Trial,
        state: str,
        value: float | Mapping[str, float] | None,
        reason: str,
        attrs: Mapping[str, Any] | None = None,
    ) -> None:
        """Tells; a trial the server ended meanwhile (lease expired) is logged, not fatal."""
        try:
            if state == "COMPLETE":
                assert value is not None
                trial.tell(value, attrs=attrs)
            elif state == "PRUNED":
                trial.prune(reason, attrs=attrs)
            else:
                trial.fail(reason, attrs=attrs)
        except (FailedPreconditionError, NotFoundError) as exc:
            log.warning("trial %d: the server refused the result: %s", trial.number, exc)
