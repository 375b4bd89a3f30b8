"""`asktell dashboard`: the live web dashboard of a server's studies."""

from __future__ import annotations

import click

from asktell.client import AsktellError
from asktell.client.cli_options import Connection, connection_options
from asktell.dashboard.app import Dashboard, http_error, make_server

# A dashboard shows a server that went away at once, instead of retrying a minute.
RETRY_SECONDS = 2.0


@click.command("dashboard")
@connection_options
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="ASKTELL_DASHBOARD_HOST",
    help="Address to serve the dashboard on; 0.0.0.0 exposes it to the network. "
    "[env ASKTELL_DASHBOARD_HOST]",
)
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    envvar="ASKTELL_DASHBOARD_PORT",
    help="HTTP port of the dashboard (0 picks a free one). [env ASKTELL_DASHBOARD_PORT]",
)
@click.option(
    "--refresh",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    envvar="ASKTELL_DASHBOARD_REFRESH",
    help="Seconds between two reads of an open study from the server. "
    "[env ASKTELL_DASHBOARD_REFRESH]",
)
def dashboard_command(connection: Connection, host: str, port: int, refresh: float) -> None:
    """Serves a live web dashboard of the server's studies and trials.

    It reads everything through the gRPC API (any replica, TLS and tokens as for the
    other commands): a viewer token sees everything, an admin token may also stop and
    resume studies and enqueue configurations.
    """
    client = connection.client(retry_seconds=RETRY_SECONDS)
    dashboard = Dashboard(client, connection.server, min_interval=refresh)
    try:
        role = dashboard.role()
    except AsktellError as exc:
        click.echo(f"warning: {http_error(exc, connection.server).message}", err=True)
        role = "unknown until the server answers"
    try:
        server = make_server(dashboard, host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc.strerror}") from None
    bound_port = server.server_address[1]
    click.echo(f"dashboard on http://{host}:{bound_port}/ for {connection.server} (role: {role})")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        client.close()
