"""Shared fixtures: real servers on loopback ports over real SQLite files and PostgreSQL
databases, one PostgreSQL cluster per test process (per xdist worker under `make test`)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from hypothesis import settings
from threadpoolctl import threadpool_limits

from asktell.client import Client
from asktell.server.app import create_server
from asktell.server.storage import Store, open_store
from asktell.v1 import service_pb2_grpc
from tests import ci
from tests.services import PostgresServer

REPO = Path(__file__).resolve().parent.parent

# Small matrices: one BLAS (and torch) thread is faster than two fighting over the cores
# with the other test process and the servers and workers the tests start.
threadpool_limits(limits=1)
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")  # for torch here and every process a test starts

# Property tests: CI runs a fixed, derandomized set of examples, so a run is
# reproducible and a failure shows the same way on a laptop with
# HYPOTHESIS_PROFILE=ci; locally every run draws new inputs. Either way a failure
# prints its example and a @reproduce_failure blob.
settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None)
settings.register_profile("dev", print_blob=True, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if ci.in_ci() else "dev"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI a skip is a failure: nothing that CI must run passes by not running."""
    outcome = yield
    ci.fail_skips_in_ci(outcome.get_result())


def xdist_scope(item: pytest.Item) -> str:
    """What `--dist loadscope` sends to one process whole: a test class, else a module."""
    return item.nodeid.rsplit("::", 1)[0]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Scopes (modules, classes) with a `slow` test run first: in parallel runs (`make
    test`, with --no-loadscope-reorder so that xdist keeps this order instead of sorting
    by test count) they start at once and finish while the many short tests run in the
    other processes."""
    slow = {xdist_scope(item) for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: xdist_scope(item) not in slow)  # stable: the order within


BACKENDS = ["sqlite", "postgres"]
# For a module whose tests reach the store only through the server's RPCs (workers, the
# dashboard in a browser): the store sits behind the server, so its other backend adds
# nothing those tests could see but their CPU (a worker's imports, a browser). The
# store's behaviour is tested on both backends by the integration tests, through the
# same RPCs. On a test (`@SQLITE_ONLY`) or a module (`pytestmark`), it overrides
# `db_url`'s parameters.
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    yield server
    server.close()


def _store_url(backend: str, directory: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty store URL on `backend`; a PostgreSQL database is dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'asktell.db'}"
        return
    postgres: PostgresServer = request.getfixturevalue("postgres")
    with postgres.database() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store URL for each backend, for one test."""
    yield from _store_url(request.param, tmp_path, request)


@pytest.fixture(scope="module", params=BACKENDS)
def module_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh, empty store URL for each backend, shared by the tests of one module."""
    yield from _store_url(request.param, tmp_path_factory.mktemp("store"), request)


@dataclass
class LiveServer:
    """An in-process gRPC server on a loopback port, on its own fresh store."""

    address: str
    db_url: str
    store: Store

    def client(self, **kwargs: object) -> Client:
        return Client(self.address, **kwargs)  # type: ignore[arg-type]

    def stub(self) -> service_pb2_grpc.AsktellServiceStub:
        return service_pb2_grpc.AsktellServiceStub(grpc.insecure_channel(self.address))


def _live_server(db_url: str) -> Iterator[LiveServer]:
    store = open_store(db_url)
    server, port = create_server(store, "127.0.0.1:0")
    server.start()
    yield LiveServer(f"127.0.0.1:{port}", db_url, store)
    server.stop(None)
    store.close()


@pytest.fixture
def live_server(db_url: str) -> Iterator[LiveServer]:
    """A server on a fresh store of its own, for one test."""
    yield from _live_server(db_url)


@pytest.fixture(scope="module")
def module_server(module_db_url: str) -> Iterator[LiveServer]:
    """One server and store for all the tests of a module that use it, on each backend.

    For tests that cannot disturb one another: each creates studies of its own names
    and asserts only on those.
    """
    yield from _live_server(module_db_url)


class ManualClock:
    """Epoch seconds that move only when a test says so (the server's injected clock)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class ClockedServer(LiveServer):
    clock: ManualClock


@pytest.fixture
def clocked_server(db_url: str) -> Iterator[ClockedServer]:
    """A live server whose clock the test moves (leases, deadlines) instead of sleeping."""
    store = open_store(db_url)
    clock = ManualClock()
    server, port = create_server(store, "127.0.0.1:0", clock=clock)
    server.start()
    yield ClockedServer(f"127.0.0.1:{port}", db_url, store, clock)
    server.stop(None)
    store.close()


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[Client]:
    with live_server.client() as c:
        yield c


class ServerProcess:
    """`asktell serve` in its own process, which tests may kill -9 and restart."""

    def __init__(self, db_url: str, log_path: Path) -> None:
        self.db_url = db_url
        self.log_path = log_path
        self.process: subprocess.Popen[str] | None = None
        self.address = ""
        self.metrics_address = ""

    def start(self, *extra_args: str) -> str:
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "asktell.client._cli",
                "serve",
                "--db",
                self.db_url,
                "--port",
                "0",
                *extra_args,
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = re.search(r"serving on (\S+:\d+)", line)
        assert match, f"server did not start: {line!r}; log: {self.log_path.read_text()}"
        self.address = match.group(1)
        metrics = re.search(r"metrics http://(\S+:\d+)/metrics", line)
        self.metrics_address = metrics.group(1) if metrics else ""
        return self.address

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def terminate(self) -> int:
        assert self.process is not None
        self.process.terminate()
        return self.process.wait(timeout=30)


@pytest.fixture
def server_process(db_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(db_url, tmp_path / "server.log")
    yield process
    process.kill()


def simple_spec(name: str = "s", algorithm: str = "random", **extra: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "name": name,
        "objective": {"metric": "loss", "goal": "minimize"},
        "algorithm": {"name": algorithm, "seed": 1},
        "parameters": {
            "x": {"type": "float", "min": -5.0, "max": 5.0},
            "n": {"type": "int", "min": 1, "max": 10},
        },
    }
    spec.update(extra)
    return spec
