"""A client that knows nothing but the server's address, as grpcurl, grpcui or Postman do.

It lists the services through server reflection (v1alpha), fetches their file
descriptors, builds request classes from them in a fresh descriptor pool (no
compiled stubs), fills requests from JSON and calls CreateStudy, Ask and Tell.
docs/clients/reflection.md shows the same calls with grpcurl.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.conftest import LiveServer

SERVICE = "asktell.v1.AsktellService"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """Reflection does not depend on the store: SQLite only."""
    return f"sqlite:///{tmp_path / 'asktell.db'}"


class ReflectionClient:
    """Learns the server's API through reflection and calls it with JSON requests."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        self.stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        self.pool = descriptor_pool.DescriptorPool()
        self.files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
        self.added: set[str] = set()

    def _ask(self, **request: Any) -> reflection_pb2.ServerReflectionResponse:
        requests = iter([reflection_pb2.ServerReflectionRequest(**request)])
        (response,) = list(self.stub.ServerReflectionInfo(requests, timeout=10))
        if response.HasField("error_response"):
            error = response.error_response
            raise LookupError(f"reflection error {error.error_code}: {error.error_message}")
        return response

    def list_services(self) -> list[str]:
        response = self._ask(list_services="")
        return [service.name for service in response.list_services_response.service]

    def _fetch(self, response: reflection_pb2.ServerReflectionResponse) -> None:
        for blob in response.file_descriptor_response.file_descriptor_proto:
            proto = descriptor_pb2.FileDescriptorProto.FromString(blob)
            self.files.setdefault(proto.name, proto)

    def load_symbol(self, symbol: str) -> None:
        """Fetches the file defining `symbol`, then whatever it imports, into the pool."""
        self._fetch(self._ask(file_containing_symbol=symbol))
        while len(self.added) < len(self.files):
            for name, proto in list(self.files.items()):
                if name in self.added:
                    continue
                for dep in proto.dependency:
                    if dep not in self.files:
                        self._fetch(self._ask(file_by_filename=dep))
                if all(dep in self.added for dep in proto.dependency):
                    self.pool.Add(proto)  # imports first, as a descriptor pool needs
                    self.added.add(name)

    def method(self, full_method: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """A callable taking and returning JSON-shaped dicts, like `grpcurl -d`."""
        service_name, method_name = full_method.rsplit("/", 1)
        method = self.pool.FindServiceByName(service_name).FindMethodByName(method_name)
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        rpc = self.channel.unary_unary(
            f"/{service_name}/{method_name}",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=response_class.FromString,
        )

        def call(body: dict[str, Any]) -> dict[str, Any]:
            request: Message = json_format.ParseDict(body, request_class())
            response: Message = rpc(request, timeout=10)
            answer: dict[str, Any] = json_format.MessageToDict(response)
            return answer

        return call


@pytest.fixture
def reflection_client(live_server: LiveServer) -> Iterator[ReflectionClient]:
    with grpc.insecure_channel(live_server.address) as channel:
        yield ReflectionClient(channel)


def test_reflection_lists_the_service_health_and_reflection(
    reflection_client: ReflectionClient,
) -> None:
    services = reflection_client.list_services()
    assert SERVICE in services
    assert "grpc.health.v1.Health" in services
    assert "grpc.reflection.v1alpha.ServerReflection" in services


def test_reflected_descriptors_describe_the_whole_contract(
    reflection_client: ReflectionClient,
) -> None:
    reflection_client.load_symbol(SERVICE)
    service = reflection_client.pool.FindServiceByName(SERVICE)
    assert service.file.name == "asktell/v1/service.proto"
    assert {"CreateStudy", "Ask", "Tell", "Report", "GetBestTrials"} <= {
        m.name for m in service.methods
    }
    trial = reflection_client.pool.FindMessageTypeByName("asktell.v1.Trial")
    assert trial.file.name == "asktell/v1/resources.proto"
    assert trial.fields_by_name["params"].message_type.GetOptions().map_entry
    with pytest.raises(LookupError, match="reflection error"):
        reflection_client.load_symbol("asktell.v1.NoSuchThing")


def test_requests_built_from_reflection_run_a_trial(
    reflection_client: ReflectionClient, live_server: LiveServer
) -> None:
    reflection_client.load_symbol(SERVICE)
    create = reflection_client.method(f"{SERVICE}/CreateStudy")
    ask = reflection_client.method(f"{SERVICE}/Ask")
    tell = reflection_client.method(f"{SERVICE}/Tell")

    # The same JSON a person would pass to `grpcurl -d`.
    created = create(
        {
            "study_id": "reflected",
            "spec": {
                "objective": {"metric": "loss", "goal": "GOAL_MINIMIZE"},
                "algorithm": {"seed": "3", "random": {}},
                "max_trials": 2,
                "parameters": [
                    {"name": "x", "float_parameter": {"min": -1.0, "max": 1.0}},
                    {"name": "depth", "int_parameter": {"min": 1, "max": 8}},
                ],
            },
        }
    )
    assert created["created"] is True
    assert created["study"]["name"] == "studies/reflected"

    answer = ask({"study": "studies/reflected", "count": 2, "worker_id": "grpcurl"})
    assert answer["status"] == "ASK_STATUS_OK"
    assert [t["state"] for t in answer["trials"]] == ["TRIAL_STATE_RUNNING"] * 2
    first = answer["trials"][0]
    # Responses use the JSON names (lowerCamelCase) as grpcurl prints them;
    # int64 values are JSON strings.
    assert -1.0 <= first["params"]["x"]["numberValue"] <= 1.0
    assert 1 <= int(first["params"]["depth"]["intValue"]) <= 8

    told = tell({"trial": first["name"], "state": "TRIAL_STATE_COMPLETE", "value": 0.25})
    assert told["trial"]["state"] == "TRIAL_STATE_COMPLETE"
    assert ask({"study": "studies/reflected"})["status"] == "ASK_STATUS_EXHAUSTED"

    with pytest.raises(grpc.RpcError) as error:
        ask({"study": "studies/missing"})
    assert error.value.code() is grpc.StatusCode.NOT_FOUND

    with live_server.client() as client:
        trial = client.get_study("reflected").trial(int(first["number"]))
        assert trial.state == "COMPLETE"
        assert trial.value == 0.25
        assert trial.worker_id == first["workerId"] == "grpcurl"


def test_health_is_served(live_server: LiveServer) -> None:
    with grpc.insecure_channel(live_server.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", SERVICE):
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert response.status == health_pb2.HealthCheckResponse.SERVING
