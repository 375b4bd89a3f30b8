"""Several stateless replicas on one PostgreSQL: one truth under load, kills and restarts."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from asktell.client import Client
from asktell.v1 import resources_pb2 as rpb
from asktell.v1 import service_pb2 as pb
from asktell.v1 import service_pb2_grpc
from tests.conftest import ServerProcess, simple_spec
from tests.services import PostgresServer

pytestmark = pytest.mark.slow

GRID = {
    "name": "grid",
    "objective": {"metric": "loss", "goal": "minimize"},
    "algorithm": {"name": "grid", "shuffle": True},
    "parameters": {
        "a": {"type": "int", "min": 0, "max": 19},
        "b": {"type": "int", "min": 0, "max": 14},
    },
}


@pytest.fixture
def replicas(postgres: PostgresServer, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    with postgres.database() as url:
        servers = [ServerProcess(url, tmp_path / f"server-{i}.log") for i in range(3)]
        starters = [threading.Thread(target=s.start) for s in servers]  # migrations race safely
        for t in starters:
            t.start()
        for t in starters:
            t.join()
        yield servers
        for server in servers:
            server.kill()


def _target(servers: list[ServerProcess]) -> str:
    return "ipv4:" + ",".join(s.address for s in servers)


def test_three_replicas_32_clients_one_replica_killed(replicas: list[ServerProcess]) -> None:
    target = _target(replicas)
    with Client(target) as client:
        client.create_study(GRID)
        client.create_study(simple_spec("rand", max_trials=300))
    acknowledged: dict[tuple[str, int], float] = {}
    lock = threading.Lock()

    def work(study_id: str) -> None:
        with Client(target, retry_seconds=60) as client:
            study = client.get_study(study_id)
            while (trial := study.ask()) is not None:
                value = float(sum(v for v in trial.params.values() if not isinstance(v, str)))
                trial.tell(value)
                with lock:
                    acknowledged[(study_id, trial.number)] = value

    threads = [
        threading.Thread(target=work, args=("grid" if i % 2 else "rand",)) for i in range(32)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 150 and time.monotonic() < deadline:
        time.sleep(0.02)
    replicas[0].kill()
    for t in threads:
        t.join(timeout=180)
    assert not any(t.is_alive() for t in threads)

    with Client(replicas[1].address) as client:
        grid_trials = client.get_study("grid").trials()
        rand_trials = client.get_study("rand").trials()
    points = Counter((t.params["a"], t.params["b"]) for t in grid_trials)
    assert len(points) == 300 and set(points.values()) == {1}, "a grid point twice or never"
    for trials in (grid_trials, rand_trials):
        assert [t.number for t in trials] == list(range(1, len(trials) + 1))
    assert len(rand_trials) == 300
    stored = {("grid", t.number): t.value for t in grid_trials}
    stored.update({("rand", t.number): t.value for t in rand_trials})
    for key, value in acknowledged.items():
        assert stored[key] == value, f"acknowledged tell {key} lost"


def test_database_restart_gives_unavailable_only(
    postgres: PostgresServer, replicas: list[ServerProcess]
) -> None:
    target = _target(replicas)
    with Client(target) as client:
        client.create_study(simple_spec("restart", max_trials=200))
    codes: Counter[str] = Counter()
    told: dict[int, float] = {}
    lock = threading.Lock()

    def call(fn, request):  # type: ignore[no-untyped-def]
        """Retries by hand so that every error the client sees is counted."""
        while True:
            try:
                return fn(request, timeout=30)
            except grpc.RpcError as exc:
                with lock:
                    codes[exc.code().name] += 1
                time.sleep(0.2)

    def work(worker: int) -> None:
        channel = grpc.insecure_channel(
            target,
            options=[("grpc.service_config", '{"loadBalancingConfig": [{"round_robin": {}}]}')],
        )
        stub = service_pb2_grpc.AsktellServiceStub(channel)
        for i in range(10_000):
            response = call(
                stub.Ask,
                pb.AskRequest(
                    study="studies/restart", worker_id=f"w{worker}", request_id=f"w{worker}-{i}"
                ),
            )
            if not response.trials:
                break
            trial = response.trials[0]
            value = trial.params["x"].number_value
            call(
                stub.Tell,
                pb.TellRequest(
                    trial=trial.name,
                    state=rpb.TRIAL_STATE_COMPLETE,
                    value=value,
                    worker_id=f"w{worker}",
                ),
            )
            with lock:
                told[trial.number] = value
        channel.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    while len(told) < 40:
        time.sleep(0.02)
    postgres.stop("immediate")
    time.sleep(2)
    postgres.start()
    for t in threads:
        t.join(timeout=180)
    assert not any(t.is_alive() for t in threads)
    assert codes, "the restart was not noticed: the test proves nothing"
    assert set(codes) <= {"UNAVAILABLE"}, codes
    with Client(target) as client:
        trials = client.get_study("restart").trials()
    assert len(trials) == 200 and all(t.state == "COMPLETE" for t in trials)
    for number, value in told.items():
        assert trials[number - 1].value == value
