"""The Prometheus /metrics endpoint, optionally behind a bearer token.

Study names and best values are in the metrics, so the endpoint can be bound to
localhost (`--metrics-host 127.0.0.1`, scraped by a sidecar) or protected by a
token (`--metrics-token-file`; Prometheus sends it with `authorization:
credentials_file:` in its scrape config).
"""

from __future__ import annotations

import hmac
import socket
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

MIN_METRICS_TOKEN_LENGTH = 16

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class _ThreadingWsgiServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Ipv6WsgiServer(_ThreadingWsgiServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
        pass


def read_token_file(path: Path) -> str:
    """The token in `path` (surrounding whitespace dropped).

    Raises:
        ValueError: the file is unreadable or the token is too short.
    """
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"metrics token file {path}: cannot read it: {exc}") from None
    if len(token) < MIN_METRICS_TOKEN_LENGTH:
        raise ValueError(
            f"metrics token file {path}: the token is shorter than "
            f"{MIN_METRICS_TOKEN_LENGTH} characters"
        )
    return token


def with_bearer_token(app: WsgiApp, token: str) -> WsgiApp:
    """`app`, answering 401 to requests without `authorization: Bearer <token>`."""
    expected = f"Bearer {token}".encode()

    def guarded(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        sent = environ.get("HTTP_AUTHORIZATION", "").encode()
        if not hmac.compare_digest(sent, expected):
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")],
            )
            return [b"send the metrics token: authorization: Bearer <token>\n"]
        return app(environ, start_response)

    return guarded


def serve_metrics(
    registry: CollectorRegistry, host: str, port: int, *, token: str | None = None
) -> WSGIServer:
    """Serves `registry` on http://host:port/metrics from a daemon thread; port 0 picks one."""
    app: WsgiApp = make_wsgi_app(registry)
    if token is not None:
        app = with_bearer_token(app, token)
    server_class = _Ipv6WsgiServer if ":" in host else _ThreadingWsgiServer
    server = make_server(host, port, app, server_class, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="asktell-metrics", daemon=True).start()
    return server
