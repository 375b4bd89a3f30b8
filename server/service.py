"""AsktellServicer: one thin handler per RPC (proto in, domain call, proto out).

Handlers hold no study state and catch nothing: `interceptors.RpcGuard` runs them
on a handler thread and turns domain errors into statuses. Every RPC is
documented in service.proto.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from asktell.server import auth, convert
from asktell.server.domain import StudyState
from asktell.server.interceptors import CallContext, OnHandlerPool
from asktell.server.metrics import ServerMetrics
from asktell.server.storage import Store
from asktell.server.usecases import ask, studies, trials
from asktell.v1 import service_pb2 as pb
from asktell.v1 import service_pb2_grpc

Clock = Callable[[], float]

# The methods that run in a SQLite store's write lane (group commit, on the event loop
# or the writer thread; see `interceptors.RpcGuard`): short write transactions, the hot
# path of every worker.
WRITE_LANE_METHODS = frozenset(
    f"/{pb.DESCRIPTOR.services_by_name['AsktellService'].full_name}/{name}"
    for name in ("Ask", "Tell", "Report", "Heartbeat", "SetTrialAttributes")
)


class AsktellServicer(service_pb2_grpc.AsktellServiceServicer):
    """Serves asktell.v1.AsktellService from a store; any replica can answer any RPC."""

    def __init__(
        self, store: Store, metrics: ServerMetrics | None = None, clock: Clock = time.time
    ) -> None:
        self._store = store
        self._metrics = metrics if metrics is not None else ServerMetrics()
        self._clock = clock

    # ------------------------------------------------------------ studies
    def CreateStudy(
        self, request: pb.CreateStudyRequest, context: CallContext
    ) -> pb.CreateStudyResponse:
        spec = convert.study_spec(request.spec)
        view, created = studies.create_study(self._store, request.study_id, spec, self._clock())
        return pb.CreateStudyResponse(study=convert.study_view_message(view), created=created)

    def GetStudy(self, request: pb.GetStudyRequest, context: CallContext) -> pb.GetStudyResponse:
        view = studies.get_study(self._store, convert.study_id(request.name, "name"), self._clock())
        return pb.GetStudyResponse(study=convert.study_view_message(view))

    def ListStudies(
        self, request: pb.ListStudiesRequest, context: CallContext
    ) -> pb.ListStudiesResponse:
        after = convert.decode_page_token(request.page_token, str)
        views, next_after = studies.list_studies(
            self._store, str(after), request.page_size, self._clock()
        )
        return pb.ListStudiesResponse(
            studies=[convert.study_view_message(v) for v in views],
            next_page_token=convert.encode_page_token(next_after),
        )

    def DeleteStudy(
        self, request: pb.DeleteStudyRequest, context: CallContext
    ) -> pb.DeleteStudyResponse:
        studies.delete_study(self._store, convert.study_id(request.name, "name"))
        return pb.DeleteStudyResponse()

    def UpdateStudy(
        self, request: pb.UpdateStudyRequest, context: CallContext
    ) -> pb.UpdateStudyResponse:
        study_id = convert.study_id(request.name, "name")
        changes = convert.study_changes(request)
        view = studies.update_study(self._store, study_id, changes, self._clock())
        return pb.UpdateStudyResponse(study=convert.study_view_message(view))

    def StopStudy(self, request: pb.StopStudyRequest, context: CallContext) -> pb.StopStudyResponse:
        study_id = convert.study_id(request.name, "name")
        view = studies.set_study_state(self._store, study_id, StudyState.STOPPED)
        return pb.StopStudyResponse(study=convert.study_view_message(view))

    def ResumeStudy(
        self, request: pb.ResumeStudyRequest, context: CallContext
    ) -> pb.ResumeStudyResponse:
        study_id = convert.study_id(request.name, "name")
        view = studies.set_study_state(self._store, study_id, StudyState.ACTIVE)
        return pb.ResumeStudyResponse(study=convert.study_view_message(view))

    # ------------------------------------------------------------ ask / tell
    def Ask(self, request: pb.AskRequest, context: CallContext) -> pb.AskResponse | OnHandlerPool:
        command = ask.AskCommand(
            study_id=convert.study_id(request.study),
            count=request.count if request.HasField("count") else 1,
            worker_id=request.worker_id,
            request_id=request.request_id,
            resume=request.resume,
        )

        def is_waiting() -> bool:
            left = context.time_remaining()  # read from the deadline itself: no race
            return context.is_active() and (left is None or left > 0)

        caller = ask.Caller(is_waiting=is_waiting, seconds_left=context.time_remaining)
        result = ask.ask_at_once(self._store, command, self._clock(), caller)
        if result is None:  # the algorithm reads the history: computed off the write lane

            def finish() -> pb.AskResponse:
                later = ask.ask_with_history(self._store, command, self._clock(), caller)
                return self._asked(later)

            return OnHandlerPool(finish)
        return self._asked(result)

    def _asked(self, result: ask.AskResult) -> pb.AskResponse:
        self._metrics.record_ask(result)
        return pb.AskResponse(
            trials=[convert.trial_message(t) for t in result.trials],
            status=convert.ask_status(result),
        )

    def Tell(self, request: pb.TellRequest, context: CallContext) -> pb.TellResponse:
        study_id, number = convert.trial_ref(request.trial)
        command = trials.TellCommand(
            study_id=study_id,
            number=number,
            state=convert.trial_state(request.state),
            value=request.value if request.HasField("value") else None,
            reason=request.reason,
            worker_id=request.worker_id,
            attrs=convert.attrs(request.attrs),
            values=dict(request.values),
        )
        trial = trials.tell(self._store, command, self._clock())
        self._metrics.record_tell(str(command.state))
        return pb.TellResponse(trial=convert.trial_message(trial))

    def Report(self, request: pb.ReportRequest, context: CallContext) -> pb.ReportResponse:
        study_id, number = convert.trial_ref(request.trial)
        should_stop, deadline = trials.report(
            self._store,
            study_id,
            number,
            request.step,
            request.value,
            request.worker_id,
            self._clock(),
        )
        self._metrics.record_report(should_stop)
        response = pb.ReportResponse(should_stop=should_stop)
        response.lease_deadline.FromNanoseconds(round(deadline * 1e9))
        return response

    def Heartbeat(self, request: pb.HeartbeatRequest, context: CallContext) -> pb.HeartbeatResponse:
        study_id, number = convert.trial_ref(request.trial)
        deadline = trials.heartbeat(self._store, study_id, number, request.worker_id, self._clock())
        response = pb.HeartbeatResponse()
        response.lease_deadline.FromNanoseconds(round(deadline * 1e9))
        return response

    def SetTrialAttributes(
        self, request: pb.SetTrialAttributesRequest, context: CallContext
    ) -> pb.SetTrialAttributesResponse:
        study_id, number = convert.trial_ref(request.trial)
        trial = trials.set_attributes(
            self._store,
            study_id,
            number,
            convert.attrs(request.attrs),
            request.worker_id,
            self._clock(),
        )
        return pb.SetTrialAttributesResponse(trial=convert.trial_message(trial))

    # ------------------------------------------------------------ trials
    def GetTrial(self, request: pb.GetTrialRequest, context: CallContext) -> pb.GetTrialResponse:
        study_id, number = convert.trial_ref(request.name, "name")
        trial = trials.get_trial(self._store, study_id, number, self._clock())
        return pb.GetTrialResponse(trial=convert.trial_message(trial))

    def ListTrials(
        self, request: pb.ListTrialsRequest, context: CallContext
    ) -> pb.ListTrialsResponse:
        states = [convert.trial_state(s, "states") for s in request.states]
        after = convert.decode_page_token(request.page_token, int)
        page, next_after = trials.list_trials(
            self._store,
            convert.study_id(request.study),
            states,
            int(after),
            request.page_size,
            self._clock(),
        )
        return pb.ListTrialsResponse(
            trials=[convert.trial_message(t) for t in page],
            next_page_token=convert.encode_page_token(next_after),
        )

    def GetBestTrials(
        self, request: pb.GetBestTrialsRequest, context: CallContext
    ) -> pb.GetBestTrialsResponse:
        best = trials.best_trials(
            self._store, convert.study_id(request.study), request.count, self._clock()
        )
        return pb.GetBestTrialsResponse(trials=[convert.trial_message(t) for t in best])

    def AddTrials(self, request: pb.AddTrialsRequest, context: CallContext) -> pb.AddTrialsResponse:
        evaluated = [convert.evaluated_trial(t, i) for i, t in enumerate(request.trials)]
        added = trials.add_trials(
            self._store,
            convert.study_id(request.study),
            evaluated,
            self._clock(),
            skip_invalid=request.skip_invalid,
        )
        return pb.AddTrialsResponse(
            trials=[convert.trial_message(t) for t in added.trials],
            skipped=[pb.SkippedTrial(index=s.index, reason=s.reason) for s in added.skipped],
        )

    def EnqueueTrials(
        self, request: pb.EnqueueTrialsRequest, context: CallContext
    ) -> pb.EnqueueTrialsResponse:
        configs = [
            convert.params(t.params, f"trials[{i}].params") for i, t in enumerate(request.trials)
        ]
        queued = trials.enqueue_trials(self._store, convert.study_id(request.study), configs)
        return pb.EnqueueTrialsResponse(queued=queued)

    # ------------------------------------------------------------ the caller
    def GetCaller(self, request: pb.GetCallerRequest, context: CallContext) -> pb.GetCallerResponse:
        role = auth.caller_role.get()
        return pb.GetCallerResponse(role=f"CALLER_ROLE_{role.name if role else 'NONE'}")
