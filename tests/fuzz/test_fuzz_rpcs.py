"""Property-based fuzzing of every RPC of asktell.v1.AsktellService on a real server.

For each RPC, Hypothesis builds request messages field by field (see
`strategies.py`) and sends them to an in-process server on SQLite whose store
holds a known set-up (reset whenever an accepted request changed it). Properties:

- the answer is OK or a client-error status, never INTERNAL, UNKNOWN or a
  dropped connection, and no message carries a stack trace;
- a rejected request leaves every table of the store exactly as it was;
- a study the server accepted can be asked for trials and told their results.

The number of requests sent, by RPC and status, is printed at the end of the module.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from hypothesis import HealthCheck, example, given, settings

from asktell.server.app import MAX_MESSAGE_BYTES, create_server
from asktell.server.storage import open_store
from asktell.v1 import resources_pb2 as rpb
from asktell.v1 import service_pb2 as pb
from asktell.v1 import service_pb2_grpc
from tests.fuzz.strategies import REQUESTS
from tests.services import STORE_TABLES, snapshot, sql_all

# Examples per RPC and backend: about 30 s on SQLite and 25 s on PostgreSQL in all.
EXAMPLES = {"sqlite": 60, "postgres": 20}

ACCEPTABLE = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}

# Requests that once broke a property, replayed on every run.
_LONG = "\u00e9" * 20_000  # percent-encoded, the status message once passed 16 KiB
REGRESSIONS: dict[str, list[Any]] = {
    # The message quoted the caller's whole value: the client saw RESOURCE_EXHAUSTED
    # ("metadata size exceeds hard limit") instead of INVALID_ARGUMENT.
    "EnqueueTrials": [
        pb.EnqueueTrialsRequest(
            study="studies/base",
            trials=[pb.TrialParams(params={_LONG: rpb.ParameterValue(number_value=1.0)})],
        ),
        pb.EnqueueTrialsRequest(
            study="studies/base",
            trials=[pb.TrialParams(params={"c": rpb.ParameterValue(string_value=_LONG)})],
        ),
        # 1,024 characters of 4-byte UTF-8 still passed the trailer limit once
        # percent-encoded: messages are now bounded in bytes.
        pb.EnqueueTrialsRequest(
            study="studies/base",
            trials=[
                pb.TrialParams(),
                pb.TrialParams(
                    params={
                        "x": rpb.ParameterValue(number_value=0),
                        "\u0ab6\U00066e3f" * 432: rpb.ParameterValue(),
                    }
                ),
            ],
        ),
    ],
    # PostgreSQL refuses NUL in text: these were INTERNAL there.
    "GetStudy": [pb.GetStudyRequest(name="studies/a\x00b")],
    "GetTrial": [pb.GetTrialRequest(name="studies/\x00/trials/1")],
    "Tell": [pb.TellRequest(trial="studies/base/trials/1", state=3, reason="x\x00y")],
    "ListStudies": [pb.ListStudiesRequest(page_token="c3RyOgA=")],  # "str:\x00"
    "AddTrials": [
        pb.AddTrialsRequest(
            study="studies/base",
            trials=[pb.EvaluatedTrial(params={_LONG: rpb.ParameterValue()}, value=1.0)],
        )
    ],
}


def base_spec() -> rpb.StudySpec:
    return rpb.StudySpec(
        objective=rpb.Objective(metric="loss", goal=rpb.GOAL_MINIMIZE),
        algorithm=rpb.Algorithm(seed=1, random=rpb.RandomSettings()),
        parameters=[
            rpb.ParameterSpec(name="x", float_parameter=rpb.FloatParameter(min=-5, max=5)),
            rpb.ParameterSpec(name="n", int_parameter=rpb.IntParameter(min=1, max=10)),
            rpb.ParameterSpec(
                name="c", categorical_parameter=rpb.CategoricalParameter(values=["a", "b", "c"])
            ),
            rpb.ParameterSpec(
                name="d", discrete_parameter=rpb.DiscreteParameter(values=[0.5, 1.0, 2.0])
            ),
        ],
        lease_duration=Duration(seconds=3600),
        early_stopping=rpb.EarlyStopping(median=rpb.MedianStopping()),
    )


class FuzzServer:
    """A server on one store whose contents are put back to a known set-up between examples."""

    def __init__(self, db_url: str, address: str) -> None:
        self.db_url = db_url
        self.channel = grpc.insecure_channel(address)
        self.stub = service_pb2_grpc.AsktellServiceStub(self.channel)
        self.backend = ""
        self.set_up: list[Any] = []
        self.counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self.samples: dict[tuple[str, str], str] = {}  # one message per RPC and status

    def reset(self) -> list[Any]:
        """The store as the set-up left it, re-created if a request changed it; its snapshot."""
        current = snapshot(self.db_url)
        if current == self.set_up:
            return current
        sql_all(self.db_url, [f"DELETE FROM {table}" for table in reversed(STORE_TABLES)])
        stub = self.stub
        stub.CreateStudy(pb.CreateStudyRequest(study_id="base", spec=base_spec()))
        stub.Ask(pb.AskRequest(study="studies/base", count=3, worker_id="owner"))
        # 1 RUNNING for "owner" with a report, 2 COMPLETE, 3 FAILED; one queued configuration.
        stub.Report(pb.ReportRequest(trial="studies/base/trials/1", step=0, value=0.5))
        stub.Tell(pb.TellRequest(trial="studies/base/trials/2", state=2, value=1.0))
        stub.Tell(pb.TellRequest(trial="studies/base/trials/3", state=3, reason="boom"))
        queued = {
            "x": rpb.ParameterValue(number_value=0.0),
            "n": rpb.ParameterValue(int_value=2),
            "c": rpb.ParameterValue(string_value="b"),
            "d": rpb.ParameterValue(number_value=1.0),
        }
        stub.EnqueueTrials(
            pb.EnqueueTrialsRequest(study="studies/base", trials=[pb.TrialParams(params=queued)])
        )
        stub.CreateStudy(pb.CreateStudyRequest(study_id="stopped", spec=base_spec()))
        stub.StopStudy(pb.StopStudyRequest(name="studies/stopped"))
        self.set_up = snapshot(self.db_url)
        return self.set_up

    def call(self, method: str, request: Any) -> tuple[grpc.StatusCode, str, Any]:
        try:
            response = getattr(self.stub, method)(request, timeout=60)
        except grpc.RpcError as error:
            code, details = error.code(), error.details() or ""
            self.counts[(method, code.name)] += 1
            self.samples.setdefault((method, code.name), details[:120])
            return code, details, None
        self.counts[(method, "OK")] += 1
        return grpc.StatusCode.OK, "", response

    def check(self, method: str, request: Any) -> tuple[grpc.StatusCode, Any]:
        """Sends one request; asserts the properties; returns the code and response."""
        before = self.reset()
        code, details, response = self.call(method, request)
        assert code in ACCEPTABLE, f"{method} answered {code.name}: {details}"
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:  # only for a request over the limit
            assert request.ByteSize() > MAX_MESSAGE_BYTES, f"{method}: {details}"
        assert "Traceback" not in details and 'File "' not in details, details
        if code != grpc.StatusCode.OK:
            assert details, f"{method} answered {code.name} with no message"
            assert snapshot(self.db_url) == before, (
                f"{method} was rejected ({code.name}: {details}) but changed the store"
            )
        return code, response

    def exercise(self, study: rpb.Study) -> None:
        """Asks an accepted study for trials and tells them: every call must succeed."""
        spec = study.spec
        # A study with several objectives or constraints is told every metric it names.
        objectives = [o.metric for o in spec.objectives] or [spec.objective.metric]
        metrics = (
            objectives + [c.metric for c in spec.constraints]
            if (len(objectives) > 1 or spec.constraints)
            else []
        )
        code, details, response = self.call("Ask", pb.AskRequest(study=study.name, count=2))
        assert code == grpc.StatusCode.OK, f"Ask on an accepted study: {code.name}: {details}"
        for i, trial in enumerate(response.trials):
            value = float(i) - 0.5
            if metrics:
                request = pb.TellRequest(
                    trial=trial.name, state=2, values={metric: value for metric in metrics}
                )
            else:
                request = pb.TellRequest(trial=trial.name, state=2, value=value)
            code, details, _ = self.call("Tell", request)
            assert code == grpc.StatusCode.OK, f"Tell: {code.name}: {details}"
        code, details, _ = self.call("Ask", pb.AskRequest(study=study.name, count=1))
        assert code == grpc.StatusCode.OK, (
            f"second Ask on an accepted study: {code.name}: {details}"
        )


@pytest.fixture(scope="module")
def fuzz_server(module_db_url: str, pytestconfig: pytest.Config) -> Iterator[FuzzServer]:
    store = open_store(module_db_url)
    server, port = create_server(store, "127.0.0.1:0")
    server.start()
    fuzz = FuzzServer(module_db_url, f"127.0.0.1:{port}")
    fuzz.backend = "sqlite" if module_db_url.startswith("sqlite:") else "postgres"
    yield fuzz
    fuzz.channel.close()
    server.stop(None)
    store.close()
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        total = sum(fuzz.counts.values())
        reporter.write_line(f"\nRPC fuzzing on {fuzz.backend}: {total} requests sent")
        by_method: dict[str, list[str]] = collections.defaultdict(list)
        for (method, code), n in sorted(fuzz.counts.items()):
            by_method[method].append(f"{code} {n}")
        for method, codes in sorted(by_method.items()):
            reporter.write_line(f"  {method}: {', '.join(codes)}")
        for (method, code), details in sorted(fuzz.samples.items()):
            reporter.write_line(f"    e.g. {method} {code}: {details}")


@pytest.mark.parametrize("method", sorted(REQUESTS))
def test_rpc_never_fails_on_the_server(fuzz_server: FuzzServer, method: str) -> None:
    @settings(
        max_examples=EXAMPLES[fuzz_server.backend],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(request=REQUESTS[method])
    def run(request: Any) -> None:
        code, response = fuzz_server.check(method, request)
        if method == "CreateStudy" and code == grpc.StatusCode.OK and response.created:
            fuzz_server.exercise(response.study)

    for request in REGRESSIONS.get(method, []):
        run = example(request=request)(run)
    run()
