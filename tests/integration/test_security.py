"""TLS, mutual TLS and bearer tokens with roles, against real server processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from asktell.client import (
    Client,
    PermissionDeniedError,
    UnauthenticatedError,
    UnavailableError,
)
from tests.certs import Pem, issue, make_ca
from tests.conftest import ServerProcess, simple_spec

TOKENS = {
    "admin-token-0123456789abcdef": "admin",
    "worker-token-0123456789abcdef": "worker",
    "viewer-token-0123456789abcdef": "viewer",
}


class Pki:
    def __init__(self, directory: Path) -> None:
        self.ca, ca_cert, ca_key = make_ca(directory, "asktell-test-ca")
        self.server = issue(directory, "server", ca_cert, ca_key, server=True)
        self.client = issue(directory, "client", ca_cert, ca_key, server=False)
        _, rogue_cert, rogue_key = make_ca(directory, "rogue-ca")
        self.rogue_client = issue(directory, "rogue-client", rogue_cert, rogue_key, server=False)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def auth_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.yaml"
    path.write_text("tokens:\n" + "".join(f"  {t}: {r}\n" for t, r in TOKENS.items()))
    return path


def _client(
    server: ServerProcess, pki: Pki | None = None, token: str | None = None, cert: Pem | None = None
) -> Client:
    tls = {}
    if pki is not None:
        tls["tls_ca"] = pki.ca.cert
    if cert is not None:
        tls.update(tls_cert=cert.cert, tls_key=cert.key)
    return Client(
        server.address.replace("127.0.0.1", "localhost"),
        token=token,
        retry_seconds=0,
        timeout=10,
        **tls,
    )  # type: ignore[arg-type]


def _every_role_case(server: ServerProcess, pki: Pki | None, cert: Pem | None) -> None:
    admin, worker, viewer = (_client(server, pki, token, cert) for token in TOKENS)
    with admin, worker, viewer:
        study = admin.create_study(simple_spec("secured"))
        with pytest.raises(UnauthenticatedError, match="missing credentials"):
            _client(server, pki, None, cert).list_studies()
        with pytest.raises(UnauthenticatedError, match="invalid token"):
            _client(server, pki, "wrong-token-0123456789abcdef", cert).list_studies()
        with pytest.raises(PermissionDeniedError, match="role worker cannot call CreateStudy"):
            worker.create_study(simple_spec("other"))
        with pytest.raises(PermissionDeniedError, match="role viewer cannot call Ask: it needs"):
            viewer.get_study("secured").ask()
        trial = worker.get_study("secured").ask()
        assert trial is not None
        trial.report(1, 0.5)
        trial.set_attrs({"stage": "trained"})
        trial.tell(0.5)
        best = viewer.get_study("secured").best_trial
        assert best is not None and best.attrs == {"stage": "trained"}
        with pytest.raises(PermissionDeniedError, match="role viewer cannot call SetTrialAttr"):
            viewer.set_trial_attrs(trial, {"stage": "spoofed"})
        with pytest.raises(PermissionDeniedError):
            worker.get_study("secured").enqueue({"x": 1.0, "n": 2})
        with pytest.raises(PermissionDeniedError):
            viewer.delete_study("secured")
        with pytest.raises(PermissionDeniedError, match="role worker cannot call UpdateStudy"):
            worker.update_study("secured", max_trials=5)
        assert admin.update_study("secured", max_trials=5).spec["max_trials"] == 5
        study.delete()


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(f"sqlite:///{tmp_path / 'asktell.db'}", tmp_path / "server.log")
    yield server
    server.kill()


def test_tokens_and_roles_in_plaintext(sqlite_server: ServerProcess, auth_file: Path) -> None:
    sqlite_server.start("--auth-file", str(auth_file))
    _every_role_case(sqlite_server, None, None)
    # Health checks stay open for probes, and tokens never reach the log.
    channel = grpc.insecure_channel(sqlite_server.address)
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == 1
    channel.close()
    log = sqlite_server.log_path.read_text()
    assert not any(token in log for token in TOKENS)


def test_tokens_and_roles_over_tls(sqlite_server: ServerProcess, auth_file: Path, pki: Pki) -> None:
    sqlite_server.start(
        "--auth-file",
        str(auth_file),
        "--tls-cert",
        str(pki.server.cert),
        "--tls-key",
        str(pki.server.key),
    )
    _every_role_case(sqlite_server, pki, None)
    with pytest.raises(UnavailableError):  # plaintext to a TLS port fails to connect
        _client(sqlite_server, None, "admin-token-0123456789abcdef").list_studies()


def test_tokens_and_roles_over_mutual_tls(
    sqlite_server: ServerProcess, auth_file: Path, pki: Pki
) -> None:
    sqlite_server.start(
        "--auth-file",
        str(auth_file),
        "--tls-cert",
        str(pki.server.cert),
        "--tls-key",
        str(pki.server.key),
        "--tls-client-ca",
        str(pki.ca.cert),
    )
    _every_role_case(sqlite_server, pki, pki.client)
    admin = "admin-token-0123456789abcdef"
    with pytest.raises(UnavailableError):  # no client certificate
        _client(sqlite_server, pki, admin).list_studies()
    with pytest.raises(UnavailableError):  # a certificate from another CA
        _client(sqlite_server, pki, admin, pki.rogue_client).list_studies()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("tokens:\n  short: admin\n", "shorter than 16 characters"),
        ("tokens:\n  0123456789abcdef0123: root\n", "has role 'root'"),
        ("users: []\n", "expected a 'tokens:' mapping"),
    ],
)
def test_a_bad_auth_file_stops_the_server_with_a_clear_message(
    tmp_path: Path, content: str, message: str
) -> None:
    import subprocess
    import sys

    path = tmp_path / "tokens.yaml"
    path.write_text(content)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "asktell.client._cli",
            "serve",
            "--port",
            "0",
            "--db",
            f"sqlite:///{tmp_path / 'a.db'}",
            "--auth-file",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "0123456789abcdef0123" not in result.stderr
