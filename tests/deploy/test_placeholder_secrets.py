"""`asktell serve` refuses placeholder secrets: a token of the auth file or the password of
a PostgreSQL URL that is a placeholder or a well-known default stops it at start with one
line and exit status 2, before it opens the store, and the line never shows the secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.kube import SECRETS
from tests.services import free_port

REAL_TOKEN = "3b9f0c2e8a7d41f6b5c3e9a0d2f4b6c8"


def _serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-m", "asktell.client._cli", "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, **(env or {})},
    )
    return result.returncode, result.stderr


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize(
    ("tokens", "message", "secret"),
    [
        (
            {"change-me-admin-token-0000": "admin"},
            "token #1 is a placeholder (it contains 'changeme')",
            "change-me-admin-token-0000",
        ),
        (
            {REAL_TOKEN: "admin", "An_Example_Token_For_The_Docs": "viewer"},
            "token #2 is a placeholder (it contains 'example')",
            "An_Example_Token_For_The_Docs",
        ),
        (
            {"abababababababababab": "worker"},
            "token #1 has fewer than 5 different characters",
            "abababababababababab",
        ),
        ({"secret": "admin"}, "token #1 is shorter than 16 characters", "secret"),
    ],
    ids=["change-me", "example", "few-characters", "short"],
)
def test_a_placeholder_token_stops_the_server(
    tmp_path: Path, tokens: dict[str, str], message: str, secret: str
) -> None:
    auth = tmp_path / "tokens.yaml"
    auth.write_text("tokens:\n" + "".join(f"  {t}: {r}\n" for t, r in tokens.items()))
    db = tmp_path / "a.db"
    code, stderr = _serve(tmp_path, "--db", f"sqlite:///{db}", "--auth-file", str(auth))
    assert code == 2, stderr
    if "shorter" not in message:  # the older check, a usage error of its own
        line = _one_line(stderr)
        assert line.startswith("asktell serve: refusing to start: auth file ")
        assert line.endswith("put a random one in its place (openssl rand -hex 32)")
    assert message in stderr
    assert secret not in stderr.replace(message, "")
    assert not db.exists()  # refused before the store was opened


def test_the_overlays_example_tokens_stop_the_server(tmp_path: Path) -> None:
    example = SECRETS / "tokens.yaml.example"
    code, stderr = _serve(
        tmp_path, "--db", f"sqlite:///{tmp_path / 'a.db'}", "--auth-file", str(example)
    )
    assert code == 2
    assert "token #1 is a placeholder (it contains 'replaceme')" in _one_line(stderr)


@pytest.mark.parametrize(
    ("credentials", "problem"),
    [
        ("asktell:change-me", "is a placeholder (it contains 'changeme')"),
        ("asktell:REPLACE-ME-db-password", "is a placeholder (it contains 'replaceme')"),
        ("postgres:postgres", "is a well-known default password"),
        ("asktell:Password", "is a well-known default password"),
        ("pipeline:pipeline", "is the user name"),
        ("asktell:", "is empty"),
    ],
    ids=["change-me", "example-file", "postgres", "password", "user-name", "empty"],
)
def test_a_placeholder_database_password_stops_the_server(
    tmp_path: Path, credentials: str, problem: str
) -> None:
    # Nothing listens on the port: the password is refused before any connection is tried.
    url = f"postgresql://{credentials}@127.0.0.1:{free_port()}/asktell"
    code, stderr = _serve(tmp_path, env={"ASKTELL_DB": url})  # as Kubernetes passes it
    assert code == 2, stderr
    line = _one_line(stderr)
    assert line == (
        f"asktell serve: refusing to start: --db (ASKTELL_DB): the PostgreSQL password "
        f"{problem}; set a random one (openssl rand -hex 24) for the database user and in "
        "the URL"
    )
    assert credentials not in line


def test_a_password_in_the_query_string_is_checked_too(tmp_path: Path) -> None:
    url = f"postgresql://asktell@127.0.0.1:{free_port()}/asktell?password=changeme"
    code, stderr = _serve(tmp_path, "--db", url)
    assert code == 2
    assert "the PostgreSQL password is a placeholder" in _one_line(stderr)


def test_real_secrets_pass_the_checks(tmp_path: Path) -> None:
    auth = tmp_path / "tokens.yaml"
    auth.write_text(f"tokens:\n  {REAL_TOKEN}: admin\n")
    # A real password gets as far as connecting (nothing listens here: exit 1, not 2).
    url = f"postgresql://asktell:9c1e5a7b3d8f2064@127.0.0.1:{free_port()}/asktell"
    code, stderr = _serve(tmp_path, "--db", url, "--auth-file", str(auth))
    assert code == 1, stderr
    assert "asktell serve: cannot start:" in stderr and "refusing" not in stderr
