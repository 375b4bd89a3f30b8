"""Property tests: every algorithm suggests only values inside the domain, whatever the ranges.

Ranges are drawn negative, tiny, huge, at the limits of a double (and of the exact
integers), single-valued, starting at -2^k and straddling 0; observed values are any
finite double, 1e308 and its neighbours included. Every call is a pure algorithm
call, so the file runs in seconds.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from asktell.server.algorithms import ALGORITHMS, History, Observation
from asktell.server.algorithms._gp.warp import median, warp
from asktell.server.algorithms.base import NO_DEADLINE
from asktell.server.algorithms.encoding import Encoder
from asktell.server.algorithms.genetic import GeneticSettings
from asktell.server.algorithms.gp import GpSettings
from asktell.server.algorithms.grid import GridSettings, axis_value, grid_size
from asktell.server.algorithms.random import RandomSettings
from asktell.server.domain import (
    MAX_EXACT_INT,
    CategoricalParam,
    DiscreteParam,
    FloatParam,
    IntParam,
    Param,
    Params,
    Scale,
    SearchSpace,
)
from asktell.server.errors import InvalidArgument

DOUBLE_MAX = sys.float_info.max
TINY = 5e-324  # the smallest positive (subnormal) double


def examples(n: int) -> settings:
    """Hypothesis settings for a property checked on `n` examples (no per-example deadline)."""
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------ strategies
# Magnitudes where doubles misbehave: zero, subnormal, the smallest normal, 2^53, the largest.
MAGNITUDES = [0.0, TINY, sys.float_info.min, 1e-300, 1e-3, 0.1, 1.0, 64.0, 2.0**53, DOUBLE_MAX]
powers_of_two = st.integers(-1074, 1023).map(lambda k: math.ldexp(1.0, k))
reals = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([*MAGNITUDES, *(-x for x in MAGNITUDES)]),
    powers_of_two,
    powers_of_two.map(lambda x: -x),
    st.floats(-1e3, 1e3),
)
positive = st.one_of(
    st.floats(min_value=TINY, allow_infinity=False),
    powers_of_two,
    st.sampled_from([TINY, sys.float_info.min, 1e-300, 1e-5, 1.0, 1e308, DOUBLE_MAX]),
)


def abs_le(limit: float) -> Callable[[float], bool]:
    """A filter for numbers no larger than `limit` in magnitude."""
    return lambda x: abs(x) <= limit


@st.composite
def linear_ranges(draw: st.DrawFn) -> tuple[float, float]:
    """(low, high) of a representable linear range, in every shape the bugs came from."""
    shape = draw(st.sampled_from(["any", "point", "minus_2k", "straddle", "ulps", "limit"]))
    if shape == "point":
        x = draw(reals)
        return x, x
    if shape == "minus_2k":  # low = -2^k: the last grid point overshot in half of these
        low = -math.ldexp(1.0, draw(st.integers(-60, 1022)))
        return low, max(low, draw(reals.filter(abs_le(1e300))))
    if shape == "straddle":
        return -draw(positive.filter(abs_le(1e307))), draw(positive.filter(abs_le(1e307)))
    if shape == "ulps":  # a range only a few doubles wide
        low = draw(reals.filter(abs_le(1e307)))
        high = low
        for _ in range(draw(st.integers(1, 4))):
            high = math.nextafter(high, math.inf)
        return low, high
    if shape == "limit":  # widths right at the largest double
        return draw(
            st.sampled_from(
                [
                    (-DOUBLE_MAX / 2, DOUBLE_MAX / 2),
                    (0.0, DOUBLE_MAX),
                    (-DOUBLE_MAX, 0.0),
                    (DOUBLE_MAX / 2, DOUBLE_MAX),
                    (-DOUBLE_MAX, -1e308),
                    (math.nextafter(DOUBLE_MAX, 0.0), DOUBLE_MAX),
                ]
            )
        )
    low, high = sorted((draw(reals), draw(reals)))
    assume(math.isfinite(high - low))
    return low, high


@st.composite
def float_params(draw: st.DrawFn, grid_points: st.SearchStrategy[int]) -> FloatParam:
    if draw(st.booleans()):
        low, high = sorted((draw(positive), draw(positive)))
        scale = Scale.LOG
    else:
        low, high = draw(linear_ranges())
        scale = Scale.LINEAR
    return FloatParam("f", low, high, scale, draw(grid_points))


exact_ints = st.one_of(
    st.integers(-MAX_EXACT_INT, MAX_EXACT_INT),
    st.integers(-100, 100),
    st.sampled_from([-MAX_EXACT_INT, MAX_EXACT_INT, 0, -1, 1, -(2**31), 2**31 - 1]),
)


@st.composite
def int_params(draw: st.DrawFn, max_values: int = MAX_EXACT_INT) -> IntParam:
    """Linear ints on a step lattice, or log ints, anywhere within +-(2^53 - 1)."""
    if draw(st.booleans()):
        low = draw(st.one_of(st.integers(1, MAX_EXACT_INT), st.sampled_from([1, 2, MAX_EXACT_INT])))
        high = draw(st.integers(low, min(MAX_EXACT_INT, low + max_values - 1)))
        return IntParam("i", low, high, Scale.LOG)
    low = draw(exact_ints)
    step = draw(st.one_of(st.just(1), st.integers(1, 16), st.integers(1, MAX_EXACT_INT)))
    n_values = draw(st.integers(1, max_values))
    n_values = min(n_values, (MAX_EXACT_INT - low) // step + 1)
    return IntParam("i", low, low + (n_values - 1) * step, Scale.LINEAR, step)


@st.composite
def discrete_params(draw: st.DrawFn) -> DiscreteParam:
    values = draw(st.lists(reals, min_size=1, max_size=6, unique=True))
    assume(math.isfinite(max(values) - min(values)))
    return DiscreteParam("d", tuple(values))


categorical_params = st.lists(
    st.text("abcxyz", min_size=1, max_size=3), min_size=1, max_size=5, unique=True
).map(lambda values: CategoricalParam("c", tuple(values)))


def spaces(param: st.SearchStrategy[Param], max_params: int = 4) -> st.SearchStrategy[SearchSpace]:
    """Spaces of 1 to `max_params` parameters named p0, p1, ..."""
    return st.lists(param, min_size=1, max_size=max_params).map(
        lambda params: SearchSpace(
            tuple(dataclasses.replace(p, name=f"p{i}") for i, p in enumerate(params))
        )
    )


any_param = st.one_of(
    float_params(st.integers(0, 10_000)), int_params(), discrete_params(), categorical_params
)
any_space = spaces(any_param)
# Grids small enough to walk to the end: a few points per axis, any ranges.
grid_space = spaces(
    st.one_of(
        float_params(st.integers(1, 5)),
        int_params(max_values=5),
        discrete_params(),
        categorical_params,
    ),
    max_params=3,
)
observed_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, DOUBLE_MAX, -DOUBLE_MAX, 1e-300, -1e-300, 0.0, TINY]),
)
seeds = st.integers(0, 2**32 - 1)


def _assert_in_domain(space: SearchSpace, configs: list[Params]) -> None:
    for config in configs:
        assert space.validate(config) == config, config


def _random_configs(space: SearchSpace, n: int, seed: int) -> list[Params]:
    unit = np.random.default_rng(seed).random((n, len(space.params)))
    return list(Encoder.from_space(space).from_unit(unit))


def _history(space: SearchSpace, values: list[float], n_pending: int, seed: int) -> History:
    """Random configurations with `values` completed, then `n_pending` more still running."""
    configs = _random_configs(space, len(values) + n_pending, seed)
    done, running = configs[: len(values)], configs[len(values) :]
    return History(
        seed=seed,
        n_suggested=len(configs),
        completed=tuple(Observation(c, v) for c, v in zip(done, values, strict=True)),
        pending=tuple(running),
    )


# ------------------------------------------------------------------ every algorithm
@examples(400)
@given(space=any_space, quasi=st.booleans(), seed=seeds, n_suggested=st.integers(0, 10_000))
def test_random_and_sobol_stay_in_the_domain(
    space: SearchSpace, quasi: bool, seed: int, n_suggested: int
) -> None:
    info = ALGORITHMS["random"]
    history = History(seed=seed, n_suggested=n_suggested)
    out = info.suggest(
        space, history, 16, np.random.default_rng(seed), RandomSettings(quasi), NO_DEADLINE
    )
    _assert_in_domain(space, [s.params for s in out])


@examples(300)
@given(space=grid_space, shuffle=st.booleans(), seed=seeds, chunks=st.lists(st.integers(1, 7)))
def test_a_grid_hands_out_exactly_its_points_then_is_exhausted(
    space: SearchSpace, shuffle: bool, seed: int, chunks: list[int]
) -> None:
    info, grid = ALGORITHMS["grid"], GridSettings(shuffle)
    info.check_space(space, grid)
    size = grid_size(space)
    handed_out: list[Params] = []
    sizes = iter(chunks)
    while True:
        n = next(sizes, 3)
        history = History(seed=seed, n_suggested=len(handed_out))
        out = info.suggest(space, history, n, np.random.default_rng(0), grid, NO_DEADLINE)
        assert len(out) == min(n, size - len(handed_out))
        if not out:
            break
        handed_out += [s.params for s in out]
    assert len(handed_out) == size
    _assert_in_domain(space, handed_out)
    # Every point once: the shuffled walk is a permutation of the lexicographic one.
    in_order = [
        s.params
        for s in info.suggest(
            space, History(seed=seed), size, np.random.default_rng(0), GridSettings(), NO_DEADLINE
        )
    ]
    assert sorted(map(repr, handed_out)) == sorted(map(repr, in_order))


@examples(500)
@given(param=float_params(st.integers(2, 10_000)))
def test_a_float_axis_starts_at_min_and_ends_at_max_exactly(param: FloatParam) -> None:
    assert axis_value(param, 0) == param.low
    assert axis_value(param, param.grid_points - 1) == param.high
    for i in (1, param.grid_points // 2, param.grid_points - 2):
        assert param.low <= axis_value(param, i) <= param.high


@examples(40)  # each example is a full model fit and acquisition search
@given(
    space=spaces(any_param, max_params=3),
    values=st.lists(observed_values, min_size=1, max_size=6),
    n_pending=st.integers(0, 2),
    acquisition=st.sampled_from(["log_ei", "ei", "ucb"]),
    seed=seeds,
)
def test_gp_stays_in_the_domain_whatever_it_observed(
    space: SearchSpace, values: list[float], n_pending: int, acquisition: str, seed: int
) -> None:
    settings = GpSettings(n_initial_trials=1, acquisition=acquisition)
    info = ALGORITHMS["gp"]
    info.check_space(space, settings)
    history = _history(space, values, n_pending, seed)
    out = info.suggest(space, history, 1, np.random.default_rng(seed), settings, NO_DEADLINE)
    assert len(out) == 1
    _assert_in_domain(space, [s.params for s in out])


@examples(200)
@given(
    space=any_space,
    values=st.lists(observed_values, min_size=2, max_size=12),
    n_pending=st.integers(0, 3),
    seed=seeds,
)
def test_genetic_stays_in_the_domain_whatever_it_observed(
    space: SearchSpace, values: list[float], n_pending: int, seed: int
) -> None:
    settings = GeneticSettings(population_size=2)  # breeding from the second suggestion
    history = _history(space, values, n_pending, seed)
    out = ALGORITHMS["genetic"].suggest(
        space, history, 6, np.random.default_rng(seed), settings, NO_DEADLINE
    )
    assert len(out) == 6
    _assert_in_domain(space, [s.params for s in out])


# ------------------------------------------------------------------ the encoding
@examples(400)
@given(space=any_space, data=st.data(), seed=seeds)
def test_any_cube_point_decodes_into_the_domain(
    space: SearchSpace, data: st.DataObject, seed: int
) -> None:
    encoder = Encoder.from_space(space)
    coordinate = st.one_of(st.floats(-0.5, 1.5), st.sampled_from([0.0, 1.0]), st.floats())
    X = np.array(data.draw(st.lists(coordinate, min_size=encoder.n_dims, max_size=encoder.n_dims)))
    configs = _random_configs(space, 8, seed) + encoder.decode(X)
    _assert_in_domain(space, configs)
    # Encoding a valid configuration lands in the cube, and decoding it stays valid.
    encoded = encoder.encode(configs)
    assert np.all((encoded >= 0.0) & (encoded <= 1.0))
    _assert_in_domain(space, encoder.decode(encoded))


# ------------------------------------------------------------------ what specs refuse
huge = st.floats(min_value=DOUBLE_MAX / 4, max_value=DOUBLE_MAX)  # pairs near the widest range


@examples(1000)
@given(
    pair=st.one_of(st.tuples(reals, reals), st.tuples(huge.map(lambda x: -x), huge)),
    grid_points=st.integers(0, 4),
)
def test_a_float_range_is_accepted_exactly_when_its_width_is_finite(
    pair: tuple[float, float], grid_points: int
) -> None:
    low, high = sorted(pair)
    if math.isfinite(high - low):
        assert FloatParam("x", low, high, grid_points=grid_points).high == high
    else:
        with pytest.raises(InvalidArgument, match=r'"x": the range max - min overflows'):
            FloatParam("x", low, high, grid_points=grid_points)


@examples(500)
@given(bound=st.integers(-(2**63), 2**63 - 1))
def test_int_bounds_are_accepted_exactly_within_the_exact_doubles(bound: int) -> None:
    low, high = sorted((bound, 0))
    if abs(bound) <= MAX_EXACT_INT:
        assert IntParam("n", low, high).n_values == high - low + 1
    else:
        with pytest.raises(InvalidArgument, match=r"within \+-9007199254740991 \(2\^53 - 1\)"):
            IntParam("n", low, high)


# ------------------------------------------------------------------ the GP's output warping
@examples(1000)
@given(values=st.lists(observed_values, min_size=1, max_size=30))
def test_warping_is_finite_and_keeps_the_order_for_any_finite_values(values: list[float]) -> None:
    y = np.array(values)
    for warped in (warp(y), warp(y, outliers_only=True)):
        assert np.all(np.isfinite(warped))
        assert np.all(np.diff(warped[np.argsort(y, kind="stable")]) >= 0.0)  # monotone
    assert min(values) <= median(y) <= max(values)


def test_the_outliers_only_warp_is_linear_inside_the_fence_and_compresses_beyond_it() -> None:
    y = np.array([0.1, 0.4, 0.2, 0.9, 0.5, 0.3, 0.7, 0.6])
    warped = warp(y, outliers_only=True)
    assert np.allclose(warped, (y - y.mean()) / y.std())  # no outlier: standardised only
    with_outlier = np.append(y, 1e6)
    diverged = warp(with_outlier, outliers_only=True)
    # The diverged run stays the worst, but does not squash the others together: plain
    # standardisation leaves them within 1e-6 of each other, the warp about 0.1 apart.
    standardised = (with_outlier - with_outlier.mean()) / with_outlier.std()
    assert np.argmax(diverged) == len(y)
    assert np.std(diverged[:-1]) > 0.05 > 1e4 * np.std(standardised[:-1])
