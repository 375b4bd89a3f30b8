import datetime

from asktell.v1 import resources_pb2 as _resources_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AskStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ASK_STATUS_UNSPECIFIED: _ClassVar[AskStatus]
    ASK_STATUS_OK: _ClassVar[AskStatus]
    ASK_STATUS_EXHAUSTED: _ClassVar[AskStatus]
    ASK_STATUS_STOPPED: _ClassVar[AskStatus]

class CallerRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CALLER_ROLE_UNSPECIFIED: _ClassVar[CallerRole]
    CALLER_ROLE_NONE: _ClassVar[CallerRole]
    CALLER_ROLE_VIEWER: _ClassVar[CallerRole]
    CALLER_ROLE_WORKER: _ClassVar[CallerRole]
    CALLER_ROLE_ADMIN: _ClassVar[CallerRole]
ASK_STATUS_UNSPECIFIED: AskStatus
ASK_STATUS_OK: AskStatus
ASK_STATUS_EXHAUSTED: AskStatus
ASK_STATUS_STOPPED: AskStatus
CALLER_ROLE_UNSPECIFIED: CallerRole
CALLER_ROLE_NONE: CallerRole
CALLER_ROLE_VIEWER: CallerRole
CALLER_ROLE_WORKER: CallerRole
CALLER_ROLE_ADMIN: CallerRole

class CreateStudyRequest(_message.Message):
    __slots__ = ("study_id", "spec")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    study_id: str
    spec: _resources_pb2.StudySpec
    def __init__(self, study_id: _Optional[str] = ..., spec: _Optional[_Union[_resources_pb2.StudySpec, _Mapping]] = ...) -> None: ...

class CreateStudyResponse(_message.Message):
    __slots__ = ("study", "created")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    study: _resources_pb2.Study
    created: bool
    def __init__(self, study: _Optional[_Union[_resources_pb2.Study, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class GetStudyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetStudyResponse(_message.Message):
    __slots__ = ("study",)
    STUDY_FIELD_NUMBER: _ClassVar[int]
    study: _resources_pb2.Study
    def __init__(self, study: _Optional[_Union[_resources_pb2.Study, _Mapping]] = ...) -> None: ...

class ListStudiesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListStudiesResponse(_message.Message):
    __slots__ = ("studies", "next_page_token")
    STUDIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    studies: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Study]
    next_page_token: str
    def __init__(self, studies: _Optional[_Iterable[_Union[_resources_pb2.Study, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteStudyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteStudyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StopStudyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class StopStudyResponse(_message.Message):
    __slots__ = ("study",)
    STUDY_FIELD_NUMBER: _ClassVar[int]
    study: _resources_pb2.Study
    def __init__(self, study: _Optional[_Union[_resources_pb2.Study, _Mapping]] = ...) -> None: ...

class ResumeStudyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ResumeStudyResponse(_message.Message):
    __slots__ = ("study",)
    STUDY_FIELD_NUMBER: _ClassVar[int]
    study: _resources_pb2.Study
    def __init__(self, study: _Optional[_Union[_resources_pb2.Study, _Mapping]] = ...) -> None: ...

class AskRequest(_message.Message):
    __slots__ = ("study", "count", "worker_id", "request_id", "resume")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESUME_FIELD_NUMBER: _ClassVar[int]
    study: str
    count: int
    worker_id: str
    request_id: str
    resume: bool
    def __init__(self, study: _Optional[str] = ..., count: _Optional[int] = ..., worker_id: _Optional[str] = ..., request_id: _Optional[str] = ..., resume: _Optional[bool] = ...) -> None: ...

class AskResponse(_message.Message):
    __slots__ = ("trials", "status")
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    trials: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Trial]
    status: AskStatus
    def __init__(self, trials: _Optional[_Iterable[_Union[_resources_pb2.Trial, _Mapping]]] = ..., status: _Optional[_Union[AskStatus, str]] = ...) -> None: ...

class TellRequest(_message.Message):
    __slots__ = ("trial", "state", "value", "reason", "worker_id", "attrs", "values")
    class AttrsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _resources_pb2.ParameterValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_resources_pb2.ParameterValue, _Mapping]] = ...) -> None: ...
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    trial: str
    state: _resources_pb2.TrialState
    value: float
    reason: str
    worker_id: str
    attrs: _containers.MessageMap[str, _resources_pb2.ParameterValue]
    values: _containers.ScalarMap[str, float]
    def __init__(self, trial: _Optional[str] = ..., state: _Optional[_Union[_resources_pb2.TrialState, str]] = ..., value: _Optional[float] = ..., reason: _Optional[str] = ..., worker_id: _Optional[str] = ..., attrs: _Optional[_Mapping[str, _resources_pb2.ParameterValue]] = ..., values: _Optional[_Mapping[str, float]] = ...) -> None: ...

class TellResponse(_message.Message):
    __slots__ = ("trial",)
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    trial: _resources_pb2.Trial
    def __init__(self, trial: _Optional[_Union[_resources_pb2.Trial, _Mapping]] = ...) -> None: ...

class ReportRequest(_message.Message):
    __slots__ = ("trial", "step", "value", "worker_id")
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    trial: str
    step: int
    value: float
    worker_id: str
    def __init__(self, trial: _Optional[str] = ..., step: _Optional[int] = ..., value: _Optional[float] = ..., worker_id: _Optional[str] = ...) -> None: ...

class ReportResponse(_message.Message):
    __slots__ = ("should_stop", "lease_deadline")
    SHOULD_STOP_FIELD_NUMBER: _ClassVar[int]
    LEASE_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    should_stop: bool
    lease_deadline: _timestamp_pb2.Timestamp
    def __init__(self, should_stop: _Optional[bool] = ..., lease_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UpdateStudyRequest(_message.Message):
    __slots__ = ("name", "spec", "update_mask")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    name: str
    spec: _resources_pb2.StudySpec
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, name: _Optional[str] = ..., spec: _Optional[_Union[_resources_pb2.StudySpec, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateStudyResponse(_message.Message):
    __slots__ = ("study",)
    STUDY_FIELD_NUMBER: _ClassVar[int]
    study: _resources_pb2.Study
    def __init__(self, study: _Optional[_Union[_resources_pb2.Study, _Mapping]] = ...) -> None: ...

class SetTrialAttributesRequest(_message.Message):
    __slots__ = ("trial", "attrs", "worker_id")
    class AttrsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _resources_pb2.ParameterValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_resources_pb2.ParameterValue, _Mapping]] = ...) -> None: ...
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    trial: str
    attrs: _containers.MessageMap[str, _resources_pb2.ParameterValue]
    worker_id: str
    def __init__(self, trial: _Optional[str] = ..., attrs: _Optional[_Mapping[str, _resources_pb2.ParameterValue]] = ..., worker_id: _Optional[str] = ...) -> None: ...

class SetTrialAttributesResponse(_message.Message):
    __slots__ = ("trial",)
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    trial: _resources_pb2.Trial
    def __init__(self, trial: _Optional[_Union[_resources_pb2.Trial, _Mapping]] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("trial", "worker_id")
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    trial: str
    worker_id: str
    def __init__(self, trial: _Optional[str] = ..., worker_id: _Optional[str] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("lease_deadline",)
    LEASE_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    lease_deadline: _timestamp_pb2.Timestamp
    def __init__(self, lease_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetTrialRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetTrialResponse(_message.Message):
    __slots__ = ("trial",)
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    trial: _resources_pb2.Trial
    def __init__(self, trial: _Optional[_Union[_resources_pb2.Trial, _Mapping]] = ...) -> None: ...

class ListTrialsRequest(_message.Message):
    __slots__ = ("study", "states", "page_size", "page_token")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    study: str
    states: _containers.RepeatedScalarFieldContainer[_resources_pb2.TrialState]
    page_size: int
    page_token: str
    def __init__(self, study: _Optional[str] = ..., states: _Optional[_Iterable[_Union[_resources_pb2.TrialState, str]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTrialsResponse(_message.Message):
    __slots__ = ("trials", "next_page_token")
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    trials: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Trial]
    next_page_token: str
    def __init__(self, trials: _Optional[_Iterable[_Union[_resources_pb2.Trial, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetBestTrialsRequest(_message.Message):
    __slots__ = ("study", "count")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    study: str
    count: int
    def __init__(self, study: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class GetBestTrialsResponse(_message.Message):
    __slots__ = ("trials",)
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    trials: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Trial]
    def __init__(self, trials: _Optional[_Iterable[_Union[_resources_pb2.Trial, _Mapping]]] = ...) -> None: ...

class EvaluatedTrial(_message.Message):
    __slots__ = ("params", "state", "value", "end_time", "attrs", "reason", "values", "measurements", "create_time")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _resources_pb2.ParameterValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_resources_pb2.ParameterValue, _Mapping]] = ...) -> None: ...
    class AttrsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _resources_pb2.ParameterValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_resources_pb2.ParameterValue, _Mapping]] = ...) -> None: ...
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    MEASUREMENTS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    params: _containers.MessageMap[str, _resources_pb2.ParameterValue]
    state: _resources_pb2.TrialState
    value: float
    end_time: _timestamp_pb2.Timestamp
    attrs: _containers.MessageMap[str, _resources_pb2.ParameterValue]
    reason: str
    values: _containers.ScalarMap[str, float]
    measurements: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Measurement]
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, params: _Optional[_Mapping[str, _resources_pb2.ParameterValue]] = ..., state: _Optional[_Union[_resources_pb2.TrialState, str]] = ..., value: _Optional[float] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attrs: _Optional[_Mapping[str, _resources_pb2.ParameterValue]] = ..., reason: _Optional[str] = ..., values: _Optional[_Mapping[str, float]] = ..., measurements: _Optional[_Iterable[_Union[_resources_pb2.Measurement, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AddTrialsRequest(_message.Message):
    __slots__ = ("study", "trials", "skip_invalid")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    SKIP_INVALID_FIELD_NUMBER: _ClassVar[int]
    study: str
    trials: _containers.RepeatedCompositeFieldContainer[EvaluatedTrial]
    skip_invalid: bool
    def __init__(self, study: _Optional[str] = ..., trials: _Optional[_Iterable[_Union[EvaluatedTrial, _Mapping]]] = ..., skip_invalid: _Optional[bool] = ...) -> None: ...

class AddTrialsResponse(_message.Message):
    __slots__ = ("trials", "skipped")
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    trials: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Trial]
    skipped: _containers.RepeatedCompositeFieldContainer[SkippedTrial]
    def __init__(self, trials: _Optional[_Iterable[_Union[_resources_pb2.Trial, _Mapping]]] = ..., skipped: _Optional[_Iterable[_Union[SkippedTrial, _Mapping]]] = ...) -> None: ...

class SkippedTrial(_message.Message):
    __slots__ = ("index", "reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    reason: str
    def __init__(self, index: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class TrialParams(_message.Message):
    __slots__ = ("params",)
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _resources_pb2.ParameterValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_resources_pb2.ParameterValue, _Mapping]] = ...) -> None: ...
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    params: _containers.MessageMap[str, _resources_pb2.ParameterValue]
    def __init__(self, params: _Optional[_Mapping[str, _resources_pb2.ParameterValue]] = ...) -> None: ...

class EnqueueTrialsRequest(_message.Message):
    __slots__ = ("study", "trials")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    study: str
    trials: _containers.RepeatedCompositeFieldContainer[TrialParams]
    def __init__(self, study: _Optional[str] = ..., trials: _Optional[_Iterable[_Union[TrialParams, _Mapping]]] = ...) -> None: ...

class EnqueueTrialsResponse(_message.Message):
    __slots__ = ("queued",)
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    queued: int
    def __init__(self, queued: _Optional[int] = ...) -> None: ...

class GetCallerRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCallerResponse(_message.Message):
    __slots__ = ("role",)
    ROLE_FIELD_NUMBER: _ClassVar[int]
    role: CallerRole
    def __init__(self, role: _Optional[_Union[CallerRole, str]] = ...) -> None: ...
