"""The spec dict <-> contract conversion of the client."""

from __future__ import annotations

import pytest

from asktell.client import InvalidArgumentError, spec_from_proto, spec_to_proto

SPEC = {
    "name": "digits-mlp",
    "objective": {"metric": "val_accuracy", "goal": "maximize"},
    "algorithm": {"name": "grid", "seed": 7, "shuffle": True},
    "max_trials": 50,
    "lease_seconds": 120.0,
    "max_retries": 1,
    "parameters": {
        "lr": {"type": "float", "min": 1.0e-4, "max": 1.0e-1, "scale": "log", "grid_points": 3},
        "hidden": {"type": "int", "min": 16, "max": 256, "scale": "linear", "step": 16},
        "batch_size": {"type": "discrete", "values": [16.0, 32.0, 64.0, 128.0]},
        "activation": {"type": "categorical", "values": ["relu", "tanh"]},
    },
}


def test_round_trip() -> None:
    name, message = spec_to_proto(SPEC)
    assert name == "digits-mlp"
    assert spec_from_proto(name, message) == SPEC


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"objective": {"metric": "m"}}, "objective must be"),
        ({"objective": {"metric": "m", "goal": "up"}}, "goal must be minimize or maximize"),
        ({"algorithm": {"name": "magic"}}, "algorithm.name must be one of"),
        ({"algorithm": {"name": "grid", "shufle": True}}, "unknown setting 'shufle'"),
        ({"parameters": {"x": {"type": "float", "min": 0}}}, "parameters.x.max is required"),
        ({"parameters": {"x": {"type": "vector"}}}, "parameters.x.type must be one of"),
        ({"parameters": {"x": {"type": "int", "min": 0, "max": 1.5}}}, "must be an integer"),
        ({"parameters": {"x": {"type": "float", "min": "a", "max": 1}}}, "must be a number"),
        (
            {"parameters": {"x": {"type": "int", "min": 0, "max": 1, "values": []}}},
            "unknown key 'values' for a int parameter",
        ),
    ],
)
def test_structural_errors_name_the_key(change: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        spec_to_proto({**SPEC, **change})
