"""`Client`: a connection to a server, with retries, credentials and load balancing."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
from google.protobuf.message import Message

from asktell.client._errors import (
    RetryableError,
    from_rpc_error,
)
from asktell.client._models import StudyInfo, Trial, TrialCounts
from asktell.client._protos import STATE_NAME, STATE_PB, param_value, to_datetime
from asktell.client._spec import spec_from_proto, spec_to_proto
from asktell.client._study import Study
from asktell.v1 import resources_pb2 as rpb
from asktell.v1 import service_pb2 as pb
from asktell.v1 import service_pb2_grpc

log = logging.getLogger("asktell.client")

DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRY_SECONDS = 60.0

# Round robin over every address the target resolves to (several replicas behind
# "dns:///asktell:50051" or "ipv4:10.0.0.1:50051,10.0.0.2:50051"); a dead one is skipped.
_OPTIONS = [("grpc.service_config", '{"loadBalancingConfig": [{"round_robin": {}}]}')]


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
            create_time=to_datetime(message.create_time, message.HasField("create_time")),
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
            trial=trial.name, state=STATE_PB[state], reason=reason, worker_id=trial.worker_id
        )
        if value is not None:
            request.value = float(value)
        response = self._call("Tell", request, idempotent=True)
        return self._trial(response.trial)
