"""Ask: hand out trials, in one transaction.

Order of sources: the trials a retried request already got (same request id),
the worker's own RUNNING trials when it asks to resume, the study's queue
(enqueued configurations and retries), then the algorithm.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from asktell.server.algorithms import ALGORITHMS, Deadline, History, Observation
from asktell.server.domain import (
    Goal,
    Params,
    Study,
    StudyState,
    Trial,
    TrialState,
)
from asktell.server.errors import Cancelled, InvalidArgument
from asktell.server.storage import Store, Tx
from asktell.server.usecases.leases import reap_expired
from asktell.server.usecases.retry import retry_on_conflict
from asktell.server.usecases.studies import require_study

MAX_ASK_COUNT = 100
MAX_ID_LENGTH = 128


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


def check_id(field: str, value: str) -> None:
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise InvalidArgument(f"{field} must be at most {MAX_ID_LENGTH} printable characters")


def build_history(tx: Tx, study: Study, also_pending: list[Params]) -> History:
    """The study's trials as an algorithm sees them: values flipped so lower is better."""
    sign = 1.0 if study.spec.objective.goal is Goal.MINIMIZE else -1.0
    completed, pruned, pending, failed = [], [], list(also_pending), []
    for trial in tx.history_trials(study.id):
        if trial.state is TrialState.COMPLETE and trial.value is not None:
            completed.append(Observation(trial.params, sign * trial.value))
        elif trial.state is TrialState.RUNNING:
            pending.append(trial.params)
        elif trial.state is TrialState.PRUNED and trial.measurements:
            pruned.append(Observation(trial.params, sign * trial.measurements[-1][1]))
        else:
            failed.append(trial.params)
    pending.extend(tx.queued_params(study.id))
    return History(
        seed=study.seed,
        n_suggested=study.n_suggested,
        completed=tuple(completed),
        pending=tuple(pending),
        pruned=tuple(pruned),
        failed=tuple(failed),
    )


@dataclass(frozen=True, slots=True)
class Caller:
    """What an Ask may know of its RPC: whether the caller still waits, and how long it will."""

    is_waiting: Callable[[], bool] = lambda: True
    seconds_left: Callable[[], float | None] = lambda: None


@retry_on_conflict
def ask(store: Store, command: AskCommand, now: float, caller: Caller = Caller()) -> AskResult:
    """Hands out up to `command.count` trials leased to `command.worker_id`.

    The algorithm's time budget is cut to the caller's deadline, and trials
    are written only if the caller still waits for them: a cancelled or timed
    out Ask writes nothing.

    Raises:
        NotFound: the study does not exist.
        Cancelled: the caller stopped waiting before the trials were written.
    """
    with store.write(command.study_id) as tx:
        study = require_study(tx, command.study_id)
        if command.request_id:
            earlier = tx.trials_of_request(study.id, command.request_id)
            if earlier:
                return AskResult(earlier, AskStatus.OK)
        reap_expired(tx, study, now)

        handed: list[Trial] = []
        if command.resume and command.worker_id:
            for trial in tx.running_trials_of_worker(study.id, command.worker_id)[: command.count]:
                renewed = dataclasses.replace(trial, lease_deadline=now + study.spec.lease_seconds)
                tx.update_trial(renewed)
                handed.append(renewed)
        if study.state is StudyState.STOPPED:
            return AskResult(handed, AskStatus.OK if handed else AskStatus.STOPPED)

        wanted = command.count - len(handed)
        number = tx.next_trial_number(study.id)
        new: list[Trial] = []
        for queued in tx.pop_queue(study.id, wanted):
            origin = _Origin(queued.suggested_by, queued.retry_of, queued.attempt)
            new.append(_new_trial(study, number + len(new), queued.params, origin, command, now))

        wanted -= len(new)
        budget = study.spec.max_trials - study.n_suggested if study.spec.max_trials else wanted
        seconds = None
        if wanted > 0 and budget > 0:
            started = time.perf_counter()
            deadline = _deadline(study, caller)
            n = min(wanted, budget)
            new.extend(_suggest(tx, study, n, number + len(new), new, command, now, deadline))
            seconds = time.perf_counter() - started
        if not caller.is_waiting():
            raise Cancelled("the caller stopped waiting; no trial was handed out")
        tx.insert_trials(new)
        handed.extend(new)
        return AskResult(
            handed,
            AskStatus.OK if handed else AskStatus.EXHAUSTED,
            created=tuple(new),
            algorithm=study.spec.algorithm.name,
            suggest_seconds=seconds,
        )


def _deadline(study: Study, caller: Caller) -> Deadline:
    """The study's suggestion budget, cut short to leave the caller time to get the answer."""
    budget = study.spec.algorithm.suggestion_deadline or math.inf
    left = caller.seconds_left()
    if left is not None:
        budget = min(budget, max(0.05, 0.8 * left - 0.05))
    return Deadline.after(0 if math.isinf(budget) else budget, time.monotonic)


def _suggest(
    tx: Tx,
    study: Study,
    n: int,
    first_number: int,
    already: list[Trial],
    command: AskCommand,
    now: float,
    deadline: Deadline,
) -> list[Trial]:
    info = ALGORITHMS[study.spec.algorithm.name]
    pending = [t.params for t in already]
    history = (
        build_history(tx, study, pending)
        if info.needs_history
        else History(seed=study.seed, n_suggested=study.n_suggested, pending=tuple(pending))
    )
    # Seeded by study seed and trial number: the same seed and history give the same suggestion.
    rng = np.random.default_rng([study.seed, first_number])
    suggestions = info.suggest(
        study.spec.space, history, n, rng, study.spec.algorithm.settings, deadline
    )
    tx.add_suggested(study.id, len(suggestions))
    trials = []
    for i, suggestion in enumerate(suggestions):
        params = study.spec.space.validate(suggestion.params)
        by = info.name if not suggestion.note else f"{info.name} ({suggestion.note})"
        trials.append(_new_trial(study, first_number + i, params, _Origin(by), command, now))
    return trials


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
