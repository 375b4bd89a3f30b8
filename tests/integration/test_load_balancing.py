"""gRPC behind a Kubernetes Service: a replica added later receives calls from a client that
is already connected (docs/deployment.md, "Load balancing").

Long-lived HTTP/2 connections stay on the replicas that were there when they opened. Two
remedies, each shown on loopback with two in-process servers on one store:

- client-side round robin over every address of the target (a headless Service's
  `dns:///asktell-headless:50051`; here `ipv4:A,B` with B not yet up): the client's
  subchannel to B connects once B listens, and calls spread over both;
- the server's max connection age behind a ClusterIP Service (one virtual address, each new
  TCP connection to some pod; here a TCP proxy that hands each new connection to the next
  backend): a pinned (pick_first) connection to A is closed after the age, and the
  reconnection reaches B. Without the age, every call stays on A.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Callable

import grpc

from asktell.client import Client
from asktell.server.app import create_server
from asktell.server.metrics import ServerMetrics
from asktell.server.storage import open_store
from asktell.v1 import service_pb2 as pb
from asktell.v1 import service_pb2_grpc
from tests.conftest import simple_spec
from tests.services import free_port

ROUND_ROBIN = '{"loadBalancingConfig": [{"round_robin": {}}]}'


class Replica:
    """A server on the shared store, counting the RPCs it answered."""

    def __init__(self, db_url: str, port: int, max_connection_age: float) -> None:
        self.store = open_store(db_url)
        self.metrics = ServerMetrics()
        self.server, self.port = create_server(
            self.store,
            f"127.0.0.1:{port}",
            metrics=self.metrics,
            max_connection_age=max_connection_age,
        )
        self.server.start()

    def calls(self, method: str = "GetStudy") -> float:
        value = self.metrics.registry.get_sample_value(
            "grpc_server_started_total",
            {
                "grpc_type": "unary",
                "grpc_service": "asktell.v1.AsktellService",
                "grpc_method": method,
            },
        )
        return value or 0.0

    def stop(self) -> None:
        self.server.stop(None)
        self.store.close()


class ServiceProxy:
    """A ClusterIP Service on loopback: each new TCP connection goes to the next backend."""

    def __init__(self) -> None:
        self.backends: list[int] = []
        self._next = itertools.count()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            backends = list(self.backends)
            port = backends[next(self._next) % len(backends)]
            try:
                upstream = socket.create_connection(("127.0.0.1", port))
            except OSError:
                downstream.close()
                continue
            for a, b in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stopped = True
        self.listener.close()


def call_until(call: Callable[[], None], done: Callable[[], bool], seconds: float) -> None:
    give_up = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < give_up, "the new replica received no call"
        call()
        time.sleep(0.05)


def test_round_robin_reaches_a_replica_started_after_the_first_calls(db_url: str) -> None:
    port_a, port_b = free_port(), free_port()
    a = Replica(db_url, port_a, max_connection_age=1800)
    b = None
    try:
        with Client(f"ipv4:127.0.0.1:{port_a},127.0.0.1:{port_b}") as client:
            client.create_study(simple_spec("spread"))
            for _ in range(10):
                client.get_study_info("spread")
            assert a.calls() == 10  # B is not there: every call went to A
            b = Replica(db_url, port_b, max_connection_age=1800)
            call_until(lambda: client.get_study_info("spread") and None, lambda: b.calls() > 0, 8)
            before = a.calls(), b.calls()
            for _ in range(20):
                client.get_study_info("spread")
            assert a.calls() - before[0] >= 5 and b.calls() - before[1] >= 5  # both serve
    finally:
        a.stop()
        if b is not None:
            b.stop()


def _pinned_calls(db_url: str, age: float, seconds: float) -> tuple[float, float]:
    """GetStudy calls a pick_first channel through the Service proxy makes to A and to B,
    B added after the channel connected to A, for `seconds`."""
    proxy = ServiceProxy()
    a = Replica(db_url, free_port(), max_connection_age=age)
    b = Replica(db_url, free_port(), max_connection_age=age)
    proxy.backends = [a.port]
    try:
        with Client(f"127.0.0.1:{proxy.port}") as client:
            client.create_study(simple_spec("pinned"))
        channel = grpc.insecure_channel(f"127.0.0.1:{proxy.port}")  # pick_first, one address
        stub = service_pb2_grpc.AsktellServiceStub(channel)
        request = pb.GetStudyRequest(name="studies/pinned")
        stub.GetStudy(request, timeout=10)
        proxy.backends = [a.port, b.port]  # the new pod is behind the Service now
        give_up = time.monotonic() + seconds
        while time.monotonic() < give_up and b.calls() == 0:
            stub.GetStudy(request, timeout=10, wait_for_ready=True)
            time.sleep(0.05)
        channel.close()
        return a.calls(), b.calls()
    finally:
        proxy.close()
        a.stop()
        b.stop()


def test_max_connection_age_moves_a_pinned_client_to_a_new_replica(db_url: str) -> None:
    _, reached = _pinned_calls(db_url, age=1.0, seconds=8)
    assert reached > 0


def test_without_a_connection_age_a_pinned_client_stays_on_the_old_replica(db_url: str) -> None:
    on_a, on_b = _pinned_calls(db_url, age=1800, seconds=2)
    assert on_b == 0 and on_a > 10
