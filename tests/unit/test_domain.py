"""Search-space validation and spec round trips."""

from __future__ import annotations

import sys

import pytest

from asktell.server import spec_proto
from asktell.server.algorithms import ALGORITHMS
from asktell.server.domain import (
    MAX_EXACT_INT,
    AlgorithmConfig,
    CategoricalParam,
    DiscreteParam,
    FloatParam,
    Goal,
    IntParam,
    Objective,
    Scale,
    SearchSpace,
    StudySpec,
)
from asktell.server.errors import InvalidArgument

SPACE = SearchSpace(
    (
        FloatParam("lr", 1e-4, 1e-1, Scale.LOG),
        IntParam("hidden", 16, 256, step=16),
        IntParam("layers", 1, 64, Scale.LOG),
        DiscreteParam("batch", (64.0, 16.0, 32.0)),
        CategoricalParam("act", ("relu", "tanh")),
    )
)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: FloatParam("x", 2, 1), 'parameter "x": min 2 > max 1'),
        (lambda: FloatParam("x", -1, 1, Scale.LOG), "log scale needs min > 0"),
        (lambda: IntParam("x", 0, 10, Scale.LOG), "log scale needs min > 0"),
        (lambda: IntParam("x", 1, 10, Scale.LOG, step=3), "log scale needs step 1"),
        (lambda: IntParam("x", 0, 10, step=0), "step must be >= 1"),
        (lambda: DiscreteParam("x", ()), "values must not be empty"),
        (lambda: DiscreteParam("x", (1.0, 1.0)), "values must be unique"),
        (lambda: DiscreteParam("x", (float("inf"),)), "finite"),
        (lambda: FloatParam("x", -1e308, 1e308), 'parameter "x": the range max - min overflows'),
        (lambda: DiscreteParam("x", (-1e308, 0.0, 1e308)), "values' span max - min overflows"),
        (lambda: IntParam("x", 0, 2**53), r"max 9007199254740992 is out of range.*2\^53 - 1"),
        (lambda: IntParam("x", -(2**63), 0), r"min -9223372036854775808 is out of range"),
        (lambda: CategoricalParam("x", ("",)), "1 to 256 characters"),
        (lambda: SearchSpace(()), "search space is empty"),
        (lambda: SearchSpace((FloatParam("a b", 0, 1),)), "invalid name"),
        (lambda: SearchSpace((FloatParam("x\n", 0, 1),)), "invalid name"),  # `$` matched it
        (lambda: Objective("", Goal.MINIMIZE), "objective.metric"),
    ],
)
def test_invalid_values_are_rejected_with_the_field(build, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidArgument, match=message):
        build()


def test_the_widest_representable_ranges_are_accepted() -> None:
    widest = sys.float_info.max
    assert FloatParam("x", -widest / 2, widest / 2).high == widest / 2
    assert FloatParam("x", 5e-324, widest, Scale.LOG).low == 5e-324
    assert DiscreteParam("x", (widest, 0.0, 1.0)).values == (0.0, 1.0, widest)
    assert IntParam("x", -MAX_EXACT_INT, MAX_EXACT_INT).n_values == 2**54 - 1


def test_discrete_values_are_sorted_and_validate_normalises() -> None:
    assert SPACE["batch"].values == (16.0, 32.0, 64.0)  # type: ignore[union-attr]
    params = SPACE.validate({"lr": 0.01, "hidden": 32.0, "layers": 4, "batch": 16, "act": "tanh"})
    assert params == {"lr": 0.01, "hidden": 32, "layers": 4, "batch": 16.0, "act": "tanh"}
    assert isinstance(params["hidden"], int) and isinstance(params["batch"], float)
    with pytest.raises(InvalidArgument, match='"hidden" = 33 is outside its domain'):
        SPACE.validate({"lr": 0.01, "hidden": 33, "layers": 4, "batch": 16, "act": "tanh"})
    with pytest.raises(InvalidArgument, match='missing parameter "act"'):
        SPACE.validate({"lr": 0.01, "hidden": 32, "layers": 4, "batch": 16})


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_spec_round_trips_through_the_store_form(algorithm: str) -> None:
    info = ALGORITHMS[algorithm]
    spec = StudySpec(
        objectives=(Objective("acc", Goal.MAXIMIZE),),
        algorithm=AlgorithmConfig(algorithm, info.parse_settings({}), seed=3),
        space=SPACE,
        max_trials=9,
        lease_seconds=30.0,
        max_retries=2,
    )
    assert spec_proto.load_spec(spec_proto.dump_spec(spec)) == spec


@pytest.mark.parametrize("study_id", ["abc\n", "abc\n\n", "-abc", "Abc", ""])
def test_study_ids_match_whole(study_id: str) -> None:
    from asktell.server.domain import check_study_id

    with pytest.raises(InvalidArgument, match="is invalid"):
        check_study_id(study_id)
