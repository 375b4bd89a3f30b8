"""Values keep the type the spec gives, through every RPC, on both stores.

int and integer discrete parameters give ints, float and real discrete ones
floats, a categorical the listed value itself (str, int, float or bool). A value
of the wrong type ("32" for an int, 1 for True) is INVALID_ARGUMENT naming the
parameter, with nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from click.testing import CliRunner

from asktell.client import Client, InvalidArgumentError
from asktell.client._cli import main
from asktell.v1 import resources_pb2 as rpb
from asktell.v1 import service_pb2 as pb
from asktell.v1.values import value_message
from tests.conftest import LiveServer
from tests.services import snapshot

PARAMETERS: dict[str, Any] = {
    "lr": {"type": "float", "min": 1e-4, "max": 1e-1, "scale": "log", "grid_points": 2},
    "hidden": {"type": "int", "min": 16, "max": 256, "step": 16},
    "batch_size": {"type": "discrete", "values": [16, 32, 64, 128]},
    "dropout": {"type": "discrete", "values": [0.0, 0.25, 0.5]},
    "augment": {"type": "categorical", "values": [True, False]},
    "activation": {"type": "categorical", "values": ["relu", "tanh"]},
    "mixed": {"type": "categorical", "values": [1, 2.5, "auto", False]},
}
MIXED = [1, 2.5, "auto", False]


def typed_spec(name: str, algorithm: str) -> dict[str, Any]:
    return {
        "name": name,
        "objective": {"metric": "loss", "goal": "minimize"},
        "algorithm": {"name": algorithm, "seed": 3},
        "max_trials": 14,
        "parameters": PARAMETERS,
    }


def check_types(params: dict[str, Any]) -> None:
    assert type(params["lr"]) is float
    assert type(params["hidden"]) is int
    assert type(params["batch_size"]) is int and params["batch_size"] in (16, 32, 64, 128)
    assert type(params["dropout"]) is float
    assert type(params["augment"]) is bool
    assert type(params["activation"]) is str
    mixed = params["mixed"]
    assert any(type(mixed) is type(v) and mixed == v for v in MIXED), mixed


def loss(params: dict[str, Any]) -> float:
    return float(params["lr"]) * params["hidden"] + (0.1 if params["augment"] else 0.2)


@pytest.mark.parametrize("algorithm", ["grid", "random", "gp", "genetic"])
def test_every_algorithm_hands_out_the_spec_types(client: Client, algorithm: str) -> None:
    study = client.create_study(typed_spec(f"typed-{algorithm}", algorithm))
    spec = study.info().spec["parameters"]
    assert spec["batch_size"]["values"] == [16, 32, 64, 128]
    assert all(type(v) is int for v in spec["batch_size"]["values"])
    assert spec["augment"]["values"] == [True, False]
    assert [type(v) for v in spec["mixed"]["values"]] == [int, float, str, bool]
    while (trial := study.ask()) is not None:
        check_types(trial.params)
        trial.tell(loss(trial.params))
    trials = study.trials()
    assert len(trials) == 14
    for trial in trials:
        check_types(trial.params)
    best = study.best_trial
    assert best is not None
    check_types(best.params)


def test_added_and_enqueued_trials_keep_their_types(client: Client) -> None:
    study = client.create_study(typed_spec("typed-added", "random"))
    given = {
        "lr": 0.01,
        "hidden": 32,
        "batch_size": 64,
        "dropout": 0.25,
        "augment": False,
        "activation": "tanh",
        "mixed": 2.5,
    }
    (added,) = study.add_trials([{"params": given, "value": 0.5}])
    assert added.params == given
    check_types(added.params)
    # A JavaScript caller cannot tell 64 from 64.0: whole numbers are taken where no value changes.
    lenient = {**given, "batch_size": 64.0, "hidden": 32.0, "dropout": 0, "mixed": 1.0}
    study.enqueue(lenient)
    trial = study.ask()
    assert trial is not None
    check_types(trial.params)
    assert trial.params["batch_size"] == 64 and trial.params["mixed"] == 1
    assert study.trial(added.number).params == given


def test_the_best_file_keeps_the_types(live_server: LiveServer, tmp_path: Path) -> None:
    with live_server.client() as client:
        study = client.create_study(typed_spec("typed-best", "random"))
        for _ in range(4):
            trial = study.ask()
            assert trial is not None
            trial.tell(loss(trial.params))
        best = study.best_trial
    assert best is not None
    out = tmp_path / "best.json"
    result = CliRunner().invoke(
        main, ["study", "best", "typed-best", "--out", str(out), "--server", live_server.address]
    )
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    check_types(record["params"])
    assert record["params"] == best.params


WRONG_TYPES = [
    ("hidden", value_message("32"), "hidden"),
    ("batch_size", value_message(32.5), "batch_size"),
    ("augment", value_message(1), "augment"),
    ("augment", value_message("True"), "augment"),
    ("mixed", value_message(True), "mixed"),
    ("mixed", value_message("1"), "mixed"),
    ("activation", value_message(0), "activation"),
    ("lr", rpb.ParameterValue(), "lr"),
]


@pytest.mark.parametrize(("name", "value", "named"), WRONG_TYPES)
def test_a_value_of_the_wrong_type_is_rejected_and_nothing_written(
    live_server: LiveServer, name: str, value: rpb.ParameterValue, named: str
) -> None:
    with live_server.client() as client:
        client.create_study(typed_spec("typed-bad", "random"))
    good = {
        "lr": value_message(0.01),
        "hidden": value_message(32),
        "batch_size": value_message(64),
        "dropout": value_message(0.25),
        "augment": value_message(False),
        "activation": value_message("tanh"),
        "mixed": value_message(2.5),
    }
    before = snapshot(live_server.db_url)
    stub = live_server.stub()
    for call in (
        lambda params: stub.AddTrials(
            pb.AddTrialsRequest(
                study="studies/typed-bad",
                trials=[pb.EvaluatedTrial(params=params, value=1.0)],
            )
        ),
        lambda params: stub.EnqueueTrials(
            pb.EnqueueTrialsRequest(
                study="studies/typed-bad", trials=[pb.TrialParams(params=params)]
            )
        ),
    ):
        with pytest.raises(grpc.RpcError) as error:
            call({**good, name: value})
        assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert f'"{named}"' in (error.value.details() or "")
    assert snapshot(live_server.db_url) == before


def test_a_yaml_spec_file_reads_1e_minus_4_as_a_number(
    live_server: LiveServer, tmp_path: Path
) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(
        "name: yaml-numbers\n"
        "objective: {metric: loss, goal: minimize}\n"
        "parameters:\n"
        "  lr: {type: float, min: 1e-5, max: 1E-1, scale: log}\n"
        "  wd: {type: categorical, values: [0, 1e-4, 1e-3]}\n"
        "  flag: {type: categorical, values: [true, false]}\n"
    )
    result = CliRunner().invoke(
        main, ["study", "create", "-f", str(spec_file), "--server", live_server.address]
    )
    assert result.exit_code == 0, result.output
    with live_server.client() as client:
        parameters = client.get_study_info("yaml-numbers").spec["parameters"]
    assert parameters["lr"]["min"] == 1e-5 and parameters["lr"]["max"] == 0.1
    assert parameters["wd"]["values"] == [0, 1e-4, 1e-3]
    assert [type(v) for v in parameters["wd"]["values"]] == [int, float, float]
    assert parameters["flag"]["values"] == [True, False]


def test_a_spec_dict_may_give_numbers_as_text(client: Client) -> None:
    spec = typed_spec("text-numbers", "random")
    spec["parameters"] = {"lr": {"type": "float", "min": "1e-4", "max": "0.1", "scale": "log"}}
    info = client.create_study(spec).info()
    assert info.spec["parameters"]["lr"]["min"] == 1e-4
    spec["parameters"] = {"lr": {"type": "float", "min": "a little", "max": 1.0}}
    spec["name"] = "text-numbers-2"
    with pytest.raises(InvalidArgumentError, match=r"parameters\.lr\.min must be a number"):
        client.create_study(spec)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([1, True], None),  # 1 and True are two values
        (["a", "a"], "unique"),
        ([1.0, float("nan")], "finite"),
        (["", "b"], "1 to 256"),
    ],
)
def test_categorical_values_are_checked_with_their_types(
    client: Client, values: list[Any], message: str | None
) -> None:
    spec = typed_spec(f"cat-{abs(hash(str(values))) % 10_000}", "random")
    spec["parameters"] = {"c": {"type": "categorical", "values": values}}
    if message is None:
        trial = client.create_study(spec).ask()
        assert trial is not None
        assert any(type(trial.params["c"]) is type(v) for v in values)
        return
    with pytest.raises(InvalidArgumentError, match=message):
        client.create_study(spec)
