"""Ask/tell semantics through the Python client against a real server and SQLite file."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from asktell.client import (
    AlreadyExistsError,
    Client,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
)
from asktell.server.storage import open_store
from tests.conftest import ClockedServer, LiveServer, simple_spec

GRID_10X10 = {
    "name": "grid",
    "objective": {"metric": "loss", "goal": "minimize"},
    "algorithm": {"name": "grid"},
    "parameters": {
        "a": {"type": "int", "min": 0, "max": 9},
        "b": {"type": "discrete", "values": [float(v) for v in range(10)]},
    },
}


def test_sixteen_threads_share_a_grid_exactly_once(client: Client) -> None:
    study = client.create_study(GRID_10X10)
    seen: list[tuple[object, object]] = []
    exhausted: list[bool] = []
    lock = threading.Lock()

    def work() -> None:
        while True:
            trial = study.ask()
            if trial is None:
                with lock:
                    exhausted.append(True)
                return
            trial.tell(float(trial.params["a"]))
            with lock:
                seen.append((trial.params["a"], trial.params["b"]))

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(seen) == 100
    assert set(seen) == {(a, float(b)) for a in range(10) for b in range(10)}
    assert len(exhausted) == 16
    numbers = sorted(t.number for t in study.trials())
    assert numbers == list(range(1, 101))
    assert study.ask() is None


def test_same_seed_same_spec_same_suggestions(client: Client) -> None:
    first = client.create_study(simple_spec("one"))
    second = client.create_study(simple_spec("two"))
    for _ in range(5):
        a, b = first.ask(), second.ask()
        assert a is not None and b is not None
        assert a.params == b.params
        a.tell(1.0)
        b.tell(1.0)


def test_create_is_idempotent_and_rejects_a_different_spec(client: Client) -> None:
    client.create_study(simple_spec("same"))
    again = client.create_study(simple_spec("same"))
    assert again.info().seed == 1
    other = simple_spec("same")
    other["objective"] = {"metric": "loss", "goal": "maximize"}
    with pytest.raises(AlreadyExistsError, match="different spec"):
        client.create_study(other)
    # A changed budget alone is for UpdateStudy, and the message says so.
    with pytest.raises(AlreadyExistsError, match=r"differs only in max_trials .*UpdateStudy"):
        client.create_study(simple_spec("same", max_trials=3))


def test_a_retried_ask_returns_the_same_trials(live_server: LiveServer) -> None:
    from asktell.v1 import service_pb2 as pb

    with live_server.client() as client:
        client.create_study(simple_spec("retry"))
    stub = live_server.stub()
    request = pb.AskRequest(study="studies/retry", count=3, worker_id="w", request_id="r-1")
    first = stub.Ask(request)
    second = stub.Ask(request)
    assert [t.number for t in first.trials] == [1, 2, 3]
    assert [t.number for t in second.trials] == [1, 2, 3]
    third = stub.Ask(pb.AskRequest(study="studies/retry", worker_id="w", request_id="r-2"))
    assert [t.number for t in third.trials] == [4]


def test_a_restarted_worker_resumes_its_trial(client: Client) -> None:
    study = client.create_study(simple_spec("resume"))
    held = study.ask(worker_id="pod-1")
    assert held is not None
    other = study.ask(worker_id="pod-2")
    assert other is not None and other.number != held.number
    resumed = study.ask(worker_id="pod-1", resume=True)
    assert resumed is not None and resumed.number == held.number
    assert resumed.params == held.params
    fresh = study.ask(worker_id="pod-1")
    assert fresh is not None and fresh.number not in (held.number, other.number)


def test_stopped_and_exhausted_studies_say_so(live_server: LiveServer) -> None:
    from asktell.v1 import service_pb2 as pb

    with live_server.client() as client:
        study = client.create_study(simple_spec("budget", max_trials=2))
        assert len(study.ask_many(5)) == 2
        study.stop()
    stub = live_server.stub()
    response = stub.Ask(pb.AskRequest(study="studies/budget"))
    assert response.status == pb.ASK_STATUS_STOPPED and not response.trials
    with live_server.client() as client:
        client.get_study("budget").resume()
    response = stub.Ask(pb.AskRequest(study="studies/budget"))
    assert response.status == pb.ASK_STATUS_EXHAUSTED and not response.trials


def test_tell_is_idempotent_and_rejects_contradictions(client: Client) -> None:
    study = client.create_study(simple_spec("tell"))
    trial = study.ask()
    assert trial is not None
    trial.tell(0.5)
    trial.tell(0.5)  # a retry of the same Tell is harmless
    assert study.trial(trial.number).value == 0.5
    with pytest.raises(FailedPreconditionError, match="already finished as COMPLETE"):
        trial.tell(0.7)
    with pytest.raises(FailedPreconditionError):
        trial.fail("oops")
    assert study.trial(trial.number).state == "COMPLETE"


def test_report_renews_the_lease_and_records_values(clocked_server: ClockedServer) -> None:
    client = clocked_server.client()
    study = client.create_study(simple_spec("report", lease_seconds=5))
    trial = study.ask()
    assert trial is not None and trial.lease_deadline is not None
    before = trial.lease_deadline
    clocked_server.clock.advance(0.05)
    assert trial.report(1, 0.9) is False
    trial.report(2, 0.8)
    trial.report(2, 0.7)  # a repeated step overwrites
    assert trial.lease_deadline is not None and trial.lease_deadline > before
    trial.heartbeat()
    assert study.trial(trial.number).measurements == [(1, 0.9), (2, 0.7)]


def test_with_block_fails_the_trial_on_exception(client: Client) -> None:
    study = client.create_study(simple_spec("with"))
    with pytest.raises(ZeroDivisionError), study.ask():  # type: ignore[union-attr]
        1 / 0  # noqa: B018
    failed = study.trial(1)
    assert failed.state == "FAILED"
    assert "ZeroDivisionError" in failed.reason


def test_failed_trials_are_retried_when_the_study_allows(client: Client) -> None:
    study = client.create_study(simple_spec("retries", max_retries=1))
    trial = study.ask()
    assert trial is not None
    trial.fail("CUDA out of memory")
    retry = study.ask()
    assert retry is not None
    assert retry.params == trial.params and retry.retry_of == trial.number
    assert retry.suggested_by == "retry"
    retry.fail("again")
    nxt = study.ask()
    assert nxt is not None and nxt.retry_of is None  # no retries left


def test_add_trials_and_enqueue(client: Client) -> None:
    study = client.create_study(simple_spec("warm", max_trials=1))
    added = study.add_trials(
        [{"params": {"x": 1.0, "n": 3}, "value": 0.25}, {"params": {"x": 2, "n": 4}, "value": 0.5}]
    )
    assert [t.number for t in added] == [1, 2]
    assert all(t.suggested_by == "added" and t.state == "COMPLETE" for t in added)
    assert study.best_trial is not None and study.best_trial.value == 0.25
    assert study.enqueue([{"x": 0.0, "n": 1}, {"x": 0.5, "n": 2}]) == 2
    first, second, third = study.ask(), study.ask(), study.ask()
    assert first is not None and first.params == {"x": 0.0, "n": 1}
    assert second is not None and second.params == {"x": 0.5, "n": 2}
    assert first.suggested_by == "enqueued"
    assert third is not None and third.suggested_by == "random"  # added trials use no budget
    assert study.ask() is None
    with pytest.raises(InvalidArgumentError, match='"n" = 11 is outside its domain'):
        study.enqueue({"x": 0.0, "n": 11})


def test_best_trials_and_pagination(client: Client) -> None:
    study = client.create_study(simple_spec("many"))
    for trial in study.ask_many(25):
        trial.tell(abs(float(trial.params["x"])))
    trials = study.trials(page_size=7)
    assert [t.number for t in trials] == list(range(1, 26))
    best = study.best_trials(3)
    values = sorted(abs(float(t.params["x"])) for t in trials)
    assert [t.value for t in best] == values[:3]
    assert len(study.trials(["COMPLETE"])) == 25 and study.trials(["RUNNING"]) == []
    for i in range(12):
        client.create_study(simple_spec(f"page-{i:02d}"))
    names = [s.id for s in client.list_studies(page_size=5)]
    assert names == sorted(names) and len(names) == 13


def test_optimize_runs_parallel_jobs(client: Client) -> None:
    study = client.create_study(simple_spec("optimize"))
    study.optimize(lambda t: (float(t.params["x"]) - 1) ** 2, n_trials=12, n_jobs=3)
    assert len(study.trials(["COMPLETE"])) == 12

    def broken(trial: object) -> float:
        raise RuntimeError("diverged")

    study.optimize(broken, n_trials=2)
    failed = study.trials(["FAILED"])
    assert len(failed) == 2 and failed[0].reason == "RuntimeError: diverged"


def test_delete_study(client: Client) -> None:
    study = client.create_study(simple_spec("gone"))
    study.ask()
    study.delete()
    with pytest.raises(NotFoundError, match='study "gone" does not exist'):
        study.info()
    recreated = client.create_study(simple_spec("gone"))
    assert recreated.info().counts.running == 0


def test_lease_expiry_fails_the_trial_for_any_reader(clocked_server: ClockedServer) -> None:
    live_server = clocked_server
    with live_server.client() as client:
        study = client.create_study(simple_spec("lease", lease_seconds=1, max_retries=1))
        trial = study.ask(worker_id="doomed")
        assert trial is not None
    live_server.clock.advance(1.3)
    # A second store on the same file, as another replica would open it.
    other = open_store(live_server.db_url)
    try:
        from asktell.server.usecases.trials import get_trial

        seen = get_trial(other, "lease", trial.number, live_server.clock())
    finally:
        other.close()
    assert seen.state == "FAILED" and "lease expired" in seen.reason
    with live_server.client() as client:
        study = client.get_study("lease")
        assert study.info().counts.queued == 1
        retry = study.ask()
        assert retry is not None and retry.retry_of == trial.number
        with pytest.raises(FailedPreconditionError, match="lease expired"):
            study.trial(trial.number).tell(1.0)


def test_list_studies_shows_no_trial_running_past_its_lease(
    clocked_server: ClockedServer,
) -> None:
    with clocked_server.client() as client:
        study = client.create_study(simple_spec("listed", lease_seconds=1, max_retries=0))
        client.create_study(simple_spec("untouched"))
        trial = study.ask(worker_id="doomed")
        assert trial is not None
        clocked_server.clock.advance(1.3)
        listed = {s.id: s.counts for s in client.list_studies()}
        assert listed["listed"].running == 0 and listed["listed"].failed == 1
        assert listed["untouched"].running == 0 and listed["untouched"].failed == 0
        assert "lease expired" in (study.trial(trial.number).reason or "")


def test_an_ask_whose_caller_gave_up_writes_nothing(live_server: LiveServer) -> None:
    from asktell.v1 import service_pb2 as pb

    with live_server.client() as client:
        study = client.create_study(simple_spec("impatient", algorithm="gp"))
        study.add_trials(
            [
                {"params": {"x": (i % 97) / 10 - 4.8, "n": i % 10 + 1}, "value": float(i % 13)}
                for i in range(300)
            ]
        )
    stub = live_server.stub()
    received = 0
    for attempt in range(5):
        request = pb.AskRequest(study="studies/impatient", request_id=f"gone-{attempt}")
        try:
            received += len(stub.Ask(request, timeout=0.01).trials)
        except grpc.RpcError as exc:
            # CANCELLED when the server saw the deadline pass before the client did.
            assert exc.code() in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED)
    time.sleep(1.0)  # let the server finish and roll back
    with live_server.client() as client:
        info = client.get_study("impatient").info()
    # Every trial written reached its caller: none was handed out to a caller that left.
    assert info.counts.running == received and info.counts.complete == 300


def test_ask_writes_nothing_for_a_caller_that_left(live_server: LiveServer) -> None:
    from asktell.server.errors import Cancelled
    from asktell.server.usecases.ask import AskCommand, Caller, ask

    with live_server.client() as client:
        study = client.create_study(simple_spec("left"))
        with pytest.raises(Cancelled):
            ask(live_server.store, AskCommand("left", 5), time.time(), Caller(lambda: False))
        assert study.info().counts.running == 0
        assert len(ask(live_server.store, AskCommand("left", 5), time.time()).trials) == 5
