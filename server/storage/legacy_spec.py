"""Reads the spec form that stores before schema version 3 kept: a hand-made JSON dict.

Only migration 3 (`schema.py`) uses it, to rewrite those rows in the stored
form of today (`spec_proto.dump_spec`, the contract's own JSON). Frozen: never
extend it; new fields go to the contract.
"""

from __future__ import annotations

import json
from typing import Any

from asktell.server.algorithms import ALGORITHMS
from asktell.server.domain import (
    AlgorithmConfig,
    CategoricalParam,
    DiscreteParam,
    EarlyStopping,
    FloatParam,
    Goal,
    IntParam,
    MedianStopping,
    Objective,
    Param,
    Scale,
    SearchSpace,
    StudySpec,
    SuccessiveHalving,
)
from asktell.server.spec_proto import dump_spec


def param_from_dict(name: str, data: dict[str, Any]) -> Param:
    kind = data["type"]
    if kind == "float":
        return FloatParam(
            name, data["min"], data["max"], Scale(data["scale"]), data.get("grid_points", 0)
        )
    if kind == "int":
        return IntParam(name, data["min"], data["max"], Scale(data["scale"]), data.get("step", 1))
    if kind == "discrete":
        return DiscreteParam(name, tuple(data["values"]))
    return CategoricalParam(name, tuple(data["values"]))


def early_stopping_from_dict(data: dict[str, Any]) -> EarlyStopping:
    settings = {k: v for k, v in data.items() if k != "name"}
    if data["name"] == "median":
        return MedianStopping(**settings)
    return SuccessiveHalving(**settings)


def spec_from_dict(data: dict[str, Any]) -> StudySpec:
    algorithm = data["algorithm"]
    info = ALGORITHMS[algorithm["name"]]
    return StudySpec(
        objectives=(Objective(data["objective"]["metric"], Goal(data["objective"]["goal"])),),
        algorithm=AlgorithmConfig(
            name=algorithm["name"],
            settings=info.parse_settings(algorithm["settings"]),
            seed=algorithm["seed"],
            suggestion_deadline=algorithm["suggestion_deadline"],
        ),
        space=SearchSpace(tuple(param_from_dict(p["name"], p) for p in data["parameters"])),
        max_trials=data["max_trials"],
        lease_seconds=data["lease_seconds"],
        max_retries=data["max_retries"],
        early_stopping=(
            early_stopping_from_dict(data["early_stopping"]) if "early_stopping" in data else None
        ),
    )


def upgrade(text: str) -> str:
    """A stored spec in the old form, rewritten in today's (`spec_proto.dump_spec`)."""
    return dump_spec(spec_from_dict(json.loads(text)))


def is_legacy(text: str) -> bool:
    """Whether a stored spec is in the old form (a parameter has a "type" key)."""
    parameters = json.loads(text).get("parameters") or []
    return any("type" in p for p in parameters)
