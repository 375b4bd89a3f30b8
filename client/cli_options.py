"""The connection options of every command line that talks to an asktell server.

The `asktell study ...` commands and `asktell worker` take the same options, each
also read from an environment variable:

| option         | variable                  | meaning                                          |
| -------------- | ------------------------- | ------------------------------------------------ |
| `--server`     | `ASKTELL_SERVER`          | host:port, or a gRPC target naming several replicas |
| `--token-file` | `ASKTELL_TOKEN_FILE`      | file holding the bearer token                    |
| `--tls-ca`     | `ASKTELL_TLS_CA`          | PEM CA of the server's certificate: use TLS      |
| `--tls-cert`   | `ASKTELL_CLIENT_TLS_CERT` | PEM client certificate, for mutual TLS           |
| `--tls-key`    | `ASKTELL_CLIENT_TLS_KEY`  | PEM key of the client certificate                |
| `--timeout`    | `ASKTELL_TIMEOUT`         | seconds each call may take                       |

A command of your own gets them, as one `Connection` argument, with one decorator:

```python
import click
from asktell.client.cli_options import Connection, connection_options

@click.command()
@click.argument("study")
@connection_options
def best(study: str, connection: Connection) -> None:
    with connection.client() as client:
        click.echo(client.get_study(study).best_trial)
```
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from asktell.client._client import (
    DEFAULT_RETRY_SECONDS,
    DEFAULT_TARGET,
    DEFAULT_TIMEOUT,
    Client,
)

__all__ = ["DEFAULT_SERVER", "Connection", "connection_options"]

DEFAULT_SERVER = DEFAULT_TARGET
R = TypeVar("R")

_FILE = click.Path(exists=True, dir_okay=False)
# In the order `--help` shows them.
_OPTIONS = (
    click.option(
        "--server",
        envvar="ASKTELL_SERVER",
        default=DEFAULT_SERVER,
        show_default=True,
        help="host:port of the asktell server, or a gRPC target naming several replicas "
        "(dns:///asktell-headless:50051). [env ASKTELL_SERVER]",
    ),
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
    click.option(
        "--timeout",
        envvar="ASKTELL_TIMEOUT",
        default=DEFAULT_TIMEOUT,
        show_default=True,
        type=click.FloatRange(min=0, min_open=True),
        help="Seconds each call to the server may take. [env ASKTELL_TIMEOUT]",
    ),
)


@dataclass(frozen=True, slots=True)
class Connection:
    """Where the server is and how to reach it, as the connection options gave it.

    Attributes:
        server: a gRPC target ("host:port", "dns:///name:port", ...).
        token_file: a file holding the bearer token, or None.
        tls_ca: PEM file of the CA of the server's certificate; given: TLS.
        tls_cert: PEM file of the client certificate (mutual TLS).
        tls_key: PEM file of the client certificate's key.
        timeout: seconds each call may take.
        retry_seconds: how long idempotent calls keep retrying an unreachable server
            (`--retry-seconds` of the `asktell study` commands).
    """

    server: str = DEFAULT_SERVER
    token_file: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    retry_seconds: float = DEFAULT_RETRY_SECONDS

    def read_token(self) -> str | None:
        """The bearer token in `token_file` (without surrounding whitespace), or None."""
        return Path(self.token_file).read_text().strip() if self.token_file else None

    def client(self, *, retry_seconds: float | None = None) -> Client:
        """A `Client` for this connection; close it (or use it in a `with` block).

        `retry_seconds` replaces the connection's own retry window.
        """
        return Client(
            self.server,
            timeout=self.timeout,
            retry_seconds=self.retry_seconds if retry_seconds is None else retry_seconds,
            token=self.read_token(),
            tls_ca=self.tls_ca,
            tls_cert=self.tls_cert,
            tls_key=self.tls_key,
        )


def connection_options(command: Callable[..., R]) -> Callable[..., R]:
    """Adds the connection options to a click command; it receives them as `connection`."""

    @functools.wraps(command)
    def with_connection(
        *args: Any,
        server: str,
        token_file: str | None,
        tls_ca: str | None,
        tls_cert: str | None,
        tls_key: str | None,
        timeout: float,
        **kwargs: Any,
    ) -> R:
        connection = Connection(server, token_file, tls_ca, tls_cert, tls_key, timeout)
        return command(*args, connection=connection, **kwargs)

    decorated: Callable[..., R] = with_connection
    for option in reversed(_OPTIONS):
        decorated = option(decorated)
    return decorated
