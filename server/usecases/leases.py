"""Lease expiry and retries, done lazily by whichever replica touches a study next.

No process is "the" reaper: every Ask, every read of a study's trials, and every
Tell, Report or Heartbeat of a trial whose own lease has run out first fails the
RUNNING trials whose lease has run out. (A Tell of a trial still leased leaves the
others to the next Ask or read: nobody sees them before one of those.)
"""

from __future__ import annotations

import dataclasses

from asktell.server.domain import LEASE_EXPIRED_REASON, Study, Trial, TrialState
from asktell.server.errors import NotFound, Unavailable
from asktell.server.storage import QueuedTrial, Store, Tx
from asktell.server.usecases.retry import retry_on_conflict


def fail_trial(tx: Tx, study: Study, trial: Trial, reason: str, now: float) -> Trial:
    """Marks a trial FAILED and queues a retry of its parameters if the study allows one."""
    failed = dataclasses.replace(
        trial, state=TrialState.FAILED, reason=reason, end_time=now, lease_deadline=None
    )
    tx.update_trial(failed)
    if trial.attempt < study.spec.max_retries:
        retry = QueuedTrial(trial.params, "retry", retry_of=trial.number, attempt=trial.attempt + 1)
        tx.push_queue(study.id, [retry])
    return failed


def reap_expired(tx: Tx, study: Study, now: float) -> dict[int, Trial]:
    """Fails every RUNNING trial of `study` whose lease ended before `now`.

    Returns:
        The failed trials by number.
    """
    failed = {}
    for trial in tx.expired_trials(study.id, now):
        worker = f"worker {trial.worker_id!r}" if trial.worker_id else "its worker"
        reason = (
            f"{LEASE_EXPIRED_REASON}: {worker} sent no report or heartbeat "
            f"for {study.spec.lease_seconds:g} s"
        )
        failed[trial.number] = fail_trial(tx, study, trial, reason, now)
    return failed


@retry_on_conflict
def reap_before_read(store: Store, study_id: str, now: float) -> None:
    """Expires leases in a write transaction only when a read would otherwise show stale ones.

    A store that cannot write just now (a full disk) does not fail the read: it shows
    the expired leases as they are, RUNNING with their deadline past, and the next
    write to the study expires them.
    """
    with store.read() as tx:
        if not tx.expired_trials(study_id, now):
            return
    try:
        with store.write(study_id) as tx:
            study = tx.get_study(study_id)
            if study is not None:
                reap_expired(tx, study, now)
    except (Unavailable, NotFound):
        return  # the read that follows answers from what is stored (or NOT_FOUND)
