"""The server as its own process: kill -9 under load, restart, health, reflection, SIGTERM."""

from __future__ import annotations

import threading
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from asktell.client import AsktellError, Client
from tests.conftest import ServerProcess, simple_spec
from tests.services import sql


def test_kill_9_under_load_loses_nothing_acknowledged(server_process: ServerProcess) -> None:
    address = server_process.start()
    with Client(address) as client:
        client.create_study(simple_spec("load"))
    acknowledged: dict[int, float] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def load() -> None:
        with Client(address, retry_seconds=0, timeout=5) as client:
            study = client.get_study("load")
            while not stop.is_set():
                try:
                    trial = study.ask()
                    assert trial is not None
                    value = float(trial.params["x"]) ** 2
                    trial.tell(value)
                except AsktellError:
                    return  # the server died under us
                with lock:
                    acknowledged[trial.number] = value

    threads = [threading.Thread(target=load) for _ in range(16)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(acknowledged) < 150 and time.monotonic() < deadline:
        time.sleep(0.02)
    server_process.kill()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(acknowledged) >= 150

    # No half-written trial: every row is whole, numbers dense, each COMPLETE has its value.
    rows = sql(
        server_process.db_url,
        "SELECT number, state, value, params FROM trials WHERE study = 'load' ORDER BY number",
    )
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    for _number, state, value, params in rows:
        assert state in ("RUNNING", "COMPLETE")
        assert params.startswith("{")
        assert (value is None) == (state == "RUNNING")

    address = server_process.start()
    with Client(address) as client:
        study = client.get_study("load")
        stored = {t.number: t.value for t in study.trials(["COMPLETE"])}
        for number, value in acknowledged.items():
            assert stored[number] == value
        trial = study.ask()
        assert trial is not None and trial.number == len(rows) + 1


def test_health_reflection_and_graceful_stop(server_process: ServerProcess) -> None:
    address = server_process.start()
    channel = grpc.insecure_channel(address)
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "asktell.v1.AsktellService"):
        response = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert response.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (response,) = list(reflection.ServerReflectionInfo(iter([request]), timeout=5))
    names = {s.name for s in response.list_services_response.service}
    assert {"asktell.v1.AsktellService", "grpc.health.v1.Health"} <= names
    channel.close()
    assert server_process.terminate() == 0
