"""The server under hostile callers, against real server processes and raw gRPC calls.

Half-open calls, garbage bytes, a taken port, a store that is down at start,
worker tokens bound to their worker ids, and a metrics port behind a token.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from asktell.v1 import resources_pb2 as rpb
from asktell.v1 import service_pb2 as pb
from asktell.v1 import service_pb2_grpc
from tests.certs import issue, make_ca
from tests.conftest import REPO, ServerProcess, simple_spec
from tests.services import free_port, wait_until

SERVICE = "/asktell.v1.AsktellService/"
METHODS = [m.name for m in pb.DESCRIPTOR.services_by_name["AsktellService"].methods]
ADMIN = "admin-token-0123456789abcdef"
WORKER = "worker-token-0123456789abcdef"
BOUND = "bound-worker-token-0123456789"


def _spec_message(name: str) -> rpb.StudySpec:
    from asktell.client._spec import spec_to_proto

    return spec_to_proto(simple_spec(name))[1]


class HalfOpenCalls:
    """`count` calls spread over `channels` channels that send headers and never a request."""

    def __init__(self, target: str, count: int, channels: int, ca: Path | None = None) -> None:
        self._release = threading.Event()
        self._channels = [_channel(target, ca=ca) for _ in range(channels)]
        release = self._release

        def never_sends() -> Iterator[bytes]:
            release.wait()
            return
            yield b""  # a generator that yields nothing until released

        self.calls = [
            self._channels[i % channels].stream_unary(SERVICE + "Ask").future(never_sends())
            for i in range(count)
        ]

    def close(self) -> None:
        self._release.set()
        for call in self.calls:
            call.cancel()
        for channel in self._channels:
            channel.close()


def _channel(target: str, *, ca: Path | None = None) -> grpc.Channel:
    # A connection of its own, as separate client processes would have: gRPC otherwise
    # shares one connection between channels to the same target.
    options = [("grpc.use_local_subchannel_pool", 1)]
    if ca is None:
        return grpc.insecure_channel(target, options=options)
    credentials = grpc.ssl_channel_credentials(ca.read_bytes())
    return grpc.secure_channel(target, credentials, options=options)


def _ask_tell_rounds(
    stub: service_pb2_grpc.AsktellServiceStub, study: str, rounds: int, metadata: object
) -> int:
    done = 0
    for _ in range(rounds):
        ask = stub.Ask(pb.AskRequest(study=f"studies/{study}"), timeout=10, metadata=metadata)
        trial = ask.trials[0]
        stub.Tell(
            pb.TellRequest(trial=trial.name, state=rpb.TRIAL_STATE_COMPLETE, value=1.0),
            timeout=10,
            metadata=metadata,
        )
        done += 1
    return done


@pytest.mark.parametrize("secured", [False, True], ids=["plaintext", "tls+auth"])
def test_a_thousand_half_open_calls_do_not_stall_the_server(tmp_path: Path, secured: bool) -> None:
    server = ServerProcess(f"sqlite:///{tmp_path / 'a.db'}", tmp_path / "server.log")
    args: list[str] = ["--max-workers", "4"]
    ca: Path | None = None
    metadata: tuple[tuple[str, str], ...] | None = None
    if secured:
        ca_pem, ca_cert, ca_key = make_ca(tmp_path, "ca")
        pem = issue(tmp_path, "server", ca_cert, ca_key, server=True)
        tokens = tmp_path / "tokens.yaml"
        tokens.write_text(f"tokens:\n  {ADMIN}: admin\n")
        args += ["--tls-cert", str(pem.cert), "--tls-key", str(pem.key)]
        args += ["--auth-file", str(tokens)]
        ca = ca_pem.cert
        metadata = (("authorization", f"Bearer {ADMIN}"),)
    address = server.start(*args)
    target = address.replace("127.0.0.1", "localhost")
    half_open = HalfOpenCalls(target, 1000, channels=4, ca=ca)
    try:
        channel = _channel(target, ca=ca)
        stub = service_pb2_grpc.AsktellServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        stub.CreateStudy(
            pb.CreateStudyRequest(study_id="busy", spec=_spec_message("busy")),
            timeout=10,
            metadata=metadata,
        )
        # Many times more than the 4 handler threads, with every half-open call still open.
        assert _ask_tell_rounds(stub, "busy", 50, metadata) == 50
        answer = health.Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        assert not any(call.done() for call in half_open.calls)  # they really were held open
        channel.close()
    finally:
        half_open.close()
        server.kill()


def test_garbage_bytes_are_invalid_argument_on_every_method_and_counted(
    server_process: ServerProcess,
) -> None:
    address = server_process.start("--metrics-port", "0")
    channel = grpc.insecure_channel(address)
    for method in METHODS:
        call = channel.unary_unary(SERVICE + method)  # raw bytes in, raw bytes out
        with pytest.raises(grpc.RpcError) as raised:
            call(b"\xff\xff\xff", timeout=10)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, method
        assert "do not parse" in (raised.value.details() or ""), method
    counted = [
        f'grpc_server_handled_total{{grpc_code="INVALID_ARGUMENT",grpc_method="{method}",'
        'grpc_service="asktell.v1.AsktellService",grpc_type="unary"} 1.0'
        for method in METHODS
    ]

    def all_counted() -> bool:
        # The count lands as the call ends, which may be just after the caller has its answer.
        with urllib.request.urlopen(f"http://{server_process.metrics_address}/metrics") as page:
            text = page.read().decode()
        return all(line in text for line in counted)

    wait_until(all_counted, timeout=10)
    log = server_process.log_path.read_text()
    assert "Traceback" not in log and "Exception deserializing" not in log
    assert log.count("answered INVALID_ARGUMENT") == len(METHODS)  # one line each


def _serve(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asktell.client._cli", "serve", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def test_a_second_server_on_a_port_in_use_exits_with_one_line(tmp_path: Path) -> None:
    first = ServerProcess(f"sqlite:///{tmp_path / 'a.db'}", tmp_path / "first.log")
    port = free_port()
    first.start("--port", str(port))
    try:
        second = _serve("--port", str(port), "--db", f"sqlite:///{tmp_path / 'b.db'}")
        assert second.returncode == 1
        assert second.stderr.strip() == (
            f"asktell serve: cannot start: port {port} on 127.0.0.1 is already in use"
        )
    finally:
        first.kill()


def test_an_unreachable_database_at_start_is_one_line_and_exit_1() -> None:
    closed = free_port()
    result = _serve("--port", "0", "--db", f"postgresql://postgres@127.0.0.1:{closed}/none")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr  # one line, no traceback
    assert result.stderr.startswith("asktell serve: cannot start: ")
    assert "database" in result.stderr


def test_db_wait_waits_for_a_database_that_starts_later(tmp_path: Path) -> None:
    from tests.services import PostgresServer

    database = PostgresServer()  # started by its constructor: stop it, serve, start it
    try:
        database.stop()
        server = ServerProcess(database.url(), tmp_path / "server.log")
        started: list[str] = []
        thread = threading.Thread(target=lambda: started.append(server.start("--db-wait", "60")))
        thread.start()
        # The server retries meanwhile; it must not have given up when the database comes.
        deadline = time.monotonic() + 30
        while not server.log_path.exists() or (
            "store not reachable" not in server.log_path.read_text()
        ):
            assert time.monotonic() < deadline, server.log_path.read_text()
            time.sleep(0.1)
        database.start()
        thread.join(timeout=90)
        assert started, server.log_path.read_text()
        stub = service_pb2_grpc.AsktellServiceStub(grpc.insecure_channel(started[0]))
        assert not stub.ListStudies(pb.ListStudiesRequest(), timeout=10).studies
        server.kill()
    finally:
        database.close()


@pytest.fixture
def bound_server(tmp_path: Path) -> Iterator[str]:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(
        "tokens:\n"
        f"  {ADMIN}: admin\n"
        f"  {WORKER}: worker\n"
        f"  {BOUND}:\n    role: worker\n    worker_ids: [rogue, 'pool-b/*']\n"
    )
    server = ServerProcess(f"sqlite:///{tmp_path / 'a.db'}", tmp_path / "server.log")
    address = server.start("--auth-file", str(tokens))
    yield address
    server.kill()


def _as(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def test_a_bound_worker_token_cannot_take_or_tell_another_workers_trials(
    bound_server: str,
) -> None:
    stub = service_pb2_grpc.AsktellServiceStub(grpc.insecure_channel(bound_server))
    stub.CreateStudy(
        pb.CreateStudyRequest(study_id="jobs", spec=_spec_message("jobs")),
        metadata=_as(ADMIN),
        timeout=10,
    )
    victim = stub.Ask(
        pb.AskRequest(study="studies/jobs", worker_id="victim"), metadata=_as(WORKER), timeout=10
    ).trials[0]
    attacks = [
        ("Ask", pb.AskRequest(study="studies/jobs", worker_id="victim", resume=True)),
        ("Ask", pb.AskRequest(study="studies/jobs")),  # no worker id at all
        (
            "Tell",
            pb.TellRequest(
                trial=victim.name, state=rpb.TRIAL_STATE_COMPLETE, value=0.0, worker_id="victim"
            ),
        ),
        ("Report", pb.ReportRequest(trial=victim.name, step=1, value=0.0, worker_id="victim")),
        ("Heartbeat", pb.HeartbeatRequest(trial=victim.name, worker_id="victim")),
        (
            "SetTrialAttributes",
            pb.SetTrialAttributesRequest(
                trial=victim.name,
                attrs={"model_uri": rpb.ParameterValue(string_value="evil")},
                worker_id="victim",
            ),
        ),
        ("SetTrialAttributes", pb.SetTrialAttributesRequest(trial=victim.name)),
        ("Ask", pb.AskRequest(study="studies/jobs", worker_id="pool-a/1")),
    ]
    for method, request in attacks:
        with pytest.raises(grpc.RpcError) as raised:
            getattr(stub, method)(request, metadata=_as(BOUND), timeout=10)
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED, (method, request)
        assert "its own worker ids" in (raised.value.details() or "")
    # Nothing changed: the victim's trial is still running, still its own.
    seen = stub.GetTrial(pb.GetTrialRequest(name=victim.name), metadata=_as(ADMIN), timeout=10)
    assert seen.trial.state == rpb.TRIAL_STATE_RUNNING and seen.trial.worker_id == "victim"
    assert not seen.trial.attrs
    # Its own ids (exact, and under its prefix) work.
    for worker_id in ("rogue", "pool-b/7"):
        own = stub.Ask(
            pb.AskRequest(study="studies/jobs", worker_id=worker_id),
            metadata=_as(BOUND),
            timeout=10,
        ).trials[0]
        stub.SetTrialAttributes(
            pb.SetTrialAttributesRequest(
                trial=own.name,
                attrs={"host": rpb.ParameterValue(string_value=worker_id)},
                worker_id=worker_id,
            ),
            metadata=_as(BOUND),
            timeout=10,
        )
        stub.Tell(
            pb.TellRequest(
                trial=own.name, state=rpb.TRIAL_STATE_COMPLETE, value=1.0, worker_id=worker_id
            ),
            metadata=_as(BOUND),
            timeout=10,
        )


def test_the_metrics_port_can_require_a_token_and_bind_to_localhost(tmp_path: Path) -> None:
    token_file = tmp_path / "metrics-token"
    token_file.write_text("metrics-token-0123456789\n")
    server = ServerProcess(f"sqlite:///{tmp_path / 'a.db'}", tmp_path / "server.log")
    server.start(
        "--metrics-port",
        "0",
        "--metrics-host",
        "127.0.0.1",
        "--metrics-token-file",
        str(token_file),
    )
    try:
        url = f"http://{server.metrics_address}/metrics"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)
        assert refused.value.code == 401
        wrong = urllib.request.Request(url, headers={"Authorization": "Bearer nope"})
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(wrong, timeout=10)
        right = urllib.request.Request(
            url, headers={"Authorization": "Bearer metrics-token-0123456789"}
        )
        with urllib.request.urlopen(right, timeout=10) as page:
            assert "grpc_server_started_total" in page.read().decode()
    finally:
        server.kill()
