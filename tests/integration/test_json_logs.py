"""`asktell serve --log-format json`: one JSON object per line, each failed RPC logged with
the caller's request id, its method and status code, and nothing of the request."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from asktell.v1 import service_pb2 as pb
from asktell.v1 import service_pb2_grpc
from tests.conftest import ServerProcess
from tests.services import wait_until


def test_json_log_lines_carry_the_request_id(tmp_path: Path) -> None:
    process = ServerProcess(f"sqlite:///{tmp_path / 'asktell.db'}", tmp_path / "server.log")
    try:
        address = process.start("--log-format", "json")
        stub = service_pb2_grpc.AsktellServiceStub(grpc.insecure_channel(address))
        secret = "do-not-log-this-worker"
        with pytest.raises(grpc.RpcError) as raised:
            stub.Ask(
                pb.AskRequest(study="studies/nope", worker_id=secret),
                metadata=(("x-request-id", "req-12345"), ("authorization", "Bearer tok-secret")),
                timeout=10,
            )
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND

        def logged() -> bool:
            return "req-12345" in process.log_path.read_text()

        wait_until(logged)
    finally:
        process.kill()
    text = process.log_path.read_text()
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert entries and all("request_id" in e and "level" in e for e in entries)
    (failed,) = [e for e in entries if e["request_id"] == "req-12345"]
    assert "Ask" in failed["message"] and "NOT_FOUND" in failed["message"]
    assert secret not in text and "tok-secret" not in text
