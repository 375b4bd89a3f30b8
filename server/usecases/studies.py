"""Create, read, list, stop, resume and delete studies."""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass

from asktell.server import spec_proto
from asktell.server.algorithms import ALGORITHMS
from asktell.server.domain import Study, StudySpec, StudyState, TrialCounts, check_study_id
from asktell.server.errors import AlreadyExists, InvalidArgument, NotFound
from asktell.server.storage import Store, Tx
from asktell.server.usecases.leases import reap_before_read
from asktell.server.usecases.retry import retry_on_conflict

MAX_SEED = 2**63 - 1
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class StudyView:
    """A study with its trial counts, as GetStudy shows it."""

    study: Study
    counts: TrialCounts


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

    Returns:
        (study with its trial counts, created): created is False when an identical
        study already existed.

    Raises:
        InvalidArgument: a bad id, or a space the algorithm cannot search.
        AlreadyExists: the id is taken by a study with a different spec.
    """
    check_study_id(study_id)
    ALGORITHMS[spec.algorithm.name].check_space(spec.space, spec.algorithm.settings)
    if spec.algorithm.seed is not None and not 0 <= spec.algorithm.seed <= MAX_SEED:
        raise InvalidArgument(f"algorithm.seed must be 0 to {MAX_SEED}")
    with store.write() as tx:
        existing = tx.get_study(study_id)
        if existing is not None:
            if spec_proto.dump_spec(existing.spec) == spec_proto.dump_spec(spec):
                return StudyView(existing, tx.trial_counts(study_id)), False
            raise AlreadyExists(
                f'study "{study_id}" already exists with a different spec; '
                "choose another id, or delete the study first"
            )
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
    store: Store, after: str, requested_page_size: int
) -> tuple[list[StudyView], str | None]:
    """A page of studies ordered by id, and the id to continue after (None on the last page)."""
    limit = page_size(requested_page_size)
    with store.read() as tx:
        studies = tx.list_studies(after, limit + 1)
        views = [StudyView(s, tx.trial_counts(s.id)) for s in studies[:limit]]
    return views, (views[-1].study.id if len(studies) > limit else None)


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
