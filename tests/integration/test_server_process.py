"""The server as its own process: health, reflection, SIGTERM.

kill -9 under load and the restart after it are in tests/faults/test_fault_matrix.py.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.conftest import ServerProcess


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
