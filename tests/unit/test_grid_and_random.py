"""Grid indexing, shuffling and exhaustion; random reproducibility; the encoding."""

from __future__ import annotations

import numpy as np
import pytest

from asktell.server.algorithms import ALGORITHMS, Deadline, History
from asktell.server.algorithms.encoding import Encoder
from asktell.server.algorithms.grid import GridSettings, grid_point, grid_size, shuffled_index
from asktell.server.algorithms.grid import suggest as grid_suggest
from asktell.server.algorithms.random import RandomSettings
from asktell.server.algorithms.random import suggest as random_suggest
from asktell.server.domain import (
    CategoricalParam,
    DiscreteParam,
    FloatParam,
    IntParam,
    ParamValue,
    Scale,
    SearchSpace,
)

MIXED = SearchSpace(
    (
        FloatParam("lr", 1e-5, 1.0, Scale.LOG, grid_points=4),
        IntParam("width", 8, 512, Scale.LOG),
        IntParam("depth", 1, 9, step=2),
        DiscreteParam("batch", (16.0, 32.0, 64.0)),
        CategoricalParam("opt", ("adam", "sgd", "rmsprop")),
    )
)


def test_a_grid_too_large_to_build_is_indexed_lazily() -> None:
    # 10^60 points: building the grid, or walking it up to the cursor, would never return;
    # indexing it directly answers at any position, the very last one included.
    space = SearchSpace(tuple(IntParam(f"p{i}", 0, 999) for i in range(20)))
    size = grid_size(space)
    assert size == 10**60
    assert grid_point(space, size - 1) == {f"p{i}": 999 for i in range(20)}
    assert grid_point(space, size // 2) == {"p0": 500, **{f"p{i}": 0 for i in range(1, 20)}}
    rng = np.random.default_rng(0)

    def ask(n_suggested: int, n: int, shuffle: bool) -> list[dict[str, ParamValue]]:
        history = History(seed=5, n_suggested=n_suggested)
        return [
            dict(s.params)
            for s in grid_suggest(space, history, n, rng, GridSettings(shuffle), Deadline())
        ]

    # Only three points remain, then the grid is exhausted, in order or shuffled.
    assert ask(size - 3, 10, False) == [grid_point(space, size - k) for k in (3, 2, 1)]
    assert len({tuple(p.values()) for p in ask(size - 3, 10, True)}) == 3
    assert ask(size, 1, True) == []
    shuffled = ask(0, 100, True)
    assert len({tuple(p.values()) for p in shuffled}) == 100
    for params in shuffled:
        space.validate(params)


def test_grid_points_are_lexicographic_and_exhaust() -> None:
    space = SearchSpace((IntParam("a", 0, 2), CategoricalParam("b", ("x", "y"))))
    points = [grid_point(space, i) for i in range(grid_size(space))]
    assert points[:3] == [{"a": 0, "b": "x"}, {"a": 0, "b": "y"}, {"a": 1, "b": "x"}]
    done = grid_suggest(space, History(seed=0, n_suggested=6), 4, None, GridSettings(), Deadline())  # type: ignore[arg-type]
    assert done == []


@pytest.mark.parametrize("size", [1, 2, 3, 17, 1000, 4097])
def test_shuffle_is_a_seeded_bijection(size: int) -> None:
    image = [shuffled_index(i, size, 11) for i in range(size)]
    assert sorted(image) == list(range(size))
    assert image == [shuffled_index(i, size, 11) for i in range(size)]
    if size > 16:
        assert image != list(range(size))
        assert image != [shuffled_index(i, size, 12) for i in range(size)]


def test_float_grid_is_spaced_in_its_scale() -> None:
    space = SearchSpace((FloatParam("lr", 1e-4, 1e-1, Scale.LOG, grid_points=4),))
    values = [grid_point(space, i)["lr"] for i in range(4)]
    assert values == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1])
    assert (values[0], values[-1]) == (1e-4, 1e-1)  # the ends exactly, not exp(log(x))


@pytest.mark.parametrize(
    ("low", "high", "scale"),
    [
        (-64.0, 0.001, Scale.LINEAR),
        (-1.0, 0.1, Scale.LINEAR),
        (-(2.0**40), 0.3, Scale.LINEAR),
        (-8e307, 9e307, Scale.LINEAR),
        (1e-3, 7.0, Scale.LOG),
        (5e-324, 1.7976931348623157e308, Scale.LOG),
    ],
)
def test_a_float_grid_ends_exactly_at_max_and_finishes(
    low: float, high: float, scale: Scale
) -> None:
    # low + 1.0 * (high - low) overshot max for these: every Ask then failed on the last point.
    space = SearchSpace((FloatParam("p0", low, high, scale, grid_points=2),))
    out = grid_suggest(space, History(seed=0), 5, None, GridSettings(), Deadline())  # type: ignore[arg-type]
    assert [s.params["p0"] for s in out] == [low, high]
    for suggestion in out:
        space.validate(suggestion.params)


@pytest.mark.parametrize("quasi", [False, True])
def test_random_is_valid_and_reproducible(quasi: bool) -> None:
    settings = RandomSettings(quasi_random=quasi)
    history = History(seed=3, n_suggested=7)
    a = random_suggest(MIXED, history, 200, np.random.default_rng([3, 8]), settings, Deadline())
    b = random_suggest(MIXED, history, 200, np.random.default_rng([3, 8]), settings, Deadline())
    assert a == b
    for suggestion in a:
        MIXED.validate(suggestion.params)
    widths = [s.params["width"] for s in a]
    assert sum(w < 64 for w in widths) > 50  # log-uniform: small widths are common
    assert {s.params["opt"] for s in a} == {"adam", "sgd", "rmsprop"}


def test_sobol_continues_across_asks() -> None:
    settings = RandomSettings(quasi_random=True)
    rng = np.random.default_rng(0)
    whole = random_suggest(MIXED, History(seed=1), 8, rng, settings, Deadline())
    first = random_suggest(MIXED, History(seed=1), 3, rng, settings, Deadline())
    rest = random_suggest(MIXED, History(seed=1, n_suggested=3), 5, rng, settings, Deadline())
    assert whole == first + rest


def test_encoding_round_trips_and_decodes_any_point() -> None:
    encoder = Encoder.from_space(MIXED)
    assert encoder.n_dims == 4 + 3
    configs = [
        s.params
        for s in ALGORITHMS["random"].suggest(
            MIXED, History(seed=0), 50, np.random.default_rng(1), RandomSettings(), Deadline()
        )
    ]
    X = encoder.encode(configs)
    assert X.shape == (50, 7) and X.min() >= 0 and X.max() <= 1
    decoded = encoder.decode(X)
    for original, back in zip(configs, decoded, strict=True):
        assert back["lr"] == pytest.approx(original["lr"])
        assert {k: v for k, v in back.items() if k != "lr"} == {
            k: v for k, v in original.items() if k != "lr"
        }
    for config in encoder.decode(np.random.default_rng(2).uniform(-0.5, 1.5, (100, 7))):
        MIXED.validate(config)
