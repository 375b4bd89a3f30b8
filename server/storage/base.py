"""The narrow storage interface: transactions that read and write domain values.

Every RPC runs in one transaction, except an Ask whose algorithm reads history:
it reads a snapshot, computes with no transaction open and writes if the snapshot
is still current (usecases/ask.py). `Store.write(study_id)` serialises writers of
one study (SQLite: one writer at a time; PostgreSQL: a row lock on the study), so
trial numbers stay dense and a grid point is handed out once.
Driver errors never leave `storage/`: they become `Unavailable` or `Aborted`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from asktell.server.domain import (
    Params,
    Study,
    StudySpec,
    StudyState,
    Trial,
    TrialCounts,
    TrialState,
)


@dataclass(frozen=True, slots=True)
class QueuedTrial:
    """Parameters waiting to be handed out: enqueued by a user, or a retry of a failed trial."""

    params: Params
    suggested_by: str
    retry_of: int | None = None
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class StudyStats:
    """What metrics export about one study."""

    study_id: str
    trials_by_state: dict[str, int]
    best_value: float | None
    queued: int
    overdue: int
    expired_leases: int
    # Several objectives or constraints: the size of the feasible Pareto front and the
    # best feasible value of each objective, by metric (None and empty otherwise).
    front_size: int | None = None
    objective_bests: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoreStats:
    n_studies: int
    studies: list[StudyStats]


class Tx(Protocol):
    """One transaction. Methods return domain values; nothing is written until commit."""

    # studies
    def insert_study(self, study: Study) -> None: ...
    def get_study(self, study_id: str) -> Study | None: ...
    def list_studies(self, after: str, limit: int) -> list[Study]: ...
    def delete_study(self, study_id: str) -> bool: ...
    def set_study_state(self, study_id: str, state: StudyState) -> None: ...
    def update_study_spec(self, study_id: str, spec: StudySpec) -> None:
        """Replaces the study's spec (UpdateStudy: only its mutable fields differ)."""
        ...

    def add_suggested(self, study_id: str, n: int) -> None: ...
    def algorithm_state(self, study_id: str) -> str | None:
        """What the study's algorithm left for its next Ask (None: nothing yet)."""
        ...

    def set_algorithm_state(self, study_id: str, state: str) -> None:
        """Replaces what the study's algorithm leaves for its next Ask."""
        ...

    def trial_counts(self, study_id: str) -> TrialCounts: ...
    def trial_counts_of(self, study_ids: Sequence[str]) -> dict[str, TrialCounts]:
        """The trial counts of several studies at once (a page of ListStudies)."""
        ...

    # trials
    def next_trial_number(self, study_id: str) -> int: ...
    def insert_trials(self, trials: Sequence[Trial]) -> None:
        """Inserts new trials, with their measurements (AddTrials may carry some)."""
        ...

    def update_trial(self, trial: Trial) -> None: ...
    def get_trial(self, study_id: str, number: int) -> Trial | None: ...
    def list_trials(
        self, study_id: str, states: Iterable[TrialState], after: int, limit: int
    ) -> list[Trial]: ...
    def trials_of_request(self, study_id: str, request_id: str) -> list[Trial]: ...
    def running_trials_of_worker(self, study_id: str, worker_id: str) -> list[Trial]: ...
    def expired_trials(self, study_id: str, now: float) -> list[Trial]: ...
    def studies_with_expired_leases(self, study_ids: Sequence[str], now: float) -> list[str]:
        """Those of `study_ids` with a RUNNING trial whose lease deadline is before `now`."""
        ...

    def best_trials(self, study_id: str, minimize: bool, limit: int) -> list[Trial]: ...
    def history_trials(self, study_id: str) -> list[Trial]: ...
    def put_measurement(self, study_id: str, number: int, step: int, value: float) -> None: ...
    def values_at_step(
        self, study_id: str, step: int, states: Iterable[TrialState]
    ) -> dict[int, float]:
        """Trial number -> value reported at `step`, for trials in `states` (all if empty)."""
        ...

    def study_stats(self, now: float, max_studies: int) -> StoreStats:
        """Trial statistics of the `max_studies` most recently created studies."""
        ...

    # queue
    def push_queue(self, study_id: str, items: Sequence[QueuedTrial]) -> None: ...
    def peek_queue(self, study_id: str, limit: int) -> list[QueuedTrial]:
        """The first `limit` queued items, in order, left in the queue."""
        ...

    def pop_queue(self, study_id: str, limit: int) -> list[QueuedTrial]:
        """The first `limit` queued items, in order, removed from the queue."""
        ...

    def queued_params(self, study_id: str) -> list[Params]: ...


class Store(Protocol):
    """A database holding every study; safe to share between threads."""

    def read(self) -> AbstractContextManager[Tx]:
        """A read-only transaction with a consistent snapshot."""
        ...

    def write(self, study_id: str | None = None) -> AbstractContextManager[Tx]:
        """A read-write transaction, serialised with other writers of `study_id`.

        May raise NotFound when `study_id` does not exist (PostgreSQL: no row to lock).
        """
        ...

    def close(self) -> None: ...


def batched(items: Sequence[Trial], size: int) -> Iterator[Sequence[Trial]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
