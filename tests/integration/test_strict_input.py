"""The edges of what callers may send: the largest and smallest Timestamps, Durations,
trial numbers and page positions are served, never answered INTERNAL.

The values just past each edge are rejected in test_bad_input.py.
"""

from __future__ import annotations

import base64

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from asktell.v1 import resources_pb2 as rpb
from asktell.v1 import service_pb2 as pb
from tests.conftest import LiveServer
from tests.services import sql

LAST_TIMESTAMP = Timestamp(seconds=253_402_300_799, nanos=999_999_999)  # 9999-12-31T23:59:59.9..
FIRST_TIMESTAMP = Timestamp(seconds=-62_135_596_800)  # 0001-01-01T00:00:00Z
LONGEST_DURATION = Duration(seconds=315_576_000_000, nanos=999_999_999)
MAX_INT64 = 2**63 - 1


def _spec(**algorithm: object) -> rpb.StudySpec:
    return rpb.StudySpec(
        objective=rpb.Objective(metric="loss", goal=rpb.GOAL_MINIMIZE),
        algorithm=rpb.Algorithm(random=rpb.RandomSettings(), **algorithm),  # type: ignore[arg-type]
        parameters=[rpb.ParameterSpec(name="x", float_parameter=rpb.FloatParameter(min=0, max=1))],
    )


def _create(stub: object, study_id: str, spec: rpb.StudySpec) -> None:
    stub.CreateStudy(pb.CreateStudyRequest(study_id=study_id, spec=spec))  # type: ignore[attr-defined]


def _evaluated(end_time: Timestamp) -> pb.EvaluatedTrial:
    return pb.EvaluatedTrial(
        params={"x": rpb.ParameterValue(number_value=0.5)}, value=1.0, end_time=end_time
    )


def test_end_times_at_the_edges_of_the_range_are_stored_and_read_back(
    live_server: LiveServer,
) -> None:
    stub = live_server.stub()
    _create(stub, "edges", _spec())
    added = stub.AddTrials(
        pb.AddTrialsRequest(
            study="studies/edges",
            trials=[_evaluated(FIRST_TIMESTAMP), _evaluated(LAST_TIMESTAMP)],
        )
    ).trials
    listed = stub.ListTrials(pb.ListTrialsRequest(study="studies/edges")).trials
    for trials in (added, listed):
        first, last = (t.end_time for t in trials)
        assert first == FIRST_TIMESTAMP
        # Stored as float seconds: the last second survives, its nanoseconds only roughly.
        assert last.seconds == LAST_TIMESTAMP.seconds


def test_a_stored_time_out_of_protobuf_range_is_still_served(live_server: LiveServer) -> None:
    """A row written before requests were checked must not make reads fail forever."""
    stub = live_server.stub()
    _create(stub, "old", _spec())
    stub.AddTrials(
        pb.AddTrialsRequest(study="studies/old", trials=[_evaluated(Timestamp(seconds=1))])
    )
    sql(live_server.db_url, "UPDATE trials SET end_time = 4.6e18 WHERE study = 'old'")
    trial = stub.GetTrial(pb.GetTrialRequest(name="studies/old/trials/1")).trial
    assert trial.end_time == LAST_TIMESTAMP  # clamped to the last representable instant
    sql(live_server.db_url, "UPDATE trials SET end_time = -1e15 WHERE study = 'old'")
    (trial,) = stub.ListTrials(pb.ListTrialsRequest(study="studies/old")).trials
    assert trial.end_time == FIRST_TIMESTAMP


def test_the_longest_suggestion_deadline_is_kept_and_written_back(
    live_server: LiveServer,
) -> None:
    stub = live_server.stub()
    _create(stub, "patient", _spec(suggestion_deadline=LONGEST_DURATION))
    study = stub.GetStudy(pb.GetStudyRequest(name="studies/patient")).study
    assert study.spec.algorithm.suggestion_deadline.seconds == LONGEST_DURATION.seconds
    (trial,) = stub.Ask(pb.AskRequest(study="studies/patient")).trials
    assert trial.number == 1


def test_the_largest_trial_number_is_a_valid_name(live_server: LiveServer) -> None:
    stub = live_server.stub()
    _create(stub, "big", _spec())
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetTrial(pb.GetTrialRequest(name=f"studies/big/trials/{MAX_INT64}"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert f"trial {MAX_INT64} of study" in raised.value.details()


@pytest.mark.parametrize("page_size", [1, 2, 7])
def test_page_tokens_walk_every_trial_and_study_once(
    live_server: LiveServer, page_size: int
) -> None:
    stub = live_server.stub()
    for study_id in ("a", "b", "c"):
        _create(stub, study_id, _spec())
    stub.AddTrials(
        pb.AddTrialsRequest(study="studies/b", trials=[_evaluated(Timestamp(seconds=1))] * 5)
    )
    numbers: list[int] = []
    token = ""
    while True:
        page = stub.ListTrials(
            pb.ListTrialsRequest(study="studies/b", page_size=page_size, page_token=token)
        )
        numbers += [t.number for t in page.trials]
        token = page.next_page_token
        if not token:
            break
    assert numbers == [1, 2, 3, 4, 5]
    names: list[str] = []
    while True:
        studies = stub.ListStudies(pb.ListStudiesRequest(page_size=page_size, page_token=token))
        names += [s.name for s in studies.studies]
        token = studies.next_page_token
        if not token:
            break
    assert names == ["studies/a", "studies/b", "studies/c"]


def test_a_page_token_at_the_largest_trial_number_gives_an_empty_page(
    live_server: LiveServer,
) -> None:
    """The token of a page ending at trial 2**63 - 1 is valid; the next page is empty."""
    stub = live_server.stub()
    _create(stub, "last", _spec())
    token = base64.urlsafe_b64encode(f"int:{MAX_INT64}".encode()).decode()
    page = stub.ListTrials(pb.ListTrialsRequest(study="studies/last", page_token=token))
    assert list(page.trials) == [] and page.next_page_token == ""
