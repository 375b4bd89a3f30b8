"""A warm start from last week's study: AddTrials with skip_invalid (raw gRPC) records the
trials that fit the study's space and answers the others with why; `Client.warm_start`
copies a study's finished trials through it; `asktell study create --name --warm-start-from`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from click.testing import CliRunner

from asktell.client import Client, InvalidArgumentError, NotFoundError
from asktell.client._cli import main
from asktell.v1 import resources_pb2 as rpb
from asktell.v1 import service_pb2 as pb
from tests.conftest import LiveServer, simple_spec
from tests.services import snapshot


def _item(x: Any, n: Any = 3, value: float | None = 1.0, **extra: Any) -> pb.EvaluatedTrial:
    params = {}
    if x is not None:
        params["x"] = rpb.ParameterValue(number_value=x)
    if n is not None:
        params["n"] = rpb.ParameterValue(int_value=n)
    item = pb.EvaluatedTrial(params=params, **extra)
    if value is not None:
        item.value = value
    return item


def test_skip_invalid_records_what_fits_and_answers_the_rest(live_server: LiveServer) -> None:
    with live_server.client() as client:
        client.create_study(simple_spec("fit"))
    stub = live_server.stub()
    items = [
        _item(1.0),  # fits
        _item(9.0),  # x outside -5..5
        _item(2.0, n=None),  # n missing
        _item(-1.0, value=None),  # COMPLETE without a value
        _item(0.5, state=rpb.TRIAL_STATE_FAILED, value=None, reason="diverged"),  # fits
    ]
    request = pb.AddTrialsRequest(study="studies/fit", trials=items)
    before = snapshot(live_server.db_url)
    with pytest.raises(grpc.RpcError) as rejected:
        stub.AddTrials(request, timeout=10)
    assert rejected.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert 'trials[1].params: "x" = 9.0 is outside its domain' in (rejected.value.details() or "")
    assert snapshot(live_server.db_url) == before  # all or nothing without skip_invalid

    request.skip_invalid = True
    response = stub.AddTrials(request, timeout=10)
    assert [t.number for t in response.trials] == [1, 2]  # dense, in request order
    assert [t.state for t in response.trials] == [rpb.TRIAL_STATE_COMPLETE, rpb.TRIAL_STATE_FAILED]
    assert [(s.index, s.reason) for s in response.skipped] == [
        (1, 'params: "x" = 9.0 is outside its domain'),
        (2, 'params: missing parameter "n"'),
        (3, "value is required for a COMPLETE trial"),
    ]
    with live_server.client() as client:
        stored = client.list_trials("fit")
    assert [(t.number, t.params["x"], t.suggested_by) for t in stored] == [
        (1, 1.0, "added"),
        (2, 0.5, "added"),
    ]


def test_skip_invalid_with_nothing_that_fits_records_nothing(live_server: LiveServer) -> None:
    with live_server.client() as client:
        client.create_study(simple_spec("none-fit"))
    before = snapshot(live_server.db_url)
    response = live_server.stub().AddTrials(
        pb.AddTrialsRequest(
            study="studies/none-fit", trials=[_item(7.0), _item(1.0, n=11)], skip_invalid=True
        ),
        timeout=10,
    )
    assert list(response.trials) == []
    assert [s.index for s in response.skipped] == [0, 1]
    assert snapshot(live_server.db_url) == before


def test_skip_invalid_still_refuses_a_malformed_request(live_server: LiveServer) -> None:
    with live_server.client() as client:
        client.create_study(simple_spec("malformed"))
    stub = live_server.stub()
    before = snapshot(live_server.db_url)
    cases = [
        (
            pb.AddTrialsRequest(study="studies/nope", trials=[_item(1.0)], skip_invalid=True),
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            pb.AddTrialsRequest(study="studies/malformed", skip_invalid=True),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            pb.AddTrialsRequest(
                study="studies/malformed",
                trials=[pb.EvaluatedTrial(params={"x": rpb.ParameterValue()}, value=1.0)],
                skip_invalid=True,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ]
    for request, code in cases:
        with pytest.raises(grpc.RpcError) as raised:
            stub.AddTrials(request, timeout=10)
        assert raised.value.code() == code, raised.value.details()
    assert snapshot(live_server.db_url) == before


def _finished(client: Client, name: str, xs: list[float]) -> None:
    study = client.get_study(name)
    study.enqueue([{"x": x, "n": 2} for x in xs])
    for k, _ in enumerate(xs):
        trial = study.ask()
        assert trial is not None
        if k == 1:
            trial.fail("diverged")
        else:
            trial.tell(float(trial.params["x"]) ** 2, attrs={"week": 1})


def test_warm_start_copies_finished_trials_that_fit_and_reports_the_rest(
    client: Client,
) -> None:
    client.create_study(simple_spec("last-week"))
    _finished(client, "last-week", [-4.0, 0.5, 1.0, 3.0])
    running = client.get_study("last-week").ask()  # RUNNING: not finished, not copied
    assert running is not None
    narrowed = simple_spec("this-week")
    narrowed["parameters"]["x"] = {"type": "float", "min": -2.0, "max": 2.0}  # type: ignore[index]
    client.create_study(narrowed)

    result = client.warm_start("this-week", "last-week")

    assert result.copied == 2
    assert [(s.number, s.reason) for s in result.skipped] == [
        (1, 'params: "x" = -4.0 is outside its domain'),
        (4, 'params: "x" = 3.0 is outside its domain'),
    ]
    copied = client.list_trials("this-week")
    assert [(t.params["x"], t.state, t.value, t.reason, t.attrs) for t in copied] == [
        (0.5, "FAILED", None, "diverged", {}),
        (1.0, "COMPLETE", 1.0, "", {"week": 1}),
    ]
    assert client.get_study_info("this-week").suggestions_made == 0  # no budget used


def test_warm_start_refuses_another_objective_and_a_missing_study(client: Client) -> None:
    client.create_study(simple_spec("loss-study"))
    client.create_study(
        {**simple_spec("accuracy-study"), "objective": {"metric": "acc", "goal": "maximize"}}
    )
    with pytest.raises(InvalidArgumentError, match="objectives or constraints differ"):
        client.warm_start("accuracy-study", "loss-study")
    with pytest.raises(NotFoundError):
        client.warm_start("loss-study", "no-such-study")
    assert client.list_trials("accuracy-study") == []


def test_study_create_names_the_run_and_warm_starts_once(
    live_server: LiveServer, tmp_path: Path
) -> None:
    with live_server.client() as client:
        client.create_study(simple_spec("week-1"))
        _finished(client, "week-1", [-4.0, 0.5, 1.0])
    spec = simple_spec("ignored-name")
    spec["parameters"]["x"] = {"type": "float", "min": -2.0, "max": 2.0}  # type: ignore[index]
    spec_file = tmp_path / "study.yaml"
    spec_file.write_text(yaml.safe_dump(spec))
    runner = CliRunner()
    args = [
        "study",
        "create",
        "-f",
        str(spec_file),
        "--name",
        "week-2",
        "--server",
        live_server.address,
    ]

    first = runner.invoke(main, [*args, "--warm-start-from", "week-1"])
    assert first.exit_code == 0, first.output
    assert "study week-2: random, seed 1" in first.stdout
    assert first.stderr.splitlines() == [
        "warm start from week-1: copied 2 trials",
        'warm start: skipped 1 trials that do not fit the space: 1 "x" outside its domain',
        '  week-1 trial 1: params: "x" = -4.0 is outside its domain',
    ]
    again = runner.invoke(main, [*args, "--warm-start-from", "week-1"])
    assert again.exit_code == 0, again.output
    assert "has trials already; nothing copied from week-1" in again.stderr
    with live_server.client() as client:
        assert len(client.list_trials("week-2")) == 2
        assert [s.id for s in client.list_studies()] == ["week-1", "week-2"]

    missing = runner.invoke(main, [*args[:5], "week-3", *args[6:], "--warm-start-from", "week-0"])
    assert missing.exit_code == 1
    assert missing.stderr.strip().splitlines()[-1] == (
        "error: NOT_FOUND: warm start: study week-0 does not exist "
        "(--warm-start-optional starts cold instead)"
    )
    with live_server.client() as client, pytest.raises(NotFoundError):
        client.get_study_info("week-3")  # nothing created before the check
    cold = runner.invoke(
        main,
        [*args[:5], "week-3", *args[6:], "--warm-start-from", "week-0", "--warm-start-optional"],
    )
    assert cold.exit_code == 0, cold.output
    assert "warm start: no study week-0; starting cold" in cold.stderr
