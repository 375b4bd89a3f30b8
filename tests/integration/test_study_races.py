"""A study created and deleted while other RPCs on it run: every caller gets OK,
NOT_FOUND (the study is gone, or not there yet) or ABORTED (retry), never INTERNAL.

On PostgreSQL, writers of a study serialise on a row lock of the study; this
races the lock against the row appearing and disappearing.
"""

from __future__ import annotations

import collections
import random
import threading
from collections.abc import Callable
from typing import Any

import grpc

from asktell.v1 import resources_pb2 as rpb
from asktell.v1 import service_pb2 as pb
from asktell.v1 import service_pb2_grpc
from tests.conftest import LiveServer
from tests.services import sql

ROUNDS = 60
THREADS = 6
ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ABORTED}

SPEC = rpb.StudySpec(
    objective=rpb.Objective(metric="loss", goal=rpb.GOAL_MINIMIZE),
    algorithm=rpb.Algorithm(random=rpb.RandomSettings()),
    parameters=[rpb.ParameterSpec(name="x", float_parameter=rpb.FloatParameter(min=0, max=1))],
)
PARAMS = {"x": rpb.ParameterValue(number_value=0.5)}


class Codes:
    """Status codes seen, by RPC, with one message of each unexpected code."""

    def __init__(self) -> None:
        self.seen: collections.Counter[tuple[str, str]] = collections.Counter()
        self.unexpected: dict[str, str] = {}
        self._lock = threading.Lock()

    def call(self, method: Callable[[Any], Any], request: Any) -> Any | None:
        """`method(request)`, or None when it failed; the code is counted either way."""
        rpc = type(request).__name__.removesuffix("Request")
        try:
            response = method(request)
        except grpc.RpcError as error:
            code, details = error.code(), error.details() or ""
            response = None
        else:
            code, details = grpc.StatusCode.OK, ""
        with self._lock:
            self.seen[(rpc, code.name)] += 1
            if code not in ALLOWED:
                self.unexpected.setdefault(f"{rpc} {code.name}", details)
        return response


def _worker(
    stub: service_pb2_grpc.AsktellServiceStub, study: str, stop: threading.Event, codes: Codes
) -> None:
    """Asks, reports, tells, adds, enqueues and reads on `study` until stopped, whatever
    it answers."""
    while not stop.is_set():
        asked = codes.call(stub.Ask, pb.AskRequest(study=study))
        for trial in asked.trials if asked is not None else ():
            codes.call(stub.Report, pb.ReportRequest(trial=trial.name, step=1, value=0.5))
            codes.call(stub.Heartbeat, pb.HeartbeatRequest(trial=trial.name))
            codes.call(stub.GetTrial, pb.GetTrialRequest(name=trial.name))
            codes.call(
                stub.Tell,
                pb.TellRequest(trial=trial.name, state=rpb.TRIAL_STATE_COMPLETE, value=0.5),
            )
        codes.call(
            stub.AddTrials,
            pb.AddTrialsRequest(study=study, trials=[pb.EvaluatedTrial(params=PARAMS, value=1.0)]),
        )
        codes.call(stub.ListTrials, pb.ListTrialsRequest(study=study))
        codes.call(stub.GetStudy, pb.GetStudyRequest(name=study))
        codes.call(
            stub.EnqueueTrials,
            pb.EnqueueTrialsRequest(study=study, trials=[pb.TrialParams(params=PARAMS)]),
        )


def test_rpcs_racing_create_and_delete_answer_no_internal(live_server: LiveServer) -> None:
    stubs = [live_server.stub() for _ in range(THREADS + 1)]
    admin, workers = stubs[0], stubs[1:]
    codes = Codes()
    rng = random.Random(7)
    for round_number in range(ROUNDS):
        study_id = f"race-{round_number}"
        stop = threading.Event()
        threads = [
            threading.Thread(target=_worker, args=(stub, f"studies/{study_id}", stop, codes))
            for stub in workers
        ]
        for thread in threads:  # already asking before the study exists
            thread.start()
        codes.call(admin.CreateStudy, pb.CreateStudyRequest(study_id=study_id, spec=SPEC))
        # Some rounds delete at once, inside the first writes; others after a few.
        stop.wait(rng.choice([0.0, 0.0, 0.0, 0.005, 0.05]))
        codes.call(admin.DeleteStudy, pb.DeleteStudyRequest(name=f"studies/{study_id}"))
        stop.wait(0.02)  # RPCs after the delete
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "a worker hung"
    print(dict(codes.seen))  # shown with -s
    assert not codes.unexpected, codes.unexpected
    assert codes.seen[("CreateStudy", "OK")] == ROUNDS
    assert codes.seen[("DeleteStudy", "OK")] == ROUNDS
    # The race was really run: trials were handed out and told (whether a Tell lands
    # before or after the delete depends on the machine's load).
    told = sum(n for (rpc, _), n in codes.seen.items() if rpc == "Tell")
    assert codes.seen[("Ask", "OK")] > 0 and told > 0, codes.seen
    assert codes.seen[("Ask", "NOT_FOUND")] > 0, codes.seen
    # Nothing of any study outlived its delete.
    for table in ("studies", "trials", "measurements", "queue"):
        assert sql(live_server.db_url, f"SELECT COUNT(*) FROM {table}") == [(0,)], table
