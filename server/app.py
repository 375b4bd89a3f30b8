"""Builds and runs the gRPC server: the asktell service, health checking and reflection."""

from __future__ import annotations

import asyncio
import errno
import faulthandler
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Coroutine
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from threadpoolctl import threadpool_limits

from asktell.server import logs
from asktell.server.auth import Authorizer, Grant, load_tokens
from asktell.server.errors import Unavailable
from asktell.server.interceptors import RpcGuard
from asktell.server.metrics import (
    DEFAULT_MAX_STUDIES,
    InstrumentedStore,
    NoMetrics,
    ServerMetrics,
    StudyStatsCollector,
)
from asktell.server.metrics_http import read_token_file, serve_metrics
from asktell.server.service import WRITE_LANE_METHODS, AsktellServicer, Clock
from asktell.server.storage import SqliteStore, Store, open_store
from asktell.v1 import service_pb2, service_pb2_grpc

log = logging.getLogger("asktell.server")
T = TypeVar("T")

SERVICE_NAME = service_pb2.DESCRIPTOR.services_by_name["AsktellService"].full_name
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# HTTP/2 streams one connection may hold open at once: a client that opens more waits
# on its own side, so no single connection can pile up unbounded work on the server.
MAX_STREAMS_PER_CONNECTION = 256
DEFAULT_MAX_CONNECTION_AGE = 1800.0
DEFAULT_CONNECTION_AGE_GRACE = 60.0
DEFAULT_MAX_CONNECTION_IDLE = 600.0
# Calls that may queue for each handler thread before new ones are shed (RESOURCE_EXHAUSTED).
WAITING_CALLS_PER_WORKER = 32


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """How `asktell serve` runs (see `asktell serve --help`)."""

    db: str = "sqlite:///asktell.db"
    host: str = "127.0.0.1"
    port: int = 50051
    max_workers: int = 32
    grace_seconds: float = 10.0
    max_connection_age: float = DEFAULT_MAX_CONNECTION_AGE
    db_wait: float = 0.0
    metrics_port: int | None = None
    metrics_host: str | None = None  # None: the same as `host`
    metrics_token_file: Path | None = None
    metrics_max_studies: int = DEFAULT_MAX_STUDIES
    metrics_enabled: bool = True
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    auth_file: Path | None = None

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("--tls-cert and --tls-key go together")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ValueError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
        if self.max_workers < 1:
            raise ValueError(f"--max-workers must be at least 1, got {self.max_workers}")
        if self.max_connection_age <= 0:
            raise ValueError("--max-connection-age must be a positive number of seconds")
        if self.db_wait < 0:
            raise ValueError("--db-wait must be 0 or more seconds")


def server_credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    """TLS credentials from the config's PEM files; None for a plaintext server.

    With a client CA, clients must present a certificate it signed (mutual TLS).
    """
    if config.tls_cert is None or config.tls_key is None:
        return None
    client_ca = config.tls_client_ca.read_bytes() if config.tls_client_ca else None
    return grpc.ssl_server_credentials(
        [(config.tls_key.read_bytes(), config.tls_cert.read_bytes())],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


class PortInUseError(OSError):
    """The address to listen on is taken (by another server, often a second asktell)."""


def check_port_free(host: str, port: int) -> None:
    """Raises PortInUseError if `host:port` cannot be bound.

    gRPC would bind it anyway with SO_REUSEPORT, and two servers on one port
    split the calls between them: that must be an error, not a surprise.
    """
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As gRPC does: connections left in TIME_WAIT by a crashed server don't count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(f"port {port} on {host} is already in use") from None
            raise


def channel_options(max_connection_age: float) -> list[tuple[str, int]]:
    """Server channel arguments: message sizes, no port sharing, connection lifetimes."""
    return [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", 4 * MAX_MESSAGE_BYTES),
        ("grpc.so_reuseport", 0),
        ("grpc.max_concurrent_streams", MAX_STREAMS_PER_CONNECTION),
        # Connections are closed (gracefully) after this age, so long-lived clients
        # spread onto replicas that an autoscaler added.
        ("grpc.max_connection_age_ms", int(max_connection_age * 1000)),
        ("grpc.max_connection_age_grace_ms", int(DEFAULT_CONNECTION_AGE_GRACE * 1000)),
        ("grpc.max_connection_idle_ms", int(DEFAULT_MAX_CONNECTION_IDLE * 1000)),
        # Pings find peers that vanished without closing their connection.
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
    ]


class AsktellServer:
    """The asktell gRPC server: `grpc.aio` on an event-loop thread of its own.

    Handlers (blocking store and algorithm work) run on a pool of `max_workers`
    threads; the event loop only moves bytes, so half-open, slow or idle calls
    cannot take the threads that other callers need.
    """

    def __init__(
        self,
        store: Store,
        address: str,
        *,
        max_workers: int,
        clock: Clock,
        metrics: ServerMetrics,
        credentials: grpc.ServerCredentials | None,
        tokens: dict[bytes, Grant] | None,
        max_connection_age: float,
    ) -> None:
        self._max_workers = max_workers
        self._executor = futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="asktell-rpc"
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="asktell-grpc", daemon=True
        )
        self._thread.start()
        self._stopped = False
        try:
            self._server, self.port = self._call(
                self._build(store, address, clock, metrics, credentials, tokens, max_connection_age)
            )
        except BaseException:
            self._close_loop()
            raise

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _build(
        self,
        store: Store,
        address: str,
        clock: Clock,
        metrics: ServerMetrics,
        credentials: grpc.ServerCredentials | None,
        tokens: dict[bytes, Grant] | None,
        max_connection_age: float,
    ) -> tuple[grpc.aio.Server, int]:
        # SQLite: the hot write RPCs run in the store's write lane (group commit).
        lane = store.write_lane() if isinstance(store, SqliteStore) else None
        if not isinstance(metrics, NoMetrics):
            store = InstrumentedStore(store, metrics)
        guard = RpcGuard(
            self._executor,
            metrics,
            Authorizer(tokens) if tokens is not None else None,
            max_waiting=WAITING_CALLS_PER_WORKER * self._max_workers,
            lane=lane,
            lane_methods=WRITE_LANE_METHODS,
        )
        server = grpc.aio.server(interceptors=[guard], options=channel_options(max_connection_age))
        service_pb2_grpc.add_AsktellServiceServicer_to_server(
            AsktellServicer(store, metrics, clock), server
        )
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        for name in ("", SERVICE_NAME):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        try:
            if credentials is None:
                port = server.add_insecure_port(address)
            else:
                port = server.add_secure_port(address, credentials)
        except RuntimeError:
            port = 0
        if port == 0:
            raise OSError(f"cannot listen on {address}")
        return server, port

    def start(self) -> None:
        """Starts serving (returns at once)."""
        self._call(self._server.start())

    def stop(self, grace: float | None) -> None:
        """Stops accepting calls, lets in-flight ones finish for `grace` seconds, returns
        when the server has stopped."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self._call(self._server.stop(grace))
        finally:
            self._close_loop()

    def _close_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._executor.shutdown(wait=True, cancel_futures=True)
        if not self._thread.is_alive():
            self._loop.close()


def create_server(
    store: Store,
    address: str = "127.0.0.1:0",
    *,
    max_workers: int = 32,
    clock: Clock = time.time,
    metrics: ServerMetrics | None = None,
    credentials: grpc.ServerCredentials | None = None,
    tokens: dict[bytes, Grant] | None = None,
    max_connection_age: float = DEFAULT_MAX_CONNECTION_AGE,
) -> tuple[AsktellServer, int]:
    """A server bound to `address` (not yet started), and its port.

    Args:
        store: where studies live.
        address: host:port; port 0 picks a free port (what tests use).
        max_workers: threads running handlers (store and algorithm work).
        clock: epoch seconds, injected for tests.
        metrics: RPC and store metrics (a fresh registry if None).
        credentials: TLS credentials (`server_credentials`); None serves plaintext.
        tokens: token digests and grants (`auth.load_tokens`); None serves without auth.
        max_connection_age: seconds after which a client connection is closed gracefully.

    Raises:
        OSError: the address cannot be bound.
    """
    server = AsktellServer(
        store,
        address,
        max_workers=max_workers,
        clock=clock,
        metrics=metrics if metrics is not None else ServerMetrics(),
        credentials=credentials,
        tokens=tokens,
        max_connection_age=max_connection_age,
    )
    return server, server.port


def open_store_waiting(url: str, wait_seconds: float) -> Store:
    """Opens the store, retrying with backoff for up to `wait_seconds` while it is unreachable
    (a database that starts after the server, as in a fresh Kubernetes namespace).

    Raises:
        Unavailable: still unreachable when the time is up (at once when it is 0).
    """
    give_up = time.monotonic() + wait_seconds
    pause = 0.5
    while True:
        try:
            return open_store(url)
        except Unavailable as exc:
            left = give_up - time.monotonic()
            if left <= 0:
                raise
            log.warning("store not reachable (%s); retrying for %.0f s more", exc, left)
            time.sleep(min(pause, left))
            pause = min(pause * 2, 5.0)


def serve(config: ServerConfig, ready: threading.Event | None = None) -> None:
    """Runs the server until SIGTERM or SIGINT, then drains in-flight RPCs.

    Raises:
        PortInUseError: the gRPC or metrics port is taken.
        Unavailable: the store cannot be opened (after `config.db_wait` seconds).
        AuthConfigError, OSError: unreadable auth, token or certificate files.
    """
    # Concurrency comes from RPC threads; BLAS threads inside one GP fit only fight them
    # (one GP suggestion took 5x longer with OpenBLAS's default threads on 2 busy cores).
    threadpool_limits(limits=1)
    tokens = load_tokens(config.auth_file) if config.auth_file else None
    credentials = server_credentials(config)
    metrics_host = config.metrics_host or config.host
    metrics_token = None
    if config.metrics_token_file is not None:
        metrics_token = read_token_file(config.metrics_token_file)
    check_port_free(config.host, config.port)
    if config.metrics_port is not None and config.metrics_enabled:
        check_port_free(metrics_host, config.metrics_port)
    store = open_store_waiting(config.db, config.db_wait)
    try:
        _serve_on(store, config, tokens, credentials, metrics_host, metrics_token, ready)
    finally:
        store.close()


def _serve_on(
    store: Store,
    config: ServerConfig,
    tokens: dict[bytes, Grant] | None,
    credentials: grpc.ServerCredentials | None,
    metrics_host: str,
    metrics_token: str | None,
    ready: threading.Event | None,
) -> None:
    metrics = ServerMetrics() if config.metrics_enabled else NoMetrics()
    server, port = create_server(
        store,
        f"{config.host}:{config.port}",
        max_workers=config.max_workers,
        metrics=metrics,
        credentials=credentials,
        tokens=tokens,
        max_connection_age=config.max_connection_age,
    )
    where = f"store {config.db.split('@')[-1]}"  # never the database password
    where += ", TLS" if credentials else ""
    where += ", mutual TLS" if config.tls_client_ca else ""
    where += f", {len(tokens)} tokens" if tokens else ""
    metrics_server = None
    if config.metrics_port is not None and config.metrics_enabled:
        metrics.registry.register(
            StudyStatsCollector(store, max_studies=config.metrics_max_studies)
        )
        metrics_server = serve_metrics(
            metrics.registry, metrics_host, config.metrics_port, token=metrics_token
        )
        where += f", metrics http://{metrics_host}:{metrics_server.server_port}/metrics"
        where += " (token)" if metrics_token else ""
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        stopping.set()

    # Before the announcement: a supervisor that reads it may signal at once.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        # `kill -USR1 <pid>`: every thread's stack on stderr, for a server that seems stuck
        # (not when started with no stderr to write to).
        if sys.stderr is not None:
            faulthandler.register(signal.SIGUSR1, all_threads=True)
    server.start()
    log.info("asktell serving on %s:%d (%s)", config.host, port, where)
    # One line on stdout that scripts can wait for and parse.
    logs.announce(f"asktell serving on {config.host}:{port} ({where})", port=port)
    if ready is not None:
        ready.set()
    # A bounded wait: Python runs signal handlers on the main thread only, and a signal
    # the kernel hands to one of gRPC's threads does not wake a main thread blocked in
    # an unbounded wait (one suspect for a SIGTERM that once went unanswered in CI).
    while not stopping.wait(timeout=0.2):
        pass
    log.info("stopping: draining for up to %.0f s", config.grace_seconds)
    server.stop(config.grace_seconds)
    if metrics_server is not None:
        metrics_server.shutdown()
