"""Tell, Report, Heartbeat and SetTrialAttributes on one trial; reads of trials; AddTrials and
EnqueueTrials."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from asktell.server import early_stopping
from asktell.server.domain import (
    Attrs,
    Params,
    ParamValue,
    Racing,
    Study,
    StudySpec,
    Trial,
    TrialState,
    check_attrs,
    check_id,
    check_metrics,
    typed_key,
)
from asktell.server.errors import FailedPrecondition, InvalidArgument, NotFound
from asktell.server.storage import QueuedTrial, Store, Tx
from asktell.server.usecases.best import MAX_BEST_TRIALS, best_trials_in
from asktell.server.usecases.leases import fail_trial, reap_before_read, reap_expired
from asktell.server.usecases.retry import retry_on_conflict
from asktell.server.usecases.studies import page_size, require_study

MAX_REASON_LENGTH = 4096
MAX_ADDED_TRIALS = 10_000
MAX_ENQUEUED_TRIALS = 1000


@dataclass(frozen=True, slots=True)
class TellCommand:
    study_id: str
    number: int
    state: TrialState
    value: float | None = None
    reason: str = ""
    worker_id: str = ""
    attrs: Attrs = field(default_factory=dict)
    values: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.state is TrialState.RUNNING:
            raise InvalidArgument("state must be COMPLETE, FAILED or PRUNED")
        # A COMPLETE Tell without a value is checked against the study: a cross-validated
        # objective takes the aggregate of the trial's folds (see `aggregate_values`).
        if self.value is not None or self.values or self.state is not TrialState.COMPLETE:
            check_outcome("", self.state, self.value, self.values)
        check_reason("reason", self.reason)
        check_id("worker_id", self.worker_id)
        check_attrs("attrs", self.attrs)


@dataclass(frozen=True, slots=True)
class EvaluatedTrial:
    params: Params
    state: TrialState = TrialState.COMPLETE
    value: float | None = None
    end_time: float | None = None
    attrs: Attrs = field(default_factory=dict)
    reason: str = ""
    values: Mapping[str, float] = field(default_factory=dict)
    measurements: Sequence[tuple[int, float]] = ()
    create_time: float | None = None


MAX_ADDED_MEASUREMENTS = 10_000  # per added trial


def check_measurements(where: str, measurements: Sequence[tuple[int, float]]) -> None:
    """Steps >= 0 and distinct, values finite, at most MAX_ADDED_MEASUREMENTS."""
    if len(measurements) > MAX_ADDED_MEASUREMENTS:
        raise InvalidArgument(
            f"{where}: at most {MAX_ADDED_MEASUREMENTS} per trial, got {len(measurements)}"
        )
    steps: set[int] = set()
    for i, (step, value) in enumerate(measurements):
        if step < 0:
            raise InvalidArgument(f"{where}[{i}].step must be >= 0, got {step}")
        if step in steps:
            raise InvalidArgument(f"{where}[{i}].step: step {step} is given twice")
        steps.add(step)
        check_value(f"{where}[{i}].value", value)


def check_outcome(
    where: str, state: TrialState, value: float | None, values: Mapping[str, float]
) -> None:
    """Checks the value and metrics of a Tell or an added trial, without the study's spec.

    COMPLETE needs a finite `value` or `values` (each finite); the other states have neither.
    """
    if state is TrialState.COMPLETE:
        check_metrics(f"{where}values", values)
        if value is not None or not values:
            check_value(f"{where}value", value)
    elif value is not None or values:
        what = "value" if value is not None else "values"
        raise InvalidArgument(
            f"{where}{what} is given for a {state} trial; only COMPLETE trials have values"
        )


def complete_values(
    spec: StudySpec, value: float | None, values: Mapping[str, float], where: str = ""
) -> tuple[float, dict[str, float]]:
    """(the first objective's value, every metric told) of a COMPLETE trial of a study.

    A plain `value` stands for the only objective of a study without constraints.
    Otherwise `values` must hold every objective's and constraint's metric; a
    `value` given with them must equal (or stands for) the first objective's.

    Raises:
        InvalidArgument: naming the missing metrics, or a `value` that contradicts `values`.
    """
    first = spec.objective.metric
    told = dict(values)
    if value is not None:
        if first in told and told[first] != value:
            raise InvalidArgument(
                f'{where}value: {value:g} differs from values["{first[:80]}"] = {told[first]:g} '
                "(value is the first objective's); give one of them"
            )
        told[first] = value
    missing = [m for m in spec.metrics if m not in told]
    if missing:
        shown = ", ".join(f'"{m[:80]}"' for m in missing[:16])
        needs = "value alone is not enough: " if not values else ""
        raise InvalidArgument(
            f"{where}values: {needs}missing metric{'s' if len(missing) > 1 else ''} {shown}; "
            "a COMPLETE trial of this study reports "
            + ", ".join(f'"{m[:80]}"' for m in spec.metrics)
        )
    return told[first], told


# How far a told value of a cross-validated objective may be from the server's aggregate
# (relative): a worker's own mean of the same doubles may differ in the last bits.
AGGREGATE_TOLERANCE = 1e-9


def aggregate_values(
    spec: StudySpec, trial: Trial, value: float | None, values: Mapping[str, float]
) -> tuple[float | None, dict[str, float]]:
    """A COMPLETE Tell's (value, values) with the cross-validated objective's aggregate.

    When the study has an objective with `aggregate` and the trial reported values
    (one per fold), that objective's value is their aggregate: a Tell that omits it
    gets it; one that gives it must agree within a relative 1e-9, and the stored
    value is the aggregate itself. A trial that reported nothing is told as usual.

    Raises:
        InvalidArgument: naming the metric, when the told value differs, or when
            nothing is told and there is nothing to aggregate.
    """
    objective = spec.aggregated_objective()
    folds = [v for _, v in trial.measurements]
    if objective is None or objective.aggregate is None or not folds:
        if value is None and not values:
            check_value("value", None)
        return value, dict(values)
    metric = objective.metric
    aggregate = objective.aggregate.of(folds)
    told = dict(values)
    given = [("values", told[metric])] if metric in told else []
    if value is not None and metric == spec.objective.metric:
        given.append(("value", value))
    for field_name, number in given:
        if abs(number - aggregate) > AGGREGATE_TOLERANCE * max(1.0, abs(aggregate)):
            where = field_name if field_name == "value" else f'values["{metric[:80]}"]'
            raise InvalidArgument(
                f"{where}: {number:.12g} is not the {objective.aggregate} of the "
                f"{len(folds)} values trial {trial.number} reported ({aggregate:.12g}); objective "
                f'"{metric[:80]}" is cross-validated: omit it to take the {objective.aggregate}, '
                "or tell that"
            )
    told[metric] = aggregate
    return (aggregate if metric == spec.objective.metric else value), told


def _told_values(study: Study, trial: Trial) -> dict[str, float]:
    """The metrics a trial was told with; for one told before `values` existed, its value."""
    if trial.values or trial.value is None:
        return dict(trial.values)
    return {study.spec.objective.metric: trial.value}


def check_reason(field: str, reason: str) -> None:
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidArgument(f"{field} must be at most {MAX_REASON_LENGTH} characters")
    if "\x00" in reason:
        raise InvalidArgument(f"{field} must not contain NUL characters")


def check_value(field: str, value: float | None) -> float:
    if value is None:
        raise InvalidArgument(f"{field} is required for a COMPLETE trial")
    if not math.isfinite(value):
        raise InvalidArgument(f"{field} must be a finite number, got {value}")
    return value


def _trial_in_tx(tx: Tx, study_id: str, number: int) -> tuple[Study, Trial]:
    study = require_study(tx, study_id)
    trial = tx.get_trial(study_id, number)
    if trial is None:
        raise NotFound(f'trial {number} of study "{study_id}" does not exist')
    return study, trial


def _running(tx: Tx, study_id: str, number: int, worker_id: str, now: float) -> tuple[Study, Trial]:
    """The trial, after expiring leases; FailedPrecondition unless it is RUNNING for this worker."""
    study, trial = _trial_in_tx(tx, study_id, number)
    return study, _still_running(tx, study, trial, worker_id, now)


def _still_running(tx: Tx, study: Study, trial: Trial, worker_id: str, now: float) -> Trial:
    """`trial`, failed first if its lease ran out (with the study's other expired leases);
    FailedPrecondition unless it is still RUNNING and held by `worker_id` (when given).

    A trial whose lease holds leaves the others to the next Ask or read, which expire
    them before anyone sees them: one query fewer on every Tell, Report and Heartbeat.
    """
    if trial.lease_deadline is not None and trial.lease_deadline < now:
        trial = reap_expired(tx, study, now).get(trial.number, trial)
    if trial.state is not TrialState.RUNNING:
        raise FailedPrecondition(
            f"trial {trial.number} is {trial.state}, not RUNNING"
            + (f": {trial.reason}" if trial.reason else "")
        )
    if worker_id and trial.worker_id and worker_id != trial.worker_id:
        raise FailedPrecondition(
            f"trial {trial.number} is leased to worker {trial.worker_id!r}, not {worker_id!r}"
        )
    return trial


@retry_on_conflict
def tell(store: Store, command: TellCommand, now: float) -> Trial:
    """Finishes a trial, merging `command.attrs` into its attributes.

    Telling the same outcome again returns the trial unchanged, if the repeated
    Tell's attributes are ones the trial already holds with the same values (a
    retry); a finished trial's attributes never change.

    Raises:
        NotFound: unknown study or trial.
        FailedPrecondition: the trial already finished differently (or the repeated
            Tell brings other attributes), its lease expired, or another worker holds it.
        InvalidArgument: the merged attributes exceed the limits.
    """
    with store.write(command.study_id) as tx:
        study, trial = _trial_in_tx(tx, command.study_id, command.number)
        value, values = command.value, dict(command.values)
        if command.state is TrialState.COMPLETE:
            value, values = aggregate_values(study.spec, trial, command.value, command.values)
            value, values = complete_values(study.spec, value, values)
        if trial.state is TrialState.RUNNING:
            trial = _still_running(tx, study, trial, command.worker_id, now)
        elif (
            trial.state is command.state
            and trial.value == value
            and _told_values(study, trial) == values
        ):
            changed = _changed_attrs(trial.attrs, command.attrs)
            if not changed:
                return trial
            raise FailedPrecondition(
                f"trial {trial.number} already finished as {_outcome(trial)}; refusing to "
                f'change its attribute "{changed}" (a finished trial\'s attributes are fixed)'
            )
        else:
            raise FailedPrecondition(
                f"trial {trial.number} already finished as {_outcome(trial)}; "
                f"refusing to change it to {command.state}"
                + (f" {value:g}" if value is not None else "")
            )
        # Without new attributes the trial keeps the ones it holds (checked when set).
        attrs = check_attrs("attrs", command.attrs, trial.attrs) if command.attrs else trial.attrs
        if command.state is TrialState.FAILED:
            trial = dataclasses.replace(trial, attrs=attrs)
            return fail_trial(tx, study, trial, command.reason or "failed", now)
        finished = dataclasses.replace(
            trial,
            attrs=attrs,
            state=command.state,
            value=value,
            values=values,
            reason=command.reason,
            end_time=now,
            lease_deadline=None,
        )
        tx.update_trial(finished)
        return finished


def _changed_attrs(held: Attrs, given: Attrs) -> str | None:
    """The first key of `given` that `held` lacks or holds another value (or type) of."""
    for key, value in given.items():
        if key not in held or typed_key(held[key]) != typed_key(value):
            return key
    return None


def _outcome(trial: Trial) -> str:
    if trial.state is TrialState.COMPLETE:
        return f"COMPLETE with value {trial.value:g}"
    return f"{trial.state} ({trial.reason})" if trial.reason else str(trial.state)


@retry_on_conflict
def report(
    store: Store, study_id: str, number: int, step: int, value: float, worker_id: str, now: float
) -> tuple[bool, float]:
    """Records an intermediate value and renews the lease.

    Returns:
        (should_stop, lease_deadline): should_stop is the study's early-stopping
        rule's verdict on this value (always False without a rule).
    """
    if step < 0:
        raise InvalidArgument(f"step must be >= 0, got {step}")
    check_value("value", value)
    check_id("worker_id", worker_id)
    with store.write(study_id) as tx:
        study, trial = _running(tx, study_id, number, worker_id, now)
        tx.put_measurement(study_id, number, step, value)
        deadline = now + study.spec.lease_seconds
        tx.update_trial(dataclasses.replace(trial, lease_deadline=deadline))
        return _should_stop(tx, study, trial, step, value), deadline


def _should_stop(tx: Tx, study: Study, trial: Trial, step: int, value: float) -> bool:
    """The study's early-stopping rule applied to the value just reported."""
    rule = study.spec.early_stopping
    if isinstance(rule, Racing):
        return _racing_should_stop(tx, study, rule, trial, step, value)
    states = early_stopping.competitors(rule, step)
    if states is None:
        return False
    others = tx.values_at_step(study.id, step, states)
    others.pop(trial.number, None)
    own = [(s, v) for s, v in trial.measurements if s != step] + [(step, value)]
    return early_stopping.should_stop(
        rule, study.spec.early_stopping_objective().goal, step, own, list(others.values())
    )


def _racing_should_stop(
    tx: Tx, study: Study, rule: Racing, trial: Trial, step: int, value: float
) -> bool:
    """The racing rule: this trial's folds so far against the reference COMPLETE trial."""
    own = [v for s, v in trial.measurements if s != step] + [value]
    if not early_stopping.racing_judges(rule, own):
        return False
    objective = study.spec.early_stopping_objective()
    complete: list[tuple[int, float]] = []
    for other in tx.history_trials(study.id):
        if other.state is TrialState.COMPLETE and other.number != trial.number:
            told = other.values.get(objective.metric)
            if told is None and objective.metric == study.spec.objective.metric:
                told = other.value
            if told is not None:
                complete.append((other.number, told))
    index = early_stopping.racing_reference(rule, objective.goal, [v for _, v in complete])
    if index is None:
        return False
    number, reference = complete[index]
    held = tx.get_trial(study.id, number)
    folds = [v for _, v in held.measurements] if held is not None else []
    return early_stopping.racing_says_stop(rule, objective.goal, own, reference, folds)


@retry_on_conflict
def heartbeat(store: Store, study_id: str, number: int, worker_id: str, now: float) -> float:
    """Renews the lease of a RUNNING trial and returns the new deadline."""
    check_id("worker_id", worker_id)
    with store.write(study_id) as tx:
        study, trial = _running(tx, study_id, number, worker_id, now)
        deadline = now + study.spec.lease_seconds
        tx.update_trial(dataclasses.replace(trial, lease_deadline=deadline))
        return deadline


@retry_on_conflict
def set_attributes(
    store: Store, study_id: str, number: int, attrs: Attrs, worker_id: str, now: float
) -> Trial:
    """Merges `attrs` into a RUNNING trial's attributes and renews its lease.

    Raises:
        InvalidArgument: a bad key or value, or too many or too large attributes in all.
        FailedPrecondition: the trial is not RUNNING, or another worker holds it.
    """
    check_attrs("attrs", attrs)
    check_id("worker_id", worker_id)
    with store.write(study_id) as tx:
        study, trial = _running(tx, study_id, number, worker_id, now)
        updated = dataclasses.replace(
            trial,
            attrs=check_attrs("attrs", attrs, trial.attrs),
            lease_deadline=now + study.spec.lease_seconds,
        )
        tx.update_trial(updated)
        return updated


def get_trial(store: Store, study_id: str, number: int, now: float) -> Trial:
    reap_before_read(store, study_id, now)
    with store.read() as tx:
        return _trial_in_tx(tx, study_id, number)[1]


def list_trials(
    store: Store,
    study_id: str,
    states: Sequence[TrialState],
    after: int,
    requested_page_size: int,
    now: float,
) -> tuple[list[Trial], int | None]:
    """A page of trials by number, and the number to continue after (None on the last page)."""
    limit = page_size(requested_page_size)
    reap_before_read(store, study_id, now)
    with store.read() as tx:
        require_study(tx, study_id)
        trials = tx.list_trials(study_id, states, after, limit + 1)
    return trials[:limit], (trials[limit - 1].number if len(trials) > limit else None)


def best_trials(store: Store, study_id: str, count: int, now: float) -> list[Trial]:
    """The best COMPLETE trials, best first (the order service.proto documents).

    A single-objective study without constraints is ordered by value in SQL; a
    study with several objectives or with constraints by `pareto.best_order`
    over all its COMPLETE trials, where count 0 means the whole Pareto front of
    the feasible trials (at most 100), or the least violating trial when none
    is feasible.
    """
    if not 0 <= count <= MAX_BEST_TRIALS:
        raise InvalidArgument(f"count must be 0 to {MAX_BEST_TRIALS}, got {count}")
    with store.read() as tx:
        return best_trials_in(tx, require_study(tx, study_id), count)


@dataclass(frozen=True, slots=True)
class SkippedTrial:
    """An item of AddTrials that the study refuses: its index and why (no "trials[i]." prefix)."""

    index: int
    reason: str


@dataclass(frozen=True, slots=True)
class AddedTrials:
    """What AddTrials recorded, and (with skip_invalid) what it left out."""

    trials: list[Trial]
    skipped: list[SkippedTrial]


@retry_on_conflict
def add_trials(
    store: Store,
    study_id: str,
    evaluated: Sequence[EvaluatedTrial],
    now: float,
    *,
    skip_invalid: bool = False,
) -> AddedTrials:
    """Records trials evaluated elsewhere; they teach the algorithm but use no budget.

    One item the study refuses fails the whole call (nothing is written), unless
    `skip_invalid`: then it is left out and reported, and the others are numbered
    densely in their order.
    """
    if not 1 <= len(evaluated) <= MAX_ADDED_TRIALS:
        raise InvalidArgument(f"trials: give 1 to {MAX_ADDED_TRIALS}, got {len(evaluated)}")
    with store.write(study_id) as tx:
        study = require_study(tx, study_id)
        number = tx.next_trial_number(study_id)
        trials: list[Trial] = []
        skipped: list[SkippedTrial] = []
        for i, item in enumerate(evaluated):
            try:
                trials.append(_added_trial(study, item, f"trials[{i}]", number + len(trials), now))
            except InvalidArgument as exc:
                if not skip_invalid:
                    raise
                skipped.append(SkippedTrial(i, str(exc).removeprefix(f"trials[{i}].")))
        if trials:
            tx.insert_trials(trials)
        return AddedTrials(trials, skipped)


def _added_trial(study: Study, item: EvaluatedTrial, where: str, number: int, now: float) -> Trial:
    """The trial that AddTrials records for `item`; InvalidArgument naming `where` if refused."""
    params = _valid_params(study, item.params, where)
    if item.state is TrialState.RUNNING:
        raise InvalidArgument(f"{where}.state: must be COMPLETE, FAILED or PRUNED")
    check_outcome(f"{where}.", item.state, item.value, item.values)
    value, values = item.value, dict(item.values)
    if item.state is TrialState.COMPLETE:
        value, values = complete_values(study.spec, item.value, item.values, f"{where}.")
    check_reason(f"{where}.reason", item.reason)
    check_measurements(f"{where}.measurements", item.measurements)
    end_time = item.end_time if item.end_time is not None else now
    create_time = item.create_time if item.create_time is not None else end_time
    if create_time > end_time:
        raise InvalidArgument(f"{where}.create_time: must not be after end_time")
    return Trial(
        study_id=study.id,
        number=number,
        state=item.state,
        params=params,
        value=value,
        values=values,
        create_time=create_time,
        end_time=end_time,
        reason=item.reason,
        suggested_by="added",
        attrs=check_attrs(f"{where}.attrs", item.attrs),
        measurements=tuple(sorted(item.measurements)),
    )


@retry_on_conflict
def enqueue_trials(store: Store, study_id: str, configs: Sequence[Params]) -> int:
    """Queues configurations ahead of the algorithm; returns how many are now queued."""
    if not 1 <= len(configs) <= MAX_ENQUEUED_TRIALS:
        raise InvalidArgument(f"trials: give 1 to {MAX_ENQUEUED_TRIALS}, got {len(configs)}")
    with store.write(study_id) as tx:
        study = require_study(tx, study_id)
        queued = [
            QueuedTrial(_valid_params(study, params, f"trials[{i}]"), "enqueued")
            for i, params in enumerate(configs)
        ]
        tx.push_queue(study_id, queued)
        return tx.trial_counts(study_id).queued


def _valid_params(study: Study, params: Params, where: str) -> dict[str, ParamValue]:
    try:
        return study.spec.space.validate(params)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{where}.{exc}") from exc
