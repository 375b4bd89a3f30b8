"""Client values <-> protobuf messages: trial states, parameter values, timestamps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from asktell.client._errors import InvalidArgumentError
from asktell.client._models import ParamValue
from asktell.v1 import resources_pb2 as rpb

STATE_PB = {
    "RUNNING": rpb.TRIAL_STATE_RUNNING,
    "COMPLETE": rpb.TRIAL_STATE_COMPLETE,
    "FAILED": rpb.TRIAL_STATE_FAILED,
    "PRUNED": rpb.TRIAL_STATE_PRUNED,
}
STATE_NAME = {number: name for name, number in STATE_PB.items()}


def to_datetime(stamp: Any, present: bool) -> dt.datetime | None:
    return stamp.ToDatetime(tzinfo=dt.UTC) if present else None


def param_value(value: rpb.ParameterValue) -> ParamValue:
    kind = value.WhichOneof("kind")
    return getattr(value, kind) if kind else 0.0


def param_message(name: str, value: Any) -> rpb.ParameterValue:
    if isinstance(value, bool):
        raise InvalidArgumentError(f'INVALID_ARGUMENT: params: "{name}" must not be a bool')
    if isinstance(value, str):
        return rpb.ParameterValue(string_value=value)
    if isinstance(value, int):
        return rpb.ParameterValue(int_value=value)
    if isinstance(value, float):
        return rpb.ParameterValue(number_value=value)
    if hasattr(value, "item"):  # NumPy scalars
        return param_message(name, value.item())
    raise InvalidArgumentError(
        f'INVALID_ARGUMENT: params: "{name}" must be a number or a string, got {value!r}'
    )


def params_to_proto(params: Mapping[str, Any]) -> dict[str, rpb.ParameterValue]:
    return {name: param_message(name, value) for name, value in params.items()}
