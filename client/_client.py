"""`Client`: a connection to a server with every call of the API; `Study`: a handle on one.

`Client` holds the whole API (one method per RPC, by study id); `Study` and
`Trial` are conveniences that call those public methods, so that nothing here
reaches into another class's private parts.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message

import asktell.client._export as _export
from asktell.client._errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    RetryableError,
    from_rpc_error,
)
from asktell.client._models import TRIAL_STATES, AttrValue, StudyInfo, Trial, TrialCounts
from asktell.client._optimize import run_trials
from asktell.client._protos import STATE_NAME, STATE_PB, param_value, params_to_proto, to_datetime
from asktell.client._spec import spec_from_proto, spec_to_proto
from asktell.v1 import resources_pb2 as rpb
from asktell.v1 import service_pb2 as pb
from asktell.v1.spec import constraints_of, objectives_of
from asktell.v1.values import ValueTypeError, value_message, value_of

if TYPE_CHECKING:
    import pandas

log = logging.getLogger("asktell.client")

DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRY_SECONDS = 60.0

_SERVICE = pb.DESCRIPTOR.services_by_name["AsktellService"].full_name
_CALLER_ROLES = {
    pb.CALLER_ROLE_NONE: "none",
    pb.CALLER_ROLE_VIEWER: "viewer",
    pb.CALLER_ROLE_WORKER: "worker",
    pb.CALLER_ROLE_ADMIN: "admin",
}
# Round robin over every address the target resolves to (several replicas behind
# "dns:///asktell:50051" or "ipv4:10.0.0.1:50051,10.0.0.2:50051"); a dead one is skipped.
_OPTIONS = [("grpc.service_config", '{"loadBalancingConfig": [{"round_robin": {}}]}')]
_FINAL_STATES = ("COMPLETE", "FAILED", "PRUNED")
_STUDY_STATES = {
    rpb.STUDY_STATE_ACTIVE: "ACTIVE",
    rpb.STUDY_STATE_STOPPED: "STOPPED",
    rpb.STUDY_STATE_COMPLETED: "COMPLETED",
}
# How a trial that uses no suggestion budget is marked: a configuration enqueued by a
# user, a retry of a failed trial, a trial recorded by AddTrials.
_OUTSIDE_BUDGET = ("enqueued", "retry", "added")
_MAX_UINT32 = 2**32 - 1
_MAX_DURATION_SECONDS = 315_576_000_000
# AddTrials takes at most 10,000 trials and a 4 MiB request: imports go in smaller batches.
MAX_ADDED_PER_CALL = 10_000
MAX_ADD_REQUEST_BYTES = 3 * 1024 * 1024

Response = TypeVar("Response", bound=Message)


def default_worker_id() -> str:
    """host-pid, unique enough to tell workers apart in a trial's lease."""
    return f"{socket.gethostname()}-{os.getpid()}"


def attrs_to_proto(attrs: Mapping[str, Any], field: str = "attrs") -> dict[str, rpb.ParameterValue]:
    """Attributes as the contract's map; a value of no supported type is InvalidArgumentError."""
    out = {}
    for key, value in attrs.items():
        try:
            out[str(key)] = value_message(value)
        except ValueTypeError as exc:
            raise InvalidArgumentError(
                f'INVALID_ARGUMENT: {field}: "{str(key)[:80]}": {exc}'
            ) from None
    return out


def attrs_from_proto(message: Mapping[str, rpb.ParameterValue]) -> dict[str, AttrValue]:
    """The attributes of a message, sorted by key (a protobuf map has no order)."""
    values = ((key, value_of(message[key])) for key in sorted(message))
    return {key: value for key, value in values if value is not None}


@dataclass(frozen=True)
class ImportResult:
    """What `Client.import_study` did: the new study, trials added, RUNNING trials skipped."""

    study: Study
    imported: int
    skipped_running: int


@dataclass(frozen=True)
class SkippedTrial:
    """A trial of the source study that a warm start left out: its number there, and why."""

    number: int
    reason: str


@dataclass(frozen=True)
class WarmStartResult:
    """What `Client.warm_start` did: trials copied, and those the study refused, with why."""

    source: str
    copied: int
    skipped: list[SkippedTrial]


def _pem(value: bytes | str | Path | None) -> bytes | None:
    """PEM bytes given as bytes or as a file path."""
    if value is None or isinstance(value, bytes):
        return value
    return Path(value).read_bytes()


class Client:
    """A connection to an asktell server.

    Args:
        target: "host:port" of the server, or any gRPC target naming several
            replicas ("dns:///asktell.ns.svc:50051", "ipv4:10.0.0.1:50051,10.0.0.2:50051"):
            calls are spread round robin and skip replicas that are down.
        timeout: seconds each call may take.
        retry_seconds: how long idempotent calls keep retrying, with exponential
            backoff, while the server answers UNAVAILABLE or ABORTED.
        token: a bearer token sent with every call (servers run with --auth-file).
        tls_ca: PEM bundle (bytes or a file path) of the CA that signed the
            server's certificate; giving it (or a client certificate) switches to TLS.
        tls_cert: PEM client certificate chain, for servers requiring mutual TLS.
        tls_key: PEM private key of the client certificate.
        channel: a ready gRPC channel to use instead of opening one (tests,
            custom credentials).

    Use it as a context manager, or call `close()`.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        token: str | None = None,
        tls_ca: bytes | str | Path | None = None,
        tls_cert: bytes | str | Path | None = None,
        tls_key: bytes | str | Path | None = None,
        channel: grpc.Channel | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._owns_channel = channel is None
        if channel is None:
            if tls_ca is not None or tls_cert is not None:
                credentials = grpc.ssl_channel_credentials(
                    root_certificates=_pem(tls_ca),
                    private_key=_pem(tls_key),
                    certificate_chain=_pem(tls_cert),
                )
                channel = grpc.secure_channel(target, credentials, options=_OPTIONS)
            else:
                channel = grpc.insecure_channel(target, options=_OPTIONS)
        self._channel = channel
        self._methods: dict[str, Callable[..., Any]] = {}

    def close(self) -> None:
        """Closes the channel (if the client opened it)."""
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------ studies
    def create_study(self, spec: Mapping[str, Any]) -> Study:
        """Creates a study from a spec dict (the same form as a spec YAML file).

        Creating it again with an identical spec returns the existing study.
        A spec with `stages: [{study: EARLIER}]` fixes the parameters of EARLIER's
        best trial that it does not define (resolved by the server when the study
        is created; `study.info().spec` says which, and from which trial).

        Raises:
            InvalidArgumentError: the spec is malformed (the message names the field).
            AlreadyExistsError: the name is taken by a study with a different spec.
            NotFoundError: a stage's study does not exist.
            FailedPreconditionError: a stage's study has no COMPLETE trial yet.
        """
        study_id, message = spec_to_proto(spec)
        request = pb.CreateStudyRequest(study_id=study_id, spec=message)
        response = self._call("CreateStudy", request, pb.CreateStudyResponse, idempotent=True)
        return Study(self, _study_info(response.study).id)

    def create_or_extend(self, spec: Mapping[str, Any], n_trials: int) -> Study:
        """Creates the study with a budget of `n_trials`, or gives an existing one `n_trials` more.

        The call of a script that is rerun (each week, each pipeline run) and must
        run `n_trials` trials each time: Optuna's
        `create_study(load_if_exists=True)` followed by `optimize(n_trials=N)` is

            client.create_or_extend(spec, n_trials=N).optimize(objective)

        A new study is created from `spec` with `max_trials` set to `n_trials`
        (the spec's own `max_trials` is not used). An existing one must have the
        same spec but for the fields UpdateStudy may change; its budget grows by
        `Study.extend(n_trials)`, and the spec's lease, retries and suggestion
        deadline replace its own. A STOPPED study stays stopped.

        Raises:
            InvalidArgumentError: a malformed spec, or `n_trials` below 1.
            AlreadyExistsError: a study of that name exists with another space,
                objective or algorithm.
        """
        _check_count("n_trials", n_trials, minimum=1)
        study_id, message = spec_to_proto(spec)
        message.max_trials = min(n_trials, _MAX_UINT32)
        create = pb.CreateStudyRequest(study_id=study_id, spec=message)
        try:
            response = self._call("CreateStudy", create, pb.CreateStudyResponse, idempotent=True)
            if response.created:
                return Study(self, study_id)
        except AlreadyExistsError:
            pass
        # It exists. CreateStudy with the study's own mutable fields tells whether the rest
        # is the same: it answers AlreadyExistsError when the space, objective or algorithm
        # differ, and that goes to the caller.
        get = pb.GetStudyRequest(name=f"studies/{study_id}")
        existing = self._call("GetStudy", get, pb.GetStudyResponse, idempotent=True).study.spec
        same = create.spec
        same.max_trials = existing.max_trials
        same.lease_duration.CopyFrom(existing.lease_duration)
        same.max_retries = existing.max_retries
        same.algorithm.suggestion_deadline.CopyFrom(existing.algorithm.suggestion_deadline)
        self._call("CreateStudy", create, pb.CreateStudyResponse, idempotent=True)
        wanted = message
        # The fields the spec gives replace the study's; those it leaves out stay.
        algorithm = spec.get("algorithm")
        given_deadline = isinstance(algorithm, Mapping) and "suggestion_deadline" in algorithm
        study = Study(self, study_id)
        study.extend(
            n_trials,
            lease_seconds=(
                wanted.lease_duration.ToNanoseconds() / 1e9 if "lease_seconds" in spec else None
            ),
            max_retries=wanted.max_retries if "max_retries" in spec else None,
            suggestion_deadline=(
                wanted.algorithm.suggestion_deadline.ToNanoseconds() / 1e9
                if given_deadline
                else None
            ),
        )
        return study

    def get_study(self, study: str) -> Study:
        """A handle on an existing study. Raises NotFoundError if there is none."""
        handle = Study(self, study)
        handle.info()
        return handle

    def get_study_info(self, study: str) -> StudyInfo:
        """The study's spec, state and trial counts, read now."""
        request = pb.GetStudyRequest(name=f"studies/{study}")
        response = self._call("GetStudy", request, pb.GetStudyResponse, idempotent=True)
        return _study_info(response.study)

    def list_studies(self, *, page_size: int = 100) -> list[StudyInfo]:
        """Every study, by name."""
        studies: list[StudyInfo] = []
        token = ""
        while True:
            request = pb.ListStudiesRequest(page_size=page_size, page_token=token)
            response = self._call("ListStudies", request, pb.ListStudiesResponse, idempotent=True)
            studies.extend(_study_info(s) for s in response.studies)
            token = response.next_page_token
            if not token:
                return studies

    def update_study(
        self,
        study: str,
        *,
        max_trials: int | None = None,
        lease_seconds: float | None = None,
        max_retries: int | None = None,
        suggestion_deadline: float | None = None,
    ) -> StudyInfo:
        """Changes what may change in a study's spec; the fields left None stay as they are.

        Args:
            study: the study id.
            max_trials: the new budget of suggestions (0: unlimited). Raising it
                makes a COMPLETED study ACTIVE again; lowering it below the
                suggestions already made stops new suggestions, and the study
                is COMPLETED once its trials finish.
            lease_seconds: the lease of trials handed out from now on (1 s to 7 days);
                running trials keep theirs until they renew it.
            max_retries: how often a FAILED trial's parameters are handed out again.
            suggestion_deadline: seconds one suggestion may take (0: no limit).

        The space, objective, algorithm and early stopping never change. Works on a
        STOPPED study too (it stays stopped).

        Returns:
            The study after the update.

        Raises:
            InvalidArgumentError: no field given, or a value out of range.
            NotFoundError: no such study.
        """
        spec = rpb.StudySpec()
        paths = []
        if max_trials is not None:
            spec.max_trials = _check_count("max_trials", max_trials)
            paths.append("max_trials")
        if lease_seconds is not None:
            spec.lease_duration.FromNanoseconds(
                round(_check_seconds("lease_seconds", lease_seconds) * 1e9)
            )
            paths.append("lease_duration")
        if max_retries is not None:
            spec.max_retries = _check_count("max_retries", max_retries)
            paths.append("max_retries")
        if suggestion_deadline is not None:
            spec.algorithm.suggestion_deadline.FromNanoseconds(
                round(_check_seconds("suggestion_deadline", suggestion_deadline) * 1e9)
            )
            paths.append("algorithm.suggestion_deadline")
        if not paths:
            raise InvalidArgumentError(
                "INVALID_ARGUMENT: give at least one of max_trials, lease_seconds, "
                "max_retries, suggestion_deadline"
            )
        request = pb.UpdateStudyRequest(
            name=f"studies/{study}", spec=spec, update_mask=FieldMask(paths=paths)
        )
        response = self._call("UpdateStudy", request, pb.UpdateStudyResponse, idempotent=True)
        return _study_info(response.study)

    def stop_study(self, study: str) -> None:
        """Stops handing out suggestions (running trials may still be told)."""
        request = pb.StopStudyRequest(name=f"studies/{study}")
        self._call("StopStudy", request, pb.StopStudyResponse, idempotent=True)

    def resume_study(self, study: str) -> None:
        """Resumes a stopped study."""
        request = pb.ResumeStudyRequest(name=f"studies/{study}")
        self._call("ResumeStudy", request, pb.ResumeStudyResponse, idempotent=True)

    def delete_study(self, study: str) -> None:
        """Deletes a study and all its trials. Raises NotFoundError if there is none."""
        request = pb.DeleteStudyRequest(name=f"studies/{study}")
        self._call("DeleteStudy", request, pb.DeleteStudyResponse, idempotent=False)

    # ------------------------------------------------------------ asking
    def ask(
        self, study: str, count: int = 1, *, worker_id: str | None = None, resume: bool = False
    ) -> list[Trial]:
        """Up to `count` RUNNING trials leased to `worker_id`; [] when nothing more will come.

        Args:
            study: the study id.
            count: 1 to 100.
            worker_id: who runs the trials; defaults to host-pid.
            resume: first return the RUNNING trials this worker_id already holds
                (a restarted worker picks its work back up).

        The call is retried safely: a request id makes a repeated Ask return
        the same trials.
        """
        request = pb.AskRequest(
            study=f"studies/{study}",
            count=count,
            worker_id=worker_id if worker_id is not None else default_worker_id(),
            request_id=uuid.uuid4().hex,
            resume=resume,
        )
        response = self._call("Ask", request, pb.AskResponse, idempotent=True)
        return [self._trial(t) for t in response.trials]

    def add_trials(self, study: str, trials: Sequence[Mapping[str, Any]]) -> list[Trial]:
        """Records configurations evaluated elsewhere, e.g. last week's study.

        Each item is {"params": {...}, "value": 0.93} (COMPLETE), {"params": {...},
        "values": {"val_accuracy": 0.93, "latency_ms": 12.0}} (COMPLETE, for a study
        with several objectives or with constraints: every one of their metrics) or
        {"params": {...}, "state": "FAILED", "reason": "out of memory"}, and may
        carry "attrs" ({name: bool, int, float or str}, as in `Trial.tell`) and
        "end_time" (a datetime, an ISO 8601 string or seconds since the epoch;
        default now), "create_time" (likewise; default its end time) and
        "measurements" ([[step, value], ...], as `Trial.report` would have sent
        them). They teach the algorithm and use no suggestion budget. At most
        10,000 per call. Not retried automatically (a retry would add twice).
        """
        items = [_evaluated_trial(i, item) for i, item in enumerate(trials)]
        return self._add_trials(study, items)

    def _add_trials(self, study: str, items: Sequence[pb.EvaluatedTrial]) -> list[Trial]:
        request = pb.AddTrialsRequest(study=f"studies/{study}", trials=items)
        response = self._call("AddTrials", request, pb.AddTrialsResponse, idempotent=False)
        return [self._trial(t) for t in response.trials]

    def import_study(self, data: Mapping[str, Any], name: str) -> ImportResult:
        """Creates study `name` from a JSON export (`asktell study export --format json`).

        The study gets the export's spec under the new name, and every finished
        trial (COMPLETE, FAILED, PRUNED) with its params, value, state, reason,
        attrs, measurements, start and end times, through AddTrials in batches; RUNNING trials are
        skipped and counted. The trials are numbered anew from 1 in the export's
        order, `suggested_by` "added"; they teach the algorithm and use no budget.

        Raises:
            InvalidArgumentError: `data` is not an export, or the server rejects its spec
                or a trial (the message names it).
            AlreadyExistsError: a study `name` exists already.
        """
        spec, items, skipped = _export.import_plan(data, name)
        study_id, message = spec_to_proto(spec)
        request = pb.CreateStudyRequest(study_id=study_id, spec=message)
        response = self._call("CreateStudy", request, pb.CreateStudyResponse, idempotent=True)
        if not response.created:
            raise AlreadyExistsError(
                f"ALREADY_EXISTS: study {study_id} already exists; import into a new name"
            )
        evaluated = [_evaluated_trial(i, item) for i, item in enumerate(items)]
        for batch in _batches(evaluated):
            self._add_trials(study_id, batch)
        return ImportResult(Study(self, study_id), len(evaluated), skipped)

    def warm_start(self, study: str, source: str) -> WarmStartResult:
        """Copies the finished trials of study `source` into `study`, those that still fit.

        For a pipeline run that starts from last week's study: every COMPLETE,
        FAILED and PRUNED trial of `source` is added to `study` (AddTrials) with
        its params, state, value, reason, attributes and end time; they teach the
        algorithm and use none of the budget. The server decides what fits: a
        trial whose parameters no longer fit the space (a parameter added,
        removed, or a range narrowed) is left out and reported with the reason,
        instead of failing the whole copy. Intermediate values are not copied.
        Each batch of 10,000 trials is copied at once; copying twice adds twice
        (`asktell study create --warm-start-from` copies only into a study with
        no trials yet).

        Raises:
            NotFoundError: `study` or `source` does not exist.
            InvalidArgumentError: the two studies have different objectives (the
                values would mean something else).
        """
        target_spec = self.get_study_info(study).spec
        source_spec = self.get_study_info(source).spec
        if (objectives_of(target_spec), constraints_of(target_spec)) != (
            objectives_of(source_spec),
            constraints_of(source_spec),
        ):
            raise InvalidArgumentError(
                f"INVALID_ARGUMENT: cannot warm-start {study} from {source}: their "
                f"objectives or constraints differ ({_objective_text(target_spec)} against "
                f"{_objective_text(source_spec)})"
            )
        finished = self.list_trials(source, _FINAL_STATES)
        items = [
            _evaluated_trial(
                i,
                {
                    "params": t.params,
                    "state": t.state,
                    "value": t.value if t.state == "COMPLETE" else None,
                    "values": t.values if t.state == "COMPLETE" else None,
                    "reason": t.reason,
                    "attrs": t.attrs,
                    "end_time": t.end_time,
                },
            )
            for i, t in enumerate(finished)
        ]
        copied = 0
        skipped: list[SkippedTrial] = []
        offset = 0
        for batch in _batches(items):
            request = pb.AddTrialsRequest(study=f"studies/{study}", trials=batch, skip_invalid=True)
            response = self._call("AddTrials", request, pb.AddTrialsResponse, idempotent=False)
            copied += len(response.trials)
            skipped += [
                SkippedTrial(finished[offset + s.index].number, s.reason) for s in response.skipped
            ]
            offset += len(batch)
        return WarmStartResult(source, copied, skipped)

    def enqueue_trials(
        self, study: str, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> int:
        """Queues one configuration (or a list) to be handed out before the algorithm's own.

        Returns:
            How many configurations are now waiting in the queue.
        """
        configs = [params] if isinstance(params, Mapping) else list(params)
        request = pb.EnqueueTrialsRequest(
            study=f"studies/{study}",
            trials=[pb.TrialParams(params=params_to_proto(c)) for c in configs],
        )
        response = self._call("EnqueueTrials", request, pb.EnqueueTrialsResponse, idempotent=False)
        return int(response.queued)

    # ------------------------------------------------------------ reading trials
    def get_trial(self, study: str, number: int) -> Trial:
        """One trial by number."""
        request = pb.GetTrialRequest(name=f"studies/{study}/trials/{number}")
        response = self._call("GetTrial", request, pb.GetTrialResponse, idempotent=True)
        return self._trial(response.trial)

    def list_trials(
        self, study: str, states: Sequence[str] = (), *, page_size: int = 1000
    ) -> list[Trial]:
        """Every trial by number, optionally only those in `states` (e.g. ["COMPLETE"])."""
        unknown = [s for s in states if s not in TRIAL_STATES]
        if unknown:
            raise InvalidArgumentError(
                f"INVALID_ARGUMENT: states: {unknown[0]!r} is not one of {', '.join(TRIAL_STATES)}"
            )
        trials: list[Trial] = []
        token = ""
        while True:
            request = pb.ListTrialsRequest(
                study=f"studies/{study}",
                states=[STATE_PB[s] for s in states],
                page_size=page_size,
                page_token=token,
            )
            response = self._call("ListTrials", request, pb.ListTrialsResponse, idempotent=True)
            trials.extend(self._trial(t) for t in response.trials)
            token = response.next_page_token
            if not token:
                return trials

    def list_trials_page(
        self,
        study: str,
        states: Sequence[str] = (),
        *,
        page_size: int = 1000,
        page_token: str = "",
    ) -> tuple[list[Trial], str]:
        """One page of trials by number, and the token of the next page ("" after the last).

        For readers that keep trials up to date (a dashboard): keep the token of a
        full page and pass it again later to read only the trials numbered after it.

        Args:
            study: the study id.
            states: only trials in these states (e.g. ["RUNNING"]); empty means all.
            page_size: at most 1000.
            page_token: "" for the first page, else a `next_page_token` this returned.
        """
        unknown = [s for s in states if s not in TRIAL_STATES]
        if unknown:
            raise InvalidArgumentError(
                f"INVALID_ARGUMENT: states: {unknown[0]!r} is not one of {', '.join(TRIAL_STATES)}"
            )
        request = pb.ListTrialsRequest(
            study=f"studies/{study}",
            states=[STATE_PB[s] for s in states],
            page_size=page_size,
            page_token=page_token,
        )
        response = self._call("ListTrials", request, pb.ListTrialsResponse, idempotent=True)
        return [self._trial(t) for t in response.trials], response.next_page_token

    def get_best_trials(self, study: str, count: int = 0) -> list[Trial]:
        """The best COMPLETE trials, best first.

        For a single-objective study without constraints, the `count` best (0: one).
        For a study with several objectives or with constraints, the Pareto front
        of its feasible trials (count 0: the whole front, at most 100), then by
        the order service.proto documents; when no trial is feasible, the least
        violating ones.
        """
        request = pb.GetBestTrialsRequest(study=f"studies/{study}", count=count)
        response = self._call("GetBestTrials", request, pb.GetBestTrialsResponse, idempotent=True)
        return [self._trial(t) for t in response.trials]

    def caller(self) -> str:
        """What this client's token may do: "admin", "worker" or "viewer" (roles nest), or
        "none" when the server checks no tokens (every call is allowed); "unknown" for a
        role this client does not know (a newer server's). Calls GetCaller.

        Raises:
            UnauthenticatedError: the server checks tokens and this one is missing or unknown.
        """
        request = pb.GetCallerRequest()
        response = self._call("GetCaller", request, pb.GetCallerResponse, idempotent=True)
        return _CALLER_ROLES.get(response.role, "unknown")

    # ------------------------------------------------------------ running trials
    def report(self, trial: Trial, step: int, value: float) -> bool:
        """Records an intermediate value of a RUNNING trial and renews its lease.

        Updates `trial.measurements` and `trial.lease_deadline`.

        Returns:
            True when the server says the trial should stop early.
        """
        request = pb.ReportRequest(
            trial=trial.name, step=step, value=value, worker_id=trial.worker_id
        )
        response = self._call("Report", request, pb.ReportResponse, idempotent=True)
        trial.lease_deadline = to_datetime(response.lease_deadline, True)
        trial.measurements.append((step, value))
        return bool(response.should_stop)

    def heartbeat(self, trial: Trial) -> None:
        """Renews a RUNNING trial's lease; only `trial.lease_deadline` changes."""
        request = pb.HeartbeatRequest(trial=trial.name, worker_id=trial.worker_id)
        response = self._call("Heartbeat", request, pb.HeartbeatResponse, idempotent=True)
        trial.lease_deadline = to_datetime(response.lease_deadline, True)

    def tell(
        self,
        trial: Trial,
        value: float | Mapping[str, float] | None = None,
        *,
        state: str = "COMPLETE",
        reason: str = "",
        attrs: Mapping[str, AttrValue] | None = None,
    ) -> None:
        """Finishes a trial: COMPLETE with `value`, or FAILED or PRUNED with a `reason`.

        `value` is a number, or a mapping of metric -> number for a study with
        several objectives or with constraints (every one of their metrics).

        `attrs` are stored with the trial, merged into those it has (see
        `set_trial_attrs` for the limits). Safe to retry with the same arguments;
        a finished trial's attributes do not change afterwards. `trial` takes the
        state, value, attributes and times the server recorded.
        """
        if state not in _FINAL_STATES:
            raise InvalidArgumentError(
                f"INVALID_ARGUMENT: state must be COMPLETE, FAILED or PRUNED, got {state!r}"
            )
        request = pb.TellRequest(
            trial=trial.name,
            state=STATE_PB[state],
            reason=reason,
            worker_id=trial.worker_id,
            attrs=attrs_to_proto(attrs or {}),
        )
        if isinstance(value, Mapping):
            for metric, number in value.items():
                request.values[str(metric)] = _metric_number(metric, number)
        elif value is not None:
            request.value = float(value)
        told = self._trial(self._call("Tell", request, pb.TellResponse, idempotent=True).trial)
        for name in (
            "state",
            "value",
            "reason",
            "end_time",
            "lease_deadline",
            "measurements",
            "attrs",
            "values",
        ):
            setattr(trial, name, getattr(told, name))

    def set_trial_attrs(self, trial: Trial, attrs: Mapping[str, AttrValue]) -> None:
        """Records attributes of a RUNNING trial, merged into those it has; renews its lease.

        Keys are like parameter names (1-64 letters, digits, '_', '.' or '-',
        starting with a letter or '_'); values are strings (at most 4096
        characters), finite floats, ints (64-bit) or bools, each kept with its
        type. A trial holds at most 64 attributes (64 KiB encoded). Updates
        `trial.attrs` and `trial.lease_deadline`. Safe to retry.

        Raises:
            InvalidArgumentError: a bad key or value (named), or too many in all.
            FailedPreconditionError: the trial is not RUNNING or another worker holds it.
        """
        request = pb.SetTrialAttributesRequest(
            trial=trial.name, attrs=attrs_to_proto(attrs), worker_id=trial.worker_id
        )
        response = self._call(
            "SetTrialAttributes", request, pb.SetTrialAttributesResponse, idempotent=True
        )
        updated = self._trial(response.trial)
        trial.attrs = updated.attrs
        trial.lease_deadline = updated.lease_deadline

    # ------------------------------------------------------------ plumbing
    def _call(
        self,
        method: str,
        request: Message,
        response_type: type[Response],
        *,
        idempotent: bool,
    ) -> Response:
        """One RPC; idempotent ones are retried on transient errors until retry_seconds pass."""
        rpc = self._methods.get(method)
        if rpc is None:
            rpc = self._methods[method] = self._channel.unary_unary(
                f"/{_SERVICE}/{method}",
                request_serializer=type(request).SerializeToString,
                response_deserializer=response_type.FromString,
            )
        give_up = time.monotonic() + (self.retry_seconds if idempotent else 0.0)
        backoff = 0.1
        while True:
            try:
                response = rpc(request, timeout=self.timeout, metadata=self._metadata)
            except grpc.RpcError as rpc_error:
                error = from_rpc_error(rpc_error)
                if not isinstance(error, RetryableError) or time.monotonic() + backoff > give_up:
                    raise error from None
                log.info("%s: %s; retrying in %.1f s", method, error, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            else:
                assert isinstance(response, response_type)
                return response

    def _trial(self, message: rpb.Trial) -> Trial:
        """A client-side Trial bound to this client, so that it can report and tell."""
        return Trial(
            study=message.name.split("/")[1],
            number=message.number,
            params={k: param_value(v) for k, v in message.params.items()},
            state=STATE_NAME.get(message.state, "UNSPECIFIED"),
            value=message.value if message.HasField("value") else None,
            measurements=[(m.step, m.value) for m in message.measurements],
            worker_id=message.worker_id,
            lease_deadline=to_datetime(message.lease_deadline, message.HasField("lease_deadline")),
            create_time=to_datetime(message.create_time, message.HasField("create_time")),
            end_time=to_datetime(message.end_time, message.HasField("end_time")),
            reason=message.reason,
            suggested_by=message.suggested_by,
            retry_of=message.retry_of or None,
            attrs=attrs_from_proto(message.attrs),
            values=dict(message.values),
            _client=self,
        )


def _check_count(field: str, value: int, minimum: int = 0) -> int:
    """`value` if it is an int from `minimum` to 2^32 - 1 (the contract's uint32)."""
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= _MAX_UINT32:
        raise InvalidArgumentError(
            f"INVALID_ARGUMENT: {field} must be an integer from {minimum} to {_MAX_UINT32}, "
            f"got {value!r}"
        )
    return value


def _check_seconds(field: str, value: float) -> float:
    """`value` if it is a number of seconds a Duration holds, >= 0 (the server checks the rest)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= _MAX_DURATION_SECONDS
    ):
        raise InvalidArgumentError(
            f"INVALID_ARGUMENT: {field} must be a number of seconds >= 0, got {value!r}"
        )
    return float(value)


def _suggestions_made(client: Client, study: str, counts: TrialCounts) -> int:
    """How many of the study's trials used its budget: those its algorithm suggested.

    Enqueued configurations, retries and added trials use none. For a server older
    than `Study.suggestions_made`, which says so itself: this reads the study's trials.
    """
    if counts.running + counts.complete + counts.failed + counts.pruned == 0:
        return 0
    return sum(1 for t in client.list_trials(study) if t.suggested_by not in _OUTSIDE_BUDGET)


def _metric_number(where: object, number: Any) -> float:
    """A told metric's value as a float; a bool or a non-number is InvalidArgumentError."""
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise InvalidArgumentError(
            f"INVALID_ARGUMENT: {where} must be a number, got {number!r}"[:300]
        )
    return float(number)


def _evaluated_trial(index: int, item: Mapping[str, Any]) -> pb.EvaluatedTrial:
    """One `add_trials` item as the contract's EvaluatedTrial."""
    where = f"trials[{index}]"
    state = item.get("state", "COMPLETE")
    if state not in _FINAL_STATES:
        raise InvalidArgumentError(
            f"INVALID_ARGUMENT: {where}.state must be COMPLETE, FAILED or PRUNED"
        )
    message = pb.EvaluatedTrial(
        params=params_to_proto(item.get("params", {})),
        state=STATE_PB[state],
        attrs=attrs_to_proto(item.get("attrs") or {}, f"{where}.attrs"),
        reason=str(item.get("reason") or ""),
    )
    if item.get("value") is not None:
        message.value = float(item["value"])
    values = item.get("values") or {}
    if not isinstance(values, Mapping):
        raise InvalidArgumentError(
            f"INVALID_ARGUMENT: {where}.values must be a mapping of metric -> number"
        )
    for metric, number in values.items():
        message.values[str(metric)] = _metric_number(f"{where}.values.{metric}", number)
    for key, stamp in (("end_time", message.end_time), ("create_time", message.create_time)):
        when = _export.parse_time(item.get(key), f"{where}.{key}")
        if when is not None:
            stamp.FromDatetime(when.astimezone(dt.UTC))
    for i, pair in enumerate(item.get("measurements") or ()):
        if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
            raise InvalidArgumentError(
                f"INVALID_ARGUMENT: {where}.measurements[{i}] must be [step, value]"
            )
        step, value = pair
        if isinstance(step, bool) or not isinstance(step, int | float) or step != int(step):
            raise InvalidArgumentError(
                f"INVALID_ARGUMENT: {where}.measurements[{i}].step must be an integer"
            )
        number = _metric_number(f"{where}.measurements[{i}].value", value)
        message.measurements.add(step=int(step), value=number)
    return message


def _batches(items: Sequence[pb.EvaluatedTrial]) -> list[list[pb.EvaluatedTrial]]:
    """`items` in AddTrials requests of at most 10,000 trials and 3 MiB each."""
    batches: list[list[pb.EvaluatedTrial]] = []
    batch: list[pb.EvaluatedTrial] = []
    size = 0
    for one in items:
        item_size = one.ByteSize() + 8
        if batch and (len(batch) >= MAX_ADDED_PER_CALL or size + item_size > MAX_ADD_REQUEST_BYTES):
            batches.append(batch)
            batch, size = [], 0
        batch.append(one)
        size += item_size
    if batch:
        batches.append(batch)
    return batches


def _objective_text(spec: Mapping[str, Any]) -> str:
    parts = [f"{o['goal']} {o['metric']}" for o in objectives_of(spec)]
    parts += [f"constraint on {c['metric']}" for c in constraints_of(spec)]
    return ", ".join(parts)


def _study_info(message: rpb.Study) -> StudyInfo:
    study_id = message.name.split("/", 1)[1]
    counts = message.trial_counts
    return StudyInfo(
        id=study_id,
        spec=spec_from_proto(study_id, message.spec),
        state=_STUDY_STATES.get(message.state, "UNSPECIFIED"),
        seed=message.seed,
        create_time=to_datetime(message.create_time, message.HasField("create_time")),
        counts=TrialCounts(
            running=counts.running,
            complete=counts.complete,
            failed=counts.failed,
            pruned=counts.pruned,
            queued=counts.queued,
        ),
        suggestions_made=(
            message.suggestions_made if message.HasField("suggestions_made") else None
        ),
    )


class Study:
    """A handle on one study of a server; cheap to create, holds no state of its own.

    Each method is the `Client` call of the same meaning for this study.
    """

    def __init__(self, client: Client, study_id: str) -> None:
        self.client = client
        self.id = study_id

    @property
    def name(self) -> str:
        """The resource name, "studies/{id}"."""
        return f"studies/{self.id}"

    def __repr__(self) -> str:
        return f"Study({self.id!r} on {self.client.target})"

    def info(self) -> StudyInfo:
        """The study's spec, state and trial counts, read now."""
        return self.client.get_study_info(self.id)

    def ask_many(
        self, count: int, *, worker_id: str | None = None, resume: bool = False
    ) -> list[Trial]:
        """Up to `count` RUNNING trials leased to `worker_id`; see `Client.ask`."""
        return self.client.ask(self.id, count, worker_id=worker_id, resume=resume)

    def ask(self, *, worker_id: str | None = None, resume: bool = False) -> Trial | None:
        """One RUNNING trial, or None when the study is exhausted or stopped."""
        trials = self.ask_many(1, worker_id=worker_id, resume=resume)
        return trials[0] if trials else None

    def trial(self, number: int) -> Trial:
        """One trial by number."""
        return self.client.get_trial(self.id, number)

    def trials(self, states: Sequence[str] = (), *, page_size: int = 1000) -> list[Trial]:
        """Every trial by number, optionally only those in `states` (e.g. ["COMPLETE"])."""
        return self.client.list_trials(self.id, states, page_size=page_size)

    def best_trials(self, count: int = 0) -> list[Trial]:
        """The best COMPLETE trials, best first: the best one (count 0) or `count` of them.

        For a study with several objectives or with constraints, the Pareto front
        of the feasible trials (count 0: the whole front); see `Client.get_best_trials`.
        """
        return self.client.get_best_trials(self.id, count)

    @property
    def best_trial(self) -> Trial | None:
        """The best COMPLETE trial, or None while there is none (for a study with several
        objectives, the first of the front's order)."""
        best = self.best_trials(1)
        return best[0] if best else None

    def add_trials(self, trials: Sequence[Mapping[str, Any]]) -> list[Trial]:
        """Records configurations evaluated elsewhere; see `Client.add_trials`."""
        return self.client.add_trials(self.id, trials)

    def export(self) -> dict[str, Any]:
        """The study as a JSON-ready dict: {"study": spec dict, "trials": [...]}.

        `Client.import_study` reads it back; the format is described in
        docs/export.md.
        """
        return _export.export_document(self.info(), self.trials())

    def to_dataframe(self) -> pandas.DataFrame:
        """Every trial as a pandas DataFrame, one row per trial.

        Columns: number, state, value, params.NAME..., attrs.KEY..., create_time,
        end_time (UTC), worker_id, reason, suggested_by, retry_of; values keep
        their types. Needs pandas: `pip install 'asktell[export]'`.

        Raises:
            ImportError: pandas is not installed.
        """
        return _export.to_dataframe(self.info(), self.trials())

    def enqueue(self, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> int:
        """Queues configurations to hand out first; returns how many now wait."""
        return self.client.enqueue_trials(self.id, params)

    def update(
        self,
        *,
        max_trials: int | None = None,
        lease_seconds: float | None = None,
        max_retries: int | None = None,
        suggestion_deadline: float | None = None,
    ) -> StudyInfo:
        """Changes what may change in the study's spec; see `Client.update_study`."""
        return self.client.update_study(
            self.id,
            max_trials=max_trials,
            lease_seconds=lease_seconds,
            max_retries=max_retries,
            suggestion_deadline=suggestion_deadline,
        )

    def extend(
        self,
        n_trials: int,
        *,
        lease_seconds: float | None = None,
        max_retries: int | None = None,
        suggestion_deadline: float | None = None,
    ) -> StudyInfo:
        """Raises the budget so that `n_trials` more suggestions can be made from now on.

        The new max_trials is max(max_trials, suggestions made + n_trials), where
        suggestions made counts the trials the algorithm suggested (not enqueued
        configurations, retries or added trials: they use no budget). So a study
        that used its budget of 20 gets 40, one stopped short after 12 of 20 gets
        32, and one with 20 still unused keeps 20; a COMPLETED study is ACTIVE
        again. An unlimited study (max_trials 0) stays unlimited. The other
        keywords change those fields in the same call (see `Client.update_study`).

        Returns:
            The study after the update.
        """
        _check_count("n_trials", n_trials, minimum=1)
        info = self.info()
        budget = int(info.spec["max_trials"])
        c = info.counts
        trials = c.running + c.complete + c.failed + c.pruned
        made = info.suggestions_made
        # From an older server: suggestions made are at most the trials, so with room for
        # n_trials more beyond those the budget already allows them, and nothing is read.
        if made is None and budget != 0 and trials + n_trials > budget:
            made = _suggestions_made(self.client, self.id, c)
        if made is not None and budget != 0:
            budget = min(max(budget, made + n_trials), _MAX_UINT32)
        return self.update(
            max_trials=budget,
            lease_seconds=lease_seconds,
            max_retries=max_retries,
            suggestion_deadline=suggestion_deadline,
        )

    def stop(self) -> None:
        """Stops handing out suggestions (running trials may still be told)."""
        self.client.stop_study(self.id)

    def resume(self) -> None:
        """Resumes a stopped study."""
        self.client.resume_study(self.id)

    def delete(self) -> None:
        """Deletes the study and all its trials."""
        self.client.delete_study(self.id)

    def optimize(
        self,
        objective: Callable[[Trial], float],
        n_trials: int | None = None,
        n_jobs: int = 1,
        *,
        worker_id: str | None = None,
        on_trial: Callable[[Trial], None] | None = None,
    ) -> None:
        """Runs `objective` on suggested trials until `n_trials` are done or the study ends.

        Args:
            objective: takes a RUNNING trial (read `trial.params`, optionally
                `trial.report(step, value)`) and returns the objective value.
                An exception marks the trial FAILED with the exception as the
                reason, and the loop goes on.
            n_trials: trials to run in all; None runs until the study is exhausted.
            n_jobs: threads asking and evaluating in parallel.
            worker_id: lease holder name; defaults to host-pid plus the thread.
            on_trial: called with each finished trial (progress display).
        """
        run_trials(
            lambda holder: self.ask(worker_id=holder),
            objective,
            n_trials=n_trials,
            n_jobs=n_jobs,
            worker_id=worker_id or default_worker_id(),
            on_trial=on_trial,
        )
