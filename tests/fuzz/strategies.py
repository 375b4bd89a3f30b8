"""Hypothesis strategies that build asktell.v1 request messages field by field.

Strings cover the empty string, any Unicode code point a protobuf string can
carry (controls and NUL included), and long runs up to a few thousand
characters; numbers cover NaN, the infinities, signed zeros, the type's
extremes and values just past them; enums take known and unknown numbers;
oneofs pick any branch or none. Names are drawn both well-formed (pointing at
the fixture's studies and trials, or at missing ones) and malformed.

Each factory is cached: a strategy is immutable, and building the nested ones again
for every parameter of every drawn spec was most of the fuzz tests' CPU.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import strategies as st

from asktell.server.domain import STUDY_ID_PATTERN
from asktell.v1 import resources_pb2 as rpb
from asktell.v1 import service_pb2 as pb

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
UINT32 = (0, 2**32 - 1)
UINT64 = (0, 2**64 - 1)

# Code points a protobuf string can hold: everything but the surrogates.
_CHARS = st.characters(exclude_categories=("Cs",))


@functools.cache
def texts(max_size: int = 24) -> st.SearchStrategy[str]:
    """Short strings of any characters, a few special ones, and long repeated runs."""
    return st.one_of(
        st.text(_CHARS, max_size=max_size),
        st.sampled_from(["", " ", "\x00", "a\x00b", "\n", "é", "🙂", "'; DROP TABLE trials; --"]),
        st.builds(
            lambda c, n: c * n, st.text(_CHARS, min_size=1, max_size=3), st.integers(0, 5000)
        ),
    )


def mostly(usual: st.SearchStrategy[Any], other: st.SearchStrategy[Any], p: float = 0.7) -> Any:
    """`usual` about `p` of the time, else `other` (so most requests get past the first check)."""
    return st.integers(0, 99).flatmap(lambda i: usual if i < p * 100 else other)


@functools.cache
def ids() -> st.SearchStrategy[str]:
    """Worker and request ids: mostly short printable ones, sometimes anything."""
    return mostly(
        st.text(st.characters(min_codepoint=33, max_codepoint=0x2FFF), max_size=20), texts()
    )


@functools.cache
def doubles() -> st.SearchStrategy[float]:
    return st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(
            [0.0, -0.0, 1.0, -1.0, math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, 1e-300]
        ),
        st.floats(-10, 10),
    )


@functools.cache
def ints(bounds: tuple[int, int], small: tuple[int, int] = (-3, 12)) -> st.SearchStrategy[int]:
    lo, hi = bounds
    return st.one_of(
        st.integers(max(lo, small[0]), min(hi, small[1])),
        st.integers(lo, hi),
        st.sampled_from(sorted({lo, hi, lo + 1, hi - 1, 0})),
    )


@functools.cache
def enums(known: int) -> st.SearchStrategy[int]:
    """Enum numbers: the known ones (0..known), a few unknown ones, any int32."""
    return st.one_of(st.integers(0, known), st.integers(-3, known + 3), st.integers(*INT32))


@functools.cache
def durations() -> st.SearchStrategy[Duration]:
    return st.builds(
        Duration,
        seconds=ints((-315_576_000_000, 315_576_000_000), (-2, 700)),
        nanos=ints((-999_999_999, 999_999_999), (0, 0)),
    )


@functools.cache
def timestamps() -> st.SearchStrategy[Timestamp]:
    return st.builds(
        Timestamp,
        seconds=ints((-62_135_596_800, 253_402_300_799), (0, 2_000_000_000)),
        nanos=ints((0, 999_999_999), (0, 0)),
    )


# ------------------------------------------------------------------ names
STUDIES = ("base", "stopped", "nope")

valid_study_ids = st.one_of(
    st.sampled_from(STUDIES), st.from_regex(STUDY_ID_PATTERN, fullmatch=True)
)
study_ids = st.one_of(valid_study_ids, texts(), st.just("a" * 64), st.just("a" * 300))


@functools.cache
def study_names() -> st.SearchStrategy[str]:
    return mostly(
        st.sampled_from(["studies/base", "studies/base", "studies/stopped"]), _study_names()
    )


@functools.cache
def _study_names() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from([f"studies/{s}" for s in STUDIES]),
        st.builds("studies/{}".format, study_ids),
        st.sampled_from(["", "studies/", "studies/base/", "studies//base", "base", "studies/BASE"]),
        texts(),
    )


@functools.cache
def trial_names() -> st.SearchStrategy[str]:
    usual = st.builds("studies/base/trials/{}".format, st.integers(1, 4))
    return mostly(usual, _trial_names())


@functools.cache
def _trial_names() -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(
            "studies/{}/trials/{}".format,
            st.sampled_from(STUDIES),
            st.one_of(st.integers(0, 7), st.integers(-5, 10**20)),
        ),
        st.builds("studies/{}/trials/{}".format, study_ids, texts(8)),
        st.sampled_from(["studies/base/trials/", "studies/base/trials/01", "studies/base/1"]),
        study_names(),
    )


# ------------------------------------------------------------------ values
@functools.cache
def parameter_values() -> st.SearchStrategy[rpb.ParameterValue]:
    return st.one_of(
        st.builds(rpb.ParameterValue, number_value=doubles()),
        st.builds(rpb.ParameterValue, int_value=ints(INT64)),
        st.builds(rpb.ParameterValue, string_value=texts()),
        st.builds(rpb.ParameterValue, bool_value=st.booleans()),
        st.just(rpb.ParameterValue()),
    )


# The fixture's space: x float [-5, 5], n int [1, 10], c categorical, d discrete.
_VALID_VALUES = {
    "x": st.builds(rpb.ParameterValue, number_value=st.floats(-5, 5)),
    "n": st.builds(rpb.ParameterValue, int_value=st.integers(1, 10)),
    "c": st.builds(rpb.ParameterValue, string_value=st.sampled_from(["a", "b", "c"])),
    "d": st.builds(rpb.ParameterValue, number_value=st.sampled_from([0.5, 1.0, 2.0])),
}


@functools.cache
def param_maps() -> st.SearchStrategy[dict[str, rpb.ParameterValue]]:
    """Maps for the fixture's space: valid ones, valid ones with a corruption, random ones."""
    valid = st.fixed_dictionaries(_VALID_VALUES)
    keys = st.one_of(st.sampled_from(["x", "n", "c", "d", "y", ""]), texts(10))

    @st.composite
    def corrupted(draw: st.DrawFn) -> dict[str, rpb.ParameterValue]:
        values = dict(draw(valid))
        action = draw(st.sampled_from(["drop", "change", "add"]))
        key = draw(st.sampled_from(sorted(values)))
        if action == "drop":
            del values[key]
        elif action == "change":
            values[key] = draw(parameter_values())
        else:
            values[draw(keys)] = draw(parameter_values())
        return values

    return mostly(
        valid, st.one_of(corrupted(), st.dictionaries(keys, parameter_values(), max_size=6)), 0.5
    )


@functools.cache
def attr_maps() -> st.SearchStrategy[dict[str, rpb.ParameterValue]]:
    """Attribute maps: mostly valid keys and values, sometimes anything (unset values too)."""
    keys = mostly(st.sampled_from(["model_uri", "loss", "ok", "epochs", "_a.b-c"]), texts(70))
    valid = st.one_of(
        st.builds(rpb.ParameterValue, number_value=st.floats(-1e6, 1e6)),
        st.builds(rpb.ParameterValue, int_value=ints(INT64)),
        st.builds(rpb.ParameterValue, string_value=st.text(max_size=20)),
        st.builds(rpb.ParameterValue, bool_value=st.booleans()),
    )
    return mostly(
        st.dictionaries(keys, valid, max_size=4),
        st.dictionaries(keys, st.one_of(parameter_values(), valid), max_size=70),
        0.7,
    )


# ------------------------------------------------------------------ specs
_PARAM_NAMES = st.one_of(
    st.sampled_from(["x", "lr", "_a.b-c", "p" * 64]),
    st.from_regex(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$", fullmatch=True),
    texts(),
)


def _sane_parameter(draw: st.DrawFn, name: str) -> rpb.ParameterSpec:
    """A parameter the server should accept, of a random type."""
    kind = draw(st.sampled_from(["float", "int", "discrete", "categorical"]))
    if kind == "float":
        a, b = sorted(draw(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=2)))
        log = a > 0 and draw(st.booleans())
        return rpb.ParameterSpec(
            name=name,
            float_parameter=rpb.FloatParameter(
                min=a,
                max=b,
                scale=2 if log else draw(st.integers(0, 1)),
                grid_points=draw(st.integers(0, 6)),
            ),
        )
    if kind == "int":
        a, b = sorted(draw(st.lists(st.integers(-(2**40), 2**40), min_size=2, max_size=2)))
        step = draw(st.integers(1, 3))
        b = a + (b - a) // step * step
        return rpb.ParameterSpec(name=name, int_parameter=rpb.IntParameter(min=a, max=b, step=step))
    if kind == "discrete":
        values = draw(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=6, unique=True))
        return rpb.ParameterSpec(name=name, discrete_parameter=rpb.DiscreteParameter(values=values))
    values = draw(
        st.lists(st.text(_CHARS, min_size=1, max_size=12), min_size=1, max_size=6, unique=True)
    )
    return rpb.ParameterSpec(
        name=name, categorical_parameter=rpb.CategoricalParameter(values=values)
    )


@functools.cache
def parameter_specs() -> st.SearchStrategy[rpb.ParameterSpec]:
    """Parameters with any name and any field values, of a random type or none."""
    floats = st.builds(
        rpb.FloatParameter,
        min=doubles(),
        max=doubles(),
        scale=enums(2),
        grid_points=ints(UINT32, (0, 12)),
    )
    integers = st.builds(
        rpb.IntParameter,
        min=ints(INT64),
        max=ints(INT64),
        scale=enums(2),
        step=ints(INT64, (-1, 4)),
    )
    discrete = st.builds(
        rpb.DiscreteParameter,
        values=st.lists(doubles(), max_size=8),
        int_values=mostly(st.just([]), st.lists(ints(INT64), max_size=8)),
    )
    categorical = st.builds(
        rpb.CategoricalParameter,
        values=st.lists(texts(), max_size=8),
        choices=mostly(st.just([]), st.lists(parameter_values(), max_size=8)),
    )
    # A condition on a parent that may or may not exist, with values of any kind.
    when = mostly(
        st.none(),
        st.builds(
            rpb.ParentCondition,
            parent=st.one_of(st.sampled_from(["x", "lr", "c", "n"]), texts()),
            values=st.lists(parameter_values(), max_size=4),
        ),
    )
    return st.one_of(
        st.builds(rpb.ParameterSpec, name=_PARAM_NAMES, float_parameter=floats, when=when),
        st.builds(rpb.ParameterSpec, name=_PARAM_NAMES, int_parameter=integers, when=when),
        st.builds(rpb.ParameterSpec, name=_PARAM_NAMES, discrete_parameter=discrete, when=when),
        st.builds(
            rpb.ParameterSpec, name=_PARAM_NAMES, categorical_parameter=categorical, when=when
        ),
        st.builds(rpb.ParameterSpec, name=_PARAM_NAMES),
    )


@functools.cache
def _algorithms() -> st.SearchStrategy[rpb.Algorithm]:
    sane = st.one_of(
        st.builds(lambda s: {"grid": rpb.GridSettings(shuffle=s)}, st.booleans()),
        st.builds(lambda q: {"random": rpb.RandomSettings(quasi_random=q)}, st.booleans()),
        st.builds(
            lambda n, a: {"gp": rpb.GpSettings(n_initial_trials=n, acquisition=a)},
            st.integers(0, 3),
            st.integers(0, 3),
        ),
        st.builds(lambda p: {"genetic": rpb.GeneticSettings(population_size=p)}, st.integers(0, 6)),
    )
    wild = st.one_of(
        st.builds(
            lambda n, a, b: {"gp": rpb.GpSettings(n_initial_trials=n, acquisition=a, ucb_beta=b)},
            ints(UINT32, (0, 4)),
            enums(3),
            doubles(),
        ),
        st.builds(
            lambda p, m, c, t, e: {
                "genetic": rpb.GeneticSettings(
                    population_size=p,
                    mutation_rate=m,
                    crossover_rate=c,
                    tournament_size=t,
                    elite_count=e,
                )
            },
            ints(UINT32, (0, 6)),
            doubles(),
            doubles(),
            ints(UINT32, (0, 4)),
            ints(UINT32, (0, 3)),
        ),
        st.just({}),
    )

    @st.composite
    def build(draw: st.DrawFn) -> rpb.Algorithm:
        algorithm = rpb.Algorithm(**draw(mostly(sane, wild)))
        if draw(st.booleans()):
            algorithm.seed = draw(mostly(st.integers(0, 2**63 - 1), ints(UINT64)))
        if draw(mostly(st.just(False), st.booleans())):
            algorithm.suggestion_deadline.CopyFrom(draw(durations()))
        return algorithm

    return build()


@functools.cache
def _early_stopping() -> st.SearchStrategy[rpb.EarlyStopping]:
    return st.one_of(
        st.just(rpb.EarlyStopping()),
        st.builds(
            lambda s, t: rpb.EarlyStopping(median=rpb.MedianStopping(min_steps=s, min_trials=t)),
            ints(UINT64),
            ints(UINT32),
        ),
        st.builds(
            lambda r, f: rpb.EarlyStopping(
                asha=rpb.SuccessiveHalving(min_resource=r, reduction_factor=f)
            ),
            ints(UINT64),
            ints(UINT32),
        ),
    )


METRICS = ["loss", "acc", "lat", "mem", "recall"]


@functools.cache
def _objectives() -> st.SearchStrategy[rpb.Objective]:
    return st.builds(
        lambda m, g: rpb.Objective(metric=m, goal=g),
        mostly(st.sampled_from(METRICS), texts(), 0.8),
        mostly(st.integers(1, 2), enums(2), 0.8),
    )


@st.composite
def _constraints(draw: st.DrawFn) -> rpb.Constraint:
    constraint = rpb.Constraint(metric=draw(mostly(st.sampled_from(METRICS), texts(), 0.8)))
    for bound in ("min", "max"):
        if draw(mostly(st.booleans(), st.just(True))):
            setattr(constraint, bound, draw(mostly(st.floats(-10, 10), doubles())))
    return constraint


@functools.cache
def metric_maps() -> st.SearchStrategy[dict[str, float]]:
    """Told metrics: mostly the fuzzed specs' names with plain numbers, sometimes anything
    (and sometimes more than the 64 a trial may hold)."""
    usual = st.dictionaries(
        mostly(st.sampled_from(METRICS), texts(), 0.8),
        mostly(st.floats(-1e6, 1e6), doubles()),
        max_size=6,
    )
    many = st.builds(lambda n: {f"m{i}": 1.0 for i in range(n)}, st.integers(60, 70))
    return mostly(usual, many, 0.95)


@st.composite
def study_specs(draw: st.DrawFn) -> rpb.StudySpec:
    """Specs mostly valid in every field, each field sometimes replaced by anything."""
    n_params = draw(mostly(st.integers(1, 4), st.sampled_from([0, 63, 64, 65]), 0.9))
    names = [f"p{i}" for i in range(n_params)]
    parameters = [draw(mostly(st.builds(lambda: None), parameter_specs(), 0.85)) for _ in names]
    parameters = [
        spec if spec is not None else _sane_parameter(draw, name)
        for spec, name in zip(parameters, names, strict=True)
    ]
    spec = rpb.StudySpec(
        objective=rpb.Objective(
            metric=draw(mostly(st.just("loss"), texts(), 0.8)),
            goal=draw(mostly(st.integers(1, 2), enums(2), 0.8)),
        ),
        algorithm=draw(_algorithms()),
        parameters=parameters,
        max_trials=draw(mostly(st.integers(0, 5), ints(UINT32, (0, 5)), 0.8)),
        max_retries=draw(mostly(st.integers(0, 2), ints(UINT32, (0, 3)), 0.8)),
        early_stopping=draw(mostly(st.just(rpb.EarlyStopping()), _early_stopping(), 0.6)),
    )
    # Several objectives (with or without `objective`), constraints, an early-stopping metric.
    objectives = draw(mostly(st.just([]), st.lists(_objectives(), min_size=1, max_size=9), 0.6))
    if objectives:
        if draw(st.booleans()):
            spec.objective.CopyFrom(objectives[0])
        elif draw(st.booleans()):
            spec.ClearField("objective")
        spec.objectives.extend(objectives)
    spec.constraints.extend(draw(mostly(st.just([]), st.lists(_constraints(), max_size=17), 0.6)))
    if draw(mostly(st.just(False), st.booleans(), 0.8)):
        spec.early_stopping.metric = draw(mostly(st.sampled_from(METRICS), texts()))
    if draw(mostly(st.just(False), st.booleans(), 0.6)):
        spec.lease_duration.CopyFrom(draw(durations()))
    return spec


# ------------------------------------------------------------------ requests
@st.composite
def ask_requests(draw: st.DrawFn) -> pb.AskRequest:
    request = pb.AskRequest(
        study=draw(study_names()),
        worker_id=draw(ids()),
        request_id=draw(ids()),
        resume=draw(st.booleans()),
    )
    if draw(st.booleans()):
        request.count = draw(mostly(st.integers(1, 4), ints(INT32, (-2, 4))))
    return request


@st.composite
def tell_requests(draw: st.DrawFn) -> pb.TellRequest:
    request = pb.TellRequest(
        trial=draw(trial_names()),
        state=draw(mostly(st.integers(2, 4), enums(4))),
        reason=draw(mostly(st.just(""), texts())),
        worker_id=draw(mostly(st.sampled_from(["", "owner", "other"]), ids())),
        attrs=draw(mostly(st.just({}), attr_maps(), 0.6)),
        values=draw(mostly(st.just({}), metric_maps(), 0.6)),
    )
    if draw(st.booleans()):
        request.value = draw(mostly(st.floats(-1e6, 1e6), doubles()))
    return request


# UpdateStudy's mask: the paths that may change, those that may not, and anything.
MUTABLE_PATHS = ["max_trials", "lease_duration", "max_retries", "algorithm.suggestion_deadline"]
FIXED_PATHS = ["parameters", "objective", "algorithm", "algorithm.seed", "early_stopping"]


@st.composite
def update_study_requests(draw: st.DrawFn) -> pb.UpdateStudyRequest:
    paths = draw(
        st.lists(
            mostly(
                st.sampled_from(MUTABLE_PATHS), st.one_of(st.sampled_from(FIXED_PATHS), texts())
            ),
            max_size=5,
        )
    )
    request = pb.UpdateStudyRequest(name=draw(study_names()))
    request.update_mask.paths.extend(paths)
    if draw(mostly(st.just(True), st.booleans(), 0.8)):
        request.spec.CopyFrom(draw(study_specs()))
    if draw(st.booleans()):
        request.spec.algorithm.suggestion_deadline.CopyFrom(draw(durations()))
    return request


@st.composite
def evaluated_trials(draw: st.DrawFn) -> pb.EvaluatedTrial:
    trial = pb.EvaluatedTrial(
        params=draw(param_maps()),
        state=draw(mostly(st.just(0), enums(4))),
        attrs=draw(mostly(st.just({}), attr_maps(), 0.6)),
        reason=draw(mostly(st.just(""), texts(), 0.8)),
        values=draw(mostly(st.just({}), metric_maps(), 0.6)),
    )
    if draw(mostly(st.just(True), st.booleans())):
        trial.value = draw(mostly(st.floats(-1e6, 1e6), doubles()))
    if draw(st.booleans()):
        trial.end_time.CopyFrom(draw(timestamps()))
    return trial


@functools.cache
def page_tokens() -> st.SearchStrategy[str]:
    import base64

    return st.one_of(
        st.just(""),
        texts(),
        st.builds(
            lambda tag, value: base64.urlsafe_b64encode(f"{tag}:{value}".encode()).decode(),
            st.sampled_from(["int", "str", "float", ""]),
            st.one_of(texts(8), st.integers().map(str)),
        ),
    )


REQUESTS: dict[str, st.SearchStrategy[Any]] = {
    "CreateStudy": st.builds(
        pb.CreateStudyRequest, study_id=mostly(valid_study_ids, study_ids), spec=study_specs()
    ),
    "GetStudy": st.builds(pb.GetStudyRequest, name=study_names()),
    "ListStudies": st.builds(
        pb.ListStudiesRequest,
        page_size=mostly(st.integers(0, 3), ints(UINT32, (0, 3))),
        page_token=mostly(st.just(""), page_tokens()),
    ),
    "DeleteStudy": st.builds(pb.DeleteStudyRequest, name=study_names()),
    "StopStudy": st.builds(pb.StopStudyRequest, name=study_names()),
    "ResumeStudy": st.builds(pb.ResumeStudyRequest, name=study_names()),
    "UpdateStudy": update_study_requests(),
    "Ask": ask_requests(),
    "Tell": tell_requests(),
    "Report": st.builds(
        pb.ReportRequest,
        trial=trial_names(),
        step=mostly(st.integers(0, 20), ints(INT64)),
        value=mostly(st.floats(-1e6, 1e6), doubles()),
        worker_id=mostly(st.sampled_from(["", "owner"]), ids()),
    ),
    "Heartbeat": st.builds(
        pb.HeartbeatRequest,
        trial=trial_names(),
        worker_id=mostly(st.sampled_from(["", "owner"]), ids()),
    ),
    "SetTrialAttributes": st.builds(
        pb.SetTrialAttributesRequest,
        trial=trial_names(),
        attrs=attr_maps(),
        worker_id=mostly(st.sampled_from(["", "owner"]), ids()),
    ),
    "GetTrial": st.builds(pb.GetTrialRequest, name=trial_names()),
    "ListTrials": st.builds(
        pb.ListTrialsRequest,
        study=study_names(),
        states=st.lists(mostly(st.integers(1, 4), enums(4), 0.9), max_size=5),
        page_size=mostly(st.integers(0, 3), ints(UINT32, (0, 3))),
        page_token=mostly(st.just(""), page_tokens()),
    ),
    "GetBestTrials": st.builds(
        pb.GetBestTrialsRequest,
        study=study_names(),
        count=mostly(st.integers(0, 5), ints(UINT32, (0, 5))),
    ),
    "AddTrials": st.builds(
        pb.AddTrialsRequest,
        study=study_names(),
        trials=st.lists(evaluated_trials(), max_size=4),
    ),
    "EnqueueTrials": st.builds(
        pb.EnqueueTrialsRequest,
        study=study_names(),
        trials=st.lists(st.builds(pb.TrialParams, params=param_maps()), max_size=4),
    ),
    "GetCaller": st.just(pb.GetCallerRequest()),
}
