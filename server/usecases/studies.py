"""Create, read, list, update, stop, resume and delete studies.

A study's state as every answer shows it is `study_state`: the stored state
(ACTIVE or STOPPED), except that an ACTIVE study whose budget is used and whose
trials are all finished is COMPLETED. COMPLETED is never stored, so it follows
the trials and the budget by itself: a grown budget makes the study ACTIVE again.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from asktell.server import spec_proto
from asktell.server.algorithms import ALGORITHMS, fixed
from asktell.server.domain import Study, StudySpec, StudyState, TrialCounts, check_study_id
from asktell.server.errors import AlreadyExists, InvalidArgument, NotFound
from asktell.server.storage import Store, Tx
from asktell.server.usecases import stages
from asktell.server.usecases.leases import reap_before_read, reap_expired
from asktell.server.usecases.retry import retry_on_conflict

MAX_SEED = 2**63 - 1
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


def study_state(study: Study, counts: TrialCounts) -> StudyState:
    """The state a study reports: its stored one, or COMPLETED (see the module docstring).

    COMPLETED: ACTIVE, a budget (max_trials > 0) that the suggestions made have
    used, and no trial RUNNING or waiting in the queue (an enqueued configuration
    or a retry of a failed trial is still to be handed out).
    """
    if (
        study.state is StudyState.ACTIVE
        and study.spec.max_trials > 0
        and study.n_suggested >= study.spec.max_trials
        and counts.running == 0
        and counts.queued == 0
    ):
        return StudyState.COMPLETED
    return study.state


@dataclass(frozen=True, slots=True)
class StudyView:
    """A study with its trial counts, as GetStudy shows it."""

    study: Study
    counts: TrialCounts

    @property
    def state(self) -> StudyState:
        """The state every answer shows: see `study_state`."""
        return study_state(self.study, self.counts)


# The fields of a spec that UpdateStudy may change, by their path in the contract's
# StudySpec, each with how to read it from a domain spec. Nothing else may change:
# trials already made were suggested, and are judged, under the rest.
MUTABLE_FIELDS: Mapping[str, Callable[[StudySpec], float]] = {
    "max_trials": lambda spec: spec.max_trials,
    "lease_duration": lambda spec: spec.lease_seconds,
    "max_retries": lambda spec: spec.max_retries,
    "algorithm.suggestion_deadline": lambda spec: spec.algorithm.suggestion_deadline,
}


def with_changes(spec: StudySpec, changes: Mapping[str, float]) -> StudySpec:
    """`spec` with the mutable fields in `changes` (path -> new value), validated.

    Raises:
        InvalidArgument: a path that may not change, or a value CreateStudy would
            reject (the domain's own checks), naming the field.
    """
    unknown = sorted(set(changes) - set(MUTABLE_FIELDS))
    if unknown:
        raise InvalidArgument(
            f"update_mask: {unknown[0][:80]!r} cannot change; fields that may: "
            f"{', '.join(MUTABLE_FIELDS)}"
        )
    algorithm = spec.algorithm
    if "algorithm.suggestion_deadline" in changes:
        algorithm = dataclasses.replace(
            algorithm, suggestion_deadline=float(changes["algorithm.suggestion_deadline"])
        )
    fields: dict[str, object] = {"algorithm": algorithm}
    if "max_trials" in changes:
        fields["max_trials"] = int(changes["max_trials"])
    if "lease_duration" in changes:
        fields["lease_seconds"] = float(changes["lease_duration"])
    if "max_retries" in changes:
        fields["max_retries"] = int(changes["max_retries"])
    return dataclasses.replace(spec, **fields)  # type: ignore[arg-type]


def _mutable_differences(existing: StudySpec, wanted: StudySpec) -> list[str] | None:
    """The mutable fields in which `wanted` differs from `existing`, when only they differ.

    None when `wanted` also differs elsewhere (its space, objective, algorithm...).
    """
    differing = {
        path: read(wanted)
        for path, read in MUTABLE_FIELDS.items()
        if read(wanted) != read(existing)
    }
    if spec_proto.dump_spec(with_changes(existing, differing)) != spec_proto.dump_spec(wanted):
        return None
    return [
        f"{path} (the study has {_shown_field(path, read(existing))}, "
        f"the spec {_shown_field(path, read(wanted))})"
        for path, read in MUTABLE_FIELDS.items()
        if path in differing
    ]


def _shown_field(path: str, value: float) -> str:
    if path in ("lease_duration", "algorithm.suggestion_deadline"):
        return f"{value:g} s"
    return str(int(value))


def require_study(tx: Tx, study_id: str) -> Study:
    """The study, or NotFound naming it."""
    study = tx.get_study(study_id)
    if study is None:
        raise NotFound(f'study "{study_id}" does not exist')
    return study


def page_size(requested: int) -> int:
    if requested < 0 or requested > MAX_PAGE_SIZE:
        raise InvalidArgument(f"page_size must be 0 to {MAX_PAGE_SIZE}, got {requested}")
    return requested or DEFAULT_PAGE_SIZE


@retry_on_conflict
def create_study(
    store: Store, study_id: str, spec: StudySpec, now: float
) -> tuple[StudyView, bool]:
    """Creates a study, or returns the existing one if its spec is identical.

    Stages are resolved in the same transaction (`usecases.stages`).

    Returns:
        (study with its trial counts, created): created is False when an identical
        study already existed.

    Raises:
        InvalidArgument: a bad id, a space the algorithm cannot search, or a stage
            naming a parameter its study's best trial lacks or this spec defines.
        NotFound: a stage's study does not exist.
        FailedPrecondition: a stage's study has no COMPLETE trial.
        AlreadyExists: the id is taken by a study with a different spec; when only
            fields UpdateStudy may change differ, the message names them and says
            to update the study instead.
    """
    check_study_id(study_id)
    # The searched part: the parameters a stage adds are fixed, which no algorithm searches.
    fixed.check_space(ALGORITHMS[spec.algorithm.name], spec.space, spec.algorithm.settings)
    if spec.algorithm.seed is not None and not 0 <= spec.algorithm.seed <= MAX_SEED:
        raise InvalidArgument(f"algorithm.seed must be 0 to {MAX_SEED}")
    with store.write() as tx:
        existing = tx.get_study(study_id)
        if existing is not None:
            # A spec with stages is identified by what was asked (`stages.as_requested`).
            asked = stages.as_requested(existing.spec, spec)
            if spec_proto.dump_spec(asked) == spec_proto.dump_spec(spec):
                return StudyView(existing, tx.trial_counts(study_id)), False
            differences = _mutable_differences(asked, spec)
            if differences is not None:
                raise AlreadyExists(
                    f'study "{study_id}" already exists; its spec differs only in '
                    f"{', '.join(differences)}: change those with UpdateStudy "
                    f"(asktell study update {study_id}, or Study.update(...) in Python) "
                    "instead of creating the study again"
                )
            raise AlreadyExists(
                f'study "{study_id}" already exists with a different spec; '
                "choose another id, or delete the study first"
            )
        spec = stages.resolve(tx, spec)
        seed = spec.algorithm.seed if spec.algorithm.seed is not None else secrets.randbits(63)
        study = Study(study_id, spec, seed, StudyState.ACTIVE, now)
        tx.insert_study(study)
    return StudyView(study, TrialCounts()), True


def get_study(store: Store, study_id: str, now: float) -> StudyView:
    """Raises NotFound for an unknown study."""
    reap_before_read(store, study_id, now)
    with store.read() as tx:
        study = require_study(tx, study_id)
        return StudyView(study, tx.trial_counts(study_id))


def list_studies(
    store: Store, after: str, requested_page_size: int, now: float
) -> tuple[list[StudyView], str | None]:
    """A page of studies ordered by id, and the id to continue after (None on the last page).

    Expired leases of the page's studies are failed first, as GetStudy does, so the
    counts show no trial RUNNING past its deadline.
    """
    limit = page_size(requested_page_size)
    with store.read() as tx:
        studies = tx.list_studies(after, limit + 1)
        page = studies[:limit]
        ids = [s.id for s in page]
        stale = tx.studies_with_expired_leases(ids, now)
        counts = tx.trial_counts_of(ids)  # one query for the whole page
    if stale:  # rare: count again once their leases are failed
        for study_id in stale:
            reap_before_read(store, study_id, now)
        with store.read() as tx:
            counts = tx.trial_counts_of(ids)
    views = [StudyView(s, counts.get(s.id, TrialCounts())) for s in page]
    return views, (views[-1].study.id if len(studies) > limit else None)


@retry_on_conflict
def update_study(
    store: Store, study_id: str, changes: Mapping[str, float], now: float
) -> StudyView:
    """Changes the mutable fields of a study's spec (path -> new value), in one transaction.

    Works on ACTIVE, COMPLETED and STOPPED studies alike (a STOPPED one stays
    STOPPED). A new lease applies to trials handed out afterwards; running ones
    keep their deadline until renewed. A max_trials below the suggestions already
    made is allowed: no more are made, and the study is COMPLETED once its trials
    finish; 0 makes the budget unlimited.

    Raises:
        InvalidArgument: no change, a path that may not change, or a bad value.
        NotFound: no such study.
    """
    if not changes:
        raise InvalidArgument(
            "update_mask: name at least one field to change: " + ", ".join(MUTABLE_FIELDS)
        )
    with store.write(study_id) as tx:
        study = require_study(tx, study_id)
        updated = dataclasses.replace(study, spec=with_changes(study.spec, changes))
        reap_expired(tx, study, now)
        tx.update_study_spec(study_id, updated.spec)
        return StudyView(updated, tx.trial_counts(study_id))


@retry_on_conflict
def delete_study(store: Store, study_id: str) -> None:
    """Deletes the study and everything in it; NotFound if it does not exist."""
    with store.write(study_id) as tx:
        if not tx.delete_study(study_id):
            raise NotFound(f'study "{study_id}" does not exist')


@retry_on_conflict
def set_study_state(store: Store, study_id: str, state: StudyState) -> StudyView:
    """Stops or resumes a study (doing it twice is harmless)."""
    with store.write(study_id) as tx:
        study = require_study(tx, study_id)
        tx.set_study_state(study_id, state)
        return StudyView(dataclasses.replace(study, state=state), tx.trial_counts(study_id))
