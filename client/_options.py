"""Connection options shared by every command that talks to a server (study commands, worker)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from asktell.client._client import Client

DEFAULT_SERVER = "127.0.0.1:50051"
F = TypeVar("F", bound=Callable[..., Any])

_FILE = click.Path(exists=True, dir_okay=False)
CREDENTIAL_OPTIONS = (
    click.option(
        "--token-file",
        envvar="ASKTELL_TOKEN_FILE",
        type=_FILE,
        default=None,
        help="File holding the bearer token. [env ASKTELL_TOKEN_FILE]",
    ),
    click.option(
        "--tls-ca",
        envvar="ASKTELL_TLS_CA",
        type=_FILE,
        default=None,
        help="PEM CA of the server's certificate: connect with TLS. [env ASKTELL_TLS_CA]",
    ),
    click.option(
        "--tls-cert",
        envvar="ASKTELL_CLIENT_TLS_CERT",
        type=_FILE,
        default=None,
        help="PEM client certificate, for mutual TLS. [env ASKTELL_CLIENT_TLS_CERT]",
    ),
    click.option(
        "--tls-key",
        envvar="ASKTELL_CLIENT_TLS_KEY",
        type=_FILE,
        default=None,
        help="PEM key of the client certificate. [env ASKTELL_CLIENT_TLS_KEY]",
    ),
)
SERVER_OPTION = click.option(
    "--server",
    envvar="ASKTELL_SERVER",
    default=DEFAULT_SERVER,
    show_default=True,
    help="host:port of the asktell server, or a gRPC target naming several replicas "
    "(dns:///asktell-headless:50051). [env ASKTELL_SERVER]",
)


def credential_options(function: F) -> F:
    """--token-file, --tls-ca, --tls-cert, --tls-key, each also from an ASKTELL_* variable."""
    for option in reversed(CREDENTIAL_OPTIONS):
        function = option(function)
    return function


def server_option(function: F) -> F:
    """--server plus the credentials to reach it."""
    return SERVER_OPTION(credential_options(function))


def read_token(token_file: str | None) -> str | None:
    return Path(token_file).read_text().strip() if token_file else None


def connect(
    server: str,
    token_file: str | None = None,
    tls_ca: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    **kwargs: Any,
) -> Client:
    """A Client from the command line's connection options."""
    return Client(
        server,
        token=read_token(token_file),
        tls_ca=tls_ca,
        tls_cert=tls_cert,
        tls_key=tls_key,
        **kwargs,
    )
