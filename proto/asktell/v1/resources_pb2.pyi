import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Scale(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCALE_UNSPECIFIED: _ClassVar[Scale]
    SCALE_LINEAR: _ClassVar[Scale]
    SCALE_LOG: _ClassVar[Scale]

class Goal(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GOAL_UNSPECIFIED: _ClassVar[Goal]
    GOAL_MINIMIZE: _ClassVar[Goal]
    GOAL_MAXIMIZE: _ClassVar[Goal]

class Aggregate(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGGREGATE_UNSPECIFIED: _ClassVar[Aggregate]
    AGGREGATE_MEAN: _ClassVar[Aggregate]
    AGGREGATE_MEDIAN: _ClassVar[Aggregate]

class Acquisition(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACQUISITION_UNSPECIFIED: _ClassVar[Acquisition]
    ACQUISITION_LOG_EI: _ClassVar[Acquisition]
    ACQUISITION_EI: _ClassVar[Acquisition]
    ACQUISITION_UCB: _ClassVar[Acquisition]

class StudyState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STUDY_STATE_UNSPECIFIED: _ClassVar[StudyState]
    STUDY_STATE_ACTIVE: _ClassVar[StudyState]
    STUDY_STATE_STOPPED: _ClassVar[StudyState]
    STUDY_STATE_COMPLETED: _ClassVar[StudyState]

class TrialState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIAL_STATE_UNSPECIFIED: _ClassVar[TrialState]
    TRIAL_STATE_RUNNING: _ClassVar[TrialState]
    TRIAL_STATE_COMPLETE: _ClassVar[TrialState]
    TRIAL_STATE_FAILED: _ClassVar[TrialState]
    TRIAL_STATE_PRUNED: _ClassVar[TrialState]
SCALE_UNSPECIFIED: Scale
SCALE_LINEAR: Scale
SCALE_LOG: Scale
GOAL_UNSPECIFIED: Goal
GOAL_MINIMIZE: Goal
GOAL_MAXIMIZE: Goal
AGGREGATE_UNSPECIFIED: Aggregate
AGGREGATE_MEAN: Aggregate
AGGREGATE_MEDIAN: Aggregate
ACQUISITION_UNSPECIFIED: Acquisition
ACQUISITION_LOG_EI: Acquisition
ACQUISITION_EI: Acquisition
ACQUISITION_UCB: Acquisition
STUDY_STATE_UNSPECIFIED: StudyState
STUDY_STATE_ACTIVE: StudyState
STUDY_STATE_STOPPED: StudyState
STUDY_STATE_COMPLETED: StudyState
TRIAL_STATE_UNSPECIFIED: TrialState
TRIAL_STATE_RUNNING: TrialState
TRIAL_STATE_COMPLETE: TrialState
TRIAL_STATE_FAILED: TrialState
TRIAL_STATE_PRUNED: TrialState

class FloatParameter(_message.Message):
    __slots__ = ("min", "max", "scale", "grid_points")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    GRID_POINTS_FIELD_NUMBER: _ClassVar[int]
    min: float
    max: float
    scale: Scale
    grid_points: int
    def __init__(self, min: _Optional[float] = ..., max: _Optional[float] = ..., scale: _Optional[_Union[Scale, str]] = ..., grid_points: _Optional[int] = ...) -> None: ...

class IntParameter(_message.Message):
    __slots__ = ("min", "max", "scale", "step")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    min: int
    max: int
    scale: Scale
    step: int
    def __init__(self, min: _Optional[int] = ..., max: _Optional[int] = ..., scale: _Optional[_Union[Scale, str]] = ..., step: _Optional[int] = ...) -> None: ...

class DiscreteParameter(_message.Message):
    __slots__ = ("values", "int_values")
    VALUES_FIELD_NUMBER: _ClassVar[int]
    INT_VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    int_values: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, values: _Optional[_Iterable[float]] = ..., int_values: _Optional[_Iterable[int]] = ...) -> None: ...

class CategoricalParameter(_message.Message):
    __slots__ = ("values", "choices")
    VALUES_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[str]
    choices: _containers.RepeatedCompositeFieldContainer[ParameterValue]
    def __init__(self, values: _Optional[_Iterable[str]] = ..., choices: _Optional[_Iterable[_Union[ParameterValue, _Mapping]]] = ...) -> None: ...

class FixedParameter(_message.Message):
    __slots__ = ("value", "stage_study", "stage_trial")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    STAGE_STUDY_FIELD_NUMBER: _ClassVar[int]
    STAGE_TRIAL_FIELD_NUMBER: _ClassVar[int]
    value: ParameterValue
    stage_study: str
    stage_trial: int
    def __init__(self, value: _Optional[_Union[ParameterValue, _Mapping]] = ..., stage_study: _Optional[str] = ..., stage_trial: _Optional[int] = ...) -> None: ...

class ParentCondition(_message.Message):
    __slots__ = ("parent", "values")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    parent: str
    values: _containers.RepeatedCompositeFieldContainer[ParameterValue]
    def __init__(self, parent: _Optional[str] = ..., values: _Optional[_Iterable[_Union[ParameterValue, _Mapping]]] = ...) -> None: ...

class ParameterSpec(_message.Message):
    __slots__ = ("name", "float_parameter", "int_parameter", "discrete_parameter", "categorical_parameter", "fixed_parameter", "when")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FLOAT_PARAMETER_FIELD_NUMBER: _ClassVar[int]
    INT_PARAMETER_FIELD_NUMBER: _ClassVar[int]
    DISCRETE_PARAMETER_FIELD_NUMBER: _ClassVar[int]
    CATEGORICAL_PARAMETER_FIELD_NUMBER: _ClassVar[int]
    FIXED_PARAMETER_FIELD_NUMBER: _ClassVar[int]
    WHEN_FIELD_NUMBER: _ClassVar[int]
    name: str
    float_parameter: FloatParameter
    int_parameter: IntParameter
    discrete_parameter: DiscreteParameter
    categorical_parameter: CategoricalParameter
    fixed_parameter: FixedParameter
    when: ParentCondition
    def __init__(self, name: _Optional[str] = ..., float_parameter: _Optional[_Union[FloatParameter, _Mapping]] = ..., int_parameter: _Optional[_Union[IntParameter, _Mapping]] = ..., discrete_parameter: _Optional[_Union[DiscreteParameter, _Mapping]] = ..., categorical_parameter: _Optional[_Union[CategoricalParameter, _Mapping]] = ..., fixed_parameter: _Optional[_Union[FixedParameter, _Mapping]] = ..., when: _Optional[_Union[ParentCondition, _Mapping]] = ...) -> None: ...

class ParameterValue(_message.Message):
    __slots__ = ("number_value", "int_value", "string_value", "bool_value")
    NUMBER_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    number_value: float
    int_value: int
    string_value: str
    bool_value: bool
    def __init__(self, number_value: _Optional[float] = ..., int_value: _Optional[int] = ..., string_value: _Optional[str] = ..., bool_value: _Optional[bool] = ...) -> None: ...

class Objective(_message.Message):
    __slots__ = ("metric", "goal", "aggregate")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    GOAL_FIELD_NUMBER: _ClassVar[int]
    AGGREGATE_FIELD_NUMBER: _ClassVar[int]
    metric: str
    goal: Goal
    aggregate: Aggregate
    def __init__(self, metric: _Optional[str] = ..., goal: _Optional[_Union[Goal, str]] = ..., aggregate: _Optional[_Union[Aggregate, str]] = ...) -> None: ...

class Constraint(_message.Message):
    __slots__ = ("metric", "min", "max")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    metric: str
    min: float
    max: float
    def __init__(self, metric: _Optional[str] = ..., min: _Optional[float] = ..., max: _Optional[float] = ...) -> None: ...

class GridSettings(_message.Message):
    __slots__ = ("shuffle",)
    SHUFFLE_FIELD_NUMBER: _ClassVar[int]
    shuffle: bool
    def __init__(self, shuffle: _Optional[bool] = ...) -> None: ...

class RandomSettings(_message.Message):
    __slots__ = ("quasi_random",)
    QUASI_RANDOM_FIELD_NUMBER: _ClassVar[int]
    quasi_random: bool
    def __init__(self, quasi_random: _Optional[bool] = ...) -> None: ...

class GpSettings(_message.Message):
    __slots__ = ("n_initial_trials", "acquisition", "ucb_beta")
    N_INITIAL_TRIALS_FIELD_NUMBER: _ClassVar[int]
    ACQUISITION_FIELD_NUMBER: _ClassVar[int]
    UCB_BETA_FIELD_NUMBER: _ClassVar[int]
    n_initial_trials: int
    acquisition: Acquisition
    ucb_beta: float
    def __init__(self, n_initial_trials: _Optional[int] = ..., acquisition: _Optional[_Union[Acquisition, str]] = ..., ucb_beta: _Optional[float] = ...) -> None: ...

class GeneticSettings(_message.Message):
    __slots__ = ("population_size", "mutation_rate", "crossover_rate", "tournament_size", "elite_count")
    POPULATION_SIZE_FIELD_NUMBER: _ClassVar[int]
    MUTATION_RATE_FIELD_NUMBER: _ClassVar[int]
    CROSSOVER_RATE_FIELD_NUMBER: _ClassVar[int]
    TOURNAMENT_SIZE_FIELD_NUMBER: _ClassVar[int]
    ELITE_COUNT_FIELD_NUMBER: _ClassVar[int]
    population_size: int
    mutation_rate: float
    crossover_rate: float
    tournament_size: int
    elite_count: int
    def __init__(self, population_size: _Optional[int] = ..., mutation_rate: _Optional[float] = ..., crossover_rate: _Optional[float] = ..., tournament_size: _Optional[int] = ..., elite_count: _Optional[int] = ...) -> None: ...

class Algorithm(_message.Message):
    __slots__ = ("seed", "grid", "random", "gp", "genetic", "suggestion_deadline")
    SEED_FIELD_NUMBER: _ClassVar[int]
    GRID_FIELD_NUMBER: _ClassVar[int]
    RANDOM_FIELD_NUMBER: _ClassVar[int]
    GP_FIELD_NUMBER: _ClassVar[int]
    GENETIC_FIELD_NUMBER: _ClassVar[int]
    SUGGESTION_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    seed: int
    grid: GridSettings
    random: RandomSettings
    gp: GpSettings
    genetic: GeneticSettings
    suggestion_deadline: _duration_pb2.Duration
    def __init__(self, seed: _Optional[int] = ..., grid: _Optional[_Union[GridSettings, _Mapping]] = ..., random: _Optional[_Union[RandomSettings, _Mapping]] = ..., gp: _Optional[_Union[GpSettings, _Mapping]] = ..., genetic: _Optional[_Union[GeneticSettings, _Mapping]] = ..., suggestion_deadline: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class MedianStopping(_message.Message):
    __slots__ = ("min_steps", "min_trials")
    MIN_STEPS_FIELD_NUMBER: _ClassVar[int]
    MIN_TRIALS_FIELD_NUMBER: _ClassVar[int]
    min_steps: int
    min_trials: int
    def __init__(self, min_steps: _Optional[int] = ..., min_trials: _Optional[int] = ...) -> None: ...

class SuccessiveHalving(_message.Message):
    __slots__ = ("min_resource", "reduction_factor")
    MIN_RESOURCE_FIELD_NUMBER: _ClassVar[int]
    REDUCTION_FACTOR_FIELD_NUMBER: _ClassVar[int]
    min_resource: int
    reduction_factor: int
    def __init__(self, min_resource: _Optional[int] = ..., reduction_factor: _Optional[int] = ...) -> None: ...

class Racing(_message.Message):
    __slots__ = ("min_folds", "top_k", "min_trials", "spread_factor")
    MIN_FOLDS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MIN_TRIALS_FIELD_NUMBER: _ClassVar[int]
    SPREAD_FACTOR_FIELD_NUMBER: _ClassVar[int]
    min_folds: int
    top_k: int
    min_trials: int
    spread_factor: float
    def __init__(self, min_folds: _Optional[int] = ..., top_k: _Optional[int] = ..., min_trials: _Optional[int] = ..., spread_factor: _Optional[float] = ...) -> None: ...

class EarlyStopping(_message.Message):
    __slots__ = ("median", "asha", "racing", "metric")
    MEDIAN_FIELD_NUMBER: _ClassVar[int]
    ASHA_FIELD_NUMBER: _ClassVar[int]
    RACING_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    median: MedianStopping
    asha: SuccessiveHalving
    racing: Racing
    metric: str
    def __init__(self, median: _Optional[_Union[MedianStopping, _Mapping]] = ..., asha: _Optional[_Union[SuccessiveHalving, _Mapping]] = ..., racing: _Optional[_Union[Racing, _Mapping]] = ..., metric: _Optional[str] = ...) -> None: ...

class Stage(_message.Message):
    __slots__ = ("study", "parameters", "trial")
    STUDY_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    study: str
    parameters: _containers.RepeatedScalarFieldContainer[str]
    trial: int
    def __init__(self, study: _Optional[str] = ..., parameters: _Optional[_Iterable[str]] = ..., trial: _Optional[int] = ...) -> None: ...

class StudySpec(_message.Message):
    __slots__ = ("objective", "algorithm", "parameters", "max_trials", "lease_duration", "max_retries", "early_stopping", "objectives", "constraints", "stages")
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    MAX_TRIALS_FIELD_NUMBER: _ClassVar[int]
    LEASE_DURATION_FIELD_NUMBER: _ClassVar[int]
    MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    EARLY_STOPPING_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVES_FIELD_NUMBER: _ClassVar[int]
    CONSTRAINTS_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    objective: Objective
    algorithm: Algorithm
    parameters: _containers.RepeatedCompositeFieldContainer[ParameterSpec]
    max_trials: int
    lease_duration: _duration_pb2.Duration
    max_retries: int
    early_stopping: EarlyStopping
    objectives: _containers.RepeatedCompositeFieldContainer[Objective]
    constraints: _containers.RepeatedCompositeFieldContainer[Constraint]
    stages: _containers.RepeatedCompositeFieldContainer[Stage]
    def __init__(self, objective: _Optional[_Union[Objective, _Mapping]] = ..., algorithm: _Optional[_Union[Algorithm, _Mapping]] = ..., parameters: _Optional[_Iterable[_Union[ParameterSpec, _Mapping]]] = ..., max_trials: _Optional[int] = ..., lease_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_retries: _Optional[int] = ..., early_stopping: _Optional[_Union[EarlyStopping, _Mapping]] = ..., objectives: _Optional[_Iterable[_Union[Objective, _Mapping]]] = ..., constraints: _Optional[_Iterable[_Union[Constraint, _Mapping]]] = ..., stages: _Optional[_Iterable[_Union[Stage, _Mapping]]] = ...) -> None: ...

class TrialCounts(_message.Message):
    __slots__ = ("running", "complete", "failed", "pruned", "queued")
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    PRUNED_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    running: int
    complete: int
    failed: int
    pruned: int
    queued: int
    def __init__(self, running: _Optional[int] = ..., complete: _Optional[int] = ..., failed: _Optional[int] = ..., pruned: _Optional[int] = ..., queued: _Optional[int] = ...) -> None: ...

class Study(_message.Message):
    __slots__ = ("name", "spec", "state", "create_time", "trial_counts", "seed", "suggestions_made")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    TRIAL_COUNTS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SUGGESTIONS_MADE_FIELD_NUMBER: _ClassVar[int]
    name: str
    spec: StudySpec
    state: StudyState
    create_time: _timestamp_pb2.Timestamp
    trial_counts: TrialCounts
    seed: int
    suggestions_made: int
    def __init__(self, name: _Optional[str] = ..., spec: _Optional[_Union[StudySpec, _Mapping]] = ..., state: _Optional[_Union[StudyState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., trial_counts: _Optional[_Union[TrialCounts, _Mapping]] = ..., seed: _Optional[int] = ..., suggestions_made: _Optional[int] = ...) -> None: ...

class Measurement(_message.Message):
    __slots__ = ("step", "value")
    STEP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    step: int
    value: float
    def __init__(self, step: _Optional[int] = ..., value: _Optional[float] = ...) -> None: ...

class Trial(_message.Message):
    __slots__ = ("name", "number", "state", "params", "value", "measurements", "worker_id", "lease_deadline", "create_time", "end_time", "reason", "suggested_by", "retry_of", "attrs", "values")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ParameterValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ParameterValue, _Mapping]] = ...) -> None: ...
    class AttrsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ParameterValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ParameterValue, _Mapping]] = ...) -> None: ...
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    MEASUREMENTS_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_BY_FIELD_NUMBER: _ClassVar[int]
    RETRY_OF_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    name: str
    number: int
    state: TrialState
    params: _containers.MessageMap[str, ParameterValue]
    value: float
    measurements: _containers.RepeatedCompositeFieldContainer[Measurement]
    worker_id: str
    lease_deadline: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    reason: str
    suggested_by: str
    retry_of: int
    attrs: _containers.MessageMap[str, ParameterValue]
    values: _containers.ScalarMap[str, float]
    def __init__(self, name: _Optional[str] = ..., number: _Optional[int] = ..., state: _Optional[_Union[TrialState, str]] = ..., params: _Optional[_Mapping[str, ParameterValue]] = ..., value: _Optional[float] = ..., measurements: _Optional[_Iterable[_Union[Measurement, _Mapping]]] = ..., worker_id: _Optional[str] = ..., lease_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., suggested_by: _Optional[str] = ..., retry_of: _Optional[int] = ..., attrs: _Optional[_Mapping[str, ParameterValue]] = ..., values: _Optional[_Mapping[str, float]] = ...) -> None: ...
