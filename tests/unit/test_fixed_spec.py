"""Fixed parameters and stages: the spec file form <-> StudySpec <-> the domain, and the
space the algorithms see."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from asktell.server import spec_proto
from asktell.server.algorithms import ALGORITHMS, History, fixed
from asktell.server.algorithms.base import NO_DEADLINE, Observation
from asktell.server.domain import (
    CategoricalParam,
    Condition,
    FixedParam,
    FloatParam,
    IntParam,
    SearchSpace,
)
from asktell.server.errors import InvalidArgument
from asktell.v1 import resources_pb2 as pb
from asktell.v1.spec import SpecError, fixed_of, spec_from_proto, spec_to_proto


def _spec(parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "s",
        "objective": {"metric": "loss", "goal": "minimize"},
        "algorithm": {"name": "random", "seed": 1},
        "parameters": parameters,
        **extra,
    }


FIXED_VALUES = [
    ("cosine", "string_value"),
    (3, "int_value"),
    (0.5, "number_value"),
    (True, "bool_value"),
    (False, "bool_value"),
    (2.0, "number_value"),
]


@pytest.mark.parametrize(("value", "field"), FIXED_VALUES)
def test_a_fixed_value_keeps_its_type_both_ways(value: Any, field: str) -> None:
    name, message = spec_to_proto(_spec({"x": {"type": "fixed", "value": value}}))
    parameter = message.parameters[0]
    assert parameter.WhichOneof("domain") == "fixed_parameter"
    assert parameter.fixed_parameter.value.WhichOneof("kind") == field
    back = spec_from_proto(name, message)["parameters"]["x"]
    assert back == {"type": "fixed", "value": value}
    assert type(back["value"]) is type(value)
    # And through the server's domain and stored form, unchanged.
    stored = spec_proto.load_spec(spec_proto.dump_spec(spec_proto.study_spec(message)))
    assert stored.space.fixed == (FixedParam("x", value),)
    again = spec_from_proto(name, spec_proto.study_spec_message(stored))["parameters"]["x"]
    assert again == back and type(again["value"]) is type(value)


def test_fixed_with_when_stage_and_stages_round_trip_in_order() -> None:
    spec = _spec(
        {
            "optimizer": {"type": "categorical", "values": ["adam", "sgd"]},
            "nesterov": {"type": "fixed", "value": True, "when": {"optimizer": ["sgd"]}},
            "lr": {"type": "float", "min": 0.001, "max": 0.1, "scale": "log"},
            "depth": {"type": "fixed", "value": 2, "stage": {"study": "arch", "trial": 7}},
        },
        stages=[{"study": "arch", "trial": 7}, {"study": "data", "parameters": ["rows"]}],
    )
    name, message = spec_to_proto(spec)
    assert [s.study for s in message.stages] == ["arch", "data"]
    assert message.stages[0].trial == 7 and list(message.stages[1].parameters) == ["rows"]
    depth = message.parameters[3].fixed_parameter
    assert (depth.stage_study, depth.stage_trial) == ("arch", 7)
    domain = spec_proto.study_spec(message)
    assert domain.space.names == ("optimizer", "nesterov", "lr", "depth")
    canonical = spec_proto.study_spec_message(domain)
    back = spec_from_proto(name, canonical)
    assert list(back["parameters"]) == ["optimizer", "nesterov", "lr", "depth"]
    assert back["parameters"]["nesterov"] == {
        "type": "fixed",
        "value": True,
        "when": {"optimizer": ["sgd"]},
    }
    assert back["parameters"]["depth"]["stage"] == {"study": "arch", "trial": 7}
    assert back["stages"] == [
        {"study": "arch", "trial": 7},
        {"study": "data", "parameters": ["rows"]},
    ]
    assert fixed_of(back) == {
        "nesterov": back["parameters"]["nesterov"],
        "depth": back["parameters"]["depth"],
    }
    # The dict read back is a spec that can be sent again: the same canonical message.
    assert spec_proto.study_spec_message(spec_proto.study_spec(spec_to_proto(back)[1])) == canonical


def test_stages_may_be_study_ids() -> None:
    _, message = spec_to_proto(_spec({"x": {"type": "float", "min": 0, "max": 1}}, stages=["a"]))
    assert [(s.study, list(s.parameters), s.trial) for s in message.stages] == [("a", [], 0)]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (_spec({"x": {"type": "fixed"}}), "parameters.x.value is required for a fixed parameter"),
        (_spec({"x": {"type": "fixed", "value": [1]}}), "parameters.x.value: a value must be"),
        (_spec({"x": {"type": "fixed", "value": 1, "min": 0}}), "unknown key 'min' for a fixed"),
        (
            _spec({"x": {"type": "fixed", "value": 1, "stage": "arch"}}),
            "parameters.x.stage must be {study: STUDY, trial: NUMBER}",
        ),
        (_spec({"x": {"type": "fixd", "value": 1}}), "categorical, fixed; got 'fixd'"),
        (_spec({"x": {"type": "fixed", "value": 1}}, stages="arch"), "stages must be a list"),
        (_spec({"x": {"type": "fixed", "value": 1}}, stages=[{"name": "a"}]), "stages[0] must be"),
        (
            _spec({"x": {"type": "fixed", "value": 1}}, stages=[{"study": "a", "fix": ["x"]}]),
            "stages[0]: unknown key 'fix'",
        ),
        (
            _spec({"x": {"type": "fixed", "value": 1}}, stages=[{"study": "a", "parameters": "x"}]),
            "stages[0].parameters must be a list of parameter names",
        ),
    ],
)
def test_malformed_fixed_and_stages_are_named(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as raised:
        spec_to_proto(spec)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("fixed_parameter", "message"),
    [
        (pb.FixedParameter(), 'parameter "x": fixed_parameter.value is required'),
        (pb.FixedParameter(value=pb.ParameterValue()), "fixed_parameter.value has no value"),
        (pb.FixedParameter(value=pb.ParameterValue(number_value=float("nan"))), "finite"),
        (pb.FixedParameter(value=pb.ParameterValue(string_value="")), "1 to 256 characters"),
        (pb.FixedParameter(value=pb.ParameterValue(string_value="s" * 257)), "1 to 256"),
        (
            pb.FixedParameter(value=pb.ParameterValue(int_value=1), stage_trial=3),
            "stage_trial is set only with stage_study",
        ),
    ],
)
def test_the_server_names_a_bad_fixed_parameter(
    fixed_parameter: pb.FixedParameter, message: str
) -> None:
    spec = pb.StudySpec(
        objective=pb.Objective(metric="loss", goal=pb.GOAL_MINIMIZE),
        algorithm=pb.Algorithm(random=pb.RandomSettings()),
        parameters=[pb.ParameterSpec(name="x", fixed_parameter=fixed_parameter)],
    )
    with pytest.raises(InvalidArgument) as raised:
        spec_proto.study_spec(spec)
    assert message in str(raised.value)


# ------------------------------------------------------------------ the domain space
OPTIMIZER = CategoricalParam("optimizer", ("adam", "sgd"))
MOMENTUM = FloatParam("momentum", 0.5, 0.99)
BETA1 = FloatParam("beta1", 0.8, 0.99)
SCHEDULE = FixedParam("schedule", "cosine")


def test_a_child_of_a_fixed_parent_is_always_active_or_never() -> None:
    space = SearchSpace(
        (MOMENTUM, BETA1, FloatParam("lr", 0.01, 0.1)),
        (
            Condition("momentum", "optimizer", ("sgd",)),
            Condition("beta1", "optimizer", ("adam",)),
        ),
        (FixedParam("optimizer", "sgd"),),
        ("optimizer", "momentum", "beta1", "lr"),
    )
    searched = space.searched()
    assert searched is not None
    assert searched.names == ("momentum", "lr")
    assert not searched.conditional  # momentum is always active now
    config = space.with_fixed({"momentum": 0.9, "lr": 0.05})
    assert config == {"optimizer": "sgd", "momentum": 0.9, "lr": 0.05}
    assert space.validate({"momentum": 0.9, "lr": 0.05}) == config
    with pytest.raises(InvalidArgument, match='"beta1" is inactive here'):
        space.validate({"momentum": 0.9, "lr": 0.05, "beta1": 0.9})


def test_a_condition_through_a_fixed_parameter_becomes_its_parents() -> None:
    # nesterov (fixed) exists only with sgd; a child of nesterov follows it.
    space = SearchSpace(
        (OPTIMIZER, MOMENTUM, IntParam("warmup", 0, 5)),
        (
            Condition("nesterov", "optimizer", ("sgd",)),
            Condition("momentum", "nesterov", (True,)),
            Condition("warmup", "nesterov", (False,)),
        ),
        (FixedParam("nesterov", True),),
    )
    searched = space.searched()
    assert searched is not None and searched.names == ("optimizer", "momentum")
    assert searched.condition("momentum") == Condition("momentum", "optimizer", ("sgd",))
    assert space.with_fixed({"optimizer": "adam"}) == {"optimizer": "adam"}
    assert space.with_fixed({"optimizer": "sgd", "momentum": 0.9}) == {
        "optimizer": "sgd",
        "momentum": 0.9,
        "nesterov": True,
    }


def test_validate_fills_in_a_fixed_value_and_takes_only_that_value() -> None:
    space = SearchSpace((MOMENTUM,), (), (SCHEDULE, FixedParam("layers", 3)))
    full = {"momentum": 0.9, "schedule": "cosine", "layers": 3}
    assert space.validate({"momentum": 0.9}) == full
    assert space.validate(full) == full
    assert space.validate({"momentum": 0.9, "layers": 3.0}) == full  # the same number
    assert type(space.validate({"momentum": 0.9, "layers": 3.0})["layers"]) is int
    for name, value in [("schedule", "step"), ("layers", 4), ("layers", "3"), ("layers", True)]:
        with pytest.raises(InvalidArgument) as raised:
            space.validate({"momentum": 0.9, name: value})
        assert f'params: "{name}" is fixed at' in str(raised.value)


def test_only_fixed_parameters_is_one_configuration() -> None:
    space = SearchSpace((), (), (SCHEDULE, FixedParam("layers", 3)))
    assert space.searched() is None
    rng = np.random.default_rng(0)
    for name, info in ALGORITHMS.items():
        first = fixed.suggest(info, space, History(seed=1), 3, rng, _settings(name), NO_DEADLINE)
        assert [s.params for s in first] == [{"schedule": "cosine", "layers": 3}] * (
            1 if name == "grid" else 3
        )
    later = fixed.suggest(
        ALGORITHMS["grid"],
        space,
        History(seed=1, n_suggested=1),
        3,
        rng,
        _settings("grid"),
        NO_DEADLINE,
    )
    assert later == []  # the grid is exhausted


def test_algorithms_never_see_the_fixed_parameters() -> None:
    space = SearchSpace((MOMENTUM, OPTIMIZER), (), (SCHEDULE,))
    history = History(
        seed=1,
        completed=tuple(
            Observation({"momentum": m, "optimizer": "adam", "schedule": "cosine"}, m)
            for m in (0.6, 0.7, 0.8, 0.9)
        ),
        pending=({"momentum": 0.55, "optimizer": "sgd", "schedule": "cosine"},),
    )
    stripped = fixed.strip_history(space, history)
    assert all("schedule" not in o.params for o in stripped.completed)
    assert all("schedule" not in p for p in stripped.pending)
    for name, info in ALGORITHMS.items():
        if name == "grid":
            continue
        rng = np.random.default_rng(0)
        out = fixed.suggest(info, space, history, 2, rng, _settings(name), NO_DEADLINE)
        assert len(out) == 2
        for suggestion in out:
            assert space.validate(suggestion.params) == suggestion.params
            assert suggestion.params["schedule"] == "cosine"


def test_a_space_without_fixed_parameters_is_searched_as_it_is() -> None:
    space = SearchSpace((MOMENTUM,))
    assert space.searched() is space
    assert space.without_fixed({"momentum": 0.7}) == {"momentum": 0.7}


def _settings(name: str) -> Any:
    return ALGORITHMS[name].parse_settings({})


@pytest.mark.parametrize("name", ["random", "gp", "genetic"])
def test_a_fixed_parameter_changes_nothing_the_algorithm_suggests(name: str) -> None:
    tuned = SearchSpace((MOMENTUM, OPTIMIZER))
    with_fixed = SearchSpace((MOMENTUM, OPTIMIZER), (), (SCHEDULE,))
    configs = [{"momentum": m, "optimizer": o} for m, o in [(0.6, "adam"), (0.9, "sgd")] * 3]
    plain = History(seed=1, completed=tuple(Observation(c, c["momentum"]) for c in configs))
    fixed_history = History(
        seed=1,
        completed=tuple(Observation({**c, "schedule": "cosine"}, c["momentum"]) for c in configs),
    )
    info, settings = ALGORITHMS[name], _settings(name)
    expected = info.suggest(tuned, plain, 2, np.random.default_rng(5), settings, NO_DEADLINE)
    got = fixed.suggest(
        info, with_fixed, fixed_history, 2, np.random.default_rng(5), settings, NO_DEADLINE
    )
    assert [s.params for s in got] == [{**s.params, "schedule": "cosine"} for s in expected]
