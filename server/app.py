"""Builds and runs the gRPC server: the asktell service, health checking and reflection."""

from __future__ import annotations

import logging
import signal
import threading
import time
from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from asktell.server.interceptors import ErrorInterceptor, MetricsInterceptor
from asktell.server.metrics import (
    DEFAULT_MAX_STUDIES,
    InstrumentedStore,
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
    """How `asktell serve` runs."""

    db: str = "sqlite:///asktell.db"
    host: str = "127.0.0.1"
    port: int = 50051
    max_workers: int = 32
    grace_seconds: float = 10.0
    metrics_port: int | None = None
    metrics_max_studies: int = DEFAULT_MAX_STUDIES


def create_server(
    store: Store,
    address: str = "127.0.0.1:0",
    *,
    max_workers: int = 32,
    clock: Clock = time.time,
    metrics: ServerMetrics | None = None,
) -> tuple[grpc.Server, int]:
    """A server bound to `address` (not yet started), and its port.

    Port 0 picks a free port, which is what tests use. RPC and store metrics
    go to `metrics` (a fresh registry if None).
    """
    metrics = metrics if metrics is not None else ServerMetrics()
    store = InstrumentedStore(store, metrics)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="asktell-rpc"),
        # The metrics interceptor is outermost, so it sees the code the error interceptor set.
        interceptors=[MetricsInterceptor(metrics), ErrorInterceptor()],
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
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    return server, port


def serve(config: ServerConfig, ready: threading.Event | None = None) -> None:
    """Runs the server until SIGTERM or SIGINT, then drains in-flight RPCs."""
    store = open_store(config.db)
    metrics = ServerMetrics()
    server, port = create_server(
        store, f"{config.host}:{config.port}", max_workers=config.max_workers, metrics=metrics
    )
    server.start()
    where = f"store {config.db}"
    if config.metrics_port is not None:
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
