"""`asktell serve`: the server's command line, registered on the `asktell` group.

Every option can also come from an ASKTELL_* environment variable (Kubernetes
passes the database URL from a Secret that way).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import NoReturn

import click

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("serve")
@click.option(
    "--db",
    envvar="ASKTELL_DB",
    default="sqlite:///asktell.db",
    show_default=True,
    help="Store URL: sqlite:///path.db (relative), sqlite:////abs/path.db, or "
    "postgresql://user:password@host:5432/db. [env ASKTELL_DB]",
)
@click.option(
    "--host",
    envvar="ASKTELL_HOST",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0 in a container). [env ASKTELL_HOST]",
)
@click.option(
    "--port",
    envvar="ASKTELL_PORT",
    default=50051,
    show_default=True,
    type=int,
    help="gRPC port; 0 picks a free one. [env ASKTELL_PORT]",
)
@click.option(
    "--max-workers",
    envvar="ASKTELL_MAX_WORKERS",
    default=32,
    show_default=True,
    type=int,
    help="Threads running RPC handlers (store and algorithm work). [env ASKTELL_MAX_WORKERS]",
)
@click.option(
    "--max-connection-age",
    envvar="ASKTELL_MAX_CONNECTION_AGE",
    default=1800.0,
    show_default=True,
    type=float,
    help="Seconds after which a client connection is closed gracefully, so clients "
    "spread onto replicas added later. [env ASKTELL_MAX_CONNECTION_AGE]",
)
@click.option(
    "--db-wait",
    envvar="ASKTELL_DB_WAIT",
    default=0.0,
    show_default=True,
    type=float,
    help="Seconds to keep retrying (with backoff) a store that cannot be reached at start; "
    "0 fails at once. [env ASKTELL_DB_WAIT]",
)
@click.option(
    "--metrics-port",
    envvar="ASKTELL_METRICS_PORT",
    type=int,
    default=None,
    help="Serve Prometheus metrics on this port (0 picks one); off when not given. "
    "[env ASKTELL_METRICS_PORT]",
)
@click.option(
    "--metrics-host",
    envvar="ASKTELL_METRICS_HOST",
    default=None,
    help="Address the metrics port listens on; default: the same as --host. Metrics show "
    "study names and best values: bind 127.0.0.1 or set --metrics-token-file to keep them "
    "private. [env ASKTELL_METRICS_HOST]",
)
@click.option(
    "--metrics-token-file",
    envvar="ASKTELL_METRICS_TOKEN_FILE",
    type=_FILE,
    default=None,
    help="File holding a bearer token that /metrics requires (Prometheus: "
    "authorization.credentials_file). [env ASKTELL_METRICS_TOKEN_FILE]",
)
@click.option(
    "--no-metrics",
    envvar="ASKTELL_NO_METRICS",
    is_flag=True,
    help="Count nothing (no RPC or store metrics); for measuring what metrics cost. "
    "[env ASKTELL_NO_METRICS]",
)
@click.option(
    "--metrics-max-studies",
    envvar="ASKTELL_METRICS_MAX_STUDIES",
    default=100,
    show_default=True,
    type=int,
    help="Studies exported with a study label (the most recently created). "
    "[env ASKTELL_METRICS_MAX_STUDIES]",
)
@click.option(
    "--tls-cert",
    envvar="ASKTELL_TLS_CERT",
    type=_FILE,
    default=None,
    help="PEM certificate chain of the server; with --tls-key, serve TLS only. "
    "[env ASKTELL_TLS_CERT]",
)
@click.option(
    "--tls-key",
    envvar="ASKTELL_TLS_KEY",
    type=_FILE,
    default=None,
    help="PEM private key of the server. [env ASKTELL_TLS_KEY]",
)
@click.option(
    "--tls-client-ca",
    envvar="ASKTELL_TLS_CLIENT_CA",
    type=_FILE,
    default=None,
    help="PEM CA bundle: require client certificates it signed (mutual TLS). "
    "[env ASKTELL_TLS_CLIENT_CA]",
)
@click.option(
    "--auth-file",
    envvar="ASKTELL_AUTH_FILE",
    type=_FILE,
    default=None,
    help="YAML mapping of bearer tokens to roles (admin, worker, viewer). [env ASKTELL_AUTH_FILE]",
)
@click.option(
    "--log-format",
    envvar="ASKTELL_LOG_FORMAT",
    default="text",
    show_default=True,
    type=click.Choice(["text", "json"]),
    help="Log lines as text or JSON; with json, every line the server writes to stdout and "
    "stderr is one JSON object. [env ASKTELL_LOG_FORMAT]",
)
@click.option(
    "--grace-seconds",
    envvar="ASKTELL_GRACE_SECONDS",
    default=10.0,
    show_default=True,
    type=float,
    help="On SIGTERM, how long in-flight RPCs may finish. [env ASKTELL_GRACE_SECONDS]",
)
def serve_command(
    db: str,
    host: str,
    port: int,
    max_workers: int,
    max_connection_age: float,
    db_wait: float,
    metrics_port: int | None,
    metrics_host: str | None,
    metrics_token_file: Path | None,
    no_metrics: bool,
    metrics_max_studies: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_client_ca: Path | None,
    auth_file: Path | None,
    log_format: str,
    grace_seconds: float,
) -> None:
    """Run the gRPC server until SIGTERM or Ctrl-C.

    Exits 1 with one line on stderr when it cannot start: the port is in use, the
    store cannot be reached (see --db-wait), a file cannot be read. Exits 2 on a bad
    option or file, and with one line when a secret is a placeholder: a token of the
    auth file, or the password in a postgresql:// URL ("change-me", "postgres", ...).
    """
    from asktell.server.logs import configure_logging, fail

    configure_logging(log_format, logging.INFO)
    problem = database_password_problem(db)
    if problem:
        _refuse(f"--db (ASKTELL_DB): {problem}")
    # After the check: the server's modules (NumPy, SciPy, the stores) take a second or
    # two to import, which a refused start need not wait for.
    from asktell.server.app import ServerConfig, serve
    from asktell.server.auth import AuthConfigError, PlaceholderSecretError
    from asktell.server.errors import AsktellError

    try:
        config = ServerConfig(
            db=db,
            host=host,
            port=port,
            max_workers=max_workers,
            grace_seconds=grace_seconds,
            max_connection_age=max_connection_age,
            db_wait=db_wait,
            metrics_port=metrics_port,
            metrics_host=metrics_host,
            metrics_token_file=metrics_token_file,
            metrics_max_studies=metrics_max_studies,
            metrics_enabled=not no_metrics,
            tls_cert=tls_cert,
            tls_key=tls_key,
            tls_client_ca=tls_client_ca,
            auth_file=auth_file,
        )
    except ValueError as exc:
        _bad_option(str(exc), log_format)
    try:
        serve(config)
    except PlaceholderSecretError as exc:
        _refuse(str(exc))
    except (AuthConfigError, ValueError) as exc:  # a file named by an option is wrong
        _bad_option(str(exc), log_format)
    except (AsktellError, OSError) as exc:  # the port is taken, the store unreachable
        fail(f"asktell serve: cannot start: {exc}")
        sys.exit(1)


def _bad_option(problem: str, log_format: str) -> NoReturn:
    """A usage error (exit 2): click's own lines, or one JSON line with --log-format json."""
    if log_format != "json":
        raise click.UsageError(problem)
    from asktell.server.logs import fail

    fail(f"asktell serve: {problem}")
    sys.exit(2)


def _refuse(problem: str) -> NoReturn:
    """One line on stderr and exit status 2, as for any other bad option or file."""
    from asktell.server.logs import fail

    fail(f"asktell serve: refusing to start: {problem}")
    sys.exit(2)


def database_password_problem(url: str) -> str | None:
    """Why the password in a PostgreSQL URL is a placeholder or default, or None.

    Looks at `postgresql://user:password@host/db` and a `?password=` parameter; a URL
    without a password (peer or certificate authentication, PGPASSWORD, ~/.pgpass) and
    SQLite URLs have nothing to check. The message names neither the password nor the URL.
    """
    from urllib.parse import parse_qs, unquote, urlparse

    from asktell.server.auth import password_problem

    if "://" not in url:
        return None
    parsed = urlparse(url)
    if parsed.scheme not in ("postgresql", "postgres"):
        return None
    passwords = parse_qs(parsed.query, keep_blank_values=True).get("password", [])
    if parsed.password is not None:
        passwords.insert(0, unquote(parsed.password))
    user = unquote(parsed.username) if parsed.username else None
    for password in passwords:
        problem = password_problem(password, user)
        if problem:
            return (
                f"the PostgreSQL password {problem}; set a random one "
                "(openssl rand -hex 24) for the database user and in the URL"
            )
    return None
