"""Trial attributes on a live server, both stores: Tell, SetTrialAttributes and AddTrials
write them; Ask, GetTrial, ListTrials and GetBestTrials give them back with their types."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest

from asktell.client import Client, FailedPreconditionError, InvalidArgumentError
from asktell.v1 import resources_pb2 as rpb
from asktell.v1 import service_pb2 as pb
from tests.conftest import ClockedServer, LiveServer, simple_spec
from tests.services import snapshot

ATTRS = {"model_uri": "s3://bucket/model-1", "train_loss": 0.125, "epochs": 12, "early": False}


def _types(attrs: dict[str, object]) -> dict[str, type]:
    return {k: type(v) for k, v in attrs.items()}


def test_attrs_round_trip_through_every_read(client: Client) -> None:
    study = client.create_study(simple_spec("attrs-reads"))
    first, second, third = study.ask_many(3, worker_id="w")
    first.set_attrs({"data_version": "2026-w48", "epochs": 3})
    assert first.attrs == {"data_version": "2026-w48", "epochs": 3}
    first.tell(1.5, attrs=ATTRS)  # merged: epochs 12 replaces 3
    expected = {"data_version": "2026-w48", **ATTRS}
    assert first.attrs == expected and first.state == "COMPLETE"
    second.fail("out of memory", attrs={"peak_mb": 4096.5})
    third.tell(3.0)

    for read in (
        study.trial(first.number),
        study.trials(["COMPLETE"])[0],
        study.best_trial,
    ):
        assert read is not None
        assert read.attrs == expected
        assert _types(read.attrs) == _types(expected)
    failed = study.trial(second.number)
    assert failed.state == "FAILED" and failed.reason == "out of memory"
    assert failed.attrs == {"peak_mb": 4096.5}
    assert study.trial(third.number).attrs == {}


def test_resumed_trials_carry_their_attrs(client: Client) -> None:
    study = client.create_study(simple_spec("attrs-resume"))
    trial = study.ask(worker_id="box")
    assert trial is not None
    trial.set_attrs({"checkpoint": "/ckpt/1", "flag": True})
    resumed = study.ask(worker_id="box", resume=True)
    assert resumed is not None and resumed.number == trial.number
    assert resumed.attrs == {"checkpoint": "/ckpt/1", "flag": True}
    assert type(resumed.attrs["flag"]) is bool


def test_bool_int_float_and_str_stay_apart(client: Client) -> None:
    study = client.create_study(simple_spec("attrs-types"))
    trial = study.ask()
    assert trial is not None
    given = {"b": True, "i": 1, "f": 1.0, "s": "1", "big": 2**63 - 1, "neg": -(2**63)}
    trial.tell(0.0, attrs=given)
    read = study.trial(trial.number).attrs
    assert read == given and _types(read) == _types(given)


def test_a_repeated_tell_is_idempotent_and_a_different_one_refused(client: Client) -> None:
    study = client.create_study(simple_spec("attrs-retry"))
    trial = study.ask()
    assert trial is not None
    trial.tell(2.0, attrs={"a": 1, "b": "x"})
    trial.tell(2.0, attrs={"a": 1, "b": "x"})  # a retry
    trial.tell(2.0, attrs={"a": 1})  # a subset of what it holds
    trial.tell(2.0)
    with pytest.raises(FailedPreconditionError, match='attribute "a"'):
        trial.tell(2.0, attrs={"a": 2})
    with pytest.raises(FailedPreconditionError, match='attribute "a"'):
        trial.tell(2.0, attrs={"a": 1.0})  # 1.0 is not 1
    with pytest.raises(FailedPreconditionError, match='attribute "c"'):
        trial.tell(2.0, attrs={"c": True})
    with pytest.raises(FailedPreconditionError, match="not RUNNING"):
        trial.set_attrs({"c": True})
    assert study.trial(trial.number).attrs == {"a": 1, "b": "x"}


def test_limits_count_the_merged_attributes(client: Client) -> None:
    study = client.create_study(simple_spec("attrs-limits"))
    trial = study.ask()
    assert trial is not None
    trial.set_attrs({f"k{i}": i for i in range(60)})
    trial.set_attrs({"k0": "again"})  # replaces: still 60
    with pytest.raises(InvalidArgumentError, match="at most 64 attributes per trial, got 65"):
        trial.tell(1.0, attrs={f"n{i}": i for i in range(5)})
    assert study.trial(trial.number).state == "RUNNING"
    assert len(study.trial(trial.number).attrs) == 60
    other = study.ask()
    assert other is not None
    with pytest.raises(InvalidArgumentError, match="bytes encoded; at most 65536"):
        other.set_attrs({f"long{i}": "x" * 4096 for i in range(16)})
    assert study.trial(other.number).attrs == {}
    with pytest.raises(InvalidArgumentError, match='"bad": a value must be a string'):
        trial.set_attrs({"bad": [1, 2]})  # type: ignore[dict-item]


def test_set_trial_attributes_renews_the_lease(clocked_server: ClockedServer) -> None:
    with clocked_server.client() as client:
        study = client.create_study(simple_spec("attrs-lease", lease_seconds=60))
        trial = study.ask(worker_id="w")
        assert trial is not None and trial.lease_deadline is not None
        first_deadline = trial.lease_deadline
        clocked_server.clock.advance(50)
        trial.set_attrs({"stage": "eval"})
        assert trial.lease_deadline == first_deadline + dt.timedelta(seconds=50)
        clocked_server.clock.advance(50)  # past the first lease, within the renewed one
        assert study.trial(trial.number).state == "RUNNING"
        clocked_server.clock.advance(20)  # past the renewed lease too
        with pytest.raises(FailedPreconditionError, match="lease expired"):
            trial.set_attrs({"stage": "late"})
        expired = study.trial(trial.number)
        assert expired.state == "FAILED" and expired.attrs == {"stage": "eval"}


def test_set_trial_attributes_checks_the_worker(live_server: LiveServer) -> None:
    stub = live_server.stub()
    with live_server.client() as client:
        study = client.create_study(simple_spec("attrs-owner"))
        trial = study.ask(worker_id="owner")
    assert trial is not None
    before = snapshot(live_server.db_url)
    with pytest.raises(grpc.RpcError) as raised:
        stub.SetTrialAttributes(
            pb.SetTrialAttributesRequest(
                trial=trial.name,
                attrs={"a": rpb.ParameterValue(int_value=1)},
                worker_id="intruder",
            )
        )
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "leased to worker 'owner'" in (raised.value.details() or "")
    assert snapshot(live_server.db_url) == before
    answer = stub.SetTrialAttributes(
        pb.SetTrialAttributesRequest(
            trial=trial.name, attrs={"a": rpb.ParameterValue(bool_value=True)}, worker_id="owner"
        )
    )
    assert answer.trial.attrs["a"].WhichOneof("kind") == "bool_value"
    assert answer.trial.state == rpb.TRIAL_STATE_RUNNING


def test_add_trials_stores_attrs_reason_and_end_time(client: Client) -> None:
    study = client.create_study(simple_spec("attrs-added"))
    ended = dt.datetime(2026, 3, 1, 12, 30, 15, 250000, tzinfo=dt.UTC)
    added = study.add_trials(
        [
            {"params": {"x": 0.5, "n": 2}, "value": 0.25, "attrs": {"source": "last-week"}},
            {
                "params": {"x": 1.0, "n": 3},
                "state": "FAILED",
                "reason": "diverged",
                "attrs": {"nan_at": 17, "lr_high": True},
                "end_time": "2026-03-01T12:30:15.250000Z",
            },
            {"params": {"x": 2.0, "n": 4}, "state": "PRUNED", "end_time": ended},
        ]
    )
    assert [t.number for t in added] == [1, 2, 3]
    complete, failed, pruned = study.trials()
    assert complete.attrs == {"source": "last-week"} and complete.suggested_by == "added"
    assert failed.reason == "diverged" and failed.attrs == {"nan_at": 17, "lr_high": True}
    # The server keeps times as float seconds: to the microsecond, give or take one.
    for trial in (failed, pruned):
        assert trial.end_time is not None
        assert abs(trial.end_time - ended) <= dt.timedelta(microseconds=1)
    assert study.best_trial is not None and study.best_trial.attrs == {"source": "last-week"}


def test_tell_with_bad_attrs_changes_nothing(live_server: LiveServer) -> None:
    with live_server.client() as client:
        study = client.create_study(simple_spec("attrs-bad-tell"))
        trial = study.ask()
    assert trial is not None
    before = snapshot(live_server.db_url)
    stub = live_server.stub()
    with pytest.raises(grpc.RpcError) as raised:
        stub.Tell(
            pb.TellRequest(
                trial=trial.name,
                state=rpb.TRIAL_STATE_COMPLETE,
                value=1.0,
                attrs={"ok": rpb.ParameterValue(int_value=1), "bad key": rpb.ParameterValue()},
            )
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "attrs: invalid key 'bad key'" in (raised.value.details() or "")
    assert snapshot(live_server.db_url) == before
