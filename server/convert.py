"""Protobuf <-> domain for requests and answers. Specs and values: `spec_proto.py`.

Every malformed field raises `InvalidArgument` naming the field, so handlers
stay free of validation code.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from asktell.server.domain import (
    DEFAULT_LEASE_SECONDS,
    STUDY_ID_PATTERN,
    Attrs,
    AttrValue,
    Study,
    StudyState,
    Trial,
    TrialCounts,
    TrialState,
    check_attrs,
)
from asktell.server.errors import InvalidArgument
from asktell.server.spec_proto import (
    duration_seconds,
    params,
    params_message,
    study_spec,
    study_spec_message,
)
from asktell.server.usecases.ask import AskResult, AskStatus
from asktell.server.usecases.studies import MUTABLE_FIELDS, StudyView
from asktell.server.usecases.trials import EvaluatedTrial
from asktell.v1 import resources_pb2 as pb
from asktell.v1 import service_pb2 as service_pb
from asktell.v1.values import value_message, value_of

__all__ = [  # the spec conversions the handlers use, from spec_proto
    "duration_seconds",
    "params",
    "params_message",
    "study_spec",
    "study_spec_message",
]

# NUL is no part of any id, and PostgreSQL refuses it in text.
STUDY_NAME = re.compile(r"studies/([^/\x00]+)")
TRIAL_NAME = re.compile(r"studies/([^/\x00]+)/trials/([^/\x00]+)")
# A positive number as this server writes it: ASCII digits, no sign, no leading zero.
POSITIVE_NUMBER = re.compile(r"[1-9][0-9]{0,18}")
MAX_NAME_LENGTH = 256
MAX_INT64 = 2**63 - 1

# The range protobuf allows: Timestamps from 0001-01-01T00:00:00Z to
# 9999-12-31T23:59:59.999999999Z, Durations up to 10,000 years either way.
MIN_TIMESTAMP_SECONDS = -62_135_596_800
MAX_TIMESTAMP_SECONDS = 253_402_300_799
MAX_NANOS = 999_999_999
NANOS_PER_SECOND = 1_000_000_000

_TRIAL_STATES = {
    pb.TRIAL_STATE_RUNNING: TrialState.RUNNING,
    pb.TRIAL_STATE_COMPLETE: TrialState.COMPLETE,
    pb.TRIAL_STATE_FAILED: TrialState.FAILED,
    pb.TRIAL_STATE_PRUNED: TrialState.PRUNED,
}
_TRIAL_STATES_PB = {state: number for number, state in _TRIAL_STATES.items()}


# ------------------------------------------------------------------ names
def study_id(name: str, field: str = "study") -> str:
    """'studies/{id}' -> id."""
    match = STUDY_NAME.fullmatch(name) if len(name) <= MAX_NAME_LENGTH else None
    if not match:
        raise InvalidArgument(f'{field}: expected "studies/{{study}}", got {name[:80]!r}')
    return match.group(1)


def trial_ref(name: str, field: str = "trial") -> tuple[str, int]:
    """'studies/{id}/trials/{number}' -> (id, number); the number as this server writes it."""
    match = TRIAL_NAME.fullmatch(name) if len(name) <= MAX_NAME_LENGTH else None
    number = positive_int64(match.group(2)) if match else None
    if match is None or number is None:
        raise InvalidArgument(
            f'{field}: expected "studies/{{study}}/trials/{{number}}" with the number in '
            f"ASCII digits, no leading zero, 1 to {MAX_INT64}; got {name[:80]!r}"
        )
    return match.group(1), number


def positive_int64(text: str) -> int | None:
    """`text` as a number from 1 to 2**63 - 1 written canonically, else None.

    Strict on purpose: int() also reads '01', '+1', ' 1', '1_0' and non-ASCII
    digits, which would give one trial many names.
    """
    if not POSITIVE_NUMBER.fullmatch(text):
        return None
    number = int(text)
    return number if number <= MAX_INT64 else None


def study_name(study_id: str) -> str:
    return f"studies/{study_id}"


def trial_name(study_id: str, number: int) -> str:
    return f"studies/{study_id}/trials/{number}"


# ------------------------------------------------------------------ page tokens
def encode_page_token(after: str | int | None) -> str:
    if after is None:
        return ""
    return base64.urlsafe_b64encode(f"{type(after).__name__}:{after}".encode()).decode()


def decode_page_token(token: str, kind: type[str] | type[int]) -> str | int:
    """The position to continue after; '' or 0 for the first page.

    Only a token this server returns is accepted, byte for byte: the position
    reaches the database, so a forged one must not (an integer beyond int64,
    say, overflows SQLite's).

    Raises:
        InvalidArgument: `page_token: ...` saying what is wrong with it.
    """
    if not token:
        return kind()
    try:
        text = base64.b64decode(token, altchars=b"-_", validate=True).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise InvalidArgument(_bad_token("it is not base64url")) from None
    tag, _, value = text.partition(":")
    if tag not in ("int", "str"):
        raise InvalidArgument(_bad_token("it is not one this server returned"))
    if tag != kind.__name__:
        raise InvalidArgument(_bad_token("it belongs to another list"))
    after: str | int | None
    if kind is int:
        after = positive_int64(value)
        if after is None:
            raise InvalidArgument(_bad_token(f"the trial number is not 1 to {MAX_INT64}"))
    else:
        after = value
        if not STUDY_ID_PATTERN.fullmatch(value):
            raise InvalidArgument(_bad_token("the study id in it is invalid"))
    if encode_page_token(after) != token:
        raise InvalidArgument(_bad_token("it is not one this server returned"))
    return after


def _bad_token(why: str) -> str:
    return (
        f"page_token: {why}; pass the next_page_token of the previous page unchanged, "
        "or none for the first page"
    )


# ------------------------------------------------------------------ times
def timestamp_seconds(stamp: Timestamp, field: str) -> float:
    """A caller's Timestamp in seconds since the epoch.

    Raises:
        InvalidArgument: naming `field`, for a Timestamp outside protobuf's range
            (years 1 to 9999, nanos 0 to 999,999,999).
    """
    if not MIN_TIMESTAMP_SECONDS <= stamp.seconds <= MAX_TIMESTAMP_SECONDS:
        raise InvalidArgument(
            f"{field}: seconds must be {MIN_TIMESTAMP_SECONDS} to {MAX_TIMESTAMP_SECONDS} "
            f"(years 1 to 9999), got {stamp.seconds}"
        )
    if not 0 <= stamp.nanos <= MAX_NANOS:
        raise InvalidArgument(f"{field}: nanos must be 0 to {MAX_NANOS}, got {stamp.nanos}")
    return float(stamp.seconds + stamp.nanos / NANOS_PER_SECOND)


# ------------------------------------------------------------------ attributes
def attrs(message: Mapping[str, pb.ParameterValue], field: str = "attrs") -> dict[str, AttrValue]:
    """The typed values of a request's attribute map, checked (`domain.check_attrs`)."""
    out: dict[str, AttrValue | None] = {name: value_of(value) for name, value in message.items()}
    return check_attrs(field, out)


def attrs_message(values: Attrs) -> dict[str, pb.ParameterValue]:
    return {name: value_message(value) for name, value in values.items()}


# ------------------------------------------------------------------ resources
# What a Timestamp can hold, in nanoseconds since the epoch.
_LOWEST_NANOS = MIN_TIMESTAMP_SECONDS * NANOS_PER_SECOND
_HIGHEST_NANOS = MAX_TIMESTAMP_SECONDS * NANOS_PER_SECOND + MAX_NANOS


def _timestamp(seconds: float | None) -> Timestamp | None:
    if seconds is None:
        return None
    # Clamped: a value stored before requests were checked, or float rounding at the
    # edge of the range, must not make the whole answer fail.
    nanos = max(_LOWEST_NANOS, min(_HIGHEST_NANOS, round(seconds * NANOS_PER_SECOND)))
    seconds_part, nanos_part = divmod(nanos, NANOS_PER_SECOND)  # as `FromNanoseconds` splits
    return Timestamp(seconds=seconds_part, nanos=nanos_part)


def trial_state(state: pb.TrialState, field: str = "state") -> TrialState:
    if state not in _TRIAL_STATES:
        raise InvalidArgument(f"{field}: set RUNNING, COMPLETE, FAILED or PRUNED")
    return _TRIAL_STATES[state]


def trial_message(trial: Trial) -> pb.Trial:
    # Empty fields are left out rather than set empty: each set field costs a conversion,
    # and every Ask and Tell answers with trials.
    optional: dict[str, Any] = {}
    if trial.measurements:
        optional["measurements"] = [pb.Measurement(step=s, value=v) for s, v in trial.measurements]
    if trial.attrs:
        optional["attrs"] = attrs_message(trial.attrs)
    if trial.values:
        optional["values"] = dict(trial.values)
    if trial.value is not None:
        optional["value"] = trial.value
    if trial.end_time is not None:
        optional["end_time"] = _timestamp(trial.end_time)
    if trial.lease_deadline is not None:
        optional["lease_deadline"] = _timestamp(trial.lease_deadline)
    return pb.Trial(
        name=trial_name(trial.study_id, trial.number),
        number=trial.number,
        state=_TRIAL_STATES_PB[trial.state],
        params=params_message(trial.params),
        worker_id=trial.worker_id,
        create_time=_timestamp(trial.create_time),
        reason=trial.reason,
        suggested_by=trial.suggested_by,
        retry_of=trial.retry_of or 0,
        **optional,
    )


def _counts(counts: TrialCounts) -> pb.TrialCounts:
    return pb.TrialCounts(
        running=counts.running,
        complete=counts.complete,
        failed=counts.failed,
        pruned=counts.pruned,
        queued=counts.queued,
    )


_STUDY_STATES_PB = {
    StudyState.ACTIVE: pb.STUDY_STATE_ACTIVE,
    StudyState.STOPPED: pb.STUDY_STATE_STOPPED,
    StudyState.COMPLETED: pb.STUDY_STATE_COMPLETED,
}


def study_message(
    study: Study, counts: TrialCounts | None = None, state: StudyState | None = None
) -> pb.Study:
    """The study as the contract shows it; `state` (default: the stored one) as derived."""
    return pb.Study(
        name=study_name(study.id),
        spec=study_spec_message(study.spec),
        state=_STUDY_STATES_PB[study.state if state is None else state],
        create_time=_timestamp(study.create_time),
        trial_counts=_counts(counts) if counts is not None else None,
        seed=study.seed,
        suggestions_made=study.n_suggested,
    )


def study_view_message(view: StudyView) -> pb.Study:
    return study_message(view.study, view.counts, view.state)


def study_changes(request: service_pb.UpdateStudyRequest) -> dict[str, float]:
    """The new values of the fields an UpdateStudy's mask names, by contract path.

    A field named but unset in `spec` takes its default, as in CreateStudy
    (max_trials 0: unlimited; lease_duration: 10 minutes).

    Raises:
        InvalidArgument: an empty mask, or a path that is unknown or may not change,
            named with the list of those that may.
    """
    allowed = ", ".join(MUTABLE_FIELDS)
    paths = list(dict.fromkeys(request.update_mask.paths))
    if not paths:
        raise InvalidArgument(f"update_mask: name at least one field to change: {allowed}")
    for path in paths:
        if path not in MUTABLE_FIELDS:
            what = "cannot change" if _is_spec_path(path) else "is not a field of StudySpec"
            raise InvalidArgument(
                f"update_mask: {path[:80]!r} {what}; the fields that may change are {allowed} "
                "(a study's space, objective, algorithm and early stopping are fixed)"
            )
    spec = request.spec
    values: dict[str, float] = {
        "max_trials": spec.max_trials,
        "max_retries": spec.max_retries,
        "lease_duration": (
            duration_seconds(spec.lease_duration, "spec.lease_duration")
            if spec.HasField("lease_duration")
            else DEFAULT_LEASE_SECONDS
        ),
        "algorithm.suggestion_deadline": duration_seconds(
            spec.algorithm.suggestion_deadline, "spec.algorithm.suggestion_deadline"
        ),
    }
    return {path: values[path] for path in paths}


def _is_spec_path(path: str) -> bool:
    """Whether `path` names a field (or a field of a field) of the contract's StudySpec."""
    fields: Mapping[str, Any] | None = pb.StudySpec.DESCRIPTOR.fields_by_name
    for part in path.split("."):
        field = fields.get(part) if fields is not None else None
        if field is None:
            return False
        fields = field.message_type.fields_by_name if field.message_type is not None else None
    return True


def evaluated_trial(message: service_pb.EvaluatedTrial, index: int) -> EvaluatedTrial:
    field = f"trials[{index}]"
    state = (
        TrialState.COMPLETE
        if message.state == pb.TRIAL_STATE_UNSPECIFIED
        else trial_state(message.state, f"{field}.state")
    )
    end_time = (
        timestamp_seconds(message.end_time, f"{field}.end_time")
        if message.HasField("end_time")
        else None
    )
    create_time = (
        timestamp_seconds(message.create_time, f"{field}.create_time")
        if message.HasField("create_time")
        else None
    )
    return EvaluatedTrial(
        params=params(message.params, f"{field}.params"),
        state=state,
        value=message.value if message.HasField("value") else None,
        end_time=end_time,
        attrs=attrs(message.attrs, f"{field}.attrs"),
        reason=message.reason,
        values=dict(message.values),
        measurements=[(m.step, m.value) for m in message.measurements],
        create_time=create_time,
    )


ASK_STATUS = {
    AskStatus.OK: service_pb.ASK_STATUS_OK,
    AskStatus.EXHAUSTED: service_pb.ASK_STATUS_EXHAUSTED,
    AskStatus.STOPPED: service_pb.ASK_STATUS_STOPPED,
}


def ask_status(result: AskResult) -> service_pb.AskStatus:
    return ASK_STATUS[result.status]
