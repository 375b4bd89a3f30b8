"""The study lifecycle on a live server, on both stores: UpdateStudy, the derived
COMPLETED state, CreateStudy of a changed budget, `Study.extend` and `create_or_extend`."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from click.testing import CliRunner

from asktell.client import Client
from asktell.client._cli import main
from asktell.client._errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from asktell.server.app import create_server
from asktell.server.storage import open_store
from asktell.v1 import resources_pb2 as rpb
from asktell.v1 import service_pb2 as pb
from tests.conftest import ClockedServer, LiveServer, simple_spec
from tests.services import PostgresServer, snapshot


def _state(server: LiveServer, study: str) -> int:
    """The state GetStudy answers, read through a raw stub."""
    return int(server.stub().GetStudy(pb.GetStudyRequest(name=f"studies/{study}")).study.state)


def _ask_status(server: LiveServer, study: str) -> tuple[int, int]:
    """(trials handed out, status) of one raw Ask."""
    response = server.stub().Ask(pb.AskRequest(study=f"studies/{study}", count=1))
    return len(response.trials), int(response.status)


def _at(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


# ------------------------------------------------------------------ UpdateStudy
def test_each_field_updates_and_takes_effect(clocked_server: ClockedServer) -> None:
    clock = clocked_server.clock
    with clocked_server.client() as client:
        study = client.create_study(simple_spec("upd", max_trials=2, lease_seconds=600))
        first = study.ask()
        assert first is not None and first.lease_deadline == _at(clock.now + 600)

        info = study.update(lease_seconds=30)
        assert info.spec["lease_seconds"] == 30 and info.spec["max_trials"] == 2
        second = study.ask()
        assert second is not None and second.lease_deadline == _at(clock.now + 30)
        # A running trial keeps the lease it got until it renews it.
        assert study.trial(first.number).lease_deadline == _at(clock.now + 600)
        clock.advance(10)
        second.heartbeat()  # a renewal gives the new lease from now
        assert second.lease_deadline == _at(clock.now + 30)

        # The budget of 2 is used: Ask hands out nothing until it grows.
        assert study.ask() is None
        assert study.update(max_trials=4).spec["max_trials"] == 4
        more = study.ask_many(5)
        assert [t.number for t in more] == [3, 4]

        # Retries: a failed trial is handed out again once max_retries allows it.
        assert study.update(max_retries=1).spec["max_retries"] == 1
        more[0].fail("boom")
        assert study.info().counts.queued == 1
        retry = study.ask()
        assert retry is not None and retry.retry_of == more[0].number

        info = study.update(suggestion_deadline=2.5)
        assert info.spec["algorithm"]["suggestion_deadline"] == 2.5
        # Several fields in one call; the ones not given stay.
        info = client.update_study("upd", max_trials=10, max_retries=0)
        assert (info.spec["max_trials"], info.spec["max_retries"]) == (10, 0)
        assert info.spec["lease_seconds"] == 30
        assert info.spec["algorithm"]["suggestion_deadline"] == 2.5
        # What never changes did not: the space, the objective, the algorithm and its seed.
        before = simple_spec("upd")
        assert info.spec["parameters"].keys() == before["parameters"].keys()  # type: ignore[attr-defined]
        assert info.spec["objective"] == before["objective"]
        assert info.spec["algorithm"]["name"] == "random" and info.seed == 1


def test_an_update_survives_a_new_server_on_the_same_store(live_server: LiveServer) -> None:
    with live_server.client() as client:
        client.create_study(simple_spec("kept", max_trials=3))
        client.update_study("kept", max_trials=7, lease_seconds=45)
    store = open_store(live_server.db_url)
    server, port = create_server(store, "127.0.0.1:0")
    server.start()
    try:
        with Client(f"127.0.0.1:{port}") as other:
            info = other.get_study_info("kept")
        assert (info.spec["max_trials"], info.spec["lease_seconds"]) == (7, 45)
    finally:
        server.stop(None)
        store.close()


def test_a_rejected_update_changes_nothing(live_server: LiveServer) -> None:
    with live_server.client() as client:
        client.create_study(simple_spec("strict", max_trials=3))
        before = snapshot(live_server.db_url)
        with pytest.raises(InvalidArgumentError, match="give at least one of max_trials"):
            client.update_study("strict")
        with pytest.raises(InvalidArgumentError, match="lease_duration must be 1 s to 7 days"):
            client.update_study("strict", max_trials=9, lease_seconds=0.2)
        with pytest.raises(InvalidArgumentError, match="max_retries must be 0 to 100"):
            client.update_study("strict", max_trials=9, max_retries=1000)
        with pytest.raises(InvalidArgumentError, match="max_trials must be an integer"):
            client.update_study("strict", max_trials=-1)
        with pytest.raises(NotFoundError, match='study "nope" does not exist'):
            client.update_study("nope", max_trials=9)
        assert snapshot(live_server.db_url) == before
    stub = live_server.stub()
    request = pb.UpdateStudyRequest(name="studies/strict", spec=rpb.StudySpec(max_trials=9))
    request.update_mask.paths.extend(["max_trials", "parameters"])
    with pytest.raises(grpc.RpcError) as raised:
        stub.UpdateStudy(request)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'parameters' cannot change" in (raised.value.details() or "")
    assert snapshot(live_server.db_url) == before


# ------------------------------------------------------------------ COMPLETED
def test_completed_once_the_budget_is_used_and_every_trial_finished(
    live_server: LiveServer,
) -> None:
    with live_server.client() as client:
        study = client.create_study(simple_spec("budget", max_trials=2))
        assert study.info().state == "ACTIVE"
        first, second = study.ask_many(5)
        # Budget used, but a trial still RUNNING: not yet COMPLETED.
        first.tell(1.0)
        assert study.info().state == "ACTIVE"
        assert _state(live_server, "budget") == rpb.STUDY_STATE_ACTIVE
        second.tell(2.0)
        assert study.info().state == "COMPLETED"
        # Every answer that shows the study shows it.
        stub = live_server.stub()
        assert _state(live_server, "budget") == rpb.STUDY_STATE_COMPLETED
        listed = {s.id: s.state for s in client.list_studies()}
        assert listed["budget"] == "COMPLETED"
        _, message = _spec_message("budget", max_trials=2)
        again = stub.CreateStudy(pb.CreateStudyRequest(study_id="budget", spec=message))
        assert not again.created and again.study.state == rpb.STUDY_STATE_COMPLETED
        # Ask says EXHAUSTED, as it did before the state existed.
        assert _ask_status(live_server, "budget") == (0, pb.ASK_STATUS_EXHAUSTED)

        # A grown budget makes it ACTIVE again, and Ask hands trials out again.
        info = study.update(max_trials=3)
        assert info.state == "ACTIVE"
        third = study.ask()
        assert third is not None and third.number == 3
        third.tell(3.0)
        assert study.info().state == "COMPLETED"

        # An enqueued configuration is still to be handed out: ACTIVE until it is done.
        study.enqueue({"x": 0.5, "n": 2})
        assert study.info().state == "ACTIVE"
        queued = study.ask()
        assert queued is not None and queued.suggested_by == "enqueued"
        assert study.info().state == "ACTIVE"
        queued.tell(0.5)
        assert study.info().state == "COMPLETED"


def test_a_queued_retry_keeps_the_study_from_completing(live_server: LiveServer) -> None:
    with live_server.client() as client:
        study = client.create_study(simple_spec("retried", max_trials=1, max_retries=1))
        trial = study.ask()
        assert trial is not None
        trial.fail("out of memory")
        info = study.info()
        assert info.counts.queued == 1 and info.state == "ACTIVE"
        retry = study.ask()
        assert retry is not None and retry.retry_of == trial.number
        assert study.info().state == "ACTIVE"
        retry.fail("out of memory again")  # no retry left
        info = study.info()
        assert info.counts.queued == 0 and info.state == "COMPLETED"


def test_a_stopped_study_stays_stopped(live_server: LiveServer) -> None:
    with live_server.client() as client:
        study = client.create_study(simple_spec("halted", max_trials=1))
        trial = study.ask()
        assert trial is not None
        trial.tell(1.0)
        assert study.info().state == "COMPLETED"
        study.stop()
        assert study.info().state == "STOPPED"
        # An update works on it and it stays stopped, budget grown or not.
        assert study.update(max_trials=5).state == "STOPPED"
        assert _ask_status(live_server, "halted") == (0, pb.ASK_STATUS_STOPPED)
        assert {s.id: s.state for s in client.list_studies()}["halted"] == "STOPPED"
        study.resume()
        assert study.info().state == "ACTIVE"
        assert study.update(max_trials=1).state == "COMPLETED"
        study.stop()
        study.resume()
        assert study.info().state == "COMPLETED"


def test_a_budget_lowered_below_the_suggestions_made_completes_the_study(
    live_server: LiveServer,
) -> None:
    with live_server.client() as client:
        study = client.create_study(simple_spec("lowered", max_trials=5))
        trials = study.ask_many(3)
        info = study.update(max_trials=2)
        assert info.spec["max_trials"] == 2 and info.state == "ACTIVE"  # trials still running
        assert _ask_status(live_server, "lowered") == (0, pb.ASK_STATUS_EXHAUSTED)
        for trial in trials:
            trial.tell(1.0)
        assert study.info().state == "COMPLETED"
        # 0 is unlimited: never COMPLETED.
        assert study.update(max_trials=0).state == "ACTIVE"
        assert study.ask() is not None


def test_list_studies_shows_the_state_of_every_study_on_each_page(
    live_server: LiveServer,
) -> None:
    with live_server.client() as client:
        expected = {}
        for i in range(7):
            study = client.create_study(simple_spec(f"page-{i}", max_trials=1))
            if i % 3 == 0:
                expected[study.id] = "ACTIVE"
                continue
            trial = study.ask()
            assert trial is not None
            if i % 3 == 1:
                trial.tell(1.0)
                expected[study.id] = "COMPLETED"
            else:
                study.stop()
                expected[study.id] = "STOPPED"
        unlimited = client.create_study(simple_spec("page-unlimited"))
        done = unlimited.ask()
        assert done is not None
        done.tell(1.0)
        expected[unlimited.id] = "ACTIVE"
        listed = client.list_studies(page_size=2)
        assert {s.id: s.state for s in listed} == expected
        counts = {s.id: s.counts for s in listed}
        assert counts["page-1"].complete == 1 and counts["page-2"].running == 1
        assert counts["page-0"].running == counts["page-0"].complete == 0


def test_counts_of_a_page_larger_than_one_query(live_server: LiveServer) -> None:
    with live_server.client() as client:
        for name in ("big-a", "big-b"):
            study = client.create_study(simple_spec(name))
            for trial in study.ask_many(2):
                trial.tell(1.0)
        client.get_study("big-b").enqueue({"x": 0.0, "n": 1})
    ids = [f"missing-{i:03}" for i in range(450)]
    with live_server.store.read() as tx:
        counts = tx.trial_counts_of([*ids[:300], "big-a", *ids[300:], "big-b"])
    assert counts.keys() == {"big-a", "big-b"}
    assert (counts["big-a"].complete, counts["big-a"].queued) == (2, 0)
    assert (counts["big-b"].complete, counts["big-b"].queued) == (2, 1)


def test_the_state_is_the_same_through_two_replicas(postgres: PostgresServer) -> None:
    with postgres.database() as url:
        stores = [open_store(url), open_store(url)]
        servers = [create_server(store, "127.0.0.1:0") for store in stores]
        for server, _ in servers:
            server.start()
        a, b = (Client(f"127.0.0.1:{port}") for _, port in servers)
        try:
            on_a = a.create_study(simple_spec("shared", max_trials=2))
            on_b = b.get_study("shared")
            for trial in on_b.ask_many(2):
                trial.tell(1.0)
            assert on_a.info().state == on_b.info().state == "COMPLETED"
            assert on_a.ask() is None
            assert on_b.update(max_trials=3).state == "ACTIVE"
            assert on_a.info().state == "ACTIVE"
            assert {s.id: s.state for s in a.list_studies()} == {"shared": "ACTIVE"}
            trial = on_a.ask()
            assert trial is not None and trial.number == 3
            trial.tell(2.0)
            assert on_b.info().state == on_a.info().state == "COMPLETED"
        finally:
            a.close()
            b.close()
            for server, _ in servers:
                server.stop(None)
            for store in stores:
                store.close()


# ------------------------------------------------------------------ CreateStudy again
def _spec_message(name: str, **extra: object) -> tuple[str, rpb.StudySpec]:
    from asktell.client._spec import spec_to_proto

    return spec_to_proto(simple_spec(name, **extra))


def test_create_again_with_a_changed_budget_says_to_update(client: Client) -> None:
    client.create_study(simple_spec("grown", max_trials=10))
    client.create_study(simple_spec("grown", max_trials=10))  # identical: no change
    with pytest.raises(AlreadyExistsError) as raised:
        changed = simple_spec("grown", max_trials=20)
        changed["algorithm"] = {"name": "random", "seed": 1, "suggestion_deadline": 3}
        client.create_study(changed)
    assert str(raised.value) == (
        'ALREADY_EXISTS: study "grown" already exists; its spec differs only in max_trials '
        "(the study has 10, the spec 20), algorithm.suggestion_deadline (the study has 0 s, "
        "the spec 3 s): change those with UpdateStudy (asktell study update grown, or "
        "Study.update(...) in Python) instead of creating the study again"
    )
    spec = simple_spec("grown", max_trials=20)
    spec["parameters"] = {"x": {"type": "float", "min": -1.0, "max": 1.0}}
    with pytest.raises(AlreadyExistsError, match="already exists with a different spec"):
        client.create_study(spec)
    assert client.get_study_info("grown").spec["max_trials"] == 10


# ------------------------------------------------------------------ extend, create_or_extend
def test_extend_makes_room_for_n_more_suggestions(client: Client) -> None:
    study = client.create_study(simple_spec("ext", max_trials=5))
    # A budget with room left for n more stays as it is.
    assert study.extend(3).spec["max_trials"] == 5
    for trial in study.ask_many(3):
        trial.tell(1.0)
    # 3 of 5 made: 5 more from now is 8.
    assert study.extend(5).spec["max_trials"] == 8
    for trial in study.ask_many(10):
        trial.tell(1.0)
    info = study.info()
    assert info.state == "COMPLETED" and info.counts.complete == 8
    # Added trials, enqueued ones and retries use no budget, so they do not count.
    study.add_trials([{"params": {"x": 0.0, "n": 1}, "value": 0.0} for _ in range(4)])
    study.enqueue({"x": 1.0, "n": 3})
    queued = study.ask()
    assert queued is not None and queued.suggested_by == "enqueued"
    queued.tell(1.0)
    info = study.extend(2)
    assert info.spec["max_trials"] == 10 and info.state == "ACTIVE"
    assert len(study.ask_many(10)) == 2
    # Other fields change in the same call.
    assert study.extend(1, lease_seconds=42).spec["lease_seconds"] == 42
    # An unlimited study stays unlimited.
    unlimited = client.create_study(simple_spec("ext-unlimited"))
    assert unlimited.extend(5).spec["max_trials"] == 0
    with pytest.raises(InvalidArgumentError, match="n_trials must be an integer from 1"):
        study.extend(0)


def test_create_or_extend_runs_n_more_trials_on_each_run(client: Client) -> None:
    spec = simple_spec("weekly", max_trials=999, lease_seconds=120)
    study = client.create_or_extend(spec, n_trials=4)
    assert study.info().spec["max_trials"] == 4  # n_trials sets the budget, not the spec
    study.optimize(lambda t: float(t.params["x"]) ** 2)
    assert study.info().counts.complete == 4 and study.info().state == "COMPLETED"
    client.update_study("weekly", lease_seconds=300)
    again = client.create_or_extend(spec, n_trials=4)
    again.optimize(lambda t: float(t.params["x"]) ** 2)
    info = again.info()
    assert info.counts.complete == 8 and info.state == "COMPLETED"
    assert info.spec["lease_seconds"] == 120  # the spec's lease replaces the study's
    # Another space under the same name is refused, and changes nothing.
    other = simple_spec("weekly")
    other["objective"] = {"metric": "loss", "goal": "maximize"}
    with pytest.raises(AlreadyExistsError, match="with a different spec"):
        client.create_or_extend(other, n_trials=4)
    assert client.get_study_info("weekly").spec["max_trials"] == 8


SCRIPT = """\
import sys

from asktell.client import Client

spec = {
    "name": "nightly",
    "objective": {"metric": "loss", "goal": "minimize"},
    "algorithm": {"name": "random", "seed": 3},
    "parameters": {"x": {"type": "float", "min": -1.0, "max": 1.0}},
}
with Client(sys.argv[1]) as client:
    study = client.create_or_extend(spec, n_trials=5)
    study.optimize(lambda trial: trial.params["x"] ** 2)
    info = study.info()
    print(info.state, info.counts.complete)
"""


def test_rerunning_the_same_script_runs_n_more_trials_each_time(
    live_server: LiveServer, tmp_path: Path
) -> None:
    script = tmp_path / "tune.py"
    script.write_text(SCRIPT)
    outputs = [
        subprocess.run(
            [sys.executable, str(script), live_server.address],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        for _ in range(2)
    ]
    assert outputs == ["COMPLETED 5", "COMPLETED 10"]


# ------------------------------------------------------------------ the CLI
@pytest.fixture
def cli(live_server: LiveServer) -> Iterator[tuple[CliRunner, list[str]]]:
    yield CliRunner(), ["--server", live_server.address]


def test_study_update_command(
    cli: tuple[CliRunner, list[str]], live_server: LiveServer, tmp_path: Path
) -> None:
    runner, server = cli
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(simple_spec("cli-upd", max_trials=2)))
    assert runner.invoke(main, ["study", "create", "-f", str(spec_file), *server]).exit_code == 0
    with live_server.client() as client:
        for trial in client.get_study("cli-upd").ask_many(2):
            trial.tell(1.0)

    result = runner.invoke(main, ["study", "list", *server])
    assert "COMPLETED" in result.output
    result = runner.invoke(main, ["study", "show", "cli-upd", *server])
    assert "study cli-upd (COMPLETED)" in result.output

    result = runner.invoke(
        main, ["study", "update", "cli-upd", "--max-trials", "4", "--lease-seconds", "90", *server]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "study cli-upd (ACTIVE), seed 1",
        "max_trials: 4, lease: 90 s, max_retries: 0, suggestion_deadline: 0 s",
        "trials: 2 complete, 0 running, 0 failed, 0 pruned, 0 queued",
    ]
    result = runner.invoke(
        main,
        [
            "study", "update", "cli-upd", "--more-trials", "3", "--max-retries", "2",
            "--suggestion-deadline", "1.5", *server,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "max_trials: 5, lease: 90 s, max_retries: 2, suggestion_deadline: 1.5 s" in (
        result.output
    )
    result = runner.invoke(main, ["study", "update", "cli-upd", "--max-trials", "0", *server])
    assert "max_trials: unlimited" in result.output


def test_study_update_errors_are_one_line(cli: tuple[CliRunner, list[str]]) -> None:
    runner, server = cli
    result = runner.invoke(main, ["study", "update", "nope", "--max-trials", "3", *server])
    assert result.exit_code == 1
    assert result.output.strip() == 'error: NOT_FOUND: study "nope" does not exist'

    with Client(server[1]) as client:
        client.create_study(simple_spec("cli-bad"))
    result = runner.invoke(main, ["study", "update", "cli-bad", "--lease-seconds", "0.5", *server])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: INVALID_ARGUMENT: lease_duration must be 1 s to 7 days, got 0.5 s"
    )
    for args, message in [
        (["--max-trials", "3", "--more-trials", "2"], "give --max-trials or --more-trials"),
        ([], "nothing to change"),
        (["--more-trials", "0"], "--more-trials"),
    ]:
        result = runner.invoke(main, ["study", "update", "cli-bad", *args, *server])
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output
