"""Ask: hand out trials, without holding a store-wide lock while an algorithm computes.

Order of sources: the trials a retried request already got (same request id and
worker), the worker's own RUNNING trials when it asks to resume, the study's
queue (enqueued configurations and retries), then the algorithm.

Everything but a history-reading algorithm (GP, genetic) runs in one write
transaction, as grid and random do: they are cheap, and a grid point must be
handed out once. A history-reading algorithm runs in three steps, so that
SQLite's single write lock is never held for the hundreds of milliseconds a GP
takes, and every other study's Asks and Tells go on meanwhile:

1. a read transaction takes a snapshot: the study, what the Ask would hand out
   besides suggestions (`_Plan`: queue head, next trial number, how many to
   suggest) and the history;
2. the algorithm runs with no transaction open;
3. a write transaction plans again and inserts the suggestions only if the plan
   is unchanged. Another Ask (or AddTrials) in between changes the next trial
   number, so the suggestions are recomputed from a fresh snapshot; a Tell in
   between is harmless, its trial was already pending in the snapshot.

So every committed suggestion was computed from a snapshot holding all the
trials committed before it: parallel Asks see each other's pending trials, and
the RNG (seeded by study seed and trial number) keeps suggestions reproducible.
After `OPTIMISTIC_ATTEMPTS` stale snapshots the algorithm runs inside the write
transaction, which nothing can overtake, so every Ask makes progress.

Within one server process, Asks on the same study take turns (`_STUDY_TURNS`),
so they do not compute from the same snapshot only to throw all but one result
away; and at most `ALGORITHM_SLOTS` algorithms compute at once, so cheap RPCs
keep a share of the CPU (and of the GIL).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from asktell.server.algorithms import (
    ALGORITHMS,
    AlgorithmInfo,
    Deadline,
    History,
    Observation,
    fixed,
)
from asktell.server.algorithms.base import state_of
from asktell.server.domain import (
    Goal,
    Params,
    ParamValue,
    SearchSpace,
    Study,
    StudyState,
    Trial,
    TrialState,
    check_id,
)
from asktell.server.errors import Cancelled, InvalidArgument
from asktell.server.storage import QueuedTrial, Store, Tx
from asktell.server.usecases.leases import reap_expired
from asktell.server.usecases.retry import retry_on_conflict
from asktell.server.usecases.studies import require_study

MAX_ASK_COUNT = 100
# Snapshots an Ask may find stale before it computes inside the write transaction.
OPTIMISTIC_ATTEMPTS = 3
# How often a thread waiting for its turn checks that its caller still waits.
_POLL_SECONDS = 0.05


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


ALGORITHM_SLOTS = threading.BoundedSemaphore(max(1, _cpu_count()))


class AskStatus(enum.StrEnum):
    OK = "OK"
    EXHAUSTED = "EXHAUSTED"
    STOPPED = "STOPPED"


@dataclass(frozen=True, slots=True)
class AskCommand:
    study_id: str
    count: int = 1
    worker_id: str = ""
    request_id: str = ""
    resume: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_ASK_COUNT:
            raise InvalidArgument(f"count must be 1 to {MAX_ASK_COUNT}, got {self.count}")
        check_id("worker_id", self.worker_id)
        check_id("request_id", self.request_id)


@dataclass(frozen=True, slots=True)
class AskResult:
    """The trials handed out; `created` are the new ones among them (for metrics)."""

    trials: list[Trial]
    status: AskStatus
    created: tuple[Trial, ...] = ()
    algorithm: str = ""
    suggest_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Caller:
    """What an Ask may know of its RPC: whether the caller still waits, and how long it will."""

    is_waiting: Callable[[], bool] = lambda: True
    seconds_left: Callable[[], float | None] = lambda: None


@dataclass(frozen=True, slots=True)
class _Plan:
    """What an Ask hands out, read before anything is written.

    Two plans are equal when suggestions computed for one are right for the
    other: same study (state, spec, suggestion count), same queue head taken,
    same first trial number, same number of suggestions. Which RUNNING trials a
    resuming worker gets back does not change the suggestions.
    """

    study: Study
    queued: tuple[QueuedTrial, ...]
    first_number: int
    n_suggest: int
    resumed: tuple[Trial, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class _Suggested:
    """An algorithm's answer for one plan."""

    plan: _Plan
    params: tuple[tuple[Params, str], ...]  # (validated params, suggested_by)
    seconds: float | None = None
    state: str | None = None  # what the algorithm leaves for the next Ask; None: keep


def ask(store: Store, command: AskCommand, now: float, caller: Caller = Caller()) -> AskResult:
    """Hands out up to `command.count` trials leased to `command.worker_id`.

    A request id makes the Ask safe to retry: the same worker asking again with
    the same request id gets the trials the first call handed out. The id is
    scoped to the worker: another worker reusing it gets new trials, never the
    first worker's.

    The algorithm's time budget is cut to the caller's deadline, and trials
    are written only if the caller still waits for them: a cancelled or timed
    out Ask hands nothing out (it may have failed expired leases, as any
    reader of the study does).

    Raises:
        NotFound: the study does not exist.
        Cancelled: the caller stopped waiting before the trials were written.
    """
    result = ask_at_once(store, command, now, caller)
    if result is not None:
        return result
    return ask_with_history(store, command, now, caller)


@retry_on_conflict
def ask_at_once(
    store: Store, command: AskCommand, now: float, caller: Caller = Caller()
) -> AskResult | None:
    """`ask` in its one write transaction; None (nothing written but expired leases) when
    the study's algorithm reads the history: then `ask_with_history` finishes the Ask.

    The server runs this part on SQLite's writer thread and the rest on its handler pool.
    """
    with store.write(command.study_id) as tx:
        return _hand_out(tx, command, now, caller)


@retry_on_conflict
def ask_with_history(
    store: Store, command: AskCommand, now: float, caller: Caller = Caller()
) -> AskResult:
    """The rest of an Ask that `ask_at_once` left: see the module docstring."""
    return _ask_with_history(store, command, now, caller)


def _ask_with_history(store: Store, command: AskCommand, now: float, caller: Caller) -> AskResult:
    """Runs a history-reading algorithm on a snapshot, with no transaction open."""
    with _STUDY_TURNS.turn(command.study_id, caller):
        for _ in range(OPTIMISTIC_ATTEMPTS):
            # The snapshot is read only once a slot is held, so it is as fresh as can be.
            with _held(ALGORITHM_SLOTS, caller):
                with store.read() as tx:
                    snapshot = _read_snapshot(tx, command)
                if isinstance(snapshot, AskResult):
                    return snapshot
                plan, history = snapshot
                suggested = _suggest(plan, history, caller) if history is not None else None
            with store.write(command.study_id) as tx:
                result = _hand_out(tx, command, now, caller, suggested)
            if result is not None:
                return result
        # Slot before write lock, as above: a thread holding the write lock never waits for a slot.
        with _held(ALGORITHM_SLOTS, caller), store.write(command.study_id) as tx:
            result = _hand_out(tx, command, now, caller, compute_here=True)
        assert result is not None, "an Ask computing in its write transaction always finishes"
        return result


def _read_snapshot(tx: Tx, command: AskCommand) -> AskResult | tuple[_Plan, History | None]:
    """A replayed request's trials, or the plan and (if it needs the algorithm) the history.

    The plan is read before the history: on a store whose statements see
    different snapshots (PostgreSQL's READ COMMITTED), a trial committed in
    between shows in the history and makes the plan stale, never the reverse.
    """
    study = require_study(tx, command.study_id)
    replayed = _replayed(tx, command)
    if replayed:
        return AskResult(replayed, AskStatus.OK)
    plan = _plan(tx, study, command)
    return plan, build_history(tx, plan) if plan.n_suggest else None


def _hand_out(
    tx: Tx,
    command: AskCommand,
    now: float,
    caller: Caller,
    suggested: _Suggested | None = None,
    compute_here: bool = False,
) -> AskResult | None:
    """Hands out trials in `tx`, or None (nothing written but expired leases) if it cannot yet.

    It cannot when the plan needs a history-reading algorithm and neither
    `suggested` was computed for this very plan nor `compute_here` allows the
    algorithm to run inside the transaction.
    """
    study = require_study(tx, command.study_id)
    replayed = _replayed(tx, command)
    if replayed:
        return AskResult(replayed, AskStatus.OK)
    reap_expired(tx, study, now)
    plan = _plan(tx, study, command)
    info = ALGORITHMS[study.spec.algorithm.name]
    if plan.n_suggest == 0:
        suggested = _Suggested(plan, ())
    elif not info.needs_history:
        history = History(
            seed=study.seed,
            n_suggested=study.n_suggested,
            pending=tuple(q.params for q in plan.queued),
        )
        suggested = _suggest(plan, history, caller)
    elif compute_here:
        suggested = _suggest(plan, build_history(tx, plan), caller)
    elif suggested is None or suggested.plan != plan:
        return None
    return _write(tx, suggested, command, now, caller)


def _replayed(tx: Tx, command: AskCommand) -> list[Trial]:
    """The trials this worker already got for this request id (none without a request id)."""
    if not command.request_id:
        return []
    earlier = tx.trials_of_request(command.study_id, command.request_id)
    return [t for t in earlier if t.worker_id == command.worker_id]


def _plan(tx: Tx, study: Study, command: AskCommand) -> _Plan:
    """What `command` gets from `study` now, read without writing anything."""
    resumed: tuple[Trial, ...] = ()
    if command.resume and command.worker_id:
        running = tx.running_trials_of_worker(study.id, command.worker_id)
        resumed = tuple(running[: command.count])
    first_number = tx.next_trial_number(study.id)
    if study.state is StudyState.STOPPED:
        return _Plan(study, (), first_number, 0, resumed)
    wanted = command.count - len(resumed)
    queued = tuple(tx.peek_queue(study.id, wanted)) if wanted > 0 else ()
    wanted -= len(queued)
    budget = study.spec.max_trials - study.n_suggested if study.spec.max_trials else wanted
    return _Plan(study, queued, first_number, max(0, min(wanted, budget)), resumed)


def build_history(tx: Tx, plan: _Plan) -> History:
    """The study's trials as an algorithm sees them: values flipped so lower is better.

    Pending are the queued trials this Ask takes, the RUNNING trials, then the
    rest of the queue. `state` is what the algorithm left at the study's last Ask.
    """
    study = plan.study
    sign = 1.0 if study.spec.objective.goal is Goal.MINIMIZE else -1.0
    completed, pruned, failed = [], [], []
    pending = [q.params for q in plan.queued]
    for trial in tx.history_trials(study.id):
        if trial.state is TrialState.COMPLETE and trial.value is not None:
            observation = _observation(study, trial, sign * trial.value)
            if observation is None:
                failed.append(trial.params)
            else:
                completed.append(observation)
        elif trial.state is TrialState.RUNNING:
            pending.append(trial.params)
        elif trial.state is TrialState.PRUNED and trial.measurements:
            pruned.append(Observation(trial.params, sign * trial.measurements[-1][1]))
        else:
            failed.append(trial.params)
    pending.extend(tx.queued_params(study.id)[len(plan.queued) :])
    return History(
        seed=study.seed,
        n_suggested=study.n_suggested,
        n_objectives=len(study.spec.objectives),
        n_constraints=len(study.spec.constraints),
        completed=tuple(completed),
        pending=tuple(pending),
        pruned=tuple(pruned),
        failed=tuple(failed),
        state=tx.algorithm_state(study.id),
    )


def _observation(study: Study, trial: Trial, value: float) -> Observation | None:
    """A COMPLETE trial as an algorithm sees it: every objective flipped so that lower is
    better (when there are several) and its violation of each constraint; None when it
    lacks a metric the study needs (which no Tell or AddTrials lets through)."""
    spec = study.spec
    values = trial.values
    if any(metric not in values for metric in spec.metrics[1:]):
        return None
    objectives: tuple[float, ...] = ()
    if spec.multi_objective:
        objectives = (
            value,
            *(
                values[o.metric] if o.goal is Goal.MINIMIZE else -values[o.metric]
                for o in spec.objectives[1:]
            ),
        )
    violations = tuple(c.violation(values[c.metric]) for c in spec.constraints)
    return Observation(trial.params, value, objectives, violations)


def _suggest(plan: _Plan, history: History, caller: Caller) -> _Suggested:
    """Runs the study's algorithm for `plan`; pure: reads no store."""
    if not caller.is_waiting():
        raise Cancelled("the caller stopped waiting; no trial was handed out")
    study = plan.study
    info: AlgorithmInfo = ALGORITHMS[study.spec.algorithm.name]
    started = time.perf_counter()
    # Seeded by study seed and trial number: the same seed and history give the same suggestion.
    first_number = plan.first_number + len(plan.queued)
    rng = np.random.default_rng([study.seed, first_number])
    # The fixed parameters are stripped here and added to every suggestion (`fixed`).
    suggestions = fixed.suggest(
        info,
        study.spec.space,
        history,
        plan.n_suggest,
        rng,
        study.spec.algorithm.settings,
        _deadline(study, caller),
    )
    params = tuple(
        (
            _checked(study.spec.space, s.params, info.name),
            info.name if not s.note else f"{info.name} ({s.note})",
        )
        for s in suggestions
    )
    return _Suggested(plan, params, time.perf_counter() - started, state_of(suggestions))


def _checked(space: SearchSpace, params: Params, algorithm: str) -> dict[str, ParamValue]:
    """A suggestion, validated: an invalid one is a server bug (INTERNAL), not the caller's."""
    try:
        return space.validate(params)
    except InvalidArgument as exc:
        raise AssertionError(
            f"algorithm {algorithm} suggested an invalid configuration: {exc}"
        ) from exc


def _deadline(study: Study, caller: Caller) -> Deadline:
    """The study's suggestion budget, cut short to leave the caller time to get the answer."""
    budget = study.spec.algorithm.suggestion_deadline or math.inf
    left = caller.seconds_left()
    if left is not None:
        budget = min(budget, max(0.05, 0.8 * left - 0.05))
    return Deadline.after(0 if math.isinf(budget) else budget, time.monotonic)


def _write(
    tx: Tx, suggested: _Suggested, command: AskCommand, now: float, caller: Caller
) -> AskResult:
    """Renews the resumed trials, takes the queue head and inserts the new trials."""
    plan = suggested.plan
    study = plan.study
    handed: list[Trial] = []
    for trial in plan.resumed:
        renewed = dataclasses.replace(trial, lease_deadline=now + study.spec.lease_seconds)
        tx.update_trial(renewed)
        handed.append(renewed)
    if study.state is StudyState.STOPPED:
        return AskResult(handed, AskStatus.OK if handed else AskStatus.STOPPED)
    if not caller.is_waiting():
        raise Cancelled("the caller stopped waiting; no trial was handed out")

    new: list[Trial] = []
    for queued in tx.pop_queue(study.id, len(plan.queued)) if plan.queued else ():
        origin = _Origin(queued.suggested_by, queued.retry_of, queued.attempt)
        new.append(
            _new_trial(study, plan.first_number + len(new), queued.params, origin, command, now)
        )
    if suggested.params:
        tx.add_suggested(study.id, len(suggested.params))
    if suggested.state is not None:  # in this Ask's transaction, with its trials
        tx.set_algorithm_state(study.id, suggested.state)
    for params, suggested_by in suggested.params:
        number = plan.first_number + len(new)
        new.append(_new_trial(study, number, params, _Origin(suggested_by), command, now))
    tx.insert_trials(new)
    handed.extend(new)
    return AskResult(
        handed,
        AskStatus.OK if handed else AskStatus.EXHAUSTED,
        created=tuple(new),
        algorithm=study.spec.algorithm.name,
        suggest_seconds=suggested.seconds,
    )


@dataclass(frozen=True, slots=True)
class _Origin:
    suggested_by: str
    retry_of: int | None = None
    attempt: int = 0


def _new_trial(
    study: Study, number: int, params: Params, origin: _Origin, command: AskCommand, now: float
) -> Trial:
    return Trial(
        study_id=study.id,
        number=number,
        state=TrialState.RUNNING,
        params=dict(params),
        worker_id=command.worker_id,
        request_id=command.request_id,
        lease_deadline=now + study.spec.lease_seconds,
        create_time=now,
        suggested_by=origin.suggested_by,
        retry_of=origin.retry_of,
        attempt=origin.attempt,
    )


@contextmanager
def _held(lock: threading.Semaphore | threading.Lock, caller: Caller) -> Iterator[None]:
    """Holds `lock`; gives up waiting (nothing written) once the caller stops waiting."""
    while not lock.acquire(timeout=_POLL_SECONDS):
        if not caller.is_waiting():
            raise Cancelled("the caller stopped waiting; no trial was handed out")
    try:
        yield
    finally:
        lock.release()


class _StudyTurns:
    """One lock per study with a waiting or running Ask, dropped when the last one leaves."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def turn(self, study_id: str, caller: Caller) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(study_id, (threading.Lock(), 0))
            self._locks[study_id] = (lock, users + 1)
        try:
            with _held(lock, caller):
                yield
        finally:
            with self._guard:
                lock, users = self._locks[study_id]
                if users == 1:
                    del self._locks[study_id]
                else:
                    self._locks[study_id] = (lock, users - 1)


_STUDY_TURNS = _StudyTurns()
