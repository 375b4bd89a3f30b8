"""The Python client: `Client` talks to a server, `Study` is a handle on one study."""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from asktell.client._errors import (
    InvalidArgumentError,
    RetryableError,
    from_rpc_error,
)
from asktell.client._models import TRIAL_STATES, ParamValue, StudyInfo, Trial, TrialCounts
from asktell.client._spec import spec_from_proto, spec_to_proto
from asktell.v1 import resources_pb2 as rpb
from asktell.v1 import service_pb2 as pb
from asktell.v1 import service_pb2_grpc

log = logging.getLogger("asktell.client")

DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRY_SECONDS = 60.0
T = TypeVar("T")

_STATE_PB = {
    "RUNNING": rpb.TRIAL_STATE_RUNNING,
    "COMPLETE": rpb.TRIAL_STATE_COMPLETE,
    "FAILED": rpb.TRIAL_STATE_FAILED,
    "PRUNED": rpb.TRIAL_STATE_PRUNED,
}
_STATE_NAME = {number: name for name, number in _STATE_PB.items()}
# Round robin over every address the target resolves to (several replicas behind
# "dns:///asktell:50051" or "ipv4:10.0.0.1:50051,10.0.0.2:50051"); a dead one is skipped.
_OPTIONS = [("grpc.service_config", '{"loadBalancingConfig": [{"round_robin": {}}]}')]


def default_worker_id() -> str:
    """host-pid, unique enough to tell workers apart in a trial's lease."""
    return f"{socket.gethostname()}-{os.getpid()}"


def _time(stamp: Any, present: bool) -> dt.datetime | None:
    return stamp.ToDatetime(tzinfo=dt.UTC) if present else None


def _param_value(value: rpb.ParameterValue) -> ParamValue:
    kind = value.WhichOneof("kind")
    return getattr(value, kind) if kind else 0.0


def _param_message(name: str, value: Any) -> rpb.ParameterValue:
    if isinstance(value, bool):
        raise InvalidArgumentError(f'INVALID_ARGUMENT: params: "{name}" must not be a bool')
    if isinstance(value, str):
        return rpb.ParameterValue(string_value=value)
    if isinstance(value, int):
        return rpb.ParameterValue(int_value=value)
    if isinstance(value, float):
        return rpb.ParameterValue(number_value=value)
    if hasattr(value, "item"):  # NumPy scalars
        return _param_message(name, value.item())
    raise InvalidArgumentError(
        f'INVALID_ARGUMENT: params: "{name}" must be a number or a string, got {value!r}'
    )


def _pem(value: bytes | str | Path | None) -> bytes | None:
    """PEM bytes given as bytes or as a file path."""
    if value is None or isinstance(value, bytes):
        return value
    return Path(value).read_bytes()


def params_to_proto(params: Mapping[str, Any]) -> dict[str, rpb.ParameterValue]:
    return {name: _param_message(name, value) for name, value in params.items()}


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
        target: str = "127.0.0.1:50051",
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
        self._stub = service_pb2_grpc.AsktellServiceStub(self._channel)

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

    # ------------------------------------------------------------ plumbing
    def _call(self, method: str, request: Message, *, idempotent: bool) -> Any:
        """One RPC; idempotent ones are retried on transient errors until retry_seconds pass."""
        rpc = getattr(self._stub, method)
        give_up = time.monotonic() + (self.retry_seconds if idempotent else 0.0)
        backoff = 0.1
        while True:
            try:
                return rpc(request, timeout=self.timeout, metadata=self._metadata)
            except grpc.RpcError as rpc_error:
                error = from_rpc_error(rpc_error)
                if not isinstance(error, RetryableError) or time.monotonic() + backoff > give_up:
                    raise error from None
                log.info("%s: %s; retrying in %.1f s", method, error, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _trial(self, message: rpb.Trial) -> Trial:
        study_id = message.name.split("/")[1]
        return Trial(
            study=study_id,
            number=message.number,
            params={k: _param_value(v) for k, v in message.params.items()},
            state=_STATE_NAME.get(message.state, "UNSPECIFIED"),
            value=message.value if message.HasField("value") else None,
            measurements=[(m.step, m.value) for m in message.measurements],
            worker_id=message.worker_id,
            lease_deadline=_time(message.lease_deadline, message.HasField("lease_deadline")),
            create_time=_time(message.create_time, message.HasField("create_time")),
            end_time=_time(message.end_time, message.HasField("end_time")),
            reason=message.reason,
            suggested_by=message.suggested_by,
            retry_of=message.retry_of or None,
            _client=self,
        )

    @staticmethod
    def _study_info(message: rpb.Study) -> StudyInfo:
        study_id = message.name.split("/", 1)[1]
        counts = message.trial_counts
        return StudyInfo(
            id=study_id,
            spec=spec_from_proto(study_id, message.spec),
            state="STOPPED" if message.state == rpb.STUDY_STATE_STOPPED else "ACTIVE",
            seed=message.seed,
            create_time=_time(message.create_time, message.HasField("create_time")),
            counts=TrialCounts(
                running=counts.running,
                complete=counts.complete,
                failed=counts.failed,
                pruned=counts.pruned,
                queued=counts.queued,
            ),
        )

    # ------------------------------------------------------------ studies
    def create_study(self, spec: Mapping[str, Any]) -> Study:
        """Creates a study from a spec dict (the same form as a spec YAML file).

        Creating it again with an identical spec returns the existing study.

        Raises:
            InvalidArgumentError: the spec is malformed (the message names the field).
            AlreadyExistsError: the name is taken by a study with a different spec.
        """
        study_id, message = spec_to_proto(spec)
        request = pb.CreateStudyRequest(study_id=study_id, spec=message)
        response = self._call("CreateStudy", request, idempotent=True)
        return Study(self, self._study_info(response.study).id)

    def get_study(self, name: str) -> Study:
        """A handle on an existing study. Raises NotFoundError if there is none."""
        study = Study(self, name)
        study.info()
        return study

    def list_studies(self, *, page_size: int = 100) -> list[StudyInfo]:
        """Every study, by name."""
        studies: list[StudyInfo] = []
        token = ""
        while True:
            request = pb.ListStudiesRequest(page_size=page_size, page_token=token)
            response = self._call("ListStudies", request, idempotent=True)
            studies.extend(self._study_info(s) for s in response.studies)
            token = response.next_page_token
            if not token:
                return studies

    def delete_study(self, name: str) -> None:
        """Deletes a study and all its trials. Raises NotFoundError if there is none."""
        self._call("DeleteStudy", pb.DeleteStudyRequest(name=f"studies/{name}"), idempotent=False)

    # ------------------------------------------------------------ trial calls
    def _report(self, trial: Trial, step: int, value: float) -> bool:
        request = pb.ReportRequest(
            trial=trial.name, step=step, value=value, worker_id=trial.worker_id
        )
        response = self._call("Report", request, idempotent=True)
        trial.lease_deadline = response.lease_deadline.ToDatetime(tzinfo=dt.UTC)
        return bool(response.should_stop)

    def _heartbeat(self, trial: Trial) -> dt.datetime:
        request = pb.HeartbeatRequest(trial=trial.name, worker_id=trial.worker_id)
        response = self._call("Heartbeat", request, idempotent=True)
        return response.lease_deadline.ToDatetime(tzinfo=dt.UTC)  # type: ignore[no-any-return]

    def _tell(
        self, trial: Trial, state: str, *, value: float | None = None, reason: str = ""
    ) -> Trial:
        request = pb.TellRequest(
            trial=trial.name, state=_STATE_PB[state], reason=reason, worker_id=trial.worker_id
        )
        if value is not None:
            request.value = float(value)
        response = self._call("Tell", request, idempotent=True)
        return self._trial(response.trial)


class Study:
    """A handle on one study of a server; cheap to create, holds no state of its own."""

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
        response = self.client._call(
            "GetStudy", pb.GetStudyRequest(name=self.name), idempotent=True
        )
        return self.client._study_info(response.study)

    # ------------------------------------------------------------ ask
    def ask_many(
        self, count: int, *, worker_id: str | None = None, resume: bool = False
    ) -> list[Trial]:
        """Up to `count` RUNNING trials leased to `worker_id`; [] when nothing more will come.

        Args:
            count: 1 to 100.
            worker_id: who runs the trials; defaults to host-pid.
            resume: first return the RUNNING trials this worker_id already holds
                (a restarted worker picks its work back up).

        The call is retried safely: a request id makes a repeated Ask return
        the same trials.
        """
        request = pb.AskRequest(
            study=self.name,
            count=count,
            worker_id=worker_id if worker_id is not None else default_worker_id(),
            request_id=uuid.uuid4().hex,
            resume=resume,
        )
        response = self.client._call("Ask", request, idempotent=True)
        return [self.client._trial(t) for t in response.trials]

    def ask(self, *, worker_id: str | None = None, resume: bool = False) -> Trial | None:
        """One RUNNING trial, or None when the study is exhausted or stopped."""
        trials = self.ask_many(1, worker_id=worker_id, resume=resume)
        return trials[0] if trials else None

    # ------------------------------------------------------------ reads
    def trial(self, number: int) -> Trial:
        """One trial by number."""
        request = pb.GetTrialRequest(name=f"{self.name}/trials/{number}")
        return self.client._trial(self.client._call("GetTrial", request, idempotent=True).trial)

    def trials(self, states: Sequence[str] = (), *, page_size: int = 1000) -> list[Trial]:
        """Every trial by number, optionally only those in `states` (e.g. ["COMPLETE"])."""
        unknown = [s for s in states if s not in TRIAL_STATES]
        if unknown:
            raise InvalidArgumentError(
                f"INVALID_ARGUMENT: states: {unknown[0]!r} is not one of {', '.join(TRIAL_STATES)}"
            )
        return list(self._iter_trials(states, page_size))

    def _iter_trials(self, states: Sequence[str], page_size: int) -> Iterator[Trial]:
        token = ""
        while True:
            request = pb.ListTrialsRequest(
                study=self.name,
                states=[_STATE_PB[s] for s in states],
                page_size=page_size,
                page_token=token,
            )
            response = self.client._call("ListTrials", request, idempotent=True)
            yield from (self.client._trial(t) for t in response.trials)
            token = response.next_page_token
            if not token:
                return

    def best_trials(self, count: int = 1) -> list[Trial]:
        """The best COMPLETE trials, best first."""
        request = pb.GetBestTrialsRequest(study=self.name, count=count)
        response = self.client._call("GetBestTrials", request, idempotent=True)
        return [self.client._trial(t) for t in response.trials]

    @property
    def best_trial(self) -> Trial | None:
        """The best COMPLETE trial, or None while there is none."""
        best = self.best_trials(1)
        return best[0] if best else None

    # ------------------------------------------------------------ writes
    def add_trials(self, trials: Sequence[Mapping[str, Any]]) -> list[Trial]:
        """Records configurations evaluated elsewhere, e.g. last week's study.

        Each item is {"params": {...}, "value": 0.93} (COMPLETE) or
        {"params": {...}, "state": "FAILED"}. They teach the algorithm and use
        no suggestion budget. Not retried automatically (a retry would add twice).
        """
        items = []
        for i, item in enumerate(trials):
            state = item.get("state", "COMPLETE")
            if state not in _STATE_PB or state == "RUNNING":
                raise InvalidArgumentError(
                    f"INVALID_ARGUMENT: trials[{i}].state must be COMPLETE, FAILED or PRUNED"
                )
            message = pb.EvaluatedTrial(
                params=params_to_proto(item.get("params", {})), state=_STATE_PB[state]
            )
            if item.get("value") is not None:
                message.value = float(item["value"])
            items.append(message)
        request = pb.AddTrialsRequest(study=self.name, trials=items)
        response = self.client._call("AddTrials", request, idempotent=False)
        return [self.client._trial(t) for t in response.trials]

    def enqueue(self, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> int:
        """Queues one configuration (or a list) to be handed out before the algorithm's own.

        Returns:
            How many configurations are now waiting in the queue.
        """
        configs = [params] if isinstance(params, Mapping) else list(params)
        request = pb.EnqueueTrialsRequest(
            study=self.name, trials=[pb.TrialParams(params=params_to_proto(c)) for c in configs]
        )
        return int(self.client._call("EnqueueTrials", request, idempotent=False).queued)

    def stop(self) -> None:
        """Stops handing out suggestions (running trials may still be told)."""
        self.client._call("StopStudy", pb.StopStudyRequest(name=self.name), idempotent=True)

    def resume(self) -> None:
        """Resumes a stopped study."""
        self.client._call("ResumeStudy", pb.ResumeStudyRequest(name=self.name), idempotent=True)

    def delete(self) -> None:
        """Deletes the study and all its trials."""
        self.client.delete_study(self.id)

    # ------------------------------------------------------------ loop
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
        if n_jobs < 1:
            raise ValueError("n_jobs must be >= 1")
        budget = _Budget(n_trials)
        base = worker_id or default_worker_id()

        def run(job: int) -> None:
            while budget.take():
                trial = self.ask(worker_id=f"{base}-{job}" if n_jobs > 1 else base)
                if trial is None:
                    budget.close()
                    return
                try:
                    value = objective(trial)
                except Exception as exc:  # the trial fails, the loop goes on
                    log.warning("trial %d failed: %s", trial.number, exc)
                    trial.fail(f"{type(exc).__name__}: {exc}".splitlines()[0][:1000])
                else:
                    if trial.state == "RUNNING":
                        _finish(trial, value)
                if on_trial is not None:
                    on_trial(trial)

        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            for future in [pool.submit(run, job) for job in range(n_jobs)]:
                future.result()


def _finish(trial: Trial, value: Any) -> None:
    """Tells the objective's value; a value that is not a finite number fails the trial."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if math.isfinite(number):
        trial.tell(number)
    else:
        trial.fail(f"the objective returned {value!r}, not a finite number")


class _Budget:
    """A thread-safe countdown of trials left to start (None: unlimited)."""

    def __init__(self, n: int | None) -> None:
        self._left = n
        self._closed = False
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._closed:
                return False
            if self._left is None:
                return True
            if self._left <= 0:
                return False
            self._left -= 1
            return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
