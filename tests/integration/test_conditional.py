"""Conditional parameters through a real server, on both stores.

The space of the issue: optimizer {adam, sgd}; momentum only when sgd; depth 1-3;
width_2 when depth is 2 or 3; width_3 when depth is 3. A trial has exactly its
active parameters, whoever made it (an algorithm, AddTrials, EnqueueTrials).
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from asktell.client import Client, InvalidArgumentError
from asktell.v1 import service_pb2 as pb
from asktell.v1.spec import spec_to_proto
from asktell.v1.values import value_message
from tests.conftest import LiveServer
from tests.services import snapshot

CONDITIONAL: dict[str, Any] = {
    "optimizer": {"type": "categorical", "values": ["adam", "sgd"]},
    "momentum": {
        "type": "float",
        "min": 0.5,
        "max": 0.99,
        "grid_points": 3,
        "when": {"optimizer": ["sgd"]},
    },
    "depth": {"type": "int", "min": 1, "max": 3},
    "width_2": {"type": "discrete", "values": [32, 64], "when": {"depth": [2, 3]}},
    "width_3": {"type": "discrete", "values": [32, 64], "when": {"depth": [3]}},
}


def conditional_spec(name: str, algorithm: str = "random", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "objective": {"metric": "loss", "goal": "minimize"},
        "algorithm": {"name": algorithm, "seed": 5},
        "parameters": CONDITIONAL,
        **extra,
    }


def active_names(params: dict[str, Any]) -> set[str]:
    names = {"optimizer", "depth"}
    if params["optimizer"] == "sgd":
        names.add("momentum")
    if params["depth"] >= 2:
        names.add("width_2")
    if params["depth"] == 3:
        names.add("width_3")
    return names


def test_the_spec_keeps_its_conditions(client: Client) -> None:
    info = client.create_study(conditional_spec("cond-spec")).info()
    assert info.spec["parameters"]["momentum"]["when"] == {"optimizer": ["sgd"]}
    assert info.spec["parameters"]["width_2"]["when"] == {"depth": [2, 3]}
    assert "when" not in info.spec["parameters"]["depth"]
    # The same spec again is the same study.
    assert client.create_study(conditional_spec("cond-spec")).info().spec == info.spec


def test_added_trials_must_hold_exactly_the_active_parameters(live_server: LiveServer) -> None:
    with live_server.client() as client:
        study = client.create_study(conditional_spec("cond-add"))
        (added,) = study.add_trials(
            [
                {
                    "params": {"optimizer": "sgd", "momentum": 0.9, "depth": 2, "width_2": 64},
                    "value": 0.3,
                }
            ]
        )
        assert added.params == {"optimizer": "sgd", "momentum": 0.9, "depth": 2, "width_2": 64}
        before = snapshot(live_server.db_url)
        bad: list[tuple[dict[str, Any], str]] = [
            ({"optimizer": "adam", "momentum": 0.9, "depth": 1}, '"momentum" is inactive'),
            ({"optimizer": "sgd", "depth": 1}, 'missing parameter "momentum"'),
            ({"optimizer": "adam", "depth": 3, "width_2": 32}, 'missing parameter "width_3"'),
            ({"optimizer": "adam", "depth": 1, "width_3": 32}, '"width_3" is inactive'),
        ]
        for params, message in bad:
            with pytest.raises(InvalidArgumentError, match=message):
                study.add_trials([{"params": params, "value": 1.0}])
            with pytest.raises(InvalidArgumentError, match=message):
                study.enqueue(params)
        assert snapshot(live_server.db_url) == before


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        (
            {"x": {"type": "float", "min": 0, "max": 1, "when": {"nope": ["a"]}}},
            'parameter "x": when: parent "nope" is not a parameter',
        ),
        (
            {
                "a": {"type": "categorical", "values": ["u", "v"], "when": {"b": ["u"]}},
                "b": {"type": "categorical", "values": ["u", "v"], "when": {"a": ["u"]}},
            },
            "cycle",
        ),
        (
            {
                "lr": {"type": "float", "min": 0, "max": 1},
                "x": {"type": "int", "min": 0, "max": 1, "when": {"lr": [0.5]}},
            },
            'parent "lr" is a float parameter',
        ),
        (
            {
                "opt": {"type": "categorical", "values": ["adam", "sgd"]},
                "m": {"type": "float", "min": 0, "max": 1, "when": {"opt": ["rmsprop"]}},
            },
            "'rmsprop' is not a value of parent \"opt\"",
        ),
        (
            {
                "depth": {"type": "int", "min": 1, "max": 3},
                "w": {"type": "int", "min": 1, "max": 3, "when": {"depth": ["3"]}},
            },
            "'3' is not a value of parent \"depth\"",
        ),
        (
            {
                "depth": {"type": "int", "min": 1, "max": 3},
                "w": {"type": "int", "min": 1, "max": 3, "when": {"depth": [4]}},
            },
            'parameter "w": when: 4 is not a value of parent "depth"',
        ),
        (
            {
                "flag": {"type": "categorical", "values": [True, False]},
                "w": {"type": "int", "min": 1, "max": 3, "when": {"flag": [1]}},
            },
            'parameter "w": when: 1 is not a value of parent "flag"',
        ),
        (
            {
                "opt": {"type": "categorical", "values": ["adam", "sgd"]},
                "m": {"type": "float", "min": 0, "max": 1, "when": {"opt": []}},
            },
            'parameter "m": when: list at least one value',
        ),
        (
            {"x": {"type": "float", "min": 0, "max": 1, "when": {"x": [1]}}},
            "its own parent",
        ),
    ],
)
def test_bad_conditions_are_invalid_argument_naming_the_parameter(
    live_server: LiveServer, parameters: dict[str, Any], message: str
) -> None:
    spec = {
        "name": "cond-bad",
        "objective": {"metric": "loss", "goal": "minimize"},
        "parameters": parameters,
    }
    _, message_pb = spec_to_proto(spec)
    before = snapshot(live_server.db_url)
    with pytest.raises(grpc.RpcError) as error:
        live_server.stub().CreateStudy(pb.CreateStudyRequest(study_id="cond-bad", spec=message_pb))
    assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert message in (error.value.details() or "")
    assert snapshot(live_server.db_url) == before


def test_a_condition_names_one_parent(client: Client) -> None:
    spec = conditional_spec("cond-two")
    spec["parameters"] = {
        **CONDITIONAL,
        "x": {"type": "float", "min": 0, "max": 1, "when": {"optimizer": ["sgd"], "depth": [1]}},
    }
    with pytest.raises(InvalidArgumentError, match=r"parameters\.x\.when must name one parent"):
        client.create_study(spec)


def test_a_raw_value_of_the_wrong_kind_in_a_condition_is_rejected(
    live_server: LiveServer,
) -> None:
    _, message = spec_to_proto(conditional_spec("cond-raw"))
    message.parameters[1].when.values.append(value_message(0.5))
    with pytest.raises(grpc.RpcError) as error:
        live_server.stub().CreateStudy(pb.CreateStudyRequest(study_id="cond-raw", spec=message))
    assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert 'parameter "momentum": when: 0.5 is not a value of parent "optimizer"' in (
        error.value.details() or ""
    )


def objective(params: dict[str, Any]) -> float:
    loss = 1.0 if params["optimizer"] == "adam" else 1.2 - params["momentum"] / 2
    return loss + 0.1 * params["depth"] - params.get("width_2", 0) / 640


def test_grid_hands_out_each_valid_combination_once(client: Client) -> None:
    study = client.create_study(conditional_spec("cond-grid", "grid"))
    seen = []
    while (trial := study.ask()) is not None:
        assert set(trial.params) == active_names(trial.params)
        seen.append(tuple(sorted(trial.params.items())))
        trial.tell(objective(trial.params))
    # adam: 1 + sgd: 3 momenta; depth 1: 1, depth 2: 2 widths, depth 3: 2 x 2.
    assert len(seen) == 4 * 7 == len(set(seen))


@pytest.mark.parametrize(("algorithm", "n"), [("random", 200), ("genetic", 120), ("gp", 40)])
def test_every_trial_holds_exactly_its_active_parameters(
    client: Client, algorithm: str, n: int
) -> None:
    study = client.create_study(conditional_spec(f"cond-{algorithm}", algorithm, max_trials=n))
    branches = set()
    while batch := study.ask_many(4):
        for trial in batch:
            params = trial.params
            assert set(params) == active_names(params), params
            assert type(params["depth"]) is int
            for name in ("width_2", "width_3"):
                assert name not in params or type(params[name]) is int
            branches.add((params["optimizer"], params["depth"]))
            trial.tell(objective(params))
    assert len(study.trials()) == n
    assert len(branches) >= 4
    for trial in study.trials():
        assert set(trial.params) == active_names(trial.params)
