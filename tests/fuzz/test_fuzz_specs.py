"""Property-based fuzzing of spec dicts (the spec file) through the client and the server.

Hypothesis builds spec dicts key by key: known and unknown keys, values of every
YAML type (null, booleans, integers of any size, floats with NaN and the
infinities, strings, lists, mappings). `spec_to_proto` must either raise the
client's InvalidArgumentError or return a StudySpec; a StudySpec is then sent
with CreateStudy, which must answer OK or a client-error status, never INTERNAL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from asktell.client import InvalidArgumentError, spec_to_proto
from asktell.server.app import create_server
from asktell.server.storage import open_store
from asktell.v1 import resources_pb2 as rpb
from asktell.v1 import service_pb2 as pb
from asktell.v1 import service_pb2_grpc
from tests.fuzz.strategies import texts

EXAMPLES = 300

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    texts(12),
)
anything = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(texts(8), inner, max_size=4)
    ),
    max_leaves=8,
)


def mostly(usual: st.SearchStrategy[Any], p: float = 0.75) -> st.SearchStrategy[Any]:
    return st.integers(0, 99).flatmap(lambda i: usual if i < p * 100 else anything)


numbers = st.one_of(st.integers(-1000, 1000), st.floats(-1e3, 1e3), scalars)
parameter = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("float"), "min": mostly(numbers), "max": mostly(numbers)},
        optional={"scale": mostly(st.sampled_from(["linear", "log"])), "grid_points": numbers},
    ),
    st.fixed_dictionaries(
        {"type": st.just("int"), "min": mostly(numbers), "max": mostly(numbers)},
        optional={"scale": mostly(st.sampled_from(["linear", "log"])), "step": numbers},
    ),
    st.fixed_dictionaries(
        {"type": st.just("discrete"), "values": mostly(st.lists(numbers, max_size=5))}
    ),
    st.fixed_dictionaries(
        {"type": st.just("categorical"), "values": mostly(st.lists(texts(6), max_size=5))}
    ),
    st.dictionaries(st.sampled_from(["type", "min", "max", "values", "bogus"]), anything),
    anything,
)
algorithm = st.one_of(
    st.sampled_from(["grid", "random", "gp", "genetic", "nope"]),
    st.fixed_dictionaries(
        {"name": st.sampled_from(["grid", "random", "gp", "genetic"])},
        optional={
            "seed": numbers,
            "suggestion_deadline": numbers,
            "shuffle": mostly(st.booleans()),
            "quasi_random": mostly(st.booleans()),
            "n_initial_trials": numbers,
            "acquisition": mostly(st.sampled_from(["log_ei", "ei", "ucb"])),
            "ucb_beta": numbers,
            "population_size": numbers,
            "mutation_rate": numbers,
            "bogus": anything,
        },
    ),
    anything,
)
objective_dict = st.fixed_dictionaries(
    {
        "metric": mostly(st.sampled_from(["loss", "acc", "lat", "mem"])),
        "goal": mostly(st.sampled_from(["minimize", "maximize"])),
    }
)
constraint_dict = st.fixed_dictionaries(
    {"metric": mostly(st.sampled_from(["mem", "lat", "recall"]))},
    optional={"min": mostly(numbers), "max": mostly(numbers), "bogus": anything},
)
spec_dicts = st.fixed_dictionaries(
    {
        "name": mostly(st.from_regex(r"^[a-z0-9]{1,20}$", fullmatch=True)),
        "objective": mostly(
            st.fixed_dictionaries(
                {
                    "metric": mostly(st.just("loss")),
                    "goal": mostly(st.sampled_from(["minimize", "maximize"])),
                }
            )
        ),
        "parameters": mostly(
            st.dictionaries(
                st.one_of(st.sampled_from(["x", "y", "lr"]), texts(8)), parameter, max_size=3
            )
        ),
    },
    optional={
        "algorithm": algorithm,
        "max_trials": numbers,
        "lease_seconds": numbers,
        "max_retries": numbers,
        # With "objective" too, both: rejected by the client.
        "objectives": mostly(st.lists(objective_dict, max_size=9)),
        "constraints": mostly(st.lists(constraint_dict, max_size=17)),
        "early_stopping": st.one_of(
            st.sampled_from(["median", "asha", "x"]),
            st.fixed_dictionaries(
                {"name": st.sampled_from(["median", "asha"])},
                optional={
                    "min_steps": numbers,
                    "min_resource": numbers,
                    "metric": mostly(st.sampled_from(["loss", "acc", "mem"])),
                    "bogus": anything,
                },
            ),
            anything,
        ),
        "bogus": anything,
    },
)

CLIENT_ERRORS = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.ALREADY_EXISTS,
}


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    store = open_store(f"sqlite:///{Path(tmp_path_factory.mktemp('specs')) / 'specs.db'}")
    server, port = create_server(store, "127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield service_pb2_grpc.AsktellServiceStub(channel)
    channel.close()
    server.stop(None)
    store.close()


def test_spec_dicts_through_client_and_server(stub: Any, pytestconfig: pytest.Config) -> None:
    outcomes: dict[str, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(spec=st.one_of(spec_dicts, anything))
    # These raised ValueError or TypeError out of spec_to_proto instead of InvalidArgumentError.
    @example(
        spec={
            "name": "a",
            "objective": {"metric": "m", "goal": "minimize"},
            "parameters": {"x": {"type": "int", "min": 0, "max": 2**63}},
        }
    )
    @example(
        spec={
            "name": "a",
            "objective": {"metric": "m", "goal": "minimize"},
            "parameters": {},
            "algorithm": {"name": "grid", "seed": -1},
        }
    )
    @example(spec={"name": "a", "objective": {"metric": "m", "goal": []}, "parameters": {}})
    def run(spec: Any) -> None:
        try:
            study_id, message = spec_to_proto(spec)
        except InvalidArgumentError as error:
            assert "Traceback" not in str(error)
            outcomes["client InvalidArgumentError"] = (
                outcomes.get("client InvalidArgumentError", 0) + 1
            )
            return
        assert isinstance(message, rpb.StudySpec)
        try:
            stub.CreateStudy(pb.CreateStudyRequest(study_id=study_id, spec=message), timeout=30)
            code = grpc.StatusCode.OK
        except grpc.RpcError as error:
            code = error.code()
            assert code in CLIENT_ERRORS, f"{code.name}: {error.details()}"
        outcomes[f"server {code.name}"] = outcomes.get(f"server {code.name}", 0) + 1

    run()
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"\nspec fuzzing: {sum(outcomes.values())} specs: {outcomes}")
