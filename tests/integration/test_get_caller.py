"""GetCaller: the caller's role, over raw gRPC and through `Client.caller`, on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from asktell.client import Client, UnauthenticatedError
from asktell.server.app import create_server
from asktell.server.auth import load_tokens
from asktell.server.storage import open_store
from asktell.v1 import service_pb2 as pb
from asktell.v1 import service_pb2_grpc
from tests.conftest import LiveServer

TOKENS = {
    "admin-token-0123456789abcdef": "admin",
    "worker-token-0123456789abcdef": "worker",
    "viewer-token-0123456789abcdef": "viewer",
}
BOUND = "bound-worker-token-0123456789"


@pytest.fixture
def auth_address(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A server that checks tokens: an admin, a worker, a viewer and a bound worker token."""
    path = tmp_path / "tokens.yaml"
    path.write_text(
        "tokens:\n"
        + "".join(f"  {t}: {r}\n" for t, r in TOKENS.items())
        + f"  {BOUND}:\n    role: worker\n    worker_ids: [gpu-node-1]\n"
    )
    store = open_store(db_url)
    server, port = create_server(store, "127.0.0.1:0", tokens=load_tokens(path))
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)
    store.close()


def _get_caller(address: str, token: str | None) -> pb.GetCallerResponse:
    metadata = [("authorization", f"Bearer {token}")] if token is not None else None
    with grpc.insecure_channel(address) as channel:
        stub = service_pb2_grpc.AsktellServiceStub(channel)
        response: pb.GetCallerResponse = stub.GetCaller(
            pb.GetCallerRequest(), metadata=metadata, timeout=10
        )
        return response


def test_each_role_is_told_its_role(auth_address: str) -> None:
    expected = {
        "admin": pb.CALLER_ROLE_ADMIN,
        "worker": pb.CALLER_ROLE_WORKER,
        "viewer": pb.CALLER_ROLE_VIEWER,
    }
    for token, role in TOKENS.items():
        assert _get_caller(auth_address, token).role == expected[role], role
        with Client(auth_address, token=token, retry_seconds=0) as client:
            assert client.caller() == role
    # A bound worker token is a worker: GetCaller names no worker id, and needs none.
    assert _get_caller(auth_address, BOUND).role == pb.CALLER_ROLE_WORKER


def test_the_answer_holds_nothing_but_the_role(auth_address: str) -> None:
    response = _get_caller(auth_address, "admin-token-0123456789abcdef")
    assert [field.name for field, _ in response.ListFields()] == ["role"]
    assert b"admin-token" not in response.SerializeToString()


@pytest.mark.parametrize("token", [None, "", "unknown-token-0123456789abcdef"])
def test_a_missing_or_unknown_token_is_unauthenticated(
    auth_address: str, token: str | None
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        _get_caller(auth_address, token)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with (
        Client(auth_address, token=token or None, retry_seconds=0) as client,
        pytest.raises(UnauthenticatedError),
    ):
        client.caller()


def test_without_auth_the_role_is_none(live_server: LiveServer) -> None:
    assert _get_caller(live_server.address, None).role == pb.CALLER_ROLE_NONE
    # A token sent to a server that checks none changes nothing.
    assert _get_caller(live_server.address, "any-token-0123456789abcdef").role == (
        pb.CALLER_ROLE_NONE
    )
    with live_server.client() as client:
        assert client.caller() == "none"


CALLER_SCRIPT = """
const { AsktellClient } = require('./asktell');
const [address, ...tokens] = process.argv.slice(1);
(async () => {
  const roles = {};
  for (const token of ['', ...tokens]) {
    const client = new AsktellClient(address, { token, retries: 0 });
    try {
      roles[token] = await client.caller();
    } catch (err) {
      roles[token] = err.codeName;
    } finally {
      client.close();
    }
  }
  console.log(JSON.stringify(roles));
})().catch((err) => { console.error(err); process.exit(1); });
"""


def test_the_node_client_sends_its_token_and_reads_its_role(auth_address: str) -> None:
    import json

    from tests.integration.test_node_client import run_node
    from tests.node_tools import NODE_DIR

    result = run_node("-e", CALLER_SCRIPT, auth_address, *TOKENS, "not-a-token", cwd=NODE_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    roles = json.loads(result.stdout)
    assert roles == {**TOKENS, "": "UNAUTHENTICATED", "not-a-token": "UNAUTHENTICATED"}
