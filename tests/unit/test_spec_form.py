"""One spec definition: the spec dict, the contract's StudySpec, the domain spec and the
stored form agree, and an algorithm's settings are known by their .proto fields alone."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from asktell.server.algorithms import ALGORITHMS
from asktell.server.spec_proto import dump_spec, load_spec, study_spec, study_spec_message
from asktell.v1 import resources_pb2 as pb
from asktell.v1.spec import (
    ALGORITHMS as CONTRACT_ALGORITHMS,
)
from asktell.v1.spec import (
    EARLY_STOPPING_RULES,
    SpecError,
    enum_names,
    load_yaml,
    spec_from_proto,
    spec_to_proto,
)

RICH: dict[str, Any] = {
    "name": "rich",
    "objective": {"metric": "val_accuracy", "goal": "maximize"},
    "algorithm": {
        "name": "gp",
        "seed": 7,
        "acquisition": "ucb",
        "ucb_beta": 2.5,
        "n_initial_trials": 6,
        "suggestion_deadline": 2.0,
    },
    "max_trials": 60,
    "lease_seconds": 120.0,
    "max_retries": 2,
    "early_stopping": {"name": "asha", "min_resource": 2, "reduction_factor": 4},
    "parameters": {
        "lr": {"type": "float", "min": 1e-5, "max": 0.1, "scale": "log"},
        "optimizer": {"type": "categorical", "values": ["adam", "sgd"]},
        "momentum": {
            "type": "float",
            "min": 0.5,
            "max": 0.99,
            "scale": "linear",
            "when": {"optimizer": ["sgd"]},
        },
        "depth": {"type": "int", "min": 1, "max": 3, "scale": "linear"},
        "width_3": {"type": "discrete", "values": [64, 128, 256], "when": {"depth": [3]}},
        "batch_size": {"type": "discrete", "values": [16, 32, 64, 128]},
        "dropout": {"type": "discrete", "values": [0.0, 0.5]},
        "augment": {"type": "categorical", "values": [True, False]},
        "mixed": {"type": "categorical", "values": [1, 2.5, "auto", False]},
        "nested": {
            "type": "int",
            "min": 0,
            "max": 4,
            "step": 2,
            "scale": "linear",
            "when": {"width_3": [256]},
        },
    },
}


def test_a_spec_round_trips_through_every_form() -> None:
    name, message = spec_to_proto(RICH)
    domain = study_spec(message)
    # The stored form is the contract's JSON of the canonical message, and reads back the same.
    stored = dump_spec(domain)
    assert json.loads(stored)["parameters"][2]["when"]["parent"] == "optimizer"
    assert load_spec(stored) == domain
    assert study_spec_message(load_spec(stored)) == study_spec_message(domain)
    back = spec_from_proto(name, study_spec_message(domain))
    assert back == RICH
    assert [type(v) for v in back["parameters"]["mixed"]["values"]] == [int, float, str, bool]
    assert domain.space.condition("nested") is not None


def test_every_algorithm_setting_is_a_field_of_its_contract_message() -> None:
    # Adding a setting touches the algorithm's settings dataclass and the .proto, nothing else.
    assert set(ALGORITHMS) == set(CONTRACT_ALGORITHMS)
    for name, info in ALGORITHMS.items():
        message = getattr(pb.Algorithm(), name)
        assert {f.name for f in dataclasses.fields(info.settings_type)} == {
            f.name for f in message.DESCRIPTOR.fields
        }, name
    assert EARLY_STOPPING_RULES == ("median", "asha", "racing")
    assert enum_names(pb.Acquisition.DESCRIPTOR) == {"log_ei": 1, "ei": 2, "ucb": 3}


def test_yaml_1_2_numbers_are_numbers() -> None:
    data = load_yaml("a: 1e-4\nb: 1E3\nc: -2.5e+2\nd: 1.0e-4\ne: '1e-4'\nf: 10\ng: true\n")
    assert data == {"a": 1e-4, "b": 1000.0, "c": -250.0, "d": 1e-4, "e": "1e-4", "f": 10, "g": True}
    with pytest.raises(SpecError, match="not valid YAML"):
        load_yaml("a: [1, 2\n")


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        ({"type": "discrete", "values": [1, "x"]}, r"values\[1\] must be a number"),
        ({"type": "categorical", "values": [None]}, r"values\[0\]: a value must be"),
        ({"type": "categorical", "values": [[1]]}, r"values\[0\]: a value must be"),
        ({"type": "float", "min": 0, "max": 1, "when": ["x"]}, "must name one parent"),
        ({"type": "float", "min": 0, "max": 1, "when": {"a": [None]}}, r"when\.a\[0\]"),
        ({"type": "int", "min": "1e400", "max": 2}, "must be an integer, got inf"),
        (
            {"type": "int", "min": 2**70, "max": 2**71},
            r"^parameters\.p\.min must be an integer from -9223372036854775808 to "
            r"9223372036854775807, got 1180591620717411303424$",
        ),
        ({"type": "float", "min": 0, "max": 1, "grid_points": -1}, r"grid_points must be an int"),
        ({"type": "discrete", "values": [1, 2**64]}, r"^parameters\.p\.values\[1\] must be"),
    ],
)
def test_the_spec_form_names_what_is_wrong(parameter: dict[str, Any], message: str) -> None:
    spec = {**RICH, "parameters": {"p": parameter}}
    with pytest.raises(SpecError, match=message):
        spec_to_proto(spec)
