"""Asks that run an algorithm while other RPCs go on: no store-wide lock, same guarantees.

Each test runs against a real server on both stores. Where a test must know that a
GP suggestion is being computed, the study's GP is the real one held at its start
until the test opens a gate (`HeldGp`), so the order of events is certain without
any sleep standing in for a clock.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asktell.client import Client
from asktell.server.algorithms import ALGORITHMS, Deadline, History, Suggestion
from asktell.server.algorithms.gp import GP
from asktell.server.domain import SearchSpace
from asktell.server.errors import Cancelled
from asktell.server.usecases import ask as ask_module
from asktell.server.usecases.ask import AskCommand, Caller, ask
from asktell.server.usecases.trials import EvaluatedTrial, add_trials
from asktell.v1 import service_pb2 as pb
from tests.conftest import LiveServer, ServerProcess, simple_spec

GATE_TIMEOUT = 60.0  # only a failing test waits this long


def gp_spec(name: str) -> dict[str, object]:
    return {
        "name": name,
        "objective": {"metric": "loss", "goal": "minimize"},
        "algorithm": {"name": "gp", "seed": 3},
        "parameters": {
            "x": {"type": "float", "min": 0.0, "max": 1.0},
            "y": {"type": "float", "min": 0.0, "max": 1.0},
        },
    }


def _loss(x: float, y: float) -> float:
    return (x - 0.3) ** 2 + (y - 0.6) ** 2 + 0.1 * math.sin(7 * x)


def completed(n: int, seed: int = 0) -> list[dict[str, Any]]:
    points = np.random.default_rng(seed).random((n, 2))
    return [
        {"params": {"x": float(x), "y": float(y)}, "value": _loss(float(x), float(y))}
        for x, y in points
    ]


class HeldGp:
    """The real GP, held at the start of each call while `hold(call_index)` says so."""

    def __init__(self, hold: Callable[[int], bool] = lambda i: i == 0) -> None:
        self.hold = hold
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.histories: list[History] = []
        self.on_call: Callable[[int], None] = lambda i: None

    def __call__(
        self,
        space: SearchSpace,
        history: History,
        n: int,
        rng: np.random.Generator,
        settings: Any,
        deadline: Deadline,
    ) -> list[Suggestion]:
        index = len(self.histories)
        self.histories.append(history)
        self.on_call(index)
        if self.hold(index):
            self.entered.set()
            self.gate.wait(GATE_TIMEOUT)
        return GP.suggest(space, history, n, rng, settings, deadline)


@pytest.fixture
def held_gp(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldGp]:
    held = HeldGp()
    monkeypatch.setitem(ALGORITHMS, "gp", dataclasses.replace(GP, suggest=held))
    yield held
    held.gate.set()  # never leave a server thread waiting


def _start(target: Callable[..., object], *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args)
    thread.start()
    return thread


def test_other_studies_are_served_while_a_gp_suggestion_computes(
    live_server: LiveServer, held_gp: HeldGp
) -> None:
    with live_server.client() as client:
        client.create_study(gp_spec("gp")).add_trials(completed(30))
        client.create_study(simple_spec("other"))
    events: list[str] = []

    def ask_gp() -> None:
        with live_server.client() as client:
            trial = client.get_study("gp").ask()
            assert trial is not None
            events.append("gp ask returned")

    gp_thread = _start(ask_gp)
    try:
        assert held_gp.entered.wait(GATE_TIMEOUT), "the GP never started"
        with live_server.client(timeout=GATE_TIMEOUT) as client:
            other = client.get_study("other")
            for _ in range(3):
                trial = other.ask()
                assert trial is not None
                trial.tell(1.0)
        events.append("other study asked and told")
    finally:
        held_gp.gate.set()
        gp_thread.join(GATE_TIMEOUT)
    assert events == ["other study asked and told", "gp ask returned"]


def test_a_tell_on_the_same_study_goes_on_while_its_gp_computes(
    live_server: LiveServer, held_gp: HeldGp
) -> None:
    held_gp.hold = lambda i: i == 1  # the first Ask runs through, the second is held
    events: list[str] = []

    def ask_gp() -> None:
        with live_server.client() as client:
            assert client.get_study("gp").ask() is not None
            events.append("second ask returned")

    with live_server.client(timeout=GATE_TIMEOUT) as client:
        study = client.create_study(gp_spec("gp"))
        study.add_trials(completed(30))
        first = study.ask()
        assert first is not None
        gp_thread = _start(ask_gp)
        try:
            assert held_gp.entered.wait(GATE_TIMEOUT), "the GP never started"
            first.tell(0.5)
            events.append("first told")
        finally:
            held_gp.gate.set()
            gp_thread.join(GATE_TIMEOUT)
        assert events == ["first told", "second ask returned"]
        # The Tell came after the snapshot: harmless, the first trial was pending in it.
        assert len(held_gp.histories) == 2
        assert [t.number for t in study.trials()] == list(range(1, 33))


def _parallel_asks(targets: list[str], study: str, n: int) -> list[tuple[int, dict[str, Any]]]:
    """`n` threads, each with its own client, ask once at the same moment."""
    barrier = threading.Barrier(n)
    got: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        with Client(targets[i % len(targets)], timeout=120.0) as client:
            handle = client.get_study(study)
            barrier.wait()
            trial = handle.ask(worker_id=f"w{i}")
            assert trial is not None
            with lock:
                got.append((trial.number, dict(trial.params)))

    threads = [_start(work, i) for i in range(n)]
    for thread in threads:
        thread.join(180)
    return got


def _assert_dense_and_spread(got: list[tuple[int, dict[str, Any]]], first: int, n: int) -> None:
    assert sorted(number for number, _ in got) == list(range(first, first + n))
    points = [np.array([p["x"], p["y"]]) for _, p in got]
    closest = min(float(np.linalg.norm(a - b)) for a, b in itertools.combinations(points, 2))
    # Each Ask saw the others' pending trials: no two suggestions are near-duplicates.
    assert closest > 0.02, f"two suggestions only {closest:.4f} apart"


def test_eight_parallel_gp_asks_get_dense_numbers_and_spread_points(
    live_server: LiveServer,
) -> None:
    with live_server.client() as client:
        client.create_study(gp_spec("gp")).add_trials(completed(20))
    got = _parallel_asks([live_server.address], "gp", 8)
    _assert_dense_and_spread(got, 21, 8)


def test_eight_gp_asks_over_two_replicas_see_each_others_trials(
    db_url: str, tmp_path: Path
) -> None:
    # Two server processes: the per-process turn taking does not hold between them, so
    # stale snapshots really happen and are recomputed.
    servers = [ServerProcess(db_url, tmp_path / f"server-{i}.log") for i in range(2)]
    try:
        for server in servers:
            server.start()
        with Client(servers[0].address) as client:
            client.create_study(gp_spec("gp")).add_trials(completed(20))
        got = _parallel_asks([s.address for s in servers], "gp", 8)
    finally:
        for server in servers:
            server.kill()
    _assert_dense_and_spread(got, 21, 8)


def test_a_stale_snapshot_is_recomputed(live_server: LiveServer, held_gp: HeldGp) -> None:
    with live_server.client() as client:
        study = client.create_study(gp_spec("gp"))
        study.add_trials(completed(20))
        numbers: list[int] = []
        gp_thread = _start(lambda: numbers.extend(t.number for t in study.ask_many(2)))
        try:
            assert held_gp.entered.wait(GATE_TIMEOUT), "the GP never started"
            study.add_trials(completed(1, seed=1))  # takes number 21 while the GP computes
        finally:
            held_gp.gate.set()
            gp_thread.join(GATE_TIMEOUT)
        assert numbers == [22, 23]
        first, second = held_gp.histories
        assert (len(first.completed), len(second.completed)) == (20, 21)
        assert [t.number for t in study.trials()] == list(range(1, 24))


def test_an_ask_stale_every_time_computes_under_the_lock_at_last(
    live_server: LiveServer, held_gp: HeldGp
) -> None:
    attempts = ask_module.OPTIMISTIC_ATTEMPTS
    held_gp.hold = lambda i: False

    def add_one_while_optimistic(index: int) -> None:
        # Only while no transaction is open: the last call runs inside the write lock.
        if index < attempts:
            extra = completed(1, seed=100 + index)[0]
            add_trials(
                live_server.store,
                "gp",
                [EvaluatedTrial(extra["params"], value=extra["value"])],
                time.time(),
            )

    held_gp.on_call = add_one_while_optimistic
    with live_server.client() as client:
        study = client.create_study(gp_spec("gp"))
        study.add_trials(completed(20))
        trial = study.ask()
    assert trial is not None and trial.number == 20 + attempts + 1
    assert len(held_gp.histories) == attempts + 1
    assert len(held_gp.histories[-1].completed) == 20 + attempts


def test_an_ask_waiting_for_its_turn_gives_up_when_its_caller_leaves(
    live_server: LiveServer, held_gp: HeldGp
) -> None:
    with live_server.client() as client:
        study = client.create_study(gp_spec("gp"))
        study.add_trials(completed(20))
        first = _start(study.ask)
        polled, left = threading.Event(), threading.Event()
        outcome: list[Cancelled] = []

        def is_waiting() -> bool:
            polled.set()
            return not left.is_set()

        def second() -> None:
            try:
                ask(live_server.store, AskCommand("gp"), time.time(), Caller(is_waiting))
            except Cancelled as exc:
                outcome.append(exc)

        try:
            assert held_gp.entered.wait(GATE_TIMEOUT), "the GP never started"
            second_thread = _start(second)
            assert polled.wait(GATE_TIMEOUT), "the second Ask never waited for its turn"
            left.set()
            second_thread.join(GATE_TIMEOUT)
        finally:
            held_gp.gate.set()
            first.join(GATE_TIMEOUT)
        assert len(outcome) == 1
        assert len(held_gp.histories) == 1  # the second Ask never computed
        assert [t.number for t in study.trials(["RUNNING"])] == [21]


def test_gp_suggestions_stay_reproducible(client: Client) -> None:
    one, two = client.create_study(gp_spec("one")), client.create_study(gp_spec("two"))
    for study in (one, two):
        study.add_trials(completed(20))
    for _ in range(3):
        a, b = one.ask(), two.ask()
        assert a is not None and b is not None and a.params == b.params
        a.tell(_loss(float(a.params["x"]), float(a.params["y"])))
        b.tell(_loss(float(b.params["x"]), float(b.params["y"])))


GRID_6X5 = {
    "name": "grid",
    "objective": {"metric": "loss", "goal": "minimize"},
    "algorithm": {"name": "grid", "shuffle": True},
    "parameters": {
        "a": {"type": "int", "min": 0, "max": 5},
        "b": {"type": "discrete", "values": [1, 2, 3, 4, 5]},
    },
}


def test_eight_parallel_grid_askers_get_each_point_once(live_server: LiveServer) -> None:
    with live_server.client() as client:
        client.create_study(GRID_6X5)
    seen: list[tuple[object, object]] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        with live_server.client() as client:
            study = client.get_study("grid")
            while trials := study.ask_many(2, worker_id=f"w{i}"):
                with lock:
                    seen.extend((t.params["a"], t.params["b"]) for t in trials)
        response = live_server.stub().Ask(pb.AskRequest(study="studies/grid", count=2))
        with lock:
            statuses.append(response.status)

    threads = [_start(work, i) for i in range(8)]
    for thread in threads:
        thread.join(120)
    assert sorted(seen) == sorted(itertools.product(range(6), range(1, 6)))
    assert statuses == [pb.ASK_STATUS_EXHAUSTED] * 8
    with live_server.client() as client:
        numbers = [t.number for t in client.get_study("grid").trials()]
    assert numbers == list(range(1, 31))


def test_a_request_id_is_scoped_to_its_worker(live_server: LiveServer) -> None:
    with live_server.client() as client:
        client.create_study(simple_spec("ids"))
    stub = live_server.stub()

    def ask_numbers(worker: str, count: int = 1) -> list[int]:
        request = pb.AskRequest(study="studies/ids", count=count, worker_id=worker, request_id="r")
        response = stub.Ask(request)
        assert all(t.worker_id == worker for t in response.trials)
        return [t.number for t in response.trials]

    assert ask_numbers("pod-1", 2) == [1, 2]
    assert ask_numbers("pod-2") == [3]  # another worker's request id: a new request
    assert ask_numbers("pod-1", 2) == [1, 2]  # each worker's retry gets its own trials back
    assert ask_numbers("pod-2") == [3]
