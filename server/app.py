"""Builds and runs the gRPC server: the asktell service, health checking and reflection."""

from __future__ import annotations

import logging
import signal
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server
from threadpoolctl import threadpool_limits

from asktell.server.auth import AuthInterceptor, Role, load_tokens
from asktell.server.interceptors import ErrorInterceptor, MetricsInterceptor
from asktell.server.metrics import (
    DEFAULT_MAX_STUDIES,
    InstrumentedStore,
    NoMetrics,
    ServerMetrics,
    StudyStatsCollector,
)
from asktell.server.service import AsktellServicer, Clock
from asktell.server.storage import Store, open_store
from asktell.v1 import service_pb2, service_pb2_grpc

log = logging.getLogger("asktell.server")

SERVICE_NAME = service_pb2.DESCRIPTOR.services_by_name["AsktellService"].full_name
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """How `asktell serve` runs (see `asktell serve --help`)."""

    db: str = "sqlite:///asktell.db"
    host: str = "127.0.0.1"
    port: int = 50051
    max_workers: int = 32
    grace_seconds: float = 10.0
    metrics_port: int | None = None
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


def create_server(
    store: Store,
    address: str = "127.0.0.1:0",
    *,
    max_workers: int = 32,
    clock: Clock = time.time,
    metrics: ServerMetrics | None = None,
    credentials: grpc.ServerCredentials | None = None,
    tokens: dict[bytes, Role] | None = None,
) -> tuple[grpc.Server, int]:
    """A server bound to `address` (not yet started), and its port.

    Args:
        store: where studies live.
        address: host:port; port 0 picks a free port (what tests use).
        max_workers: threads serving RPCs.
        clock: epoch seconds, injected for tests.
        metrics: RPC and store metrics (a fresh registry if None).
        credentials: TLS credentials (`server_credentials`); None serves plaintext.
        tokens: token digests and roles (`auth.load_tokens`); None serves without auth.
    """
    metrics = metrics if metrics is not None else ServerMetrics()
    interceptors: list[grpc.ServerInterceptor] = []
    if not isinstance(metrics, NoMetrics):
        store = InstrumentedStore(store, metrics)
        # Outermost first: metrics see every final code, auth runs before any handler work.
        interceptors.append(MetricsInterceptor(metrics))
    if tokens is not None:
        interceptors.append(AuthInterceptor(tokens))
    interceptors.append(ErrorInterceptor())
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="asktell-rpc"),
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", 4 * MAX_MESSAGE_BYTES),
        ],
        maximum_concurrent_rpcs=max_workers * 8,
    )
    servicer = AsktellServicer(store, metrics, clock)
    service_pb2_grpc.add_AsktellServiceServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    if credentials is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, credentials)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    return server, port


def serve(config: ServerConfig, ready: threading.Event | None = None) -> None:
    """Runs the server until SIGTERM or SIGINT, then drains in-flight RPCs."""
    # Concurrency comes from RPC threads; BLAS threads inside one GP fit only fight them
    # (one GP suggestion took 5x longer with OpenBLAS's default threads on 2 busy cores).
    threadpool_limits(limits=1)
    tokens = load_tokens(config.auth_file) if config.auth_file else None
    credentials = server_credentials(config)
    store = open_store(config.db)
    metrics = ServerMetrics() if config.metrics_enabled else NoMetrics()
    server, port = create_server(
        store,
        f"{config.host}:{config.port}",
        max_workers=config.max_workers,
        metrics=metrics,
        credentials=credentials,
        tokens=tokens,
    )
    server.start()
    where = f"store {config.db.split('@')[-1]}"  # never the database password
    where += ", TLS" if credentials else ""
    where += ", mutual TLS" if config.tls_client_ca else ""
    where += f", {len(tokens)} tokens" if tokens else ""
    if config.metrics_port is not None and config.metrics_enabled:
        metrics.registry.register(
            StudyStatsCollector(store, max_studies=config.metrics_max_studies)
        )
        http_server, _ = start_http_server(
            config.metrics_port, addr=config.host, registry=metrics.registry
        )
        where += f", metrics http://{config.host}:{http_server.server_port}/metrics"
    log.info("asktell serving on %s:%d (%s)", config.host, port, where)
    # One line on stdout that scripts can wait for and parse.
    print(f"asktell serving on {config.host}:{port} ({where})", flush=True)
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        stopping.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    if ready is not None:
        ready.set()
    stopping.wait()
    log.info("stopping: draining for up to %.0f s", config.grace_seconds)
    server.stop(config.grace_seconds).wait()
    store.close()
