"""Study specs as plain JSON-ready dicts, the form the store keeps.

The dict mirrors the user's YAML spec file, so what is in the database reads
like what was written.
"""

from __future__ import annotations

import dataclasses
import functools
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


def param_to_dict(param: Param) -> dict[str, Any]:
    if isinstance(param, FloatParam):
        return {
            "type": "float",
            "min": param.low,
            "max": param.high,
            "scale": str(param.scale),
            "grid_points": param.grid_points,
        }
    if isinstance(param, IntParam):
        return {
            "type": "int",
            "min": param.low,
            "max": param.high,
            "scale": str(param.scale),
            "step": param.step,
        }
    if isinstance(param, DiscreteParam):
        return {"type": "discrete", "values": list(param.values)}
    return {"type": "categorical", "values": list(param.values)}


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


def early_stopping_to_dict(rule: EarlyStopping) -> dict[str, Any]:
    name = "median" if isinstance(rule, MedianStopping) else "asha"
    return {"name": name, **dataclasses.asdict(rule)}


def early_stopping_from_dict(data: dict[str, Any]) -> EarlyStopping:
    settings = {k: v for k, v in data.items() if k != "name"}
    if data["name"] == "median":
        return MedianStopping(**settings)
    return SuccessiveHalving(**settings)


def spec_to_dict(spec: StudySpec) -> dict[str, Any]:
    data = {
        "objective": {"metric": spec.objective.metric, "goal": str(spec.objective.goal)},
        "algorithm": {
            "name": spec.algorithm.name,
            "seed": spec.algorithm.seed,
            "settings": dataclasses.asdict(spec.algorithm.settings),
            "suggestion_deadline": spec.algorithm.suggestion_deadline,
        },
        # A list, not a mapping: parameter order is part of the spec (grid order, encoding).
        "parameters": [{"name": p.name, **param_to_dict(p)} for p in spec.space.params],
        "max_trials": spec.max_trials,
        "lease_seconds": spec.lease_seconds,
        "max_retries": spec.max_retries,
    }
    # Only when set, so that specs stored before early stopping existed dump identically.
    if spec.early_stopping is not None:
        data["early_stopping"] = early_stopping_to_dict(spec.early_stopping)
    return data


def spec_from_dict(data: dict[str, Any]) -> StudySpec:
    algorithm = data["algorithm"]
    info = ALGORITHMS[algorithm["name"]]
    return StudySpec(
        objective=Objective(data["objective"]["metric"], Goal(data["objective"]["goal"])),
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


def dump_spec(spec: StudySpec) -> str:
    """Canonical JSON: identical specs give identical strings."""
    return json.dumps(spec_to_dict(spec), sort_keys=True, separators=(",", ":"))


@functools.lru_cache(maxsize=1024)
def load_spec(text: str) -> StudySpec:
    """The spec stored as `text`.

    Memoised on the text: specs are immutable values, and every RPC loads its
    study's, so this keeps parsing off the hot path. It is not study state: a
    replica that never saw the text parses it the same way.
    """
    return spec_from_dict(json.loads(text))
